"""The `Runtime` interface: one object per configured runtime name, podman's OCIRuntime in Python.

A Runtime is a thin wrapper around one runtime. It keeps no container state between calls
and never decides whether an operation is allowed: the Dispatcher does that, holds the
container's lock, and checks the capability an operation needs before calling (podman's rule).

Plugins subclass `Runtime` (or `ocimux.ocicli.OciCliRuntime` for runc-like CLIs), set
`capabilities` and optionally `probes`, and declare the class as an entry point in the
`ocimux.runtimes` group. Every method takes ids and typed options, returns a typed result or
raises an `OcimuxError`; none receives the Dispatcher or the Store.
"""

from __future__ import annotations

import os
import signal as _signal
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ._faults import crash_point
from .capabilities import Capabilities, Capability
from .errors import CapabilityError, RuntimeCommandError, StateError

if TYPE_CHECKING:
    from .options import (
        AttachOptions,
        CheckpointOptions,
        CreateRequest,
        CreateResult,
        ExecOptions,
        ExecStatus,
        Resources,
        RestoreOptions,
        RuntimeInfo,
        RuntimeState,
        StdStreams,
    )

__all__ = ["Probe", "Runtime", "RuntimeContext"]

#: a probe measures capabilities of a runtime's binary; it returns (name, Capability) pairs
Probe = Callable[["Runtime"], Iterable[tuple[str, Capability]]]

#: how long `stop_container` waits for SIGKILL to take effect (podman: killContainerTimeout)
KILL_WAIT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class RuntimeContext:
    """What ocimux hands a runtime when it builds it: its name, binary and directories.

    `containers_dir / cid` is each container's own directory (its bundle); `state_dir` is
    private to this runtime (e.g. runc's `--root`). `flags` are the global flags from
    `[engine.runtimes_flags]` with their leading dashes; `options` is the plugin's table
    `[ocimux.plugins.NAME]`; `command_timeout` bounds every runtime command, in seconds.
    """

    name: str
    path: str | None
    state_dir: Path
    containers_dir: Path
    flags: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    command_timeout: float = 60.0
    conmon_path: str | None = None
    #: the executable looked for (the plugin's `binary`, or the configured name it drives)
    binary: str | None = None
    #: where the binary was looked for, for "not installed" messages
    searched: tuple[str, ...] = ()
    #: ocimux's run dir (per boot, a tmpfs as a rule): monitors keep exit files there, so a full
    #: state disk never loses an exit code (podman's tmp_dir); None: the container's directory
    run_dir: Path | None = None


