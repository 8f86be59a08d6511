"""Finding and removing what no record names: `ocimux system check` and `system repair`.

Containers outlive the `ocimux` that made them; if their records go (a damaged database moved
aside, a crash between two steps, a directory deleted by hand), what they left runs on with
nothing to remove it. This module lists, strictly inside this ocimux's own state and run
directories (other instances, podman's and users' containers are never looked at):

- monitors: conmon (`-b <containers>/<id>`), shim daemons (`-address <run_dir>/runtimes/...
  -id <id>`), ocimux's I/O monitors and mock shims (`--dir <containers>/<id>`);
- runtime state entries (a directory named by a container id under `<run_dir>/runtimes/`),
  exit files (`<run_dir>/runtimes/*.exits/<id>`), the container's cgroups, layer mounts and
  directories under `<state_dir>/containers/` — all for ids that have no record;
- records whose container directory is gone;
- shim v2 event sinks (`-m ocimux.plugins.shimv2.events --dir <run_dir>/runtimes/<name>`)
  whose directory was deleted or replaced under them (no shim can reach them any more).

Repair removes them; it does not adopt (an orphan's name, command and options went with its
record). Each orphan id is handled under its lock, re-checked there, so a container being
created at that moment (record and directory appear under its lock) is never touched.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ocimux.base.errors import OcimuxError, StoreError
from ocimux.base.ids import is_full_id
from ocimux.oci.cgroups import container_cgroups, kill_container_cgroups
from ocimux.oci.overlay import parse_mount_points

if TYPE_CHECKING:
    from .dispatcher import Dispatcher

__all__ = ["Finding", "repair", "scan"]

#: the shim v2 runtime's event sink, one per runtime directory (plugins/shimv2/events.py)
_SINK_MODULE: Final = "ocimux.plugins.shimv2.events"
#: a Finding's `cid` for what belongs to no container (an event sink)
_NO_CONTAINER: Final = ""

#: how deep runtime state entries sit under `<run_dir>/runtimes/<name>/` (runc shim: runc/<ns>/<id>)
_STATE_DEPTH: Final = 3


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing repair would remove: what it is, where, and the container id it belongs to."""

    kind: str
    where: str
    cid: str
    action: str

    def line(self, outcome: str | None = None) -> str:
        """`KIND WHERE (container ID): ACTION` — or the outcome of doing it."""
        owner = f" (container {self.cid[:12]})" if self.cid else ""
        return f"{self.kind} {self.where}{owner}: {outcome or self.action}"


@dataclass(frozen=True, slots=True)
class _Places:
    containers: Path
    runtimes: Path

    @classmethod
    def of(cls, d: Dispatcher) -> _Places:
        return cls(
            Path(os.path.realpath(Path(d.config.state_dir) / "containers")),
            Path(os.path.realpath(Path(d.config.run_dir) / "runtimes")),
        )

    def cid_under(self, path: str, base: Path) -> str | None:
        """The container id `path` lies under (`<base>/<id>/...`), or None if not under base."""
        prefix = f"{base}/"
        if not path.startswith(prefix):
            return None
        first = path[len(prefix) :].split("/", 1)[0]
        return first if is_full_id(first) else None


# --- finding -------------------------------------------------------------------------------


def scan(d: Dispatcher) -> list[Finding]:
    """Everything of this ocimux's own directories that no record names (see the module doc)."""
    places = _Places.of(d)
    recorded = {rec.id for rec in d.store.list_containers()}
    found: list[Finding] = []
    orphans: set[str] = set()

    def add(kind: str, where: str, cid: str, action: str) -> None:
        orphans.add(cid)
        found.append(Finding(kind, where, cid, action))

    for pid, cid, what in _monitors(places):
        if cid not in recorded:
            add("orphan monitor", f"pid {pid} ({what})", cid, "kill it")
    for entry, cid in _state_entries(places):
        if cid not in recorded:
            add("orphan runtime state", str(entry), cid, "delete it through the runtime")
    for path, cid in _exit_files(places):
        if cid not in recorded:
            add("orphan exit file", str(path), cid, "remove it")
    for point, cid in _mounts(places):
        if cid not in recorded:
            add("orphan layer mount", point, cid, "unmount it")
    for path, cid in _directories(places):
        if cid not in recorded:
            add("orphan directory", str(path), cid, "remove it")
    for path, cid in _persist_dirs(places):
        if cid not in recorded:
            add("orphan run directory", str(path), cid, "remove it")
    for cid in sorted(orphans):
        cgroups = container_cgroups(cid, places.containers / cid / "config.json")
        if cgroups:
            more = f" and {len(cgroups) - 1} more hierarchies" if len(cgroups) > 1 else ""
            found.append(
                Finding(
                    "orphan cgroup", f"{cgroups[-1]}{more}", cid, "kill its processes, remove it"
                )
            )
    for pid, directory in _orphan_sinks(places):
        found.append(
            Finding("orphan event sink", f"pid {pid} ({directory})", _NO_CONTAINER, "kill it")
        )
    for rec in d.store.list_containers():
        if rec.status not in ("creating", "removing") and not (places.containers / rec.id).is_dir():
            found.append(
                Finding(
                    "record without directory",
                    f"{rec.name} ({rec.runtime}, {rec.status})",
                    rec.id,
                    "kill what is left of it, remove the record",
                )
            )
    return found


