"""Exec sessions: running extra processes in a running container (the Dispatcher's exec verbs).

Each session gets a record in the store (id, process, pid, status, exit code) and a
directory inside the container's. An attached exec removes both when it ends; a detached
one keeps them until the container is deleted.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .errors import ExecSessionNotFoundError, InvalidArgumentError, OcimuxError
from .ids import new_id
from .store import ExecRecord

if TYPE_CHECKING:
    from .dispatcher import Dispatcher
    from .options import ExecOptions, StdStreams
    from .runtime import Runtime
    from .store import ContainerRecord

__all__ = [
    "exec_attached",
    "exec_detached",
    "find",
    "refresh",
    "resize",
    "sessions",
    "stop",
    "stop_all",
]


def _begin(d: Dispatcher, ref: str, options: ExecOptions) -> tuple[ContainerRecord, Runtime, str]:
    with d._locked(ref, "exec") as (rec, runtime):
        d._require(runtime, "exec", rec.name, "exec")
        if options.terminal:
            d._require(runtime, "terminal", rec.name, "exec")
        sid = new_id()
        d.store.add_exec(
            ExecRecord(
                id=sid,
                container_id=rec.id,
                status="created",
                created_at=time.time(),
                process={
                    "args": list(options.args),
                    "env": list(options.env),
                    "cwd": options.cwd,
                    "user": options.user,
                    "terminal": options.terminal,
                    "stdin": options.stdin,
                    "privileged": options.privileged,
                },
            )
        )
    return rec, runtime, sid


def exec_attached(
    d: Dispatcher,
    ref: str,
    options: ExecOptions,
    streams: StdStreams,
    on_start: Callable[[str], None] | None = None,
) -> int | None:
    """Run a process in a running container, attached; return its exit code.

    The session's record and directory are removed when it ends. If the user detaches
    (None is returned) the session keeps running and stays listed until the container goes.
    """
    rec, runtime, sid = _begin(d, ref, options)
    d.store.update_exec(sid, status="running")
    if on_start is not None:
        on_start(sid)
    code: int | None = None
    try:
        code = runtime.exec_container(rec.id, sid, options, streams)
    except OcimuxError as exc:
        raise exc.add_context(
            container=rec.name, runtime=rec.runtime, verb="exec", container_id=rec.id
        ) from None
    finally:
        if code is not None or not _still_running(runtime, rec.id, sid):
            d.store.remove_exec(sid)
            shutil.rmtree(runtime.exec_dir(rec.id, sid), ignore_errors=True)
    if code is None:
        status = runtime.exec_update_status(rec.id, sid)
        d.store.update_exec(sid, pid=status.pid)
    d.hooks.event(
        "exec", container=rec.id, name=rec.name, runtime=rec.runtime, session=sid, exit_code=code
    )
    return code


def _still_running(runtime: Runtime, cid: str, sid: str) -> bool:
    try:
        return runtime.exec_update_status(cid, sid).running
    except OcimuxError:
        return False


def exec_detached(d: Dispatcher, ref: str, options: ExecOptions) -> ExecRecord:
    """Start a process in a running container and return its session (running)."""
    rec, runtime, sid = _begin(d, ref, options)
    try:
        pid = runtime.exec_container_detached(rec.id, sid, options)
    except BaseException as exc:
        d.store.remove_exec(sid)
        shutil.rmtree(runtime.exec_dir(rec.id, sid), ignore_errors=True)
        if isinstance(exc, OcimuxError):
            exc.add_context(
                container=rec.name, runtime=rec.runtime, verb="exec", container_id=rec.id
            )
        raise
    session = d.store.update_exec(sid, status="running", pid=pid)
    d.hooks.event("exec", container=rec.id, name=rec.name, runtime=rec.runtime, session=sid)
    return session


def sessions(d: Dispatcher, ref: str) -> list[ExecRecord]:
    """The container's exec sessions, their status refreshed from the runtime."""
    rec = d.store.lookup(ref)
    runtime = d._runtime_or_none(rec)
    return [refresh(d, runtime, session) for session in d.store.list_execs(rec.id)]


def refresh(d: Dispatcher, runtime: Runtime | None, session: ExecRecord) -> ExecRecord:
    """Ask the runtime whether a running session still runs; record its end if not."""
    if session.status != "running" or runtime is None:
        return session
    st = runtime.exec_update_status(session.container_id, session.id)
    if st.running:
        return (
            session
            if st.pid == session.pid or not st.pid
            else d.store.update_exec(session.id, pid=st.pid)
        )
    return d.store.update_exec(
        session.id, status="stopped", exit_code=st.exit_code, finished_at=time.time()
    )


def find(d: Dispatcher, ref: str) -> ExecRecord:
    """The session with id `ref`, or the one whose id starts with `ref` (refreshed)."""
    try:
        session = d.store.get_exec(ref)
    except ExecSessionNotFoundError:
        matches = [e for e in d.store.list_execs() if e.id.startswith(ref)] if ref else []
        if len(matches) != 1:
            what = "matches several sessions" if matches else "matches no exec session"
            raise ExecSessionNotFoundError(
                f"{ref!r} {what}", hint="see `ocimux exec --list CONTAINER`"
            ) from None
        session = matches[0]
    rec = d.store.get_container(session.container_id)
    return refresh(d, d._runtime_or_none(rec), session)


def stop(d: Dispatcher, ref: str, timeout: float) -> ExecRecord:
    """Stop a session (SIGTERM, `timeout`, SIGKILL); the container keeps running."""
    if timeout < 0:
        raise InvalidArgumentError(f"timeout must not be negative (got {timeout:g})")
    session = find(d, ref)
    rec = d.store.get_container(session.container_id)
    if session.status == "running":
        runtime = d.runtime_of(rec)
        try:
            runtime.exec_stop_container(rec.id, session.id, timeout)
        except OcimuxError as exc:
            raise exc.add_context(
                container=rec.name, runtime=rec.runtime, verb="exec stop", container_id=rec.id
            ) from None
        session = refresh(d, runtime, session)
    return session


def resize(d: Dispatcher, ref: str, height: int, width: int) -> None:
    """Resize a session's terminal (SIGWINCH of an attached `exec -t`)."""
    session = find(d, ref)
    rec = d.store.get_container(session.container_id)
    d.runtime_of(rec).exec_attach_resize(rec.id, session.id, height, width)


def stop_all(d: Dispatcher, rec: ContainerRecord, runtime: Runtime, timeout: float) -> None:
    """Stop every live session of a container (before `rm -f` stops the container)."""
    for session in d.store.list_execs(rec.id):
        if refresh(d, runtime, session).status == "running":
            runtime.exec_stop_container(rec.id, session.id, timeout)
