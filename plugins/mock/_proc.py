"""Files and /proc facts shared by the mock runtime and its shim.

The shim owns a few files in the directory it monitors (a container's bundle, or an exec
session's directory); the runtime derives every state from them and from /proc, keeping no
cache of its own:

- `mock-state.json`  the shim's pid and start time, the process's pid and start time
- `start`            the FIFO a gated process blocks on until it is started (or its exec
                     session attached)
- `attach`           the SEQPACKET attach socket (conmon's protocol)
- `ctl`              the control FIFO: `1 <height> <width>` lines resize the terminal
- `exec_pid`         an exec session's process pid, decimal (conmon's `--pid-file`)
- `exit`             the process's exit code, decimal, written once it has exited
- `mock-shim.log`    the shim's own stderr (tracebacks), for diagnosis

A pid alone is never trusted: every check compares the start time recorded next to it
(field 22 of /proc/PID/stat), so a recycled pid is never mistaken for ours.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = [
    "ATTACH_SOCKET",
    "CONTAINER_LOG",
    "CTL_FIFO",
    "EXEC_LOG",
    "EXEC_PID_FILE",
    "EXIT_FILE",
    "PROCESS_FILE",
    "SHIM_LOG",
    "START_FIFO",
    "STATE_FILE",
    "ProcStat",
    "ShimState",
    "is_live",
    "pids_in_groups",
    "pids_in_session",
    "proc_stat",
    "read_exit_code",
    "remove_quietly",
    "write_atomic",
]

STATE_FILE = "mock-state.json"
START_FIFO = "start"
ATTACH_SOCKET = "attach"
CTL_FIFO = "ctl"
EXEC_PID_FILE = "exec_pid"
EXIT_FILE = "exit"
SHIM_LOG = "mock-shim.log"
CONTAINER_LOG = "ctr.log"
EXEC_LOG = "exec.log"
PROCESS_FILE = "process.json"


@dataclass(frozen=True, slots=True)
class ProcStat:
    """The fields of /proc/PID/stat the mock needs: state letter, process group, session,
    start time."""

    state: str
    pgrp: int
    starttime: int
    session: int = 0


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
    """Return whether `pid` is still the process that started at `starttime`, and not a zombie."""
    stat = proc_stat(pid)
    return stat is not None and stat.starttime == starttime and stat.state not in ("Z", "X")


def pids_in_groups(pgids: Iterable[int]) -> list[int]:
    """Return the live pids whose process group is one of `pgids`, sorted."""
    wanted = set(pgids)
    found: list[int] = []
    if not wanted:
        return found
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = proc_stat(int(entry.name))
            if stat is not None and stat.pgrp in wanted and stat.state not in ("Z", "X"):
                found.append(int(entry.name))
    return sorted(found)


def pids_in_session(sid: int) -> list[int]:
    """Return the live pids in session `sid` (every process group of a terminal's jobs)."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = proc_stat(int(entry.name))
            if stat is not None and stat.session == sid and stat.state not in ("Z", "X"):
                found.append(int(entry.name))
    return sorted(found)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` (mode 0600) so that readers see the old or the new content, whole."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def remove_quietly(path: Path) -> None:
    """Remove a file, FIFO or socket; a missing one is fine."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def read_exit_code(path: Path) -> int | None:
    """Return the decimal exit code in `path`, or None while the file does not exist."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    try:
        return int(text)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class ShimState:
    """What the shim records about itself and its process (`mock-state.json`).

    `pid` is 0 until the process exists. Start times come from /proc/PID/stat.
    """

    shim_pid: int
    shim_start: int
    pid: int = 0
    pid_start: int = 0

    def save(self, directory: Path) -> None:
        """Write the state file in `directory`, atomically, mode 0600."""
        write_atomic(directory / STATE_FILE, json.dumps(asdict(self)).encode())

    @classmethod
    def load(cls, directory: Path) -> ShimState | None:
        """Read the state file in `directory`; None if absent. Raises ValueError if corrupt."""
        try:
            raw = (directory / STATE_FILE).read_bytes()
        except FileNotFoundError:
            return None
        try:
            data = json.loads(raw)
            return cls(
                int(data["shim_pid"]),
                int(data["shim_start"]),
                int(data.get("pid", 0)),
                int(data.get("pid_start", 0)),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{directory / STATE_FILE} is corrupt: {exc}") from exc

    def shim_live(self) -> bool:
        """Whether the shim recorded here is still running."""
        return is_live(self.shim_pid, self.shim_start)

    def process_stat(self) -> ProcStat | None:
        """The recorded process's /proc stat, or None if it is gone (or the pid was reused)."""
        stat = proc_stat(self.pid)
        if stat is None or stat.starttime != self.pid_start:
            return None
        return stat
