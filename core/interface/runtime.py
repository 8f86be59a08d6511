"""The `Runtime` interface, version 1: one object per configured runtime name.

A Runtime is a thin wrapper around one runtime, shaped like containerd's shim v2 Task API:
a few verbs, each taking a container id and, where a process inside a running container is
meant, an `exec_id`. It keeps no container state between calls (another `ocimux` process,
with another instance, makes the next call) and never decides whether an operation is
allowed: the Dispatcher does that, holds the container's lock, and checks the capability a
verb needs before calling (podman's rule).

The verbs:

    create(request) -> CreateResult         start(cid, exec_id=None)
    kill(cid, signal, all_procs=, exec_id=)  delete(cid, exec_id=None)
    state(cid, exec_id=None) -> RuntimeState exec(cid, exec_id, process, io)
    resize(cid, h, w, exec_id=None)          close_stdin(cid, exec_id=None)
    pause(cid) / resume(cid)                 update(cid, resources)
    checkpoint(cid, options)                 restore(request, options) -> CreateResult
    info() -> RuntimeInfo

IO is the caller's: `create` and `exec` get a `ProcessIO` naming where the process's monitor
serves attach clients (conmon's protocol on `io.attach_socket`, resizes on `io.control`),
writes the log and the exit code. The engine attaches, relays, waits and stops on top of
these verbs; a plugin never sees a terminal, a pipe or an HTTP connection.

Plugins subclass `Runtime` (or `ocimux.oci.processruntime.ProcessRuntime` for a sandbox that runs
a process, or `ocimux.oci.runtime.OciCliRuntime` for a runc-like CLI), set `capabilities` and
optionally `probes`, and declare the class as an entry point in the `ocimux.runtimes` group.
Every verb takes ids and typed options, returns a typed result or raises an `OcimuxError`.

Versioning: `api_version` names the version of this contract a plugin was written for; the
Registry refuses a plugin of another version with a message saying which to target. A verb
or argument is removed only in a new version; the old version keeps loading, with a
deprecation warning, for at least one minor release of ocimux after the new one appears.
"""

from __future__ import annotations

import socket
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ocimux.base.errors import CapabilityError
from ocimux.base.monitorfiles import write_resize

from .capabilities import Capabilities, Capability
from .options import ProcessIO

if TYPE_CHECKING:
    from .options import (
        CheckpointOptions,
        CreateRequest,
        CreateResult,
        ExecOptions,
        Resources,
        RestoreOptions,
        RuntimeInfo,
        RuntimeState,
    )

__all__ = ["API_VERSION", "Layout", "Probe", "ProcessIO", "Runtime", "RuntimeContext"]

#: the version of the plugin contract this ocimux implements
API_VERSION = 1

#: a probe measures capabilities of a runtime's binary; it returns (name, Capability) pairs
Probe = Callable[["Runtime"], Iterable[tuple[str, Capability]]]

#: how long the engine waits for SIGKILL to take effect (podman: killContainerTimeout)
KILL_WAIT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Layout:
    """Where a container's and an exec session's files live; the engine's choice, shared.

    `container_dir(cid)` is the container's bundle (config.json) and its monitor's directory;
    an exec session's monitor directory is `exec_dir(cid, exec_id)` inside it. Exit files live
    on the run dir (podman's `<tmp_dir>/persist/<id>`): a full state disk cannot refuse them.
    """

    containers_dir: Path
    run_dir: Path | None = None

    def container_dir(self, cid: str) -> Path:
        return self.containers_dir / cid

    def exec_dir(self, cid: str, exec_id: str) -> Path:
        return self.container_dir(cid) / "exec" / exec_id

    def io_dir(self, cid: str, exec_id: str | None = None) -> Path:
        """The monitor's directory: `attach` socket and `ctl` FIFO."""
        return self.exec_dir(cid, exec_id) if exec_id else self.container_dir(cid)

    def persist_dir(self, cid: str, exec_id: str | None = None) -> Path:
        """The directory on the run dir (the io dir without a run dir)."""
        if self.run_dir is None:
            return self.io_dir(cid, exec_id)
        base = self.run_dir / "persist" / cid
        return base / "exec" / exec_id if exec_id else base

    def exit_file(self, cid: str, exec_id: str | None = None) -> Path:
        return self.persist_dir(cid, exec_id) / "exit"

    def log(self, cid: str, exec_id: str | None = None) -> Path:
        """The k8s-file log: `ctr.log` of the container, `exec.log` of a session."""
        if exec_id:
            return self.exec_dir(cid, exec_id) / "exec.log"
        return self.container_dir(cid) / "ctr.log"

    def io(
        self,
        cid: str,
        exec_id: str | None = None,
        *,
        stdin: bool = False,
        terminal: bool = False,
        log_size_max: int = -1,
        exit_command: tuple[str, ...] = (),
        size: tuple[int, int] | None = None,
    ) -> ProcessIO:
        """The `ProcessIO` of the container or of one of its exec sessions."""
        return ProcessIO(
            directory=self.io_dir(cid, exec_id),
            log=self.log(cid, exec_id),
            exit_file=self.exit_file(cid, exec_id),
            stdin=stdin,
            terminal=terminal,
            log_size_max=log_size_max,
            exit_command=exit_command,
            size=size,
        )


