"""ocimux-oci's route cache: a hit only while everything the route came from is unchanged."""

from __future__ import annotations

import os
from pathlib import Path

from ocimux.ocifront import routecache


def _setup(tmp_path: Path) -> tuple[dict[str, str], Path, Path, list[str]]:
    environ = {"OCIMUX_CACHE_DIR": str(tmp_path / "cache"), "HOME": str(tmp_path)}
    binary = tmp_path / "crun"
    binary.write_text("#!/bin/sh\n")
    conf = tmp_path / "containers.conf"
    conf.write_text("[engine]\n")
    return environ, binary, conf, [str(conf), str(tmp_path / "absent.conf")]


def test_a_stored_route_is_found_again(tmp_path: Path) -> None:
    environ, binary, _conf, sources = _setup(tmp_path)
    route = ("crun", str(binary), ("--flag=x",), {"checkpoint": "capability checkpoint is no\t(x)"})
    assert routecache.load("crun", None, environ) is None
    routecache.store("crun", None, environ, route, sources)
    assert routecache.load("crun", None, environ) == route
    # another annotation, flag or configuration variable is another key
    assert routecache.load("runc", None, environ) is None
    assert routecache.load("crun", "crun", environ) is None
    assert routecache.load("crun", None, {**environ, "OCIMUX_ENGINE__RUNTIME": "runc"}) is None
    assert routecache.load("crun", None, {**environ, "CONTAINERS_CONF": "/x"}) is None


def test_a_changed_source_or_binary_misses(tmp_path: Path) -> None:
    environ, binary, conf, sources = _setup(tmp_path)
    route = ("crun", str(binary), (), {})
    routecache.store(None, None, environ, route, sources)
    assert routecache.load(None, None, environ) == route
    conf.write_text("[engine]\nruntime = 'runc'\n")  # edited
    assert routecache.load(None, None, environ) is None
    routecache.store(None, None, environ, route, sources)
    (tmp_path / "absent.conf").write_text("")  # a file of the search path appears
    assert routecache.load(None, None, environ) is None
    routecache.store(None, None, environ, route, sources)
    replacement = tmp_path / "crun.new"
    replacement.write_text("#!/bin/sh\n")
    os.replace(replacement, binary)  # the binary replaced (a new inode)
    assert routecache.load(None, None, environ) is None


def test_a_damaged_cache_file_is_a_miss(tmp_path: Path) -> None:
    environ, binary, _conf, sources = _setup(tmp_path)
    routecache.store(None, None, environ, ("crun", str(binary), (), {}), sources)
    (cached,) = (tmp_path / "cache").iterdir()
    cached.write_bytes(b"\xff\xfe not a route")
    assert routecache.load(None, None, environ) is None
    cached.write_text("ocimux-oci route 2\nkey\tother\n")
    assert routecache.load(None, None, environ) is None


def test_a_value_a_line_cannot_hold_is_not_stored(tmp_path: Path) -> None:
    environ, binary, _conf, sources = _setup(tmp_path)
    routecache.store(None, None, environ, ("crun", str(binary), ("a\nb",), {}), sources)
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())
    assert routecache.load(None, None, environ) is None
