"""write_bundle: modes, absolute root.path, atomic replacement, round trip."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest
from ocimux.base.errors import InvalidArgumentError
from ocimux.oci.bundle import load_bundle, write_bundle
from ocimux.oci.spec import default_spec


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_creates_dir_0700_and_file_0600(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        dest = write_bundle(tmp_path / "a" / "b", default_spec(rootfs=tmp_path / "r", args=["sh"]))
    finally:
        os.umask(old)
    assert dest == tmp_path / "a" / "b"
    assert _mode(dest) == 0o700
    assert _mode(dest / "config.json") == 0o600
    assert os.listdir(dest) == ["config.json"]  # no temporary left behind


def test_existing_dir_keeps_its_mode(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir(mode=0o755)
    os.chmod(tmp_path / "b", 0o755)
    write_bundle(tmp_path / "b", default_spec(rootfs=tmp_path / "r", args=["sh"]))
    assert _mode(tmp_path / "b") == 0o755


def test_relative_root_path_made_absolute_against_dest(tmp_path: Path) -> None:
    spec = {"ociVersion": "1.0.2", "process": {"args": ["sh"]}, "root": {"path": "rootfs"}}
    write_bundle(tmp_path, spec)
    written = json.loads((tmp_path / "config.json").read_text())
    assert written["root"]["path"] == str(tmp_path / "rootfs")
    assert spec["root"]["path"] == "rootfs"  # the caller's dict is not changed


def test_round_trip(tmp_path: Path) -> None:
    (tmp_path / "rootfs").mkdir()
    spec = default_spec(rootfs=tmp_path / "rootfs", args=["echo", "hi"], env=["A=1"])
    write_bundle(tmp_path / "bundle", spec)
    loaded, rootfs = load_bundle(tmp_path / "bundle")
    assert loaded == spec
    assert rootfs == tmp_path / "rootfs"


def test_replaces_atomically(tmp_path: Path) -> None:
    """A reader racing rewrites always sees one complete document, old or new."""
    specs = [
        default_spec(rootfs=tmp_path, args=["x" * n], env=[f"PAD={'y' * 5000 * n}"])
        for n in (1, 2, 3)
    ]
    write_bundle(tmp_path / "b", specs[0])
    stop = threading.Event()
    seen: set[str] = set()
    errors: list[Exception] = []

    def read() -> None:
        while not stop.is_set():
            try:
                seen.add(
                    json.loads((tmp_path / "b" / "config.json").read_text())["process"]["args"][0]
                )
            except Exception as exc:  # a torn read shows up here
                errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(300):
            write_bundle(tmp_path / "b", specs[i % 3])
    finally:
        stop.set()
        reader.join()
    assert errors == []
    assert seen <= {"x", "xx", "xxx"}
    assert sorted(os.listdir(tmp_path / "b")) == ["config.json"]


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path: Path) -> None:
    write_bundle(tmp_path, default_spec(rootfs=tmp_path, args=["old"]))
    bad = default_spec(rootfs=tmp_path, args=["new"])
    bad["annotations"] = {"x": object()}
    with pytest.raises(InvalidArgumentError, match="not JSON"):
        write_bundle(tmp_path, bad)
    bad["annotations"] = {"x": float("nan")}
    with pytest.raises(InvalidArgumentError, match="not JSON"):
        write_bundle(tmp_path, bad)
    assert json.loads((tmp_path / "config.json").read_text())["process"]["args"] == ["old"]
    assert os.listdir(tmp_path) == ["config.json"]


@pytest.mark.parametrize("spec", [{}, {"root": {}}, {"root": {"path": ""}}, {"root": "r"}])
def test_needs_root_path(tmp_path: Path, spec: dict) -> None:
    with pytest.raises(InvalidArgumentError, match="root.path"):
        write_bundle(tmp_path, spec)


def test_dest_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(InvalidArgumentError, match="cannot write"):
        write_bundle(tmp_path / "f", default_spec(rootfs=tmp_path, args=["sh"]))
