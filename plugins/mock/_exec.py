"""Exec sessions for the mock: every exec runs under an exec-mode shim in `exec/<session>/`.

The session directory holds `process.json` (the process: the container's spec with the
exec's args, env and cwd), the shim's files (`mock-state.json`, `start` while gated, `ctl`,
`attach`, `mock-shim.log`), `exec_pid` and `exec.log`; once the process has exited its
shim writes `exit` in the session's directory on the run dir (`exec_exit_file`). The session's process group counts among the container's processes (`_state.py`).

`exec` follows conmon's `--exec-attach`: the shim starts gated, having checked that the
command resolves to an executable file (else the sync pipe says ENOENT / EACCES and this
raises CommandNotFoundError / CommandNotInvocableError); the engine connects to the attach
socket, and `start` opens the gate.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ocimux.errors import RuntimeCommandError
from ocimux.files import private_dir
from ocimux.ids import validate_name

from ._proc import EXEC_LOG, EXEC_PID_FILE, PROCESS_FILE, remove_quietly, write_atomic
from ._shimctl import KILL_WAIT, GateError, launch, open_gate, terminate
from ._state import exec_status

if TYPE_CHECKING:
    from ocimux.options import ProcessIO
    from ocimux.runtime import Runtime

    from ._bundle import ProcessSpec

__all__ = ["delete_session", "launch_gated", "prepare_session", "release"]


def _error(runtime: Runtime, cid: str, detail: str) -> RuntimeCommandError:
    return RuntimeCommandError(detail, container=cid, runtime=runtime.name, verb="exec")


def prepare_session(runtime: Runtime, cid: str, session_id: str, spec: ProcessSpec) -> Path:
    """Make the session's directory (0700) with its `process.json`; return the directory.

    A finished session of the same id is started afresh; a running one raises
    RuntimeCommandError. Raises InvalidArgumentError for a malformed session id.
    """
    validate_name(session_id, "exec session id")
    session = runtime.layout.exec_dir(cid, session_id)
    exit_file = runtime.layout.exit_file(cid, session_id)
    previous = exec_status(session, exit_file)
    if previous is not None and previous.status in ("created", "running"):
        raise _error(runtime, cid, f"exec session {session_id} is already running")
    session.parent.mkdir(mode=0o700, exist_ok=True)
    session.mkdir(mode=0o700, exist_ok=True)
    private_dir(exit_file.parent)
    remove_quietly(exit_file)
    write_atomic(session / PROCESS_FILE, spec.to_json())
    return session


def launch_gated(runtime: Runtime, cid: str, session: Path, io: ProcessIO) -> None:
    """Start the session's shim, its process held at the gate, its attach socket ready."""
    launch(
        runtime,
        cid,
        session,
        PROCESS_FILE,
        EXEC_LOG,
        gate=True,
        stdin=io.stdin,
        terminal=io.terminal,
        check_command=True,
        pid_file=EXEC_PID_FILE,
        verb="exec",
        exit_file=io.exit_file,
    )


def release(runtime: Runtime, cid: str, session_id: str) -> None:
    """Open the session's gate: its process execs now."""
    session = runtime.layout.exec_dir(cid, session_id)
    exit_file = runtime.layout.exit_file(cid, session_id)

    def waiting() -> None:
        status = exec_status(session, exit_file)
        if status is None or status.status != "created":
            raise GateError("the exec process died before it was started")

    try:
        open_gate(session, runtime.context.command_timeout, waiting)
    except GateError as exc:
        raise _error(runtime, cid, str(exc)) from None


def delete_session(runtime: Runtime, cid: str, session_id: str) -> None:
    """Kill what is left of the session and remove its shim's files (not its log)."""
    session = runtime.layout.exec_dir(cid, session_id)
    if exec_status(session, runtime.layout.exit_file(cid, session_id)) is None:
        return
    if not terminate(session, KILL_WAIT):
        raise _error(runtime, cid, f"processes of exec session {session_id} survived SIGKILL")
