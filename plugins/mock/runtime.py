"""The mock runtime: containers as plain host processes, each under a small monitor (the shim).

It isolates nothing (no namespaces, no cgroups, no change of user), so it runs anywhere and
as any user; and it is the fault injector for the Dispatcher's error paths (`faults.py`).
Otherwise it behaves like a runc-like runtime under conmon: a create/start split, conmon's
sync-pipe, attach-socket and control-FIFO protocols, pseudo-terminals, a k8s-file log, an
exit file, exec sessions under their own shim (attached like conmon's `--exec-attach`).

Files in a container's directory (its bundle), all mode 0600: `config.json` (the
Dispatcher's), `mock-state.json`, `start` (FIFO, until started), `ctl` (FIFO) and `attach`
(socket) while the shim runs, `ctr.log`, `mock-shim.log` (the shim's stderr); and per exec
session `exec/<session>/` with `process.json`, `mock-state.json`, `start` (while an attached
exec is being connected), `ctl`, `attach`, `exec_pid`, `exec.log` (`_exec.py`). The exit
codes, the one thing a shim must write when its process ends, are on the run dir as conmon's
are: `<run_dir>/persist/<id>/exit` and `<run_dir>/persist/<id>/exec/<session>/exit` (a full
state disk cannot lose them); removed with the container or the session.

Nothing is cached: every state is derived from those files and /proc (`_state.py`). The
container's processes are its init's process group plus each live exec session's group:
`kill(all_procs)`, pause, resume and delete act on all of them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal as _signal
import sys
import time
from pathlib import Path

from ocimux.capabilities import Capabilities, Capability
from ocimux.errors import (
    CapabilityError,
    InvalidArgumentError,
    RuntimeCommandError,
)
from ocimux.files import private_dir
from ocimux.options import (
    CreateRequest,
    CreateResult,
    ExecOptions,
    ProcessIO,
    Resources,
    RuntimeInfo,
    RuntimeState,
)
from ocimux.runtime import Runtime

from ._bundle import ProcessSpec, SpecError, load_spec, merge_env, read_annotations
from ._exec import delete_session, launch_gated, prepare_session, release
from ._proc import (
    CONTAINER_LOG,
    EXEC_PID_FILE,
    PROCESS_FILE,
    remove_quietly,
)
from ._shimctl import GateError, launch, open_gate, remove_shim_files, terminate, wait_for
from ._state import container_state, exec_sessions, exec_status, process_groups
from .faults import Faults

__all__ = ["MockRuntime"]

_LIVE = ("created", "running", "paused")


class MockRuntime(Runtime):
    """Runs each container's `process.args` as a host process under `ocimux.plugins.mock.shim`.

    Needs no binary and no privileges; `process.user`, capabilities, mounts and limits in the
    spec are ignored. Plugin options (`[ocimux.plugins.NAME]`): `fail_on`, `hang_on`,
    `fail_message`, `fail_status` inject faults into every container (`faults.py`).
    """

    binary = None
    capabilities = Capabilities(
        pause=Capability(True, "declared", "SIGSTOP/SIGCONT of the container's process group"),
        exec=Capability(True, "declared", "runs the command as a host process in the rootfs"),
        no_cgroups=Capability(True, "declared", "the mock never uses cgroups"),
        resource_limits=Capability(False, "declared", "the mock has no cgroups to limit"),
        devices=Capability(False, "declared", "the mock has no device cgroup or mount namespace"),
        privileged=Capability(
            False, "declared", "the mock confines nothing, so it cannot grant privileges"
        ),
        seccomp=Capability(False, "declared", "the mock loads no seccomp filter"),
        host_network=Capability(False, "declared", "the mock has no network namespace to leave"),
        umask=Capability(False, "declared", "the mock's processes keep ocimux's umask"),
        domainname=Capability(False, "declared", "the mock has no UTS namespace"),
        checkpoint=Capability(False, "declared", "the mock cannot save process state"),
        kvm=Capability(False, "declared", "the mock starts no virtual machine"),
        json_errors=Capability(False, "declared", "no runtime binary writes an error log"),
        update_resources=Capability(
            False, "declared", "the mock enforces no limits: it has no cgroups"
        ),
        terminal=Capability(
            True, "declared", "pseudo-terminals from the shim, resized through the ctl FIFO"
        ),
        isolation=Capability(False, "declared", "processes run on the host without namespaces"),
    )

    # --- helpers --------------------------------------------------------------------------

    def _inject(self, cid: str, op: str, spec_path: Path | None = None) -> None:
        """Apply the faults configured for `op` (the annotations are read afresh each time)."""
        path = spec_path or self.container_dir(cid) / "config.json"
        faults = Faults.load(read_annotations(path), self.context.options)
        if op == "create":
            faults.validate()
        faults.inject(op, runtime=self.name, container=cid, timeout=self.context.command_timeout)

    def _refuse(self, capability: str, verb: str, cid: str) -> CapabilityError:
        """The error for a call needing a capability the mock declares false, with its reason."""
        cap = self.capabilities.get(capability)
        return CapabilityError(
            capability, cap.reason, source=cap.source, container=cid, runtime=self.name, verb=verb
        )

    def _error(
        self, cid: str, verb: str, detail: str, hint: str | None = None
    ) -> RuntimeCommandError:
        return RuntimeCommandError(detail, container=cid, runtime=self.name, verb=verb, hint=hint)

    def _state(self, cid: str) -> RuntimeState:
        return container_state(self.container_dir(cid), cid, self.layout.exit_file(cid))

    def _require(self, cid: str, verb: str, *allowed: str) -> RuntimeState:
        """Return the state if its status is one of `allowed`, else raise RuntimeCommandError."""
        state = self._state(cid)
        if state.status not in allowed:
            why = state.reason or f"container is {state.status}"
            if state.status == "stopped" and allowed == _LIVE:  # kill: runc's wording
                why = "container is not running"
            raise self._error(cid, verb, why, "see `ocimux ps -a` for its state")
        return state

    def _send(self, cid: str, verb: str, targets: list[int], sig: int, *, group: bool) -> None:
        """Send `sig` to each target (a process group if `group`); the first one must exist."""
        for target in targets:
            try:
                (os.killpg if group else os.kill)(target, sig)
            except ProcessLookupError:
                if target == targets[0]:
                    raise self._error(cid, verb, "container is not running") from None
            except OSError as exc:
                if exc.errno == errno.EINVAL:
                    raise InvalidArgumentError(
                        f"invalid signal {sig}", container=cid, runtime=self.name, verb=verb
                    ) from None
                raise self._error(cid, verb, f"cannot send signal {sig}: {exc.strerror}") from None

    # --- lifecycle ------------------------------------------------------------------------

    def create(self, request: CreateRequest) -> CreateResult:
        """Start a shim that creates the process, held before exec until `start`.

        Reads `request.bundle/config.json` (process.args, env, cwd; root.path). With
        `request.io.terminal` the process gets a pseudo-terminal (all its output is stdout,
        attach input goes to it, `resize` sizes it, before start too). On failure (fault,
        spec, missing rootfs, shim timeout) no shim and none of the mock's files remain.
        Raises RuntimeCommandError, RuntimeTimeoutError, InvalidArgumentError (bad fault
        annotations).
        """
        cid, bundle, io = request.cid, request.bundle, request.io
        self._inject(cid, "create", bundle / "config.json")
        private_dir(io.exit_file.parent)
        exit_file = io.exit_file
        remove_quietly(exit_file)  # a previous run's
        pid, shim_pid = launch(
            self,
            cid,
            bundle,
            "config.json",
            CONTAINER_LOG,
            gate=True,
            stdin=io.stdin,
            terminal=io.terminal,
            verb="create",
            exit_command=io.exit_command,
            log_size_max=io.log_size_max,
            exit_file=exit_file,
        )
        return CreateResult(pid=pid, monitor_pid=shim_pid)

    def start(self, cid: str, exec_id: str | None = None) -> None:
        """Release a created container's (or prepared exec's) process: it execs now.

        Like runc's exec.fifo: the process blocks opening the `start` FIFO; this opens it for
        writing, removes it (the state reads "running" from then on) and writes one byte.
        Raises RuntimeCommandError unless the container is "created".
        """
        if exec_id:
            release(self, cid, exec_id)
            return
        self._inject(cid, "start")
        self._require(cid, "start", "created")
        try:
            open_gate(
                self.container_dir(cid),
                self.context.command_timeout,
                lambda: self._require(cid, "start", "created"),
            )
        except GateError as exc:
            raise self._error(cid, "start", str(exc)) from None

    def kill(
        self, cid: str, signal: int, *, all_procs: bool = False, exec_id: str | None = None
    ) -> None:
        """Send `signal` to the init process, or with `all_procs` to every process group.

        A created container's process is blocked before exec with default dispositions, so
        SIGTERM or SIGKILL end it (exit 143 / 137) and SIGSTOP stops it. Raises
        RuntimeCommandError("container is not running") when it is stopped or gone. An exec
        process gets it alone; one that has exited already is no error.
        """
        if exec_id:
            status = self.state(cid, exec_id)
            if status.status == "running" and status.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(status.pid, signal)
            return
        self._inject(cid, "kill")
        if signal in (_signal.SIGTERM, _signal.SIGKILL):
            self._inject(cid, "stop")  # the engine's stop escalation sends these
        state = self._require(cid, "kill", *_LIVE)
        if all_procs:
            groups = process_groups(self.container_dir(cid), state.pid)
            self._send(cid, "kill", groups, signal, group=True)
        else:
            self._send(cid, "kill", [state.pid], signal, group=False)

    def pause(self, cid: str) -> None:
        """SIGSTOP every process group of a running container; returns once init is stopped.

        A process inside vfork() cannot stop until its child execs, and a child stopped
        before exec never does: if init has not stopped after 50 ms, the groups get SIGCONT
        and SIGSTOP again, until `command_timeout`.
        """
        self._inject(cid, "pause")
        state = self._require(cid, "pause", "running")
        deadline = time.monotonic() + self.context.command_timeout
        groups = process_groups(self.container_dir(cid), state.pid)
        self._send(cid, "pause", groups, _signal.SIGSTOP, group=True)
        while not wait_for(lambda: self._state(cid).status != "running", 0.05):
            if time.monotonic() >= deadline:
                raise self._error(cid, "pause", "the init process did not stop")
            self._send(cid, "pause", groups, _signal.SIGCONT, group=True)
            self._send(cid, "pause", groups, _signal.SIGSTOP, group=True)

    def resume(self, cid: str) -> None:
        """SIGCONT every process group of a paused container; returns once init runs again."""
        self._inject(cid, "unpause")
        state = self._require(cid, "unpause", "paused")
        groups = process_groups(self.container_dir(cid), state.pid)
        self._send(cid, "unpause", groups, _signal.SIGCONT, group=True)
        if not wait_for(lambda: self._state(cid).status != "paused", self.context.command_timeout):
            raise self._error(cid, "unpause", "the init process did not resume")

    def update(self, cid: str, resources: Resources) -> None:
        """Refuse: the mock has no cgroups (capability `update_resources` is false)."""
        self._inject(cid, "update")
        raise self._refuse("update_resources", "update", cid)

    def delete(self, cid: str, exec_id: str | None = None) -> None:
        """SIGKILL whatever still runs and remove the mock's own files.

        Each exec session's and the container's process group get SIGKILL; their shims get
        `command_timeout` to record the exit and leave, then SIGKILL. Removed:
        `mock-state.json`, `start`, `ctl`, `attach`, `mock-shim.log`, and each session's
        `process.json`, `exec_pid` and the same shim files, and the exit files on the run
        dir (`persist_dir`). Kept: the logs and the directory, which are the Dispatcher's. Deleting a container the mock does not know is
        no error.
        Raises RuntimeCommandError if a process survives SIGKILL for 5 seconds. With
        `exec_id`: that session's process and shim only.
        """
        if exec_id:
            delete_session(self, cid, exec_id)
            return
        self._inject(cid, "delete")
        directory = self.container_dir(cid)
        deadline = time.monotonic() + self.context.command_timeout
        sessions = exec_sessions(directory)
        for target in [*sessions, directory]:
            if not terminate(target, max(0.0, deadline - time.monotonic())):
                raise self._error(cid, "delete", f"processes recorded in {target} survived SIGKILL")
        for session in sessions:
            remove_shim_files(session)
            remove_quietly(session / PROCESS_FILE)
            remove_quietly(session / EXEC_PID_FILE)
        remove_shim_files(directory)
        persist = self.layout.persist_dir(cid)
        if persist != directory:  # without a run dir it is the Dispatcher's directory
            shutil.rmtree(persist, ignore_errors=True)

    def state(self, cid: str, exec_id: str | None = None) -> RuntimeState:
        """Derive the state: `exit` → stopped; shim and process alive → created (the start
        FIFO exists), paused (/proc state `T`) or running; shim gone without `exit` →
        unknown with the reason; never created or deleted → unknown. An exec session:
        created at its gate, running, stopped with its code; unknown if never started."""
        if exec_id:
            status = exec_status(
                self.layout.exec_dir(cid, exec_id), self.layout.exit_file(cid, exec_id)
            )
            return status or RuntimeState("unknown", reason=f"no exec session {exec_id}")
        self._inject(cid, "state")
        return self._state(cid)

    # --- exec -----------------------------------------------------------------------------

    def _exec_spec(self, cid: str, options: ExecOptions) -> ProcessSpec:
        """Check an exec may run (fault, running) and build its process."""
        self._inject(cid, "exec")
        self._require(cid, "exec", "running")
        try:
            spec = load_spec(self.container_dir(cid) / "config.json")
        except SpecError as exc:
            hint = "it was changed outside ocimux; remove the container with `ocimux rm -f` and create it again"
            raise self._error(cid, "exec", f"its bundle is damaged: {exc}", hint) from None
        env = merge_env(spec.env, options.env)
        return ProcessSpec(tuple(options.args), env, options.cwd or spec.cwd, spec.rootfs)

    def exec(self, cid: str, exec_id: str, process: ExecOptions, io: ProcessIO) -> None:
        """Prepare `process.args` in the container under a gated exec shim (`_exec.py`).

        env: exactly the container's with `process.env` on top; cwd: `<rootfs>/<cwd>` if it
        exists, else the rootfs; `process.user` is ignored. With `io.terminal` the process
        gets a pseudo-terminal of `io.size` (all output is stdout); without it stdout and
        stderr stay apart. Raises CommandNotFoundError (127) / CommandNotInvocableError
        (126) before anything runs when the command does not resolve to an executable file.
        """
        from ocimux.attach import write_resize

        spec = self._exec_spec(cid, process)
        session = prepare_session(self, cid, exec_id, spec)
        launch_gated(self, cid, session, io)
        if io.terminal and io.size:
            write_resize(io.control, *io.size)

    def info(self) -> RuntimeInfo:
        """Name, no path (there is no binary), the ocimux version, the shim as monitor."""
        from importlib import metadata

        try:
            version = metadata.version("ocimux")
        except metadata.PackageNotFoundError:
            version = "mock 1"
        return RuntimeInfo(
            name=self.name,
            path=None,
            version=version,
            monitor="ocimux mock shim",
            extra={"python": sys.executable},
        )
