"""ocimux.base.files: every directory level ocimux creates is private; existing levels are left
alone. Atomic writes leave the old or the new content, mode 0600, and no temp file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from ocimux.base.files import private_dir, write_atomic


def test_every_created_level_is_0700_even_under_a_loose_umask(tmp_path: Path):
    existing = tmp_path / "existing"
    existing.mkdir(mode=0o755)
    old = os.umask(0o022)
    try:
        private_dir(existing / "a" / "b" / "c")
    finally:
        os.umask(old)
    for level in ("a", "a/b", "a/b/c"):
        assert stat.S_IMODE((existing / level).stat().st_mode) == 0o700, level
    assert stat.S_IMODE(existing.stat().st_mode) == 0o755, "an existing level must keep its mode"


def test_an_existing_directory_is_fine(tmp_path: Path):
    assert private_dir(tmp_path) == tmp_path


def test_write_atomic_replaces_the_content_whole_with_mode_0600(tmp_path: Path):
    target = tmp_path / "state.json"
    target.write_bytes(b"old content that is longer")
    target.chmod(0o644)
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"], "no temp file left"


def test_write_atomic_writes_a_large_payload_completely(tmp_path: Path):
    data = os.urandom(3 * 1024 * 1024)
    write_atomic(str(tmp_path / "big"), data)
    assert (tmp_path / "big").read_bytes() == data


def test_write_atomic_into_a_missing_directory_raises_and_leaves_nothing(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "missing" / "f", b"x")
    assert list(tmp_path.iterdir()) == []


def test_write_atomic_over_a_directory_fails_and_removes_its_temp_file(tmp_path: Path):
    (tmp_path / "d").mkdir()
    with pytest.raises(OSError):
        write_atomic(tmp_path / "d", b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]
    assert (tmp_path / "d").is_dir()