@dataclass(frozen=True, slots=True)
class RuntimeContext:
    """What ocimux hands a runtime when it builds it: its name, binary and directories.

    `layout` says where each container's files are; `state_dir` is private to this runtime
    (e.g. runc's `--root`). `flags` are the global flags from `[engine.runtimes_flags]` with
    their leading dashes; `options` is the plugin's table `[ocimux.plugins.NAME]`;
    `command_timeout` bounds every runtime command, in seconds. `cgroup_manager` and
    `conmon_env` are containers.conf's `[engine]` keys of those names.
    """

    name: str
    path: str | None
    state_dir: Path
    containers_dir: Path
    flags: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    command_timeout: float = 60.0
    #: conmon, for the OCI-CLI family (None: not found, or not needed)
    conmon_path: str | None = None
    #: the executable looked for (the plugin's `binary`, or the configured name it drives)
    binary: str | None = None
    #: where the binary was looked for, for "not installed" messages
    searched: tuple[str, ...] = ()
    #: ocimux's run dir (per boot, a tmpfs as a rule), for exit files; None: the io dir
    run_dir: Path | None = None
    #: `[engine] cgroup_manager`: "cgroupfs", or "systemd" (a runtime that makes cgroups asks
    #: systemd for them, or refuses before anything runs where systemd is not running)
    cgroup_manager: str = "cgroupfs"
    #: `[engine] conmon_env_vars`: "NAME=value" items that start the monitor's environment
    #: (ocimux's own environment is laid over them, as podman does)
    conmon_env: tuple[str, ...] = ()

    @property
    def layout(self) -> Layout:
        return Layout(self.containers_dir, self.run_dir)


