"""/proc facts, the state file of a `ProcessRuntime` monitor, and the states derived from both.

A monitor (`ocimux.io.processmonitor`) keeps a few files in the directory it serves (a
container's bundle, or an exec session's directory); `ProcessRuntime` derives every state
from them and from /proc at the moment of the call, so any `ocimux` process gets one answer:

- `monitor.json`  the monitor's pid and start time, its child's, the container process's
- `start`         the FIFO a created process waits on until it is started
- `monitor.log`   the monitor's own stderr (tracebacks, the sandbox's setup errors)
- `attach`, `ctl` the socket and FIFO of `ocimux.io.monitor.Monitor`

A pid alone is never trusted: every check compares the start time recorded next to it (field
22 of /proc/PID/stat), so a recycled pid is never mistaken for ours.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from ocimux.base.files import write_atomic
from ocimux.interface.options import RuntimeState

__all__ = [
    "MONITOR_LOG",
    "START_FIFO",
    "STATE_FILE",
    "MonitorState",
    "ProcStat",
    "container_state",
    "exec_status",
    "is_live",
    "load_state",
    "pid_namespace",
    "pids_in_groups",
    "pids_in_namespace",
    "pids_in_session",
    "proc_stat",
    "read_exit_code",
    "remove_quietly",
]

#: the monitor's record of itself and its process, in the monitored directory
STATE_FILE = "monitor.json"
START_FIFO = "start"
MONITOR_LOG = "monitor.log"
_DEAD = ("Z", "X")


@dataclass(frozen=True, slots=True)
class ProcStat:
    """The fields of /proc/PID/stat a monitor needs: state letter, process group, start time,
    session."""

    state: str
    pgrp: int
    starttime: int
    session: int = 0

    @property
    def dead(self) -> bool:
        return self.state in _DEAD


def proc_stat(pid: int) -> ProcStat | None:
    """Read /proc/PID/stat; None when the pid does not exist (or is not readable)."""
    if pid <= 0:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # comm (field 2) may hold spaces and parentheses: split after its last ')'.
    rest = data[data.rfind(b")") + 2 :].split()
    try:
        return ProcStat(rest[0].decode(), int(rest[2]), int(rest[19]), int(rest[3]))
    except (IndexError, ValueError):
        return None


def is_live(pid: int, starttime: int) -> bool:
    """Whether `pid` is still the process that started at `starttime`, and not a zombie."""
    stat = proc_stat(pid)
    return stat is not None and stat.starttime == starttime and not stat.dead


def _live_pids(match: Iterable[int], field: str) -> list[int]:
    wanted = set(match)
    found: list[int] = []
    if not wanted:
        return found
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = proc_stat(int(entry.name))
            if stat is not None and getattr(stat, field) in wanted and not stat.dead:
                found.append(int(entry.name))
    return sorted(found)


def pids_in_groups(pgids: Iterable[int]) -> list[int]:
    """The live pids whose process group is one of `pgids`, sorted."""
    return _live_pids(pgids, "pgrp")


def pids_in_session(sid: int) -> list[int]:
    """The live pids in session `sid` (every process group of a terminal's jobs)."""
    return _live_pids([sid], "session")


def pid_namespace(pid: int | str) -> int:
    """The inode of `pid`'s pid namespace ("self" for ours); 0 if it cannot be read."""
    try:
        return os.stat(f"/proc/{pid}/ns/pid").st_ino
    except OSError:
        return 0


def pids_in_namespace(ns: int) -> list[int]:
    """The live pids (host view) in the pid namespace whose inode is `ns`, sorted."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and pid_namespace(entry.name) == ns:
            stat = proc_stat(int(entry.name))
            if stat is not None and not stat.dead:
                found.append(int(entry.name))
    return sorted(found)


def remove_quietly(path: str | os.PathLike[str]) -> None:
    """Remove a file, FIFO or socket; a missing one is fine."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def read_exit_code(path: Path) -> int | None:
    """The decimal exit code in `path`, or None while it does not exist (or is garbage)."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class MonitorState:
    """What a monitor records about itself and its process (`monitor.json`).

    `child` is the process the monitor started and waits for (its exit code is the
    container's); `pid` the container's process, signalled and reported: the same one, or
    one the child started inside a sandbox. Both are 0 until they exist. Start times come
    from /proc/PID/stat.
    """

    monitor_pid: int
    monitor_start: int
    pid: int = 0
    pid_start: int = 0
    child: int = 0
    child_start: int = 0

    def save(self, directory: Path) -> None:
        """Write the state file in `directory`, atomically, mode 0600."""
        write_atomic(directory / STATE_FILE, json.dumps(asdict(self)).encode())

    @classmethod
    def load(cls, directory: Path) -> MonitorState | None:
        """Read the state file in `directory`; None if absent. Raises ValueError if corrupt."""
        try:
            raw = (directory / STATE_FILE).read_bytes()
        except FileNotFoundError:
            return None
        try:
            data = json.loads(raw)
            return cls(**{key: int(data.get(key, 0)) for key in cls.__slots__})  # type: ignore[attr-defined]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{directory / STATE_FILE} is corrupt: {exc}") from exc

    def monitor_live(self) -> bool:
        """Whether the monitor recorded here is still running."""
        return self.monitor_pid > 0 and is_live(self.monitor_pid, self.monitor_start)

    def process_stat(self) -> ProcStat | None:
        """The recorded process's /proc stat, or None if it is gone (or the pid was reused)."""
        stat = proc_stat(self.pid)
        if stat is None or stat.starttime != self.pid_start:
            return None
        return stat

    def process_live(self) -> bool:
        stat = self.process_stat()
        return stat is not None and not stat.dead

    def child_live(self) -> bool:
        return self.child > 0 and is_live(self.child, self.child_start)


def load_state(directory: Path) -> MonitorState | None:
    """The monitor state recorded in `directory`; None when absent or corrupt."""
    try:
        return MonitorState.load(directory)
    except ValueError:
        return None


def container_state(directory: Path, cid: str, exit_file: Path) -> RuntimeState:
    """Derive a container's state from its monitor's files and /proc.

    `exit_file` present → stopped with its code. Else, per `monitor.json`: monitor gone →
    unknown with the reason; no process yet → creating; /proc state `T` → paused; start FIFO
    present → created; else running. No state file → unknown (never created, or deleted).
    A process that has exited stays what it was until its monitor has drained the output
    and written the exit file.
    """
    code = read_exit_code(exit_file)
    if code is not None:
        return RuntimeState("stopped", exit_code=code)
    try:
        st = MonitorState.load(directory)
    except ValueError as exc:
        return RuntimeState("unknown", reason=str(exc))
    if st is None:
        return RuntimeState(
            "unknown", reason=f"the runtime has no container {cid} (never created, or deleted)"
        )
    live = st.monitor_live()
    stat = st.process_stat()
    if not live or stat is None or stat.dead:
        code = read_exit_code(exit_file)  # it may have been recorded just now
        if code is not None:
            return RuntimeState("stopped", exit_code=code)
    if not live:
        return RuntimeState(
            "unknown",
            reason=f"its monitor (pid {st.monitor_pid}) died without recording an exit code",
        )
    if st.pid == 0:
        return RuntimeState("creating")
    if stat is not None and stat.state == "T":
        return RuntimeState("paused", pid=st.pid)
    if (directory / START_FIFO).exists():
        return RuntimeState("created", pid=st.pid)
    return RuntimeState("running", pid=st.pid)


def exec_status(session: Path, exit_file: Path) -> RuntimeState | None:
    """Derive an exec session's state; None when the session is unknown.

    "created" while its process waits at the gate (the `start` FIFO), running while its
    process lives or its monitor is still recording the exit code, then stopped.
    """
    code = read_exit_code(exit_file)
    st = load_state(session)
    if code is None and st is None:
        return None
    if code is None and st is not None and (st.process_live() or st.monitor_live()):
        code = read_exit_code(exit_file)
        if code is None:
            gated = (session / START_FIFO).exists()
            return RuntimeState("created" if gated else "running", st.pid)
    if code is None:
        return RuntimeState(
            "unknown", st.pid if st else 0, reason="its monitor died without an exit code"
        )
    return RuntimeState("stopped", st.pid if st else 0, code)
