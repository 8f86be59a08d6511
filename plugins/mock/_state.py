"""Deriving a mock container's (or exec session's) state from its files and /proc.

Nothing is cached: each answer comes from `exit`, `mock-state.json`, the start FIFO and
/proc/PID/stat at the moment of the call, so any `ocimux` process gets the same answer.
"""

from __future__ import annotations

from pathlib import Path

from ocimux.options import RuntimeState

from ._proc import EXIT_FILE, START_FIFO, STATE_FILE, ShimState, read_exit_code

__all__ = ["container_state", "exec_sessions", "exec_status", "load_state", "process_groups"]

_DEAD = ("Z", "X")


def load_state(directory: Path) -> ShimState | None:
    """The shim state recorded in `directory`; None when absent or corrupt."""
    try:
        return ShimState.load(directory)
    except ValueError:
        return None


def container_state(directory: Path, cid: str, exit_file: Path | None = None) -> RuntimeState:
    """Derive a container's state (its exit code in `exit_file`, default `directory/exit`).

    `exit` present → stopped with its code. Else, per `mock-state.json`: shim gone →
    unknown ("died without recording an exit code"); no process yet → creating; /proc
    state `T` → paused; start FIFO present → created; else running. No state file →
    unknown (never created, or deleted).
    """
    exit_file = exit_file or directory / EXIT_FILE
    code = read_exit_code(exit_file)
    if code is not None:
        return RuntimeState("stopped", exit_code=code)
    try:
        st = ShimState.load(directory)
    except ValueError as exc:
        return RuntimeState("unknown", reason=str(exc))
    if st is None:
        return RuntimeState(
            "unknown", reason=f"the mock runtime has no container {cid} (never created, or deleted)"
        )
    stat = st.process_stat()
    if not st.shim_live() or stat is None or stat.state in _DEAD:
        code = read_exit_code(exit_file)  # it may have been recorded just now
        if code is not None:
            return RuntimeState("stopped", exit_code=code)
    if not st.shim_live():
        return RuntimeState(
            "unknown", reason=f"mock shim (pid {st.shim_pid}) died without recording an exit code"
        )
    if st.pid == 0:
        return RuntimeState("creating")
    # A process that has exited stays a zombie until its shim has drained the output and
    # written `exit`; meanwhile it reads as what it was (created or running).
    if stat is not None and stat.state == "T":
        return RuntimeState("paused", pid=st.pid)
    if (directory / START_FIFO).exists():
        return RuntimeState("created", pid=st.pid)
    return RuntimeState("running", pid=st.pid)


def exec_status(session: Path, exit_file: Path | None = None) -> RuntimeState | None:
    """Derive an exec session's state (its exit code in `exit_file`, default
    `session/exit`); None when the session is unknown.

    "created" while its process waits at the gate (the `start` FIFO), running while its
    process lives or its shim is still recording the exit code, then stopped.
    """
    exit_file = exit_file or session / EXIT_FILE
    code = read_exit_code(exit_file)
    st = load_state(session)
    if code is None and st is None:
        return None
    if code is None and st is not None:
        stat = st.process_stat()
        if (stat is not None and stat.state not in _DEAD) or st.shim_live():
            code = read_exit_code(exit_file)
            if code is None:
                gated = (session / START_FIFO).exists()
                return RuntimeState("created" if gated else "running", st.pid)
    if code is None:
        return RuntimeState(
            "unknown", st.pid if st else 0, reason="its shim died without an exit code"
        )
    return RuntimeState("stopped", st.pid if st else 0, code)


def exec_sessions(directory: Path) -> list[Path]:
    """The directories of the exec sessions whose shim has recorded itself in `directory`."""
    base = directory / "exec"
    return sorted(p.parent for p in base.glob(f"*/{STATE_FILE}")) if base.is_dir() else []


def process_groups(directory: Path, pid: int) -> list[int]:
    """The container's process groups: its init's (`pid`), then each live exec session's."""
    groups = [pid]
    for session in exec_sessions(directory):
        st = load_state(session)
        stat = st.process_stat() if st else None
        if st and stat and stat.state not in _DEAD:
            groups.append(st.pid)
    return groups
