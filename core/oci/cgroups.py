"""A container's cgroups, found without its runtime: to kill what the runtime has forgotten.

When a runtime's state is gone (its `--root` deleted, its shim confused), the container's
processes still sit in the cgroups the runtime made for them. This module finds those cgroups
from the container id alone, in every mounted hierarchy (this host is hybrid: cgroup v1
controllers plus an empty cgroup v2 at `/sys/fs/cgroup/unified`), and kills every process in
them: `cgroup.kill` where cgroup v2 has it, else freeze (v1 freezer), SIGKILL each pid of
`cgroup.procs`, thaw (a frozen task cannot die on v1). Then the empty cgroups are removed.

Where a runtime puts a container without `linux.cgroupsPath` (ocimux sets none): runc 1.1
and crun 1.8 use `/<id>` in each hierarchy, runc nests v1 memory under its caller's cgroup
(`<caller>/<id>`). A `cgroupsPath` from a user's bundle is followed only when its last part
names the container id, so a bundle cannot point ocimux at `/` or at another group's cgroup.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Final

__all__ = ["container_cgroups", "kill_container_cgroups", "remove_cgroups"]

_MOUNTS: Final = "/proc/self/mounts"
#: how long the processes may take to die once killed, in seconds
_DEATH_WAIT: Final = 5.0


def _hierarchies() -> list[tuple[str, str]]:
    """(mount point, own cgroup path there) for every cgroup hierarchy mounted here."""
    own: dict[str, str] = {}
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as fh:
            for line in fh:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                for name in controllers.split(",") if controllers else [""]:
                    own[name] = path
    except OSError:
        pass
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    try:
        with open(_MOUNTS, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return out
    for line in lines:
        fields = line.split()
        if len(fields) < 4 or fields[2] not in ("cgroup", "cgroup2"):
            continue
        if fields[2] == "cgroup2":
            key, mine = "", own.get("", "/")
        else:
            names = [o for o in fields[3].split(",") if o in own]
            if not names:
                continue
            key, mine = ",".join(sorted(names)), own[names[0]]
        if key in seen:  # the same hierarchy mounted twice
            continue
        seen.add(key)
        out.append((fields[1].replace("\\040", " "), mine))
    return out


def _cgroups_path(config_json: Path | None, cid: str) -> str | None:
    """The bundle's `linux.cgroupsPath` if it names the container, else None."""
    if config_json is None:
        return None
    try:
        with open(config_json, encoding="utf-8") as fh:
            path = (json.load(fh).get("linux") or {}).get("cgroupsPath")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(path, str) or ":" in path:  # systemd slice:prefix:name is not a path
        return None
    return path if cid in os.path.basename(path.rstrip("/")) else None


def container_cgroups(cid: str, config_json: Path | None = None) -> list[Path]:
    """The existing cgroup directories of container `cid`, deepest first.

    Never a hierarchy's root nor a cgroup that holds this process (an ancestor of our own).
    """
    if not cid or "/" in cid or cid.startswith("."):
        return []
    names = [cid]
    configured = _cgroups_path(config_json, cid)
    if configured:
        names.insert(0, configured.strip("/"))
    found: list[str] = []
    for mount, mine in _hierarchies():
        mine_rel = mine.strip("/")
        for name in names:
            for parent in {"/", mine}:  # one candidate when ocimux sits at the root
                rel = os.path.normpath(os.path.join(parent, name)).lstrip("/")
                if not rel or rel.startswith(".."):
                    continue
                if mine_rel == rel or mine_rel.startswith(rel + "/"):
                    continue  # holds ocimux itself
                path = f"{mount}/{rel}"
                if path not in found and os.path.isdir(path):
                    found.append(path)
    return [Path(p) for p in sorted(found, key=lambda p: p.count("/"), reverse=True)]


def _procs(directory: Path) -> set[int]:
    """Every pid in `directory` and its child cgroups."""
    pids: set[int] = set()
    for root, _dirs, files in os.walk(directory):
        if "cgroup.procs" in files:
            try:
                with open(os.path.join(root, "cgroup.procs"), encoding="ascii") as fh:
                    pids.update(int(p) for p in fh.read().split())
            except (OSError, ValueError):
                pass
    return pids


def _write(path: Path, text: str) -> bool:
    try:
        with open(path, "w", encoding="ascii") as fh:
            fh.write(text)
        return True
    except OSError:
        return False


def kill_container_cgroups(cid: str, config_json: Path | None = None) -> int:
    """Kill every process in container `cid`'s cgroups, wait for them to die, remove the cgroups.

    Returns how many processes were found (0: none, or no cgroup of that container exists).
    Processes still alive after a few seconds stay (and their cgroups with them).
    """
    dirs = container_cgroups(cid, config_json)
    if not dirs:
        return 0
    found: set[int] = set()
    for d in dirs:
        found |= _procs(d)
    if found:
        freezers = [d for d in dirs if (d / "freezer.state").exists()]
        for d in dirs:
            if (d / "cgroup.kill").exists():
                _write(d / "cgroup.kill", "1")
        for d in freezers:
            _write(d / "freezer.state", "FROZEN")  # no fork escapes the kill below
        me = os.getpid()
        for _ in range(3):
            pids = set().union(*(_procs(d) for d in dirs)) - {me, 1}
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        for d in freezers:
            _write(d / "freezer.state", "THAWED")  # a frozen task dies only once thawed
        deadline = time.monotonic() + _DEATH_WAIT
        while any(_procs(d) for d in dirs) and time.monotonic() < deadline:
            time.sleep(0.01)
    remove_cgroups(dirs)
    return len(found)


def remove_cgroups(dirs: list[Path]) -> None:
    """rmdir each cgroup (children first); a cgroup that still has processes stays."""
    for d in dirs:
        for root, _subdirs, _files in os.walk(d, topdown=False):  # children first
            try:
                os.rmdir(root)
            except OSError:
                pass
