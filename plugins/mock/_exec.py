"""Exec sessions for the mock: every exec runs under an exec-mode shim in `exec/<session>/`.

The session directory holds `process.json` (the process: the container's spec with the
exec's args, env and cwd), the shim's files (`mock-state.json`, `start` while gated, `ctl`,
`attach`, `mock-shim.log`), `exec_pid` and `exec.log`; once the process has exited its
shim writes `exit` in the session's directory on the run dir (`exec_exit_file`). The session's process group counts among the container's processes (`_state.py`).

An attached exec follows conmon's `--exec-attach`: the shim starts gated, having checked
that the command resolves to an executable file (else the sync pipe says ENOENT / EACCES
and this raises CommandNotFoundError / CommandNotInvocableError); the caller connects to
the attach socket, sizes the terminal, opens the gate and relays (`ocimux.attach.relay`)
until the shim closes the connection, then reads `exit`. A detached exec starts ungated and
unattached; its output goes only to `exec.log`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ocimux.errors import RuntimeCommandError
from ocimux.files import private_dir
from ocimux.ids import validate_name

from ._proc import EXEC_LOG, EXEC_PID_FILE, EXIT_FILE, PROCESS_FILE, remove_quietly, write_atomic
from ._shimctl import KILL_WAIT, GateError, launch, open_gate, terminate, wait_for
from ._state import exec_status, load_state

if TYPE_CHECKING:
    from ocimux.options import ExecOptions, StdStreams
    from ocimux.runtime import Runtime

    from ._bundle import ProcessSpec

__all__ = ["exec_exit_file", "prepare_session", "run_attached", "start_detached"]


def exec_exit_file(runtime: Runtime, cid: str, session_id: str) -> Path:
    """The session's exit file, on the run dir as conmon's (`Runtime.exec_persist_dir`)."""
    return runtime.exec_persist_dir(cid, session_id) / EXIT_FILE


def _error(runtime: Runtime, cid: str, detail: str) -> RuntimeCommandError:
    return RuntimeCommandError(detail, container=cid, runtime=runtime.name, verb="exec")


def prepare_session(runtime: Runtime, cid: str, session_id: str, spec: ProcessSpec) -> Path:
    """Make the session's directory (0700) with its `process.json`; return the directory.

    A finished session of the same id is started afresh; a running one raises
    RuntimeCommandError. Raises InvalidArgumentError for a malformed session id.
    """
    validate_name(session_id, "exec session id")
    session = runtime.exec_dir(cid, session_id)
    exit_file = exec_exit_file(runtime, cid, session_id)
    previous = exec_status(session, exit_file)
    if previous is not None and previous.running:
        raise _error(runtime, cid, f"exec session {session_id} is already running")
    session.parent.mkdir(mode=0o700, exist_ok=True)
    session.mkdir(mode=0o700, exist_ok=True)
    private_dir(exit_file.parent)
    remove_quietly(exit_file)
    write_atomic(session / PROCESS_FILE, spec.to_json())
    return session


def start_detached(runtime: Runtime, cid: str, session: Path, options: ExecOptions) -> int:
    """Start the session's shim ungated; return the process's pid once it has exec'd.

    Raises CommandNotFoundError / CommandNotInvocableError when the exec failed.
    """
    pid, _ = launch(
        runtime,
        cid,
        session,
        PROCESS_FILE,
        EXEC_LOG,
        gate=False,
        stdin=options.stdin,
        terminal=options.terminal,
        pid_file=EXEC_PID_FILE,
        verb="exec",
        exit_file=exec_exit_file(runtime, cid, session.name),
    )
    return pid


def run_attached(
    runtime: Runtime, cid: str, session_id: str, options: ExecOptions, streams: StdStreams
) -> int | None:
    """Run the prepared session attached to `streams`: its exit code, or None if detached.

    After a detach the session runs on (its shim records the exit code for
    `exec_update_status`). When this returns a code the session's shim has left. Anything
    raised between the shim's start and the end of the relay (a broken output stream,
    KeyboardInterrupt) first kills the session: an attached exec never outlives a failed
    caller.
    """
    from ocimux.attach import wait_exit_file

    session = runtime.exec_dir(cid, session_id)
    timeout = runtime.context.command_timeout
    launch(
        runtime,
        cid,
        session,
        PROCESS_FILE,
        EXEC_LOG,
        gate=True,
        stdin=options.stdin,
        terminal=options.terminal,
        check_command=True,
        pid_file=EXEC_PID_FILE,
        verb="exec",
        exit_file=exec_exit_file(runtime, cid, session_id),
    )
    shim = load_state(session)
    try:
        detached = _attach(runtime, cid, session_id, options, streams)
    except BaseException:
        terminate(session, KILL_WAIT)
        raise
    if detached:
        return None

    def shim_alive() -> bool:
        return shim is not None and shim.shim_live()

    code = wait_exit_file(exec_exit_file(runtime, cid, session_id), timeout, alive=shim_alive)
    if code is None:
        if shim_alive():
            terminate(session, KILL_WAIT)
            raise _error(
                runtime, cid, f"the output of exec session {session_id} ended but it did not exit"
            )
        raise _error(
            runtime, cid, f"the shim of exec session {session_id} died without an exit code"
        )
    wait_for(lambda: not shim_alive(), KILL_WAIT)  # it removes its socket and FIFOs, leaves
    return code


def _attach(
    runtime: Runtime, cid: str, session_id: str, options: ExecOptions, streams: StdStreams
) -> bool:
    """Connect, size the terminal, open the gate, relay; return whether the user detached."""
    from ocimux.attach import connect_attach_socket, relay
    from ocimux.options import AttachOptions

    session = runtime.exec_dir(cid, session_id)
    timeout = runtime.context.command_timeout

    def waiting() -> None:
        status = exec_status(session, exec_exit_file(runtime, cid, session_id))
        if status is None or not status.running:
            raise GateError("the exec process died before it was started")

    sock = connect_attach_socket(runtime.exec_attach_socket_path(cid, session_id), timeout=timeout)
    try:
        if options.terminal and options.size:
            runtime.exec_attach_resize(cid, session_id, *options.size)
        try:
            open_gate(session, timeout, waiting)
        except GateError as exc:
            raise _error(runtime, cid, str(exc)) from None
        return relay(
            sock, streams, AttachOptions(stdin=options.stdin, detach_keys=options.detach_keys)
        )
    finally:
        sock.close()
