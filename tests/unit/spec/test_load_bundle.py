"""load_bundle: a valid bundle, and one test per way a user's bundle can be wrong."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from ocimux.base.errors import InvalidArgumentError
from ocimux.oci.bundle import load_bundle


def _spec(**root: Any) -> dict[str, Any]:
    return {
        "ociVersion": "1.0.2-dev",
        "process": {"args": ["sh"], "env": ["A=1"], "cwd": "/"},
        "root": {"path": "rootfs", **root},
    }


def _bundle(path: Path, spec: object, *, rootfs: bool = True) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    if rootfs:
        (path / "rootfs").mkdir(exist_ok=True)
    (path / "config.json").write_text(json.dumps(spec) if not isinstance(spec, str) else spec)
    return path


def _error(bundle: Path) -> str:
    with pytest.raises(InvalidArgumentError) as info:
        load_bundle(bundle)
    return str(info.value)


def test_valid_relative_rootfs_resolved_against_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = _bundle(tmp_path / "b", _spec())
    monkeypatch.chdir(tmp_path)  # the bundle dir is given relative too
    spec, rootfs = load_bundle(Path("b"))
    assert rootfs == tmp_path / "b" / "rootfs"
    assert rootfs.is_absolute()
    assert spec["root"]["path"] == str(rootfs)
    assert spec["process"]["args"] == ["sh"]
    assert bundle.exists()


def test_absolute_rootfs_outside_bundle(tmp_path: Path) -> None:
    elsewhere = tmp_path / "images" / "r"
    elsewhere.mkdir(parents=True)
    bundle = _bundle(tmp_path / "b", _spec(path=str(elsewhere)), rootfs=False)
    assert load_bundle(bundle)[1] == elsewhere


def test_symlinked_rootfs_recorded_as_its_real_path(tmp_path: Path) -> None:
    real = tmp_path / "store" / "layers" / "abc"
    real.mkdir(parents=True)
    bundle = _bundle(tmp_path / "b", _spec(), rootfs=False)
    (bundle / "rootfs").symlink_to(real)
    (tmp_path / "hop").symlink_to(tmp_path / "store")  # a chain of links, too
    (bundle / "rootfs2").symlink_to("../hop/layers/abc")
    spec, rootfs = load_bundle(bundle)
    assert rootfs == real
    assert spec["root"]["path"] == str(real)
    (bundle / "config.json").write_text(json.dumps(_spec(path="rootfs2")))
    assert load_bundle(bundle)[1] == real


def test_symlink_to_nowhere(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path / "b", _spec(), rootfs=False)
    (bundle / "rootfs").symlink_to(tmp_path / "gone")
    message = _error(bundle)
    assert str(bundle / "rootfs") in message
    assert "gone" in message


def test_symlink_to_a_file(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path / "b", _spec(), rootfs=False)
    (tmp_path / "file").write_text("")
    (bundle / "rootfs").symlink_to(tmp_path / "file")
    assert "is not a directory" in _error(bundle)


def test_symlink_loop(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path / "b", _spec(), rootfs=False)
    (bundle / "rootfs").symlink_to("rootfs")
    assert "cannot be reached" in _error(bundle)


def test_missing_bundle(tmp_path: Path) -> None:
    message = _error(tmp_path / "nope")
    assert f"bundle {tmp_path / 'nope'} does not exist" in message


def test_bundle_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    assert "is not a directory" in _error(tmp_path / "f")


def test_missing_config(tmp_path: Path) -> None:
    assert f"bundle {tmp_path} has no config.json" in _error(tmp_path)


def test_config_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "config.json").mkdir()
    assert "is not a regular file" in _error(tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_config_is_a_fifo_does_not_hang(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "config.json")
    assert "is not a regular file" in _error(tmp_path)


def test_invalid_json_says_line_and_column(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, '{\n  "ociVersion": "1.0.2",\n  "process": {,}\n}')
    message = _error(bundle)
    assert "is not valid JSON" in message
    assert "line 3, column 15" in message
    assert str(tmp_path / "config.json") in message


def test_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_bytes(b'{"a": "\xff"}')
    assert "not UTF-8" in _error(tmp_path)


def test_array_instead_of_object(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, [_spec()])
    assert "holds a JSON array, not an object" in _error(bundle)


@pytest.mark.parametrize("version", [None, "", 1, "2.0.0", "latest", "1.0"])
def test_bad_oci_version(tmp_path: Path, version: object) -> None:
    spec = _spec()
    if version is None:
        del spec["ociVersion"]
    else:
        spec["ociVersion"] = version
    assert "ociVersion" in _error(_bundle(tmp_path, spec))


@pytest.mark.parametrize("process", [None, [], "sh"])
def test_bad_process(tmp_path: Path, process: object) -> None:
    spec = _spec()
    if process is None:
        del spec["process"]
    else:
        spec["process"] = process
    assert ": process is" in _error(_bundle(tmp_path, spec))


@pytest.mark.parametrize("args", [None, [], "sh", ["sh", 1], [None], [""], {"0": "sh"}])
def test_bad_process_args(tmp_path: Path, args: object) -> None:
    spec = _spec()
    if args is None:
        del spec["process"]["args"]
    else:
        spec["process"]["args"] = args
    message = _error(_bundle(tmp_path, spec))
    assert "process.args is" in message
    assert "list of strings" in message or "first item" in message


@pytest.mark.parametrize("env", ["A=1", [1], {"A": "1"}])
def test_bad_process_env(tmp_path: Path, env: object) -> None:
    spec = _spec()
    spec["process"]["env"] = env
    assert "process.env is invalid" in _error(_bundle(tmp_path, spec))


@pytest.mark.parametrize("root", [None, {}, {"path": ""}, {"path": 5}, "rootfs"])
def test_bad_root_path(tmp_path: Path, root: object) -> None:
    spec = _spec()
    if root is None:
        del spec["root"]
    else:
        spec["root"] = root
    assert "root.path is" in _error(_bundle(tmp_path, spec))


def test_rootfs_missing(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, _spec(), rootfs=False)
    message = _error(bundle)
    assert f"rootfs {tmp_path / 'rootfs'}" in message
    assert "does not exist" in message


def test_rootfs_is_a_file(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, _spec(), rootfs=False)
    (bundle / "rootfs").write_text("")
    assert "is not a directory" in _error(bundle)
