"""Exec sessions: running extra processes in a running container (the Dispatcher's exec verbs).

Each session gets a record in the store (id, process, pid, status, exit code) and a
directory inside the container's. An attached exec removes both when it ends; a detached
one keeps them until the container is deleted.
"""

from __future__ import annotations

import shutil
import time
from typing import TYPE_CHECKING

from .errors import OcimuxError
from .ids import new_id
from .store import ExecRecord

if TYPE_CHECKING:
    from .dispatcher import Dispatcher
    from .options import ExecOptions, StdStreams
    from .runtime import Runtime
    from .store import ContainerRecord

__all__ = ["exec_attached", "exec_detached", "sessions"]


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


def exec_attached(d: Dispatcher, ref: str, options: ExecOptions, streams: StdStreams) -> int:
    """Run a process in a running container, attached; return its exit code.

    The session's record and directory are removed when it ends.
    """
    rec, runtime, sid = _begin(d, ref, options)
    d.store.update_exec(sid, status="running")
    try:
        code = runtime.exec_container(rec.id, sid, options, streams)
    except OcimuxError as exc:
        raise exc.add_context(
            container=rec.name, runtime=rec.runtime, verb="exec", container_id=rec.id
        ) from None
    finally:
        d.store.remove_exec(sid)
        shutil.rmtree(runtime.exec_dir(rec.id, sid), ignore_errors=True)
    d.hooks.event(
        "exec",
        container=rec.id,
        name=rec.name,
        runtime=rec.runtime,
        session=sid,
        exit_code=code,
    )
    return code


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
    out = []
    for session in d.store.list_execs(rec.id):
        if session.status == "running" and runtime is not None:
            st = runtime.exec_update_status(rec.id, session.id)
            if not st.running:
                session = d.store.update_exec(
                    session.id,
                    status="stopped",
                    exit_code=st.exit_code,
                    finished_at=time.time(),
                )
        out.append(session)
    return out
