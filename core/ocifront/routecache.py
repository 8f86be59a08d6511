"""The route cache of `ocimux-oci create`: which binary, flags and refusals a backend name means.

Finding a route loads ocimux's configuration and Registry (~50-100 ms); a create whose route is
cached costs a few stats. The file, `<cache dir>/oci-route-<euid>-<crc32>.txt`, is named by a
key of what selects the route besides files: the interpreter, sys.path, the annotation and
`--backend`, the euid, and every environment variable that may select the configuration (a
superset: `OCIMUX_*`, `CONTAINERS_*`, `XDG_*`, HOME). It holds that key in full, then a stamp
(size, mtime, inode, or missing) of every file the route came from: each file and drop-in
directory of the containers.conf search path (present or not), each sys.path directory and its
entry-point and `.pth` files, and the backend's binary; then the route. A hit needs the same key
and every stamp unchanged. Plain lines: this path imports neither json (re) nor hashlib
(OpenSSL, ~8 ms) nor pathlib. Only routes to runc-compatible backends are kept: a shim v2
backend's create starts a shim anyway (routing.py decides).
"""

from __future__ import annotations

import os
import sys
import zlib

from ocimux.base._stamps import cache_directory, plugin_files, stat_key

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

#: a route: the backend's name, binary, global flags, and verb -> why it cannot do it
Route = tuple[str, str, tuple[str, ...], dict[str, str]]

__all__ = ["load", "store"]

FORMAT = "ocimux-oci route 2"
_ENV_PREFIXES = ("OCIMUX_", "CONTAINERS_", "XDG_")


def _key(annotation: str | None, flag: str | None, environ: Mapping[str, str]) -> str:
    env = sorted((k, v) for k, v in environ.items()
                 if k == "HOME" or k.upper().startswith(_ENV_PREFIXES))  # fmt: skip
    return repr((sys.executable, sys.path, annotation or "", flag or "", os.geteuid(), env))


def _path(environ: Mapping[str, str], key: str) -> str:
    name = f"oci-route-{os.geteuid()}-{zlib.crc32(key.encode()):08x}.txt"
    return os.path.join(cache_directory(environ), name)


def _stamp(path: str) -> str:
    found = stat_key(path)
    return "-" if found is None else ":".join(map(str, found))


def _watched(sources: list[str], binary: str) -> list[str]:
    paths = list(sources)
    for entry in sys.path:
        paths.append(entry or ".")
        paths += plugin_files(entry or ".")
    return [*paths, binary]


def load(annotation: str | None, flag: str | None, environ: Mapping[str, str]) -> Route | None:
    """The cached route, or None (none stored, or something it came from changed)."""
    key = _key(annotation, flag, environ)
    try:
        with open(_path(environ, key), encoding="utf-8") as fh:
            lines = fh.read().split("\n")
    except (OSError, UnicodeDecodeError):
        return None
    if lines[:2] != [FORMAT, f"key\t{key}"]:
        return None
    name = binary = ""
    flags: list[str] = []
    refuse: dict[str, str] = {}
    for line in lines[2:]:
        kind, _, rest = line.partition("\t")
        if kind == "stamp":
            path, _, stamp = rest.rpartition("\t")
            if _stamp(path) != stamp:
                return None
        elif kind == "name":
            name = rest
        elif kind == "binary":
            binary = rest
        elif kind == "flag":
            flags.append(rest)
        elif kind == "refuse":
            verb, _, why = rest.partition("\t")
            refuse[verb] = why
    if not (name and binary):
        return None
    return name, binary, tuple(flags), refuse


def store(annotation: str | None, flag: str | None, environ: Mapping[str, str], route: Route,
          sources: list[str]) -> None:  # fmt: skip
    """Keep a route to a runc-compatible backend; a cache that cannot be written is skipped."""
    name, binary, flags, refuse = route
    key = _key(annotation, flag, environ)
    lines = [FORMAT, f"key\t{key}"]
    lines += [f"stamp\t{path}\t{_stamp(path)}" for path in _watched(sources, binary)]
    lines += [f"name\t{name}", f"binary\t{binary}"]
    lines += [f"flag\t{f}" for f in flags]
    lines += [f"refuse\t{verb}\t{why}" for verb, why in refuse.items()]
    if any("\n" in line for line in lines):
        return  # a value that a line cannot hold: no cache, the cold path still works
    # lazy: base.files imports pathlib (~6 ms), which a cached route never needs
    from ocimux.base.files import write_atomic

    path = _path(environ, key)
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        write_atomic(path, ("\n".join(lines) + "\n").encode())
    except OSError:
        pass
