"""What the warm-path caches compare, with nothing but `os`: stat stamps and the cache's place.

`_cache` (the CLI's configuration cache, JSON) and ocimux-oci's route cache (plain lines, on a
path that cannot afford json, hashlib or pathlib) stamp the same things the same way.
"""

from __future__ import annotations

import os

#: typing.TYPE_CHECKING without importing typing
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["cache_directory", "plugin_files", "stat_key"]


def stat_key(path: str) -> list[int] | None:
    """A file's size, mtime (ns) and inode, or None if it cannot be stat'ed: what a cache compares."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def plugin_files(dirname: str) -> list[str]:
    """The files of one sys.path directory whose change may change the installed plugins:
    each `*.dist-info`/`*.egg-info` entry-point file (an in-place reinstall rewrites it) and
    each `.pth` file, sorted (a new or removed package changes the directory's own stamp)."""
    try:
        names = os.listdir(dirname)
    except OSError:
        return []
    out = []
    for name in sorted(names):
        if name.endswith((".dist-info", ".egg-info")):
            out.append(os.path.join(dirname, name, "entry_points.txt"))
        elif name.endswith(".pth"):
            out.append(os.path.join(dirname, name))
    return out


def cache_directory(environ: Mapping[str, str]) -> str:
    """Where cache files live: $OCIMUX_CACHE_DIR, else $XDG_CACHE_HOME/ocimux, else ~/.cache/ocimux."""
    if environ.get("OCIMUX_CACHE_DIR"):
        return environ["OCIMUX_CACHE_DIR"]
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "ocimux")
