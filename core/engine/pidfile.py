"""A container's `--pidfile`: written when it is created, removed with it (as podman does)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import suppress
from typing import Any

from ocimux.base.errors import InvalidArgumentError

__all__ = ["remove_pidfile", "write_pidfile"]


def write_pidfile(path: str, pid: int) -> None:
    """Write the container's pid to `--pidfile PATH` (replacing the file), as podman does."""
    try:
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="ascii") as fh:
            fh.write(f"{pid}\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise InvalidArgumentError(f"cannot write --pidfile {path}: {exc.strerror}") from None


def remove_pidfile(config: Mapping[str, Any]) -> None:
    """Remove a container's `--pidfile` (named in its record's config) when it is removed."""
    path = (config.get("container") or {}).get("pidfile")
    if path:
        with suppress(OSError):
            os.unlink(path)