def _cmdlines() -> Iterator[tuple[int, list[str]]]:
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                raw = fh.read()
        except OSError:
            continue
        if raw:
            yield int(entry), [os.fsdecode(a) for a in raw.rstrip(b"\0").split(b"\0")]


def _flag(argv: list[str], name: str) -> str | None:
    """The value of `name VALUE` or `name=VALUE` in argv."""
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg[len(name) + 1 :]
    return None


def _monitors(places: _Places) -> Iterator[tuple[int, str, str]]:
    """(pid, container id, description) of monitors whose argv names our directories."""
    for pid, argv in _cmdlines():
        program = os.path.basename(argv[0])
        bundle = _flag(argv, "-b")
        if program == "conmon" and bundle:
            cid = places.cid_under(os.path.realpath(bundle), places.containers)
            if cid:
                yield pid, cid, "conmon"
            continue
        address = _flag(argv, "-address")
        shim_id = _flag(argv, "-id")
        if program.startswith("containerd-shim") and address and shim_id:
            # `-address <run_dir>/runtimes/<name>/containerd.sock`: a shim of ours
            if os.path.realpath(address).startswith(f"{places.runtimes}/") and is_full_id(shim_id):
                yield pid, shim_id, program
            continue
        directory = _flag(argv, "--dir")
        module = _flag(argv, "-m")
        if directory and module:  # ocimux's own I/O monitors and mock shims
            cid = places.cid_under(os.path.realpath(directory), places.containers)
            if cid:
                yield pid, cid, module


def _orphan_sinks(places: _Places) -> Iterator[tuple[int, str]]:
    """(pid, directory) of shim event sinks of this instance's runtime directories whose
    directory is gone or is another one now: the sink works in it (its cwd), so a deleted
    run directory leaves it serving a socket nobody can reach."""
    for pid, argv in _cmdlines():
        directory = _flag(argv, "--dir")
        if _flag(argv, "-m") != _SINK_MODULE or not directory:
            continue
        path = os.path.realpath(directory)
        if os.path.dirname(path) != str(places.runtimes):
            continue  # another instance's (or podman's, or a user's): never ours to judge
        try:
            cwd = os.stat(f"/proc/{pid}/cwd")
        except OSError:
            continue  # gone meanwhile, or not ours to look at
        try:
            here = os.stat(path)
        except OSError:
            yield pid, path
            continue
        if (here.st_dev, here.st_ino) != (cwd.st_dev, cwd.st_ino):
            yield pid, path


def _state_entries(places: _Places) -> Iterator[tuple[Path, str]]:
    """Directories named by a container id under each runtime's state directory."""
    if not places.runtimes.is_dir():
        return
    for runtime_dir in sorted(places.runtimes.iterdir()):
        if runtime_dir.name.endswith(".exits") or not runtime_dir.is_dir():
            continue
        yield from _id_dirs(runtime_dir, _STATE_DEPTH)


