"""Fixtures for `ocimux-oci` driven as runc is: a confined configuration, bundles, the binary."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

#: the console script next to this interpreter (the dev venv's, or CI's)
FRONT = str(Path(sys.executable).parent / "ocimux-oci")

#: runsc is configured as a CLI runtime name (driven by the runc plugin) with its network flag
CONF = """\
[engine]
runtime = "crun"
[engine.runtimes]
runsc = ["/usr/bin/runsc"]
[engine.runtimes_flags]
runsc = ["network=none"]
[ocimux]
state_dir = "{state}/lib"
run_dir = "{state}/run"
"""


@pytest.fixture
def front_env(tmp_path: Path) -> dict[str, str]:
    """The environment for `ocimux-oci`: its own containers.conf and cache under tmp_path."""
    conf = tmp_path / "containers.conf"
    conf.write_text(CONF.format(state=tmp_path / "state"))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(("OCIMUX_", "CONTAINERS_CONF"))
    }
    env.update(CONTAINERS_CONF=str(conf), OCIMUX_CACHE_DIR=str(tmp_path / "cache"))
    return env


@pytest.fixture
def make_bundle(busybox_rootfs: Path, tmp_path: Path) -> Callable[..., Path]:
    """A bundle running `args` on the shared busybox rootfs (read-only root, no terminal)."""

    def make(name: str, args: list[str], annotations: dict[str, str] | None = None) -> Path:
        bundle = tmp_path / f"bundle-{name}"
        bundle.mkdir()
        subprocess.run(["runc", "spec", "--bundle", str(bundle)], check=True, timeout=30)
        spec = json.loads((bundle / "config.json").read_text())
        spec["process"]["terminal"] = False
        spec["process"]["args"] = args
        spec["root"] = {"path": str(busybox_rootfs), "readonly": True}
        spec["annotations"] = annotations or {}
        (bundle / "config.json").write_text(json.dumps(spec))
        return bundle

    return make


def requires(*binaries: str) -> pytest.MarkDecorator:
    missing = [b for b in binaries if shutil.which(b) is None]
    return pytest.mark.skipif(bool(missing), reason=f"not installed: {missing}")
