"""Read one config file and parse it with tomli, turning every failure into a ConfigError.

Imported lazily (by `load.py`) because it imports tomli. The errors name the file and, where
known, the line: a missing required file, a directory, an unreadable or non-regular file, a file
over MAX_BYTES, invalid UTF-8 (with the line of the first bad byte), a TOML syntax error (tomli's
message, line and column) and nesting deeper than tomli or Python can follow.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Any

import tomli
from ocimux.base.errors import ConfigError

from .lines import format_loc, key_at, too_deep_line

__all__ = ["MAX_BYTES", "ParsedFile", "parse_text", "read_config_file"]

#: Nesting the line finder reports when tomli gives up (its recursion fails near 500 levels;
#: no containers.conf nests more than a few).
NESTING_SEEN = 100

#: Larger files are refused (a containers.conf is a few KiB; this stops `/dev/zero`).
MAX_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """One parsed file: its path as reported in errors, its text, and its TOML data."""

    path: str
    text: str
    data: dict[str, Any]


def read_config_file(path: str, *, required: bool, origin: str | None = None) -> ParsedFile | None:
    """Read and parse the file at `path`.

    Returns None if the file does not exist and is not `required`; a missing required file is a
    ConfigError "no such config file" whose hint names `origin` (who asked for the file).
    Regular files and character devices (so `CONTAINERS_CONF=/dev/null` works) are read; any
    other kind of file is a ConfigError. Raises ConfigError for every failure, never OSError.
    """
    try:
        raw = _read_bytes(path)
    except FileNotFoundError as exc:
        if not required:
            return None
        hint = f"it was named by {origin}" if origin else None
        raise ConfigError("no such config file", path=path, hint=hint) from exc
    except IsADirectoryError as exc:
        raise ConfigError("is a directory, not a config file", path=path) from exc
    except PermissionError as exc:
        raise ConfigError("cannot read config file: permission denied", path=path) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror or exc}", path=path) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            path=path,
            line=line,
            hint="containers.conf files are UTF-8 TOML",
        ) from None
    return ParsedFile(path, text, parse_text(text, path=path))


def parse_text(text: str, *, path: str | None = None) -> dict[str, Any]:
    """Parse TOML `text` (a leading byte-order mark is ignored); raise ConfigError on failure."""
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        return tomli.loads(text)
    except tomli.TOMLDecodeError as exc:
        key = key_at(text, exc.lineno)
        raise ConfigError(
            f"TOML syntax error: {exc.msg} (column {exc.colno})",
            path=path,
            line=exc.lineno,
            key=format_loc(key) if key else None,
        ) from None
    except RecursionError:
        line = too_deep_line(text, NESTING_SEEN)
        raise ConfigError("TOML nested too deeply to parse", path=path, line=line) from None


def _read_bytes(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(path)
        if not (stat.S_ISREG(mode) or stat.S_ISCHR(mode)):
            raise OSError(0, "not a regular file")
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_BYTES:
                raise OSError(0, f"larger than {MAX_BYTES} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)