class Runtime(ABC):
    """Base class of every runtime plugin.

    Class attributes a plugin sets:
    - `capabilities`: what it declares it can do (source "declared"); a plugin that sets none
      of its own is warned about by the Registry.
    - `probes`: functions that measure capabilities from the binary (source "probed").
    - `binary`: the executable to look for in $PATH when config names no path (None: needs none).
    - `default_paths`: candidate paths tried before $PATH when config names none.
    """

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
        """The merged answers (declared, probed, configured) the Registry computed for this runtime.

        A runtime consults these, not its class attribute, when a choice depends on a
        capability (e.g. whether to ask for JSON errors). Without a Registry: the declared ones.
        """
        return self._effective() if self._effective is not None else self.capabilities

    # --- identity -------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The configured name (a key of `[engine.runtimes]` or the entry-point name)."""
        return self.context.name

    @property
    def path(self) -> str | None:
        """The resolved binary, or None when the runtime needs none or it was not found."""
        return self.context.path

    def unavailable_reason(self) -> str | None:
        """Say why this runtime cannot run containers here, or None if it can."""
        wanted = self.context.binary or self.binary
        if wanted is not None and self.path is None:
            where = ", ".join(self.context.searched) or "$PATH"
            return f"not installed: {wanted} not found in {where}"
        return None

    def container_dir(self, cid: str) -> Path:
        """The container's own directory (its bundle)."""
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

    # --- lifecycle ------------------------------------------------------------------------

    @abstractmethod
    def create_container(self, request: CreateRequest) -> CreateResult:
        """Create the container described by `request.bundle`, leaving it "created" (not started).

        The Dispatcher guarantees the id is valid and unused and holds its lock. On failure the
        runtime leaves nothing of its own behind and raises RuntimeCommandError carrying the
        runtime's own message. Needs no capability.
        """

    @abstractmethod
    def start_container(self, cid: str) -> None:
        """Start a created container's init process. Raises RuntimeCommandError on failure."""

    @abstractmethod
    def kill_container(self, cid: str, signal: int, *, all_procs: bool = False) -> None:
        """Send `signal` to the container's init process, or to all its processes if `all_procs`.

        The Dispatcher guarantees the container is created, running or paused, and holds its
        lock. Needs no capability. Raises RuntimeCommandError if the runtime fails.
        """

    def stop_container(
        self,
        cid: str,
        timeout: float,
        stop_signal: int = _signal.SIGTERM,
        *,
        all_procs: bool = False,
    ) -> None:
        """Stop the container: `stop_signal`, wait up to `timeout` seconds, then SIGKILL (podman).

        `timeout == 0` sends SIGKILL at once. Returns once the container is stopped; raises
        RuntimeCommandError if it survives SIGKILL for 5 seconds. Needs no capability.
        """
        if timeout > 0:
            if self._signal_unless_stopped(cid, stop_signal, all_procs):
                return
            crash_point("stop:signalled")
            if self._wait_stopped(cid, timeout):
                return
        if self._signal_unless_stopped(cid, _signal.SIGKILL, all_procs):
            return
        if not self._wait_stopped(cid, KILL_WAIT_SECONDS):
            raise RuntimeCommandError(
                f"still running {KILL_WAIT_SECONDS:g}s after SIGKILL",
                container=cid,
                runtime=self.name,
                verb="stop",
                hint="the process may be stuck in the kernel (state D)",
            )

    def _stop_paused(self, cid: str, all_procs: bool) -> bool:
        """Stop a paused container: SIGKILL, then thaw it; return True once it stopped.

        On cgroup v1 a frozen task cannot die until it is thawed: runc 1.1 thaws it itself
        after SIGKILL, crun 1.8.1 does not. Returns False if it was not paused.
        """
        if self.state_container(cid).status != "paused":
            return False
        try:
            self.kill_container(cid, _signal.SIGKILL, all_procs=all_procs)
        finally:
            try:
                self.unpause_container(cid)
            except RuntimeCommandError:
                pass  # already thawed by the runtime, or gone
        return self._wait_stopped(cid, KILL_WAIT_SECONDS)

    def _signal_unless_stopped(self, cid: str, sig: int, all_procs: bool) -> bool:
        """Send `sig`; return True if the container turned out to be stopped already.

        A kill that fails because the container exited meanwhile is no error (podman's rule).
        """
        if self.state_container(cid).status == "stopped":
            return True
        try:
            self.kill_container(cid, sig, all_procs=all_procs)
        except RuntimeCommandError:
            if self.state_container(cid).status == "stopped":
                return True
            raise
        return False

    def _wait_stopped(self, cid: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            if self.state_container(cid).status == "stopped":
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    @abstractmethod
    def delete_container(self, cid: str) -> None:
        """Remove the runtime's state of a stopped (or, forced, any) container.

        Deleting a container the runtime no longer knows is not an error. Files in the
        container's directory are the Dispatcher's to remove.
        """

    @abstractmethod
    def state_container(self, cid: str) -> RuntimeState:
        """Ask the runtime (and the exit file) for the container's status, pid and exit code.

        Never raises for a container the runtime has forgotten: that is "stopped" when an exit
        file exists, else "unknown" with a reason.
        """

    def state_containers(self, cids: list[str]) -> dict[str, RuntimeState]:
        """The states of many containers at once (for `ocimux ps`); same rules as `state_container`.

        The default asks one by one; a runtime that can answer in one call overrides it.
        """
        return {cid: self.state_container(cid) for cid in cids}

    def pause_container(self, cid: str) -> None:
        """Freeze every process of a running container. Needs capability `pause`."""
        raise self._unsupported("pause", "pause", cid)

    def unpause_container(self, cid: str) -> None:
        """Thaw a paused container. Needs capability `pause`."""
        raise self._unsupported("pause", "unpause", cid)

    def update_container(self, cid: str, resources: Resources) -> None:
        """Change a live container's limits. Needs capability `update_resources`."""
        raise self._unsupported("update_resources", "update", cid)

    def list_processes(self, cid: str) -> list[int]:
        """Return the host pids of the container's processes (empty when stopped)."""
        state = self.state_container(cid)
        return [state.pid] if state.pid and state.status in ("running", "paused") else []

    # --- attach ---------------------------------------------------------------------------

    def attach_socket_path(self, cid: str) -> Path:
        """The container's attach socket (conmon's SEQPACKET protocol)."""
        return self.container_dir(cid) / "attach"

    def control_path(self, cid: str) -> Path:
        """The container's control FIFO (conmon's `ctl`: resize and log reopen)."""
        return self.container_dir(cid) / "ctl"

    def attach(self, cid: str, streams: StdStreams, options: AttachOptions) -> int | None:
        """Stream the container's stdio to `streams` until it exits or the user detaches.

        With `options.start` the socket is connected before the container starts, so no output
        is lost. Returns the container's exit code, or None when detached. The default speaks
        conmon's attach protocol on `attach_socket_path`; plugins with another transport override.
        """
        from .attach import attach_container

        return attach_container(self, cid, streams, options)

    def http_attach(self, cid: str, wfile: Any, *, stdin: Any = None, tty: bool = False) -> None:
        """Stream the container's output to `wfile` in Docker's multiplexed framing.

        Each chunk is an 8-byte header (stream id, 3 zero bytes, big-endian length) and the
        payload; with `tty` the stream is raw. `stdin`, a readable binary file, feeds input.
        """
        from .attach import http_attach_container

        http_attach_container(self, cid, wfile, stdin=stdin, tty=tty)

    def attach_resize(self, cid: str, height: int, width: int) -> None:
        """Resize the container's terminal. Needs capability `terminal`."""
        from .attach import write_resize

        if not self.effective_capabilities().terminal:
            raise self._unsupported("terminal", "resize", cid)
        write_resize(self.control_path(cid), height, width)

    # --- exec -----------------------------------------------------------------------------

    def exec_container(
        self, cid: str, session_id: str, options: ExecOptions, streams: StdStreams
    ) -> int | None:
        """Run a process in the container, attached to `streams`; return its exit code.

        Returns None when the user detached (`options.detach_keys`): the session runs on and
        `exec_update_status` reports it. Needs capability `exec` (and `terminal` with
        `options.terminal`). The Dispatcher guarantees the container is running.
        Raises CommandNotFoundError / CommandNotInvocableError when the command cannot run.
        """
        raise self._unsupported("exec", "exec", cid)

    def exec_container_http(
        self, cid: str, session_id: str, options: ExecOptions, wfile: Any, stdin: Any = None
    ) -> int:
        """Like `exec_container`, streaming in Docker's multiplexed framing to `wfile`."""
        from .attach import MultiplexWriter

        mux = MultiplexWriter(wfile, raw=options.terminal)
        return self.exec_container(cid, session_id, options, mux.streams(stdin))

    def exec_container_detached(self, cid: str, session_id: str, options: ExecOptions) -> int:
        """Start a process in the container without waiting for it; return its host pid.

        Needs capability `exec`. Its exit code is read later by `exec_update_status`.
        """
        raise self._unsupported("exec", "exec", cid)

    def exec_attach_socket_path(self, cid: str, session_id: str) -> Path:
        """The exec session's attach socket."""
        return self.exec_dir(cid, session_id) / "attach"

    def exec_dir(self, cid: str, session_id: str) -> Path:
        """The exec session's own directory, inside the container's."""
        return self.container_dir(cid) / "exec" / session_id

    def exec_attach_resize(self, cid: str, session_id: str, height: int, width: int) -> None:
        """Resize an exec session's terminal. Needs capability `terminal`."""
        from .attach import write_resize

        if not self.effective_capabilities().terminal:
            raise self._unsupported("terminal", "exec resize", cid)
        write_resize(self.exec_dir(cid, session_id) / "ctl", height, width)

    def exec_update_status(self, cid: str, session_id: str) -> ExecStatus:
        """Report whether the exec session's process still runs, and its exit code if not."""
        raise self._unsupported("exec", "exec status", cid)

    def exec_kill_container(self, cid: str, session_id: str, signal: int) -> None:
        """Send `signal` to an exec session's process (`exec --sig-proxy`).

        Here its host pid from `exec_update_status` (conmon-based runtimes, the mock); a
        runtime whose processes are not the host's (a VM) overrides this. A session that no
        longer runs raises StateError.
        """
        status = self.exec_update_status(cid, session_id)
        try:
            if not status.running or not status.pid:
                raise ProcessLookupError
            os.kill(status.pid, signal)
        except ProcessLookupError:
            raise StateError(
                f"exec session {session_id[:12]} is not running",
                container=cid,
                runtime=self.name,
                verb="exec kill",
            ) from None

    def exec_stop_container(self, cid: str, session_id: str, timeout: float) -> None:
        """Stop an exec session: SIGTERM, wait `timeout`, SIGKILL. The container keeps running."""
        status = self.exec_update_status(cid, session_id)
        if not status.running or not status.pid:
            return
        deadline = time.monotonic() + timeout
        for sig in (_signal.SIGTERM, _signal.SIGKILL):
            try:
                os.kill(status.pid, sig)
            except ProcessLookupError:
                return
            while time.monotonic() < deadline:
                if not self.exec_update_status(cid, session_id).running:
                    return
                time.sleep(0.01)
            deadline = time.monotonic() + KILL_WAIT_SECONDS
        raise RuntimeCommandError(
            f"exec session {session_id} survived SIGKILL",
            container=cid,
            runtime=self.name,
            verb="exec stop",
        )

    # --- checkpoint -----------------------------------------------------------------------

    def checkpoint_container(self, cid: str, options: CheckpointOptions) -> None:
        """Write the container's state to `options.image_path`. Needs capability `checkpoint`."""
        raise self._unsupported("checkpoint", "checkpoint", cid)

    def restore_container(self, request: CreateRequest, options: RestoreOptions) -> CreateResult:
        """Create and run a container from a checkpoint. Needs capability `checkpoint`."""
        raise self._unsupported("checkpoint", "restore", request.cid)

    # --- monitor and files ----------------------------------------------------------------

    @abstractmethod
    def check_conmon_running(self, cid: str) -> bool:
        """Return whether the container's monitor process is alive (False when it has none)."""

    def exit_file_path(self, cid: str) -> Path:
        """The file where the monitor writes the container's exit code (decimal)."""
        return self.container_dir(cid) / "exit"

    def persist_dir(self, cid: str) -> Path:
        """The container's directory on the run dir (podman's `<tmp_dir>/persist/<id>`).

        For what must survive a full state disk: the monitor's exit file. Removed with the
        container (`delete_container`); the container's directory without a run dir.
        """
        if self.context.run_dir is None:
            return self.container_dir(cid)
        return self.context.run_dir / "persist" / cid

    def exec_persist_dir(self, cid: str, session_id: str) -> Path:
        """An exec session's directory on the run dir, inside its container's."""
        if self.context.run_dir is None:
            return self.exec_dir(cid, session_id)
        return self.persist_dir(cid) / "exec" / session_id

    def log_path(self, cid: str) -> Path:
        """The container's k8s-file log (`TIMESTAMP STREAM F|P LINE`)."""
        return self.container_dir(cid) / "ctr.log"

    @abstractmethod
    def runtime_info(self) -> RuntimeInfo:
        """Describe the runtime: name, path, version, monitor. May run `--version`."""
