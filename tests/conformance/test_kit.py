"""The conformance kit (`ocimux.testing`) run exactly as a plugin author runs it, per runtime."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

KIT = ["-m", "pytest", "-p", "ocimux.testing.plugin", "--pyargs", "ocimux.testing.suite"]


def run_kit(
    name: str, cwd: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *KIT, "--ocimux-runtime", name, "-q", "-p", "no:cacheprovider", *extra],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def assert_kit_passes(name: str, cwd: Path) -> None:
    done = run_kit(name, cwd)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    assert done.returncode == 0, (
        f"kit on {name} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    )
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed.group(1)) > 0, summary
    assert "failed" not in summary and "error" not in summary, summary


@pytest.mark.timeout(360)
def test_kit_passes_on_mock(tmp_path: Path) -> None:
    assert_kit_passes("mock", tmp_path)


@pytest.mark.timeout(360)
@pytest.mark.requires_root
@pytest.mark.parametrize(
    "name",
    [
        pytest.param("runc", marks=pytest.mark.requires_runtime("runc")),
        pytest.param("crun", marks=pytest.mark.requires_runtime("crun")),
        # the shim v2 backend on containerd's runc shim: no runc CLI call by ocimux itself
        pytest.param("runc-shim", marks=pytest.mark.requires_runtime("containerd-shim-runc-v2")),
    ],
)
def test_kit_passes_on_oci_runtime(name: str, tmp_path: Path) -> None:
    assert_kit_passes(name, tmp_path)


@pytest.mark.timeout(360)
@pytest.mark.requires_root
@pytest.mark.requires_runtime("runsc")
def test_kit_passes_on_the_third_party_runsc_plugin(tmp_path: Path) -> None:
    from tests.conftest import REPO
    from tests.plugin_dists import install_target, with_site

    # into a directory only the kit's process sees: parallel workers share the virtualenv
    site = install_target(REPO / "examples" / "ocimux-runsc", tmp_path)
    done = run_kit("runsc", tmp_path, "-rs", env=with_site(os.environ, site))
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    skipped = [ln for ln in done.stdout.splitlines() if ln.startswith("SKIPPED")]
    # runsc really checkpoints: that test must have run; only `update` may be skipped
    assert len(skipped) == 1 and "update" in skipped[0], done.stdout
