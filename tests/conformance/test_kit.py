"""The conformance kit (`ocimux.testing`) run exactly as a plugin author runs it: the mock and
the example third-party runsc and bwrap plugins here, the OCI runtimes in `test_kit_oci.py` (apart, so
parallel workers share the runs).

Each run must pass and skip exactly the tests whose capability the runtime declares false.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from tests.conformance.kitrun import assert_kit_passes
from tests.conftest import REPO


@pytest.mark.timeout(360)
def test_kit_passes_on_mock(tmp_path: Path) -> None:
    # the mock has no cgroups: update is refused (and checked so), not skipped silently
    assert_kit_passes("mock", tmp_path, {"test_update_resources"})


@pytest.mark.timeout(360)
@pytest.mark.requires_root
@pytest.mark.requires_runtime("runsc")
@pytest.mark.requires_runtime("conmon")
def test_kit_passes_on_the_third_party_runsc_plugin(tmp_path: Path) -> None:
    from tests.plugin_dists import install_target, with_site

    # into a directory only the kit's process sees: parallel workers share the virtualenv
    site = install_target(REPO / "examples" / "ocimux-runsc", tmp_path)
    # runsc really checkpoints (that test runs); it has no `update`
    assert_kit_passes("runsc", tmp_path, {"test_update_resources"}, env=with_site(os.environ, site))


@pytest.mark.timeout(360)
@pytest.mark.requires_root
@pytest.mark.requires_runtime("bwrap")
def test_kit_passes_on_the_bwrap_plugin_written_on_process_runtime(tmp_path: Path) -> None:
    from tests.plugin_dists import install_target, with_site

    site = install_target(REPO / "examples" / "ocimux-bwrap", tmp_path)
    # bwrap has no cgroups: update is the one verb it cannot offer (checked refused, not run)
    assert_kit_passes("bwrap", tmp_path, {"test_update_resources"}, env=with_site(os.environ, site))


def test_kit_extra_pulls_in_only_pytest() -> None:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert extras["kit"] == ["pytest>=8"]
