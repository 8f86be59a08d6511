"""`ProcessRuntime`: a `Runtime` for sandboxes that run a process, built on `ocimux.io.monitor`.

You give it an argv (`command`: the container's process, from its spec) and, if exec should
work differently from the default, `exec_command`; it gives you every verb of interface v1:

- `create`: starts a monitor (`python -m ocimux.io.processmonitor`, detached like conmon) that
  serves `request.io` and holds the process at a start gate (before its exec, or, with
  `Command.gate_fd`, inside your sandbox once it is set up), checks the command in the
  process's root as it is then (126/127, `check_command`), then `prepare` (default: nothing);
- `start` opens the gate; `kill` signals the process (with `all_procs` every process of the
  container); `pause`/`resume` stop and continue them all (SIGSTOP/SIGCONT); `delete` kills
  whatever is left and removes the monitor's files; `state` reads them and /proc (pids
  checked against their start times; "unknown" with the reason once a monitor died);
- `exec` runs `exec_command` under a monitor of its own in `exec_dir(cid, exec_id)` (by
  default inside the namespaces and root of the container's process, with the session's
  user, capabilities and limits); `start`/`kill`/`state`/`delete` with `exec_id` reach it;
  `resize` and `close_stdin` are the monitor's (`Runtime`'s defaults); `info` names it.

State lives on disk only (`ocimux.io._procfs` lists the files): every `ocimux` process gets the
same answers. The container's processes are every process in its pid namespace when it has
one of its own, else its process group plus each live exec session's (what `kill --all`,
pause and delete reach). Declare `capabilities` honestly: `pause` is SIGSTOP, which a process
can observe; `terminal` and `exec` work for any subclass whose exec_command does.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal as _signal
import sys
import time
from abc import abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from ocimux.base import process
from ocimux.base.command import resolve_command
from ocimux.base.errors import (
    CommandNotFoundError,
    CommandNotInvocableError,
    InvalidArgumentError,
    RuntimeCommandError,
)
from ocimux.base.files import private_dir, write_atomic
from ocimux.base.ids import validate_name
from ocimux.interface.options import CreateResult, RuntimeInfo, RuntimeState
from ocimux.interface.runtime import Runtime
from ocimux.interface.specview import SpecView
from ocimux.io._launch import Command, Launch
from ocimux.io._procfs import (
    STATE_FILE,
    container_state,
    exec_status,
    load_state,
    pid_namespace,
    pids_in_groups,
    pids_in_namespace,
    remove_quietly,
)

from ._monitorctl import (
    KILL_WAIT,
    GateError,
    drain_control,
    launch,
    open_gate,
    remove_monitor_files,
    terminate,
    wait_for,
)

if TYPE_CHECKING:
    from ocimux.interface.options import CreateRequest, ExecOptions, ProcessIO

__all__ = ["Command", "ProcessRuntime"]

_LIVE = ("created", "running", "paused")


class ProcessRuntime(Runtime):
    """Base of a runtime whose container is one process tree started from an argv.

    Subclasses implement `command` and `info`'s `binary` (or set `binary = None`), declare
    `capabilities`, and may override `exec_command`, `check_command` and `prepare`.
    """

    #: what `info()` names as the monitor
    monitor_name: ClassVar[str] = "ocimux process monitor"

    # --- what a subclass gives ------------------------------------------------------------

    @abstractmethod
    def command(self, spec: SpecView) -> Command:
        """How to run the container's process described by `spec` (the bundle's config.json).

        Refuse what you cannot honour here (raise CapabilityError or InvalidArgumentError
        naming the field): nothing has started yet.
        """

    def exec_command(self, spec: SpecView, pid: int) -> Command:
        """How to run an exec process; `spec` is the container's with the session's `process`.

        Default: `spec.args` inside the namespaces and root of the container's process `pid`,
        with the session's env, cwd, user, capabilities, rlimits and umask, and
        no_new_privileges if the spec or that process has it.
        """
        return Command(
            argv=spec.args,
            env=spec.env,
            cwd=spec.cwd,
            umask=spec.user.umask,
            rlimits=spec.rlimits,
            no_new_privileges=spec.no_new_privileges or _no_new_privs(pid),
            capabilities=spec.capabilities,
            user=spec.user,
            enter=pid,
        )

    def check_command(self, spec: SpecView, root: Path, exec_id: str | None = None) -> None:
        """Raise CommandNotFoundError (127) / CommandNotInvocableError (126) if `spec.args[0]`
        cannot run from `root`: `/proc/<pid>/root` of the held process at create (a sandbox's
        root, mounts made), of the container's process for an exec (`exec_id`)."""
        resolve_command(root, spec.args, spec.env, spec.cwd)

    def prepare(self, cid: str, pid: int, spec: SpecView) -> None:
        """Finish the container's setup once its process `pid` waits at the gate (default:
        nothing). On an error the container is deleted and the error raised from create."""

    # --- helpers ----------------------------------------------------------------------------

    def _error(
        self, cid: str, verb: str, detail: str, hint: str | None = None
    ) -> RuntimeCommandError:
        return RuntimeCommandError(detail, container=cid, runtime=self.name, verb=verb, hint=hint)

    def _state(self, cid: str) -> RuntimeState:
        return container_state(self.container_dir(cid), cid, self.layout.exit_file(cid))

    def _require(self, cid: str, verb: str, *allowed: str) -> RuntimeState:
        """The state if its status is one of `allowed`, else RuntimeCommandError."""
        state = self._state(cid)
        if state.status not in allowed:
            why = state.reason or f"container is {state.status}"
            if state.status == "stopped" and allowed == _LIVE:  # kill: runc's wording
                why = "container is not running"
            raise self._error(cid, verb, why, "see `ocimux ps -a` for its state")
        return state

    def _check(
        self, cid: str, verb: str, spec: SpecView, root: Path, exec_id: str | None = None
    ) -> None:
        try:
            self.check_command(spec, root, exec_id)
        except (CommandNotFoundError, CommandNotInvocableError) as exc:
            exc.add_context(container=cid, runtime=self.name, verb=verb)
            raise

    def _launch(self, cid: str, verb: str, directory: Path, job: Launch) -> tuple[int, int]:
        context = {"container": cid, "runtime": self.name, "verb": verb}
        return launch(directory, job, context=context, timeout=self.context.command_timeout)

    def processes(self, cid: str) -> list[int]:
        """The container's live processes (host pids), init first; [] unless it is live."""
        state = self._state(cid)
        if state.status not in _LIVE:
            return []
        targets, group = self._targets(cid, state.pid)
        pids = pids_in_groups(targets) if group else targets
        return sorted(pids, key=lambda p: p != state.pid)

    def _targets(self, cid: str, pid: int) -> tuple[list[int], bool]:
        """What `kill --all`, pause and delete signal: (pids, False) for a container in a pid
        namespace of its own, else (process groups, True): init's and each live exec's."""
        ns = pid_namespace(pid)
        if ns and ns != pid_namespace("self"):
            return [pid, *(p for p in pids_in_namespace(ns) if p != pid)], False
        groups = [pid]
        for session in self._sessions(cid):
            st = load_state(session)
            if st is not None and st.process_live():
                groups.append(st.pid)
        return groups, True

    def _sessions(self, cid: str) -> list[Path]:
        base = self.container_dir(cid) / "exec"
        return sorted(p.parent for p in base.glob(f"*/{STATE_FILE}")) if base.is_dir() else []

    def _send(self, cid: str, verb: str, sig: int, *, all_procs: bool = True) -> None:
        """Send `sig` to the process (or all of them); the first target must exist."""
        state = self._require(cid, verb, *_LIVE)
        targets, group = self._targets(cid, state.pid) if all_procs else ([state.pid], False)
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
        """Start a monitor that holds `command(spec)` at the start gate and serves `request.io`.

        With `request.io.terminal` the process gets a pseudo-terminal (all output is stdout,
        attach input goes to it, `resize` sizes it, before start too). On failure nothing of
        the runtime's remains. Raises InvalidArgumentError (bad spec), CommandNotFoundError /
        CommandNotInvocableError, RuntimeCommandError, RuntimeTimeoutError.
        """
        cid, io = request.cid, request.io
        spec = SpecView.load(request.bundle)
        if not spec.root_path.is_dir():
            raise self._error(
                cid, "create", f"rootfs {spec.root_path} does not exist or is not a directory"
            )
        command = self.command(spec)
        private_dir(io.exit_file.parent)
        remove_quietly(io.exit_file)  # a previous run's
        pid, monitor = self._launch(cid, "create", io.directory, _job(command, io))
        try:
            self._check(cid, "create", spec, Path(f"/proc/{pid}/root"))
            self.prepare(cid, pid, spec)
        except BaseException:
            self.delete(cid)
            remove_quietly(io.exit_file)  # the held process's, killed: it never ran
            if io.log.exists() and io.log.stat().st_size == 0:
                remove_quietly(io.log)
            raise
        return CreateResult(pid=pid, monitor_pid=monitor)

    def start(self, cid: str, exec_id: str | None = None) -> None:
        """Release the held process: it runs its command now. Raises RuntimeCommandError
        unless the container (or session) is "created"."""
        if exec_id:
            session = self.layout.exec_dir(cid, exec_id)

            def waiting() -> None:
                status = self._exec_state(cid, exec_id)
                if status is None or status.status != "created":
                    raise GateError("the exec process died before it was started")

            self._open(cid, "exec", session, waiting)
            return
        self._require(cid, "start", "created")
        self._open(
            cid, "start", self.container_dir(cid), lambda: self._require(cid, "start", "created")
        )

    def _open(self, cid: str, verb: str, directory: Path, waiting: Callable[[], object]) -> None:
        timeout = self.context.command_timeout
        drain_control(directory, min(timeout, 1.0))  # resizes first
        try:
            open_gate(directory, timeout, waiting)
        except GateError as exc:
            raise self._error(cid, verb, str(exc)) from None

    def kill(
        self, cid: str, signal: int, *, all_procs: bool = False, exec_id: str | None = None
    ) -> None:
        """Send `signal` to the process, or with `all_procs` to every process of the container.

        A held process has default dispositions: SIGTERM or SIGKILL end it (143 / 137).
        Raises RuntimeCommandError("container is not running") when it is stopped or gone.
        An exec process gets it alone; one that has exited already is no error.
        """
        if exec_id:
            status = self._exec_state(cid, exec_id)
            if status is not None and status.status in ("created", "running") and status.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(status.pid, signal)
            return
        self._send(cid, "kill", signal, all_procs=all_procs)

    def pause(self, cid: str) -> None:
        """SIGSTOP every process of a running container; returns once its process stopped.

        A process inside vfork() cannot stop until its child execs, and a child stopped
        before exec never does: if the process has not stopped after 50 ms, every process
        gets SIGCONT and SIGSTOP again, until `command_timeout`.
        """
        self._require(cid, "pause", "running")
        deadline = time.monotonic() + self.context.command_timeout
        self._send(cid, "pause", _signal.SIGSTOP)
        while not wait_for(lambda: self._state(cid).status != "running", 0.05):
            if time.monotonic() >= deadline:
                raise self._error(cid, "pause", "the process did not stop")
            self._send(cid, "pause", _signal.SIGCONT)
            self._send(cid, "pause", _signal.SIGSTOP)

    def resume(self, cid: str) -> None:
        """SIGCONT every process of a paused container; returns once its process runs again."""
        self._require(cid, "unpause", "paused")
        self._send(cid, "unpause", _signal.SIGCONT)
        if not wait_for(lambda: self._state(cid).status != "paused", self.context.command_timeout):
            raise self._error(cid, "unpause", "the process did not resume")

    def delete(self, cid: str, exec_id: str | None = None) -> None:
        """SIGKILL whatever still runs and remove the monitor's files (not the logs, not the
        directory: the engine's). Deleting what the runtime does not know is no error.
        Raises RuntimeCommandError if a process survives SIGKILL for `command_timeout`."""
        if exec_id:
            session = self.layout.exec_dir(cid, exec_id)
            if self._exec_state(cid, exec_id) is not None and not terminate(session, KILL_WAIT):
                raise self._error(
                    cid, "exec", f"processes of exec session {exec_id} survived SIGKILL"
                )
            return
        directory = self.container_dir(cid)
        deadline = time.monotonic() + self.context.command_timeout
        sessions = self._sessions(cid)
        for target in [*sessions, directory]:
            if not terminate(target, max(0.0, deadline - time.monotonic())):
                raise self._error(cid, "delete", f"processes recorded in {target} survived SIGKILL")
        for session in sessions:
            remove_monitor_files(session)
            remove_quietly(session / "config.json")
        remove_monitor_files(directory)
        persist = self.layout.persist_dir(cid)
        if persist != directory:  # without a run dir it is the engine's directory
            shutil.rmtree(persist, ignore_errors=True)

    def state(self, cid: str, exec_id: str | None = None) -> RuntimeState:
        """Derive the state: exit file → stopped; monitor and process alive → created (the
        start FIFO exists), paused (/proc state `T`) or running; monitor gone without an
        exit code → unknown with the reason; never created or deleted → unknown. An exec
        session: created at its gate, running, stopped with its code; unknown if never seen."""
        if exec_id:
            status = self._exec_state(cid, exec_id)
            return status or RuntimeState("unknown", reason=f"no exec session {exec_id}")
        return self._state(cid)

    def _exec_state(self, cid: str, exec_id: str) -> RuntimeState | None:
        return exec_status(self.layout.exec_dir(cid, exec_id), self.layout.exit_file(cid, exec_id))

    # --- exec -----------------------------------------------------------------------------

    def exec(self, cid: str, exec_id: str, process: ExecOptions, io: ProcessIO) -> None:
        """Prepare `exec_command` in the running container, held until `start(cid, exec_id)`,
        its monitor serving `io`. Writes the session's spec to `exec_dir/config.json`.

        Raises RuntimeCommandError unless the container runs or when the session runs
        already, CommandNotFoundError (127) / CommandNotInvocableError (126) before anything
        runs when the command does not resolve, InvalidArgumentError for a bad session id.
        """
        # lazy: the spec module's imports are paid only by exec
        from .spec import exec_process

        validate_name(exec_id, "exec session id")
        state = self._require(cid, "exec", "running")
        session = self.layout.exec_dir(cid, exec_id)
        previous = self._exec_state(cid, exec_id)
        if previous is not None and previous.status in ("created", "running"):
            raise self._error(cid, "exec", f"exec session {exec_id} is already running")
        bundle = self.container_dir(cid)
        exec_spec = exec_process(bundle, process)  # RuntimeCommandError if the bundle is damaged
        doc = json.loads((bundle / "config.json").read_bytes())
        doc["process"] = exec_spec
        private_dir(session)
        write_atomic(session / "config.json", json.dumps(doc).encode())
        spec = SpecView.load(session)
        self._check(cid, "exec", spec, Path(f"/proc/{state.pid}/root"), exec_id)
        command = self.exec_command(spec, state.pid)
        private_dir(io.exit_file.parent)
        remove_quietly(io.exit_file)
        self._launch(cid, "exec", session, _job(command, io))

    def info(self) -> RuntimeInfo:
        """Name, path, version (`<binary> --version`'s first line, else ocimux's), monitor."""
        version = ""
        if self.path:
            with contextlib.suppress(OSError, RuntimeCommandError):
                done = process.run([self.path, "--version"], timeout=self.context.command_timeout)
                version = done.stdout.decode(errors="replace").strip().partition("\n")[0]
        if not version:
            # lazy: importlib.metadata costs ~20 ms, and only a runtime without a version needs it
            from importlib import metadata

            try:
                version = f"ocimux {metadata.version('ocimux')}"
            except metadata.PackageNotFoundError:
                version = "ocimux"
        return RuntimeInfo(
            name=self.name,
            path=self.path,
            version=version,
            monitor=self.monitor_name,
            extra={"python": sys.executable},  # the monitor's interpreter
        )


def _job(command: Command, io: ProcessIO) -> Launch:
    return Launch(
        command=command,
        log=str(io.log),
        exit_file=str(io.exit_file),
        stdin=io.stdin,
        terminal=io.terminal,
        size=io.size,
        log_size_max=io.log_size_max,
        exit_command=io.exit_command,
    )


def _no_new_privs(pid: int) -> bool:
    """Whether process `pid` runs with no_new_privs (an exec must not have more)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            return any(line.split() == ["NoNewPrivs:", "1"] for line in fh)
    except OSError:
        return False