class Runtime(ABC):
    """Base class of every runtime plugin (contract version 1).

    Class attributes a plugin sets:
    - `api_version`: the contract version it was written for (1).
    - `capabilities`: what it declares it can do (source "declared"). A capability declared
      false cannot be turned on by configuration: it says the behaviour is not implemented.
    - `probes`: functions that measure capabilities from the binary (source "probed").
    - `binary`: the executable to look for in $PATH when config names no path (None: needs none).
    - `default_paths`: candidate paths tried before $PATH when config names none.
    """

    api_version: ClassVar[int] = API_VERSION
    capabilities: ClassVar[Capabilities] = Capabilities()
    probes: ClassVar[tuple[Probe, ...]] = ()
    binary: ClassVar[str | None] = None
    default_paths: ClassVar[tuple[str, ...]] = ()

    def __init__(self, context: RuntimeContext) -> None:
        self.context = context
        self._effective: Callable[[], Capabilities] | None = None
        #: why probes failed the last time they ran in this process (shown by `ocimux runtimes`)
        self.probe_failures: list[str] = []

    @classmethod
    def accepts_binary(cls, path: str) -> bool:
        """Whether a configured candidate path is a binary this plugin can drive (default: any).

        The Registry skips candidates a plugin refuses, e.g. containers.conf's `kata` paths
        (kata-runtime) for a plugin that needs Kata's shim.
        """
        return True

    def effective_capabilities(self) -> Capabilities:
        """The merged answers (declared, probed, configured) the Registry computed.

        For a runtime whose choices depend on a capability (e.g. whether to ask for JSON
        errors). Without a Registry: the declared ones.
        """
        return self._effective() if self._effective is not None else self.capabilities

    # --- identity ---------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The configured name (a key of `[engine.runtimes]` or the entry-point name)."""
        return self.context.name

    @property
    def path(self) -> str | None:
        """The resolved binary, or None when the runtime needs none or it was not found."""
        return self.context.path

    @property
    def layout(self) -> Layout:
        """Where the engine keeps each container's files (see `Layout`)."""
        return self.context.layout

    def unavailable_reason(self) -> str | None:
        """Say why this runtime cannot run containers here, or None if it can."""
        wanted = self.context.binary or self.binary
        if wanted is not None and self.path is None:
            where = ", ".join(self.context.searched) or "$PATH"
            return f"not installed: {wanted} not found in {where}"
        return None

    def container_dir(self, cid: str) -> Path:
        """The container's own directory (its bundle): `layout.container_dir(cid)`."""
        return self.context.containers_dir / cid

    def _unsupported(self, capability: str, verb: str, cid: str | None = None) -> CapabilityError:
        return CapabilityError(
            capability,
            f"{type(self).__name__} does not implement {verb}",
            source="declared",
            runtime=self.name,
            container=cid,
            verb=verb,
        )

    # --- the verbs every runtime implements -------------------------------------------------

    @abstractmethod
    def create(self, request: CreateRequest) -> CreateResult:
        """Create the container described by `request.bundle`, leaving it "created".

        The process must not run until `start(cid)`. Its monitor serves `request.io` from now
        on (a client may connect before `start` and must see all output). The Dispatcher
        guarantees the id is valid and unused and holds its lock. On failure the runtime
        leaves nothing of its own behind and raises RuntimeCommandError carrying the
        runtime's own message (CommandNotFoundError / CommandNotInvocableError when the
        command cannot run).
        """

    @abstractmethod
    def start(self, cid: str, exec_id: str | None = None) -> None:
        """Start the created container's init process, or the prepared exec process."""

    @abstractmethod
    def kill(
        self, cid: str, signal: int, *, all_procs: bool = False, exec_id: str | None = None
    ) -> None:
        """Send `signal` to the init process (every process with `all_procs`) or exec process.

        A process that has already exited is not an error for the engine to see: raise
        RuntimeCommandError only when the runtime failed; the engine then asks `state`.
        """

    @abstractmethod
    def delete(self, cid: str, exec_id: str | None = None) -> None:
        """Remove the runtime's state of a stopped (or, forced, any) container or exec process.

        Whatever still runs is killed; the monitor is gone when this returns. Deleting what
        the runtime no longer knows is not an error. Files in the container's directory
        that the engine wrote (bundle, logs) are the engine's to remove.
        """

    @abstractmethod
    def state(self, cid: str, exec_id: str | None = None) -> RuntimeState:
        """The status, host pid and (once stopped) exit code of the container or exec process.

        Never raises for what the runtime has forgotten: "stopped" when an exit code was
        recorded, else "unknown" with a reason. A dead monitor is "unknown" with a reason
        ("its monitor (pid N) died: ..."). "stopped" comes only once the monitor has written
        the last output to the log and the exit file.
        """

    def states(self, cids: list[str]) -> dict[str, RuntimeState]:
        """The states of many containers at once (for `ocimux ps`); same rules as `state`.

        The default asks one by one; a runtime that can answer in one call overrides it.
        """
        return {cid: self.state(cid) for cid in cids}

    @abstractmethod
    def info(self) -> RuntimeInfo:
        """Describe the runtime: name, path, version, monitor. May run `--version`."""

    # --- optional verbs (each needs the capability it names) --------------------------------

    def exec(self, cid: str, exec_id: str, process: ExecOptions, io: ProcessIO) -> None:
        """Prepare `process` in the running container, held until `start(cid, exec_id)`.

        Its monitor serves `io` before this returns (the engine connects, then starts). The
        process spec is `ocimux.oci.spec.exec_process(bundle, process)`. Needs capability `exec`
        (and `terminal` with `process.terminal`). `state(cid, exec_id)`, `kill(..., exec_id=)`
        and `delete(cid, exec_id)` reach it afterwards.
        """
        raise self._unsupported("exec", "exec", cid)

    def resize(self, cid: str, height: int, width: int, exec_id: str | None = None) -> None:
        """Resize the process's terminal: a `1 H W` line on the monitor's `ctl` FIFO.

        Needs capability `terminal`. A runtime whose monitor resizes another way overrides.
        """
        if not self.effective_capabilities().terminal:
            raise self._unsupported("terminal", "resize", cid)
        write_resize(self.layout.io_dir(cid, exec_id) / "ctl", height, width)

    def close_stdin(self, cid: str, exec_id: str | None = None) -> None:
        """Close the process's stdin: EOF on a connection to its monitor's attach socket."""
        path = self.layout.io_dir(cid, exec_id) / "attach"
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as sock:
            sock.connect(str(path))
            sock.shutdown(socket.SHUT_WR)

    def pause(self, cid: str) -> None:
        """Freeze every process of a running container. Needs capability `pause`."""
        raise self._unsupported("pause", "pause", cid)

    def resume(self, cid: str) -> None:
        """Thaw a paused container. Needs capability `pause`."""
        raise self._unsupported("pause", "unpause", cid)

    def update(self, cid: str, resources: Resources) -> None:
        """Change a live container's limits. Needs capability `update_resources`."""
        raise self._unsupported("update_resources", "update", cid)

    def checkpoint(self, cid: str, options: CheckpointOptions) -> None:
        """Write the container's state to `options.image_path`. Needs capability `checkpoint`."""
        raise self._unsupported("checkpoint", "checkpoint", cid)

    def restore(self, request: CreateRequest, options: RestoreOptions) -> CreateResult:
        """Create and run a container from a checkpoint. Needs capability `checkpoint`."""
        raise self._unsupported("checkpoint", "restore", request.cid)
