"""default_spec against what the reference runtime's own `spec` command writes.

ocimux's default is modelled on runc 1.1 (the version on the development host, 1.1.5): on 1.1
the documents must agree field for field except the ambient capabilities; on other versions
only the keys that have not changed between releases are compared.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from ocimux.base import process
from ocimux.oci.spec import default_spec

pytestmark = pytest.mark.requires_runtime("runc")


def _runc(*args: str, cwd: Path | None = None) -> str:
    if shutil.which("runc") is None:  # until the conftest's marker handles it
        pytest.skip("runc is not installed")
    done = process.run(["runc", *args], cwd=cwd, timeout=10)
    assert done.returncode == 0, done.stderr_text
    return done.stdout.decode()


@pytest.fixture
def runc_spec(tmp_path: Path) -> dict:
    _runc("spec", cwd=tmp_path)
    return json.loads((tmp_path / "config.json").read_text())


@pytest.fixture
def ours() -> dict:
    return default_spec(rootfs=Path("/r"), args=["sh"], terminal=True, readonly_rootfs=True)


def test_important_keys_match(ours: dict, runc_spec: dict) -> None:
    theirs = runc_spec
    assert [m["destination"] for m in ours["mounts"]] == [
        m["destination"] for m in theirs["mounts"]
    ]
    ns = {n["type"] for n in theirs["linux"]["namespaces"]}
    assert {n["type"] for n in ours["linux"]["namespaces"]} <= ns
    assert {"pid", "network", "ipc", "uts", "mount"} <= ns
    for kind in ("bounding", "effective", "permitted"):
        assert ours["process"]["capabilities"][kind] == theirs["process"]["capabilities"][kind]
    assert ours["process"]["rlimits"] == theirs["process"]["rlimits"]
    assert ours["process"]["env"] == theirs["process"]["env"]
    assert ours["linux"]["resources"] == theirs["linux"]["resources"]


def test_field_for_field_on_runc_1_1(ours: dict, runc_spec: dict) -> None:
    version = re.search(r"runc version (\d+)\.(\d+)", _runc("--version"))
    if version is None or version.groups() != ("1", "1"):
        pytest.skip("the default spec is modelled on runc 1.1 exactly")
    theirs = runc_spec
    # Deliberate differences: no ambient set (see ocimux.oci.spec), absolute root.path, no hostname.
    assert (
        theirs["process"]["capabilities"].pop("ambient")
        == ours["process"]["capabilities"]["bounding"]
    )
    assert theirs["root"].pop("path") == "rootfs"
    assert ours["root"].pop("path") == "/r"
    assert theirs.pop("hostname") == "runc"
    assert ours == theirs
