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
`kill(all_procs)`, pause, unpause, `list_processes` and delete act on all of them.
"""

from __future__ import annotations

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
    ExecSessionNotFoundError,
    InvalidArgumentError,
    RuntimeCommandError,
)
from ocimux.files import private_dir
from ocimux.options import (
    CreateRequest,
    CreateResult,
    ExecOptions,
    ExecStatus,
    Resources,
    RuntimeInfo,
    RuntimeState,
    StdStreams,
)
from ocimux.runtime import Runtime

from ._bundle import ProcessSpec, SpecError, load_spec, merge_env, read_annotations
from ._exec import exec_exit_file, prepare_session, run_attached, start_detached
from ._proc import (
    CONTAINER_LOG,
    EXEC_PID_FILE,
    EXIT_FILE,
    PROCESS_FILE,
    pids_in_groups,
    remove_quietly,
)
from ._shimctl import GateError, launch, open_gate, remove_shim_files, terminate, wait_for
from ._state import container_state, exec_sessions, exec_status, load_state, process_groups
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
        return container_state(self.container_dir(cid), cid, self.exit_file_path(cid))

    def exit_file_path(self, cid: str) -> Path:
        """The shim's exit file, on the run dir (a full state disk cannot refuse it)."""
        return self.persist_dir(cid) / EXIT_FILE

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

    def create_container(self, request: CreateRequest) -> CreateResult:
        """Start a shim that creates the process, held before exec until `start_container`.

        Reads `request.bundle/config.json` (process.args, env, cwd; root.path). With
        `request.terminal` the process gets a pseudo-terminal (all its output is stdout, attach
        input goes to it, `attach_resize` sizes it, before start too). On failure (fault,
        spec, missing rootfs, shim timeout) no shim and none of the mock's files remain.
        Raises RuntimeCommandError, RuntimeTimeoutError, InvalidArgumentError (bad fault
        annotations).
        """
        cid, bundle = request.cid, request.bundle
        self._inject(cid, "create", bundle / "config.json")
        exit_file = private_dir(self.persist_dir(cid)) / EXIT_FILE
        remove_quietly(exit_file)  # a previous run's
        pid, shim_pid = launch(
            self,
            cid,
            bundle,
            "config.json",
            CONTAINER_LOG,
            gate=True,
            stdin=request.stdin,
            terminal=request.terminal,
            verb="create",
            exit_command=request.exit_command,
            log_size_max=request.log_size_max,
            exit_file=exit_file,
        )
        return CreateResult(pid=pid, monitor_pid=shim_pid)

    def start_container(self, cid: str) -> None:
        """Release a created container's process: it execs `process.args` now.

        Like runc's exec.fifo: the process blocks opening the `start` FIFO; this opens it for
        writing, removes it (the state reads "running" from then on) and writes one byte.
        Raises RuntimeCommandError unless the container is "created".
        """
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

    def kill_container(self, cid: str, signal: int, *, all_procs: bool = False) -> None:
        """Send `signal` to the init process, or with `all_procs` to every process group.

        A created container's process is blocked before exec with default dispositions, so
        SIGTERM or SIGKILL end it (exit 143 / 137) and SIGSTOP stops it. Raises
        RuntimeCommandError("container is not running") when it is stopped or gone.
        """
        self._inject(cid, "kill")
        state = self._require(cid, "kill", *_LIVE)
        if all_procs:
            groups = process_groups(self.container_dir(cid), state.pid)
            self._send(cid, "kill", groups, signal, group=True)
        else:
            self._send(cid, "kill", [state.pid], signal, group=False)

    def stop_container(
        self,
        cid: str,
        timeout: float,
        stop_signal: int = _signal.SIGTERM,
        *,
        all_procs: bool = False,
    ) -> None:
        """The base escalation (stop signal, `timeout`, SIGKILL), after fault injection."""
        self._inject(cid, "stop")
        super().stop_container(cid, timeout, stop_signal, all_procs=all_procs)

    def pause_container(self, cid: str) -> None:
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

    def unpause_container(self, cid: str) -> None:
        """SIGCONT every process group of a paused container; returns once init runs again."""
        self._inject(cid, "unpause")
        state = self._require(cid, "unpause", "paused")
        groups = process_groups(self.container_dir(cid), state.pid)
        self._send(cid, "unpause", groups, _signal.SIGCONT, group=True)
        if not wait_for(lambda: self._state(cid).status != "paused", self.context.command_timeout):
            raise self._error(cid, "unpause", "the init process did not resume")

    def update_container(self, cid: str, resources: Resources) -> None:
        """Refuse: the mock has no cgroups (capability `update_resources` is false)."""
        self._inject(cid, "update")
        raise self._refuse("update_resources", "update", cid)

    def delete_container(self, cid: str) -> None:
        """SIGKILL whatever still runs and remove the mock's own files.

        Each exec session's and the container's process group get SIGKILL; their shims get
        `command_timeout` to record the exit and leave, then SIGKILL. Removed:
        `mock-state.json`, `start`, `ctl`, `attach`, `mock-shim.log`, and each session's
        `process.json`, `exec_pid` and the same shim files, and the exit files on the run
        dir (`persist_dir`). Kept: the logs and the directory, which are the Dispatcher's. Deleting a container the mock does not know is
        no error.
        Raises RuntimeCommandError if a process survives SIGKILL for 5 seconds.
        """
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
        persist = self.persist_dir(cid)
        if persist != directory:  # without a run dir it is the Dispatcher's directory
            shutil.rmtree(persist, ignore_errors=True)

    def state_container(self, cid: str) -> RuntimeState:
        """Derive the state: `exit` → stopped; shim and process alive → created (the start
        FIFO exists), paused (/proc state `T`) or running; shim gone without `exit` →
        unknown with the reason; never created or deleted → unknown."""
        self._inject(cid, "state")
        return self._state(cid)

    def list_processes(self, cid: str) -> list[int]:
        """Return the live pids of the container's process groups (empty unless it is live)."""
        state = self._state(cid)
        if state.status not in _LIVE:
            return []
        return pids_in_groups(process_groups(self.container_dir(cid), state.pid))

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

    def exec_container(
        self, cid: str, session_id: str, options: ExecOptions, streams: StdStreams
    ) -> int | None:
        """Run `options.args` in the container under an exec shim, attached to `streams`.

        Returns the exit code, or None when the user detached with `options.detach_keys`
        (the session runs on; `exec_update_status` and `exec_stop_container` reach it).
        env: exactly the container's with `options.env` on top; cwd: `<rootfs>/<cwd>` if it
        exists, else the rootfs; `options.user` is ignored. With `options.terminal` the
        process gets a pseudo-terminal of `options.size` (all output is stdout); without it
        stdout and stderr stay apart. The session's files are in `exec_dir` (`_exec.py`).
        Raises CommandNotFoundError (127) / CommandNotInvocableError (126) before anything
        runs when the command does not resolve to an executable file.
        """
        spec = self._exec_spec(cid, options)
        prepare_session(self, cid, session_id, spec)
        return run_attached(self, cid, session_id, options, streams)

    def exec_container_detached(self, cid: str, session_id: str, options: ExecOptions) -> int:
        """Start `options.args` under an exec-mode shim (no gate, no client); return its pid.

        The shim survives the caller, writes the output to `exec_dir/exec.log` and the exit
        code to `exec_dir/exit`. A command that cannot be executed raises at once
        (CommandNotFoundError / CommandNotInvocableError) and leaves only `process.json`.
        """
        spec = self._exec_spec(cid, options)
        session = prepare_session(self, cid, session_id, spec)
        return start_detached(self, cid, session, options)

    def exec_update_status(self, cid: str, session_id: str) -> ExecStatus:
        """Report an exec session: running, or exited with the code its shim recorded.

        Raises ExecSessionNotFoundError for a session the mock never started.
        """
        status = exec_status(self.exec_dir(cid, session_id), exec_exit_file(self, cid, session_id))
        if status is None:
            raise ExecSessionNotFoundError(
                f"no exec session {session_id}", container=cid, runtime=self.name, verb="exec"
            )
        return status

    # --- monitor --------------------------------------------------------------------------

    def check_conmon_running(self, cid: str) -> bool:
        """Whether the container's shim runs (its pid checked against its recorded start time)."""
        st = load_state(self.container_dir(cid))
        return st is not None and st.shim_live()

    def runtime_info(self) -> RuntimeInfo:
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
