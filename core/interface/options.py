"""Typed values passed to and returned from a `Runtime`: frozen, slotted, one per concern.

`CreateRequest` carries what a runtime needs to create a container; the option types carry
per-call choices; `ProcessIO` says where a process's stdio goes; `RuntimeState` and
`RuntimeInfo` are results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

__all__ = [
    "AttachOptions",
    "CheckpointOptions",
    "CreateRequest",
    "CreateResult",
    "ExecOptions",
    "ProcessIO",
    "Resources",
    "RestoreOptions",
    "RuntimeInfo",
    "RuntimeState",
    "Status",
    "StdStreams",
]

#: container states, as the Dispatcher's state machine and `ocimux ps` know them
Status = Literal["creating", "created", "running", "paused", "stopped", "unknown"]


@dataclass(frozen=True, slots=True)
class ProcessIO:
    """Where a process's stdio goes: chosen by the engine, served by the runtime's monitor.

    The monitor serves conmon's attach protocol on `attach_socket` (SEQPACKET: output
    packets are one stream byte, 2 stdout / 3 stderr, and at most 8192 payload bytes; bytes
    from a client go to stdin; a client's EOF closes stdin unless `terminal`), reads resize
    lines `1 H W` on the FIFO `control`, writes the k8s-file log to `log` (capped at
    `log_size_max` bytes unless -1), then the exit code (decimal; 128+signal) to `exit_file`
    once the output is drained, and then runs `exit_command` detached (if any).
    `size` is the terminal's (height, width) before the process starts, with `terminal`.
    """

    directory: Path
    log: Path
    exit_file: Path
    stdin: bool = False
    terminal: bool = False
    log_size_max: int = -1
    exit_command: tuple[str, ...] = ()
    size: tuple[int, int] | None = None

    @property
    def attach_socket(self) -> Path:
        return self.directory / "attach"

    @property
    def control(self) -> Path:
        return self.directory / "ctl"


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """Everything a runtime needs to create one container.

    `bundle` holds `config.json` (with an absolute `root.path`) and is the container's own
    directory: the runtime and its monitor may write files there. `io` says where its stdio
    goes (its `directory` is the bundle). `annotations` are the spec's.
    """

    cid: str
    name: str
    bundle: Path
    io: ProcessIO
    annotations: dict[str, str] = field(default_factory=dict)
    no_cgroups: bool = False

    @property
    def stdin(self) -> bool:
        return self.io.stdin

    @property
    def terminal(self) -> bool:
        return self.io.terminal


@dataclass(frozen=True, slots=True)
class CreateResult:
    """The container's init pid (host view) and the pid of whatever monitors it (or None)."""

    pid: int
    monitor_pid: int | None = None


@dataclass(frozen=True, slots=True)
class RuntimeState:
    """The runtime's view of a container or exec process: status, host pid (0 if none), exit
    code once stopped."""

    status: Status
    pid: int = 0
    exit_code: int | None = None
    #: why the status is "unknown" (e.g. the monitor died)
    reason: str = ""


@dataclass(slots=True)
class StdStreams:
    """Local ends of an attach or exec: binary file objects; stdin None means no input."""

    stdout: BinaryIO
    stderr: BinaryIO
    stdin: BinaryIO | None = None


@dataclass(frozen=True, slots=True)
class AttachOptions:
    """How to attach: `start` connects first, then starts the container (no output lost).

    `detach_keys` is the byte sequence that detaches (None or b"" disables).
    """

    stdin: bool = False
    start: bool = False
    detach_keys: bytes | None = None
    #: (height, width) to give the container's terminal once connected, before it starts
    size: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class ExecOptions:
    """The process to run in a container (OCI runtime-spec `process` fields)."""

    args: tuple[str, ...]
    env: tuple[str, ...] = ()
    cwd: str | None = None
    user: str | None = None
    terminal: bool = False
    stdin: bool = False
    privileged: bool = False
    detach_keys: bytes | None = None
    #: (height, width) of the exec session's terminal at start, with `terminal`
    size: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if not self.args:
            raise ValueError("exec needs a command")


@dataclass(frozen=True, slots=True)
class Resources:
    """Limits for `update_container`; None leaves a limit unchanged.

    `memory` in bytes, `cpu_quota`/`cpu_period` in microseconds, `cpu_shares` relative weight.
    """

    memory: int | None = None
    memory_swap: int | None = None
    cpu_shares: int | None = None
    cpu_quota: int | None = None
    cpu_period: int | None = None
    cpuset_cpus: str | None = None
    pids_limit: int | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, f) is None for f in self.__slots__)  # type: ignore[attr-defined]

    def as_linux_resources(self) -> dict[str, object]:
        """Render as runtime-spec `linux.resources` JSON (what `runc update -r` reads)."""
        out: dict[str, dict[str, object]] = {}
        if self.memory is not None:
            out.setdefault("memory", {})["limit"] = self.memory
        if self.memory_swap is not None:
            out.setdefault("memory", {})["swap"] = self.memory_swap
        if self.cpu_shares is not None:
            out.setdefault("cpu", {})["shares"] = self.cpu_shares
        if self.cpu_quota is not None:
            out.setdefault("cpu", {})["quota"] = self.cpu_quota
        if self.cpu_period is not None:
            out.setdefault("cpu", {})["period"] = self.cpu_period
        if self.cpuset_cpus is not None:
            out.setdefault("cpu", {})["cpus"] = self.cpuset_cpus
        if self.pids_limit is not None:
            out["pids"] = {"limit": self.pids_limit}
        return out


@dataclass(frozen=True, slots=True)
class CheckpointOptions:
    """Where and how to checkpoint. `image_path` receives the images."""

    image_path: Path
    leave_running: bool = False
    tcp_established: bool = False
    file_locks: bool = False


@dataclass(frozen=True, slots=True)
class RestoreOptions:
    """Restore a container from `image_path` (written by a checkpoint)."""

    image_path: Path
    tcp_established: bool = False
    file_locks: bool = False


@dataclass(frozen=True, slots=True)
class RuntimeInfo:
    """What `ocimux info`/`runtimes` print about one runtime."""

    name: str
    path: str | None
    version: str
    #: the monitor ("conmon 2.1.6", "mock shim"), or None
    monitor: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
