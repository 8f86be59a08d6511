"""What a `ProcessRuntime` hands its monitor: the command to run and where its stdio goes.

`Command` is public as `ocimux.oci.processruntime.Command`; it lives here so that the monitor
process (`ocimux.io.processmonitor`) reads it without importing the runtime's modules. The
runtime writes a `Launch` as one JSON document to the monitor's stdin.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ocimux.interface.specview import CapabilitySets, ProcessUser, Rlimit

__all__ = ["Command", "Launch"]


@dataclass(frozen=True, slots=True)
class Command:
    """How to start one process: what `ProcessRuntime.command` and `exec_command` return.

    The monitor forks a child that takes its own session, gets the stdio of `ProcessIO`,
    waits for `start` (unless `gate_fd`), applies the fields below in this order, then
    execs `argv` with exactly `env` (`argv[0]` is looked up in env's PATH).

    - `enter`: a host pid; the process runs inside that process's namespaces (user, cgroup,
      ipc, uts, net, pid, mount: each that differs from ours) and root directory.
    - `cwd`: the working directory (on the host, or inside `enter`'s root).
    - `umask`, `rlimits`, `no_new_privileges`: as the runtime-spec's process fields; None
      and () keep the monitor's (umask 0o077, ocimux's limits).
    - `capabilities`: the sets to keep (bounding, effective, permitted, inheritable,
      ambient); None keeps the monitor's (all of root's). `user`: uid, gid and groups to
      switch to; None keeps the monitor's.
    - `gate_fd`: the start FIFO is given to the process as this fd (open for reading and
      writing) and the process waits on it itself: a sandbox that sets itself up first (e.g.
      `bwrap --block-fd N`). Create returns once the process sleeps reading that fd.
    - `pid_fd`: a pipe given as this fd, on which the process writes the host pid of the
      container's process (a number, or JSON with `child-pid`, as `bwrap --info-fd N`
      writes): that process is the one signalled and reported, the started one the one
      whose exit code counts.
    """

    argv: tuple[str, ...]
    env: tuple[str, ...] = ()
    cwd: str = "/"
    umask: int | None = None
    rlimits: tuple[Rlimit, ...] = ()
    no_new_privileges: bool = False
    capabilities: CapabilitySets | None = None
    user: ProcessUser | None = None
    enter: int = 0
    gate_fd: int | None = None
    pid_fd: int | None = None

    def __post_init__(self) -> None:
        if not self.argv:
            raise ValueError("a Command needs argv")
        fds = [fd for fd in (self.gate_fd, self.pid_fd) if fd is not None]
        if any(not 3 <= fd < 64 for fd in fds) or len(set(fds)) != len(fds):
            raise ValueError(f"gate_fd and pid_fd must be distinct, from 3 to 63, not {fds}")

    def to_doc(self) -> dict[str, Any]:
        return {
            "argv": list(self.argv),
            "env": list(self.env),
            "cwd": self.cwd,
            "umask": self.umask,
            "rlimits": [[r.type, r.soft, r.hard] for r in self.rlimits],
            "no_new_privileges": self.no_new_privileges,
            "capabilities": None if self.capabilities is None else _caps_doc(self.capabilities),
            "user": None if self.user is None else _user_doc(self.user),
            "enter": self.enter,
            "gate_fd": self.gate_fd,
            "pid_fd": self.pid_fd,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Command:
        caps, user = doc.get("capabilities"), doc.get("user")
        return cls(
            argv=tuple(doc["argv"]),
            env=tuple(doc["env"]),
            cwd=doc["cwd"],
            umask=doc["umask"],
            rlimits=tuple(Rlimit(t, s, h) for t, s, h in doc["rlimits"]),
            no_new_privileges=doc["no_new_privileges"],
            capabilities=None
            if caps is None
            else CapabilitySets(**{k: tuple(v) for k, v in caps.items()}),
            user=None if user is None else ProcessUser(user[0], user[1], tuple(user[2])),
            enter=doc["enter"],
            gate_fd=doc["gate_fd"],
            pid_fd=doc["pid_fd"],
        )


def _caps_doc(caps: CapabilitySets) -> dict[str, list[str]]:
    names = ("bounding", "effective", "inheritable", "permitted", "ambient")
    return {name: list(getattr(caps, name)) for name in names}


def _user_doc(user: ProcessUser) -> list[Any]:
    return [user.uid, user.gid, list(user.additional_gids)]


@dataclass(frozen=True, slots=True)
class Launch:
    """One monitor's job: the command and its `ProcessIO` (paths relative to its directory
    or absolute). The process is always held until `start` (see `Command.gate_fd`)."""

    command: Command
    log: str
    exit_file: str
    stdin: bool = False
    terminal: bool = False
    size: tuple[int, int] | None = None
    log_size_max: int = -1
    exit_command: tuple[str, ...] = field(default=())

    def to_json(self) -> bytes:
        doc = {
            "command": self.command.to_doc(),
            "log": self.log,
            "exit_file": self.exit_file,
            "stdin": self.stdin,
            "terminal": self.terminal,
            "size": list(self.size) if self.size else None,
            "log_size_max": self.log_size_max,
            "exit_command": list(self.exit_command),
        }
        return json.dumps(doc).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Launch:
        """Parse what `to_json` wrote; raises ValueError (or KeyError, TypeError) if malformed."""
        doc = json.loads(data)
        size = doc["size"]
        return cls(
            command=Command.from_doc(doc["command"]),
            log=doc["log"],
            exit_file=doc["exit_file"],
            stdin=doc["stdin"],
            terminal=doc["terminal"],
            size=(int(size[0]), int(size[1])) if size else None,
            log_size_max=doc["log_size_max"],
            exit_command=tuple(doc["exit_command"]),
        )
