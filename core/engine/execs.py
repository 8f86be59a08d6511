"""Exec sessions: running extra processes in a running container (the Dispatcher's exec verbs).

Each session gets a record in the store (id, process, pid, status, exit code) and a
directory inside the container's. An attached exec removes both when it ends; a detached
one keeps them until the container is deleted.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

from ocimux.base._faults import crash_point
from ocimux.base.errors import (
    CommandNotFoundError,
    ExecSessionNotFoundError,
    InvalidArgumentError,
    OcimuxError,
    RuntimeCommandError,
    StateError,
    StoreError,
)
from ocimux.base.ids import new_id
from ocimux.base.monitorfiles import wait_exit_file
from ocimux.interface.options import AttachOptions
from ocimux.io.attach import connect_attach_socket, relay

from . import stopping
from .store import ExecRecord

if TYPE_CHECKING:
    from ocimux.interface.options import ExecOptions, StdStreams
    from ocimux.interface.runtime import Runtime

    from .reconcile import Reconciler
    from .store import ContainerRecord

__all__ = ["ExecSessions"]


def _check_options(options: ExecOptions, ref: str) -> None:
    """The same rules every runtime applies, checked before anything is recorded."""
    # lazy: ~12 ms of imports that ps, stop and rm never need
    from ocimux.oci import spec as specs

    if options.cwd is not None and not options.cwd.startswith("/"):
        raise InvalidArgumentError(
            f"invalid working directory {options.cwd!r}: it must be absolute"
        )
    specs.merge_env((), options.env)


def _remove_session(runtime: Runtime, cid: str, sid: str) -> None:
    """Remove a session's directories (bundle and run dir), and `exec/` once it is empty."""
    with suppress(OcimuxError):  # the runtime's own files of the session, its monitor
        runtime.delete(cid, sid)
    layout = runtime.layout
    for directory in {layout.exec_dir(cid, sid), layout.persist_dir(cid, sid)}:
        shutil.rmtree(directory, ignore_errors=True)  # the bundle's, and the run dir's
        with suppress(OSError):
            directory.parent.rmdir()


def _still_running(runtime: Runtime, cid: str, sid: str) -> bool:
    try:
        return runtime.state(cid, sid).status == "running"
    except OcimuxError:
        return False


def _run_attached(
    runtime: Runtime, cid: str, sid: str, options: ExecOptions, streams: StdStreams
) -> int | None:
    """Prepare the process, connect to its monitor, start it, relay; its exit code.

    Connecting before the start loses no output. None: the user detached (`detach_keys`),
    and the process runs on.
    """
    io = runtime.layout.io(
        cid,
        sid,
        stdin=options.stdin,
        terminal=options.terminal,
        size=options.size if options.terminal else None,
    )
    runtime.exec(cid, sid, options, io)
    sock = connect_attach_socket(io.attach_socket)
    try:
        runtime.start(cid, sid)
        crash_point("exec:started")
        detached = relay(
            sock, streams, AttachOptions(stdin=options.stdin, detach_keys=options.detach_keys)
        )
    finally:
        sock.close()
    if detached:
        return None
    return _exit_code(runtime, cid, sid, io.exit_file)


def _exit_code(runtime: Runtime, cid: str, sid: str, exit_file: Path) -> int:
    """The process's exit code, once its monitor has written it (output drained first)."""
    timeout = runtime.context.command_timeout
    code = wait_exit_file(exit_file, timeout, lambda: _still_running(runtime, cid, sid))
    if code is None:
        code = runtime.state(cid, sid).exit_code
    if code is None:
        raise RuntimeCommandError(
            f"exec session {sid[:12]} ended without an exit code",
            container=cid, runtime=runtime.name, verb="exec",
        )  # fmt: skip
    return code


def _start_detached(runtime: Runtime, cid: str, sid: str, options: ExecOptions) -> int:
    """Prepare and start the process with no client (output to its log); its host pid."""
    io = runtime.layout.io(cid, sid, stdin=False, terminal=options.terminal, size=options.size)
    runtime.exec(cid, sid, options, io)
    runtime.start(cid, sid)
    return runtime.state(cid, sid).pid


