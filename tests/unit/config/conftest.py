"""Fixtures for the config tests: a fake filesystem root, so no test reads the real /etc."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from ocimux.config import search


@dataclass
class FakeRoots:
    """Tmp stand-ins for /usr/share/containers, /etc/containers and $HOME, plus an environ."""

    share: Path
    etc: Path
    home: Path
    monkeypatch: pytest.MonkeyPatch
    env: dict[str, str] = field(default_factory=dict)

    def write(self, path: Path, text: str | bytes) -> Path:
        """Write `text` to `path` (creating parents) and return the path."""
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    @property
    def user_conf(self) -> Path:
        return self.home / ".config" / "containers" / "containers.conf"

    def set_euid(self, euid: int) -> None:
        """Pretend the process runs with this effective uid (search path, default dirs)."""
        self.monkeypatch.setattr(os, "geteuid", lambda: euid)


@pytest.fixture
def roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRoots]:
    """Point the system config dirs at tmp dirs; run as euid 0; HOME is a tmp dir."""
    share, etc, home = tmp_path / "usr-share", tmp_path / "etc", tmp_path / "home"
    for directory in (share, etc, home):
        directory.mkdir()
    monkeypatch.setattr(search, "SYSTEM_DIRS", (str(share), str(etc)))
    fake = FakeRoots(share, etc, home, monkeypatch, {"HOME": str(home)})
    fake.set_euid(0)
    yield fake
