"""The warm-path cache: validated config and plugin entry points, keyed by what could change them.

A CLI call whose configuration and installed plugins have not changed must not import
pydantic, pydantic-settings or stevedore (DESIGN.md, "The hot path"). So the cold path's
result — the merged, validated config and the entry points of both plugin groups — is kept
in one JSON file, with a key made of:

- the stat data (size, mtime in ns, inode) of every config file and drop-in directory in the
  search path, present or not (a new drop-in changes its directory's mtime);
- every `sys.path` entry's stat data, plus each `*.dist-info`/`*.egg-info` entry-point file's
  (an in-place reinstall rewrites `entry_points.txt`);
- the environment variables that affect configuration, the interpreter and ocimux's version.

The warm path stats those, compares, and returns the cached result. `OCIMUX_NO_CACHE=1`
bypasses it; `OCIMUX_CACHE_DIR` moves it (tests).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ._stamps import cache_directory, plugin_files, stat_key
from .files import private_dir

__all__ = ["cache_dir", "cached", "fingerprint", "stat_key", "write_json"]

FORMAT = 1


def cache_dir(environ: Mapping[str, str]) -> Path:
    """Where cache files live: $OCIMUX_CACHE_DIR, else $XDG_CACHE_HOME/ocimux, else ~/.cache/ocimux."""
    return Path(cache_directory(environ))


def _plugin_metadata(dirname: str) -> list[Any]:
    """Stat data of every entry-point file and .pth in one sys.path directory."""
    return [[os.path.basename(path) if path.endswith(".pth") else os.path.basename(os.path.dirname(path)),
             stat_key(path)] for path in plugin_files(dirname)]  # fmt: skip


def fingerprint(sources: list[Path], environ: Mapping[str, str], extra: str) -> dict[str, Any]:
    """Everything whose change must invalidate the cache, as a JSON-able value."""
    return {
        "format": FORMAT,
        "python": sys.executable,
        "extra": extra,
        "environ": dict(sorted(environ.items())),
        "config": [[str(p), stat_key(str(p))] for p in sources],
        "sys_path": [[p, stat_key(p or "."), _plugin_metadata(p or ".")] for p in sys.path],
    }


def cached(
    name: str,
    key: dict[str, Any],
    environ: Mapping[str, str],
    compute: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    """Return the value cached under `name` for `key`, or compute, store and return it.

    A cache that cannot be read or written is ignored: the cold path still works.
    """
    if environ.get("OCIMUX_NO_CACHE"):
        return compute()
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
    # one file per interpreter, sys.path and caller: `python -m ocimux.cli` (cwd first on
    # sys.path) and the console script must not keep evicting each other's entry
    ident = json.dumps([sys.executable, sys.path, key.get("extra")])
    path = (
        cache_dir(environ)
        / f"{name}-{os.geteuid()}-{hashlib.sha256(ident.encode()).hexdigest()[:12]}.json"
    )
    try:
        with open(path, encoding="utf-8") as fh:
            stored = json.load(fh)
        if stored.get("digest") == digest:
            return stored["value"]
    except (OSError, ValueError, KeyError, AttributeError):
        pass
    value = compute()
    write_json(path, {"digest": digest, "value": value})
    return value


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write `data` atomically (temp file + rename), mode 0600; a failure is ignored."""
    try:
        private_dir(path.parent)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)
    except OSError:
        pass
