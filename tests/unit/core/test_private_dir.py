"""Every directory level ocimux creates is private; existing levels are left alone."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ocimux._dirs import private_dir


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
