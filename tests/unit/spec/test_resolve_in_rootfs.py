"""resolve_in_rootfs: paths resolved as a process rooted at the rootfs would resolve them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ocimux.base.errors import InvalidArgumentError
from ocimux.oci.rootfs import resolve_in_rootfs


def test_plain_and_missing_paths(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    assert resolve_in_rootfs(tmp_path, "/etc/passwd") == tmp_path / "etc" / "passwd"
    assert resolve_in_rootfs(tmp_path, "/no/such/file") == tmp_path / "no" / "such" / "file"
    assert resolve_in_rootfs(tmp_path, "/") == tmp_path


def test_absolute_link_stays_inside(tmp_path: Path) -> None:
    (tmp_path / "usr" / "lib").mkdir(parents=True)
    (tmp_path / "etc").symlink_to("/usr/lib")
    assert resolve_in_rootfs(tmp_path, "/etc/passwd") == tmp_path / "usr" / "lib" / "passwd"


def test_dotdot_stops_at_root(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    os.symlink("../../../../host", tmp_path / "etc" / "x")
    assert resolve_in_rootfs(tmp_path, "/etc/x") == tmp_path / "host"
    assert resolve_in_rootfs(tmp_path, "/../../etc") == tmp_path / "etc"


def test_relative_link_in_subdir(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    os.symlink("b/../b/f", tmp_path / "a" / "l")
    assert resolve_in_rootfs(tmp_path, "a/l") == tmp_path / "a" / "b" / "f"


def test_loop(tmp_path: Path) -> None:
    os.symlink("y", tmp_path / "x")
    os.symlink("x", tmp_path / "y")
    with pytest.raises(InvalidArgumentError, match="too many levels"):
        resolve_in_rootfs(tmp_path, "/x")