def _id_dirs(directory: Path, depth: int) -> Iterator[tuple[Path, str]]:
    try:
        entries = sorted(directory.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.is_symlink() or not entry.is_dir():
            continue
        if is_full_id(entry.name):
            yield entry, entry.name
        elif depth > 1:
            yield from _id_dirs(entry, depth - 1)


def _exit_files(places: _Places) -> Iterator[tuple[Path, str]]:
    if not places.runtimes.is_dir():
        return
    for exits in sorted(places.runtimes.glob("*.exits")):
        for path in sorted(exits.iterdir()):
            if is_full_id(path.name):
                yield path, path.name


def _persist_dirs(places: _Places) -> Iterator[tuple[Path, str]]:
    """`<run_dir>/persist/<id>`: a container's files on the run dir (exit file, sockets)."""
    persist = places.runtimes.parent / "persist"
    if persist.is_dir():
        for entry in sorted(persist.iterdir()):
            if is_full_id(entry.name) and not entry.is_symlink():
                yield entry, entry.name


def _mounts(places: _Places) -> Iterator[tuple[str, str]]:
    try:
        with open("/proc/self/mountinfo", "rb") as fh:
            points = parse_mount_points(fh.read())
    except OSError:
        return
    for point in points:
        cid = places.cid_under(point, places.containers)
        if cid:
            yield point, cid


def _directories(places: _Places) -> Iterator[tuple[Path, str]]:
    if not places.containers.is_dir():
        return
    for entry in sorted(places.containers.iterdir()):
        name = entry.name
        if name.startswith(".") and name.endswith(".upper"):  # writes kept for a re-create
            name = name[1 : -len(".upper")]
        if is_full_id(name):
            yield entry, name


# --- repairing -----------------------------------------------------------------------------


def repair(d: Dispatcher, findings: list[Finding]) -> list[tuple[Finding, str]]:
    """Remove what `findings` name, one container id at a time; (finding, outcome) for each."""
    by_cid: dict[str, list[Finding]] = {}
    for f in findings:
        by_cid.setdefault(f.cid, []).append(f)
    out: list[tuple[Finding, str]] = []
    sinks = by_cid.pop(_NO_CONTAINER, [])
    if sinks:
        _kill_sinks(_Places.of(d))
        left = {f.where for f in scan(d) if f.cid == _NO_CONTAINER}
        out += [(f, "FAILED: still there" if f.where in left else "done") for f in sinks]
    for cid, items in by_cid.items():
        try:
            with d.store.lock(cid, 0):
                if items[0].kind == "record without directory":
                    _remove_record(d, cid)
                elif _recorded(d, cid):
                    out += [(f, "skipped: it has a record now") for f in items]
                    continue
                else:
                    _remove_orphan(d, cid, items)
                    d.store.drop_lock_file(cid)
        except StoreError as exc:
            out += [(f, f"skipped: {exc.detail}") for f in items]
            continue
        except OcimuxError as exc:
            out += [(f, f"FAILED: {exc}") for f in items]
            continue
        left = {(f.kind, f.where) for f in scan(d) if f.cid == cid}
        for f in items:
            out.append((f, "FAILED: still there" if (f.kind, f.where) in left else "done"))
    return out


def _recorded(d: Dispatcher, cid: str) -> bool:
    try:
        d.store.get_container(cid)
    except OcimuxError:
        return False
    return True


def _runtimes(d: Dispatcher) -> Iterator[object]:
    for name in d.registry.runtime_names():
        try:
            runtime = d.registry.get(name)
        except OcimuxError:
            continue
        if runtime.unavailable_reason() is None:
            yield runtime


def _remove_orphan(d: Dispatcher, cid: str, items: list[Finding]) -> None:
    """Runtime state, monitors, processes, cgroups, mount, directory and files of one orphan id."""
    places = _Places.of(d)
    directory = places.containers / cid
    for runtime in _runtimes(d):  # a runtime that does not know the id answers "no such"
        try:
            runtime.delete(cid)  # type: ignore[attr-defined]
        except (OcimuxError, OSError):
            pass
    _kill_monitors(places, cid)
    kill_container_cgroups(cid, directory / "config.json")
    d.remove_container_dir(directory)
    d.remove_container_dir(places.containers / f".{cid}.upper")
    for entry, owner in _state_entries(places):
        if owner == cid:
            shutil.rmtree(entry, ignore_errors=True)  # what the runtime itself could not delete
    for path, owner in _exit_files(places):
        if owner == cid:
            path.unlink(missing_ok=True)
    for path, owner in _persist_dirs(places):
        if owner == cid:
            shutil.rmtree(path, ignore_errors=True)
    del items


def _kill_sinks(places: _Places) -> None:
    """Kill the orphan event sinks (found again now: a pid is never trusted from earlier)."""
    _kill([pid for pid, _ in _orphan_sinks(places)])


def _kill_monitors(places: _Places, cid: str) -> None:
    _kill([pid for pid, owner, _ in _monitors(places) if owner == cid])


def _kill(pids: list[int]) -> None:
    """SIGKILL `pids` and wait (5 s at most) until they are gone."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.01)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _remove_record(d: Dispatcher, cid: str) -> None:
    """A record whose directory is gone: kill what its runtime or cgroup still has, forget it."""
    rec = d.store.get_container(cid)
    runtime = d.runtime_or_none(rec)
    if runtime is not None:
        try:
            runtime.delete(cid)
        except (OcimuxError, OSError):
            pass
    kill_container_cgroups(cid)
    _kill_monitors(_Places.of(d), cid)  # a shim or monitor whose directory went with it
    d.store.remove_container(cid)
    d.hooks.event("delete", container=rec.id, name=rec.name, runtime=rec.runtime)