class ExecSessions:
    """The exec sessions of a Dispatcher's containers: its `exec*` verbs (`Dispatcher.execs`).

    Built on the Dispatcher's `Reconciler` steps (lookup, lock, state, capabilities).

    Each session gets a record in the store (id, process, pid, status, exit code) and a
    directory inside the container's. An attached exec removes both when it ends; a
    detached one keeps them until the container is deleted.
    """

    def __init__(self, d: Reconciler) -> None:
        self.d = d

    def _begin(self, ref: str, options: ExecOptions, sid: str) -> tuple[ContainerRecord, Runtime]:
        """Record a new session `sid` ("created"); the caller holds the session's own lock.

        The session lock tells a later call whether a "created" session is still being started
        (locked) or was abandoned by a process that died (free).
        """
        if not options.args[0]:
            raise CommandNotFoundError(
                "executable file '' not found",
                verb="exec",
                container=ref,
                hint="give the command to run",
            )
        try:
            _check_options(options, ref)
        except InvalidArgumentError as exc:
            raise exc.add_context(container=ref, verb="exec") from None
        with self.d.locked(ref, "exec") as (rec, runtime):
            self.d.require(runtime, "exec", rec.name, "exec")
            if options.terminal:
                self.d.require(runtime, "terminal", rec.name, "exec")
            if options.privileged:
                self.d.require(runtime, "isolation", rec.name, "exec --privileged")
            if options.user:
                self.d.require(runtime, "isolation", rec.name, "exec --user")
            self.d.store.add_exec(
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
        return rec, runtime

    def attached(
        self,
        ref: str,
        options: ExecOptions,
        streams: StdStreams,
        on_start: Callable[[str], None] | None = None,
    ) -> int | None:
        """Run a process in a running container, attached; return its exit code.

        The session's record and directory are removed when it ends. If the user detaches
        (None is returned) the session keeps running and stays listed until the container goes.
        """
        sid = new_id()
        with self.d.store.lock(sid, self.d.config.lock_timeout):
            try:
                return self._run_attached_session(ref, options, streams, on_start, sid)
            finally:
                self.d.store.drop_lock_file(sid)

    def _run_attached_session(
        self,
        ref: str,
        options: ExecOptions,
        streams: StdStreams,
        on_start: Callable[[str], None] | None,
        sid: str,
    ) -> int | None:
        rec, runtime = self._begin(ref, options, sid)
        crash_point("exec:recorded")
        self.d.store.update_exec(sid, status="running")
        code: int | None = None
        failed = True
        try:
            if on_start is not None:
                on_start(sid)  # inside: a caller's failure must not leave the session recorded
            code = _run_attached(runtime, rec.id, sid, options, streams)
            failed = False
        except OcimuxError as exc:
            raise exc.add_context(
                container=rec.name, runtime=rec.runtime, verb="exec", container_id=rec.id
            ) from None
        finally:
            # kept only when the user detached from a session that runs on
            if failed or code is not None or not _still_running(runtime, rec.id, sid):
                self.d.store.remove_exec(sid)
                _remove_session(runtime, rec.id, sid)
        if code is None:
            self.d.store.update_exec(sid, pid=runtime.state(rec.id, sid).pid)
        self.d.hooks.event(
            "exec",
            container=rec.id,
            name=rec.name,
            runtime=rec.runtime,
            session=sid,
            exit_code=code,
        )
        return code

    def detached(self, ref: str, options: ExecOptions) -> ExecRecord:
        """Start a process in a running container and return its session (running)."""
        sid = new_id()
        with self.d.store.lock(sid, self.d.config.lock_timeout):
            try:
                return self._start_detached_session(ref, options, sid)
            finally:
                self.d.store.drop_lock_file(sid)

    def _start_detached_session(self, ref: str, options: ExecOptions, sid: str) -> ExecRecord:
        rec, runtime = self._begin(ref, options, sid)
        try:
            pid = _start_detached(runtime, rec.id, sid, options)
        except BaseException as exc:
            self.d.store.remove_exec(sid)
            _remove_session(runtime, rec.id, sid)
            if isinstance(exc, OcimuxError):
                exc.add_context(
                    container=rec.name, runtime=rec.runtime, verb="exec", container_id=rec.id
                )
            raise
        session = self.d.store.update_exec(sid, status="running", pid=pid)
        self.d.hooks.event(
            "exec", container=rec.id, name=rec.name, runtime=rec.runtime, session=sid
        )
        return session

    def sessions(self, ref: str) -> list[ExecRecord]:
        """The container's exec sessions, their status refreshed from the runtime."""
        rec = self.d.store.lookup(ref)
        runtime = self.d.runtime_or_none(rec)
        fresh = (self.refresh(runtime, session) for session in self.d.store.list_execs(rec.id))
        return [session for session in fresh if session is not None]

    def refresh(self, runtime: Runtime | None, session: ExecRecord) -> ExecRecord | None:
        """Ask the runtime whether a session still runs and record its end.

        A session still "created" whose process never started (its `ocimux` died first) is
        removed with its directory: None.
        """
        if session.status not in ("running", "created") or runtime is None:
            return session
        st = runtime.state(session.container_id, session.id)
        if st.status == "running":
            if session.status == "created" or (st.pid and st.pid != session.pid):
                return self.d.store.update_exec(session.id, status="running", pid=st.pid)
            return session
        if session.status == "created" and st.exit_code is None:
            try:
                with self.d.store.lock(session.id, 0):  # free: its ocimux died before starting it
                    self.d.store.remove_exec(session.id)
                    _remove_session(runtime, session.container_id, session.id)
                    self.d.store.drop_lock_file(session.id)
                    return None
            except StoreError:
                return session  # being started right now
        return self.d.store.update_exec(
            session.id, status="stopped", exit_code=st.exit_code, finished_at=time.time()
        )

    def find(self, ref: str) -> ExecRecord:
        """The session with id `ref`, or the one whose id starts with `ref` (refreshed)."""
        try:
            session = self.d.store.get_exec(ref)
        except ExecSessionNotFoundError:
            matches = [e for e in self.d.store.list_execs() if e.id.startswith(ref)] if ref else []
            if len(matches) != 1:
                what = "matches several sessions" if matches else "matches no exec session"
                raise ExecSessionNotFoundError(
                    f"{ref!r} {what}", hint="see `ocimux exec --list CONTAINER`"
                ) from None
            session = matches[0]
        rec = self.d.store.get_container(session.container_id)
        fresh = self.refresh(self.d.runtime_or_none(rec), session)
        if fresh is None:
            raise ExecSessionNotFoundError(
                f"exec session {session.id[:12]} was abandoned before it started; it is removed now"
            )
        return fresh

    def stop(self, ref: str, timeout: float) -> ExecRecord:
        """Stop a session (SIGTERM, `timeout`, SIGKILL); the container keeps running."""
        stopping.check_timeout(timeout)
        session = self.find(ref)
        rec = self.d.store.get_container(session.container_id)
        if session.status == "running":
            runtime = self.d.runtime_of(rec)
            try:
                stopping.stop_exec(runtime, rec.id, session.id, timeout)
            except OcimuxError as exc:
                raise exc.add_context(
                    container=rec.name, runtime=rec.runtime, verb="exec stop", container_id=rec.id
                ) from None
            session = self.refresh(runtime, session) or session
        return session

    def kill(self, ref: str, sig: int) -> ExecRecord:
        """Send `sig` to a running session's process (an attached `exec`'s `--sig-proxy`).

        No lock, as for `stop` and `resize`: an attached session's client holds the session's
        lock for its whole life, and it is that client's proxy that sends.
        """
        session = self.find(ref)
        rec = self.d.store.get_container(session.container_id)
        if session.status != "running":
            raise StateError(
                f"exec session {session.id[:12]} is {session.status}",
                container=rec.name, runtime=rec.runtime, verb="exec kill",
            )  # fmt: skip
        try:
            self.d.runtime_of(rec).kill(rec.id, sig, exec_id=session.id)
        except OcimuxError as exc:
            raise exc.add_context(
                container=rec.name, runtime=rec.runtime, verb="exec kill", container_id=rec.id
            ) from None
        return session

    def resize(self, ref: str, height: int, width: int) -> None:
        """Resize a session's terminal (SIGWINCH of an attached `exec -t`)."""
        session = self.find(ref)
        rec = self.d.store.get_container(session.container_id)
        runtime = self.d.runtime_of(rec)
        self.d.require(runtime, "terminal", rec.name, "exec resize")
        runtime.resize(rec.id, height, width, exec_id=session.id)

    def stop_all(self, rec: ContainerRecord, runtime: Runtime, timeout: float) -> None:
        """Stop every live session of a container (before `rm -f` stops the container)."""
        for session in self.d.store.list_execs(rec.id):
            fresh = self.refresh(runtime, session)
            if fresh is not None and fresh.status == "running":
                stopping.stop_exec(runtime, rec.id, session.id, timeout)
