"""Exec instances of the Docker API: created first, started later (hijacked or detached).

Docker's exec model creates an instance, then starts it; ocimux starts at once. A created
instance lives in the server's memory until `exec/{id}/start`; its id is then mapped to
ocimux's session, whose status and exit code `exec/{id}/json` reports.

Instances do not pile up: as Docker's (its `execCommandGC` frees an exec 5 to 10 minutes
after it stops being live), one that has ended is forgotten `EXEC_TTL` seconds later, and
every instance of a container goes when the container is removed (through this server, or
found gone by the sweep that runs at most every `SWEEP_EVERY` seconds on exec create).

As Docker's, the start's `Tty` decides the framing (multiplexed unless it is true), whatever
the create said; the create's `Tty` gives the process its terminal and, with it, a detach
sequence (`DetachKeys` of the create, or of the start; Docker's default ctrl-p,ctrl-q)
that ends the stream while the process runs on (attach_api.py's rules).
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ocimux.base.errors import NotFoundError, OcimuxError
from ocimux.interface.options import ExecOptions
from ocimux.io.attach import MultiplexWriter

from .attach_api import detach_keys, linger
from .httpd import ApiError, Request, Response
from .shapes import MUX, RAW, str_or_none, strings, valid_size

if TYPE_CHECKING:
    from ocimux.engine.dispatcher import Dispatcher
    from ocimux.engine.store import ContainerRecord

#: seconds an ended exec instance stays inspectable (Docker: 5 to 10 minutes)
EXEC_TTL = 300.0
#: seconds between sweeps of ended instances and of instances whose container is gone
SWEEP_EVERY = 30.0


def _detach_keys_field(body: dict[str, Any]) -> Any:
    """`DetachKeys`, also as docker-py spells it (`detachKeys`: Go's JSON ignores the case)."""
    return body.get("DetachKeys", body.get("detachKeys"))


@dataclass
class ExecInstance:
    id: str
    container: str
    options: Any  # ExecOptions
    attach_stdin: bool
    session: str | None = None
    running: bool = False
    exit_code: int | None = None
    pid: int = 0
    pending_size: tuple[int, int] | None = None
    created: float = dataclasses.field(default_factory=time.monotonic)
    ended: float | None = None  # monotonic time it was seen ended


class ExecEndpoints:
    """`containers/{id}/exec` and `exec/{id}/...`; mixed into DockerApi."""

    d: Dispatcher
    execs: dict[str, ExecInstance]
    _lock: threading.Lock
    _next_exec_sweep: float = 0.0

    _record: Callable[[str], ContainerRecord]  # ContainerEndpoints': a container by reference

    def exec_create(self, r: Request) -> Response:
        rec = self._record(r.params["id"])
        body = r.json()
        cmd = strings(body.get("Cmd"), "Cmd")
        if not cmd:
            raise ApiError(400, "no exec command specified")
        if rec.status != "running":
            raise ApiError(
                409,
                f"Container {r.params['id']} is not running"
                if rec.status != "paused"
                else f"Container {r.params['id']} is paused, unpause the container before exec",
            )
        options = ExecOptions(
            args=tuple(cmd), env=tuple(strings(body.get("Env"), "Env")),
            cwd=str_or_none(body.get("WorkingDir"), "WorkingDir"), user=str_or_none(body.get("User"), "User"),
            terminal=bool(body.get("Tty")), stdin=bool(body.get("AttachStdin")), privileged=bool(body.get("Privileged")),
            detach_keys=detach_keys(_detach_keys_field(body), "DetachKeys"),
        )  # fmt: skip
        exec_id = secrets.token_hex(32)
        self.sweep_execs()
        with self._lock:
            self.execs[exec_id] = ExecInstance(
                exec_id, rec.id, options, bool(body.get("AttachStdin"))
            )
        return Response(201, {"Id": exec_id})

    def _exec(self, exec_id: str) -> ExecInstance:
        with self._lock:
            entry = self.execs.get(exec_id)
        if entry is None:
            raise ApiError(404, f"No such exec instance: {exec_id}")
        return entry

    def exec_start(self, r: Request) -> Response | None:

        entry = self._exec(r.params["id"])
        body = r.json()
        with self._lock:
            if entry.running or entry.exit_code is not None:
                raise ApiError(409, f"exec {entry.id} has already been started")
            entry.running = True
        size = body.get("ConsoleSize")
        options = entry.options
        if _detach_keys_field(body) not in (None, ""):
            options = dataclasses.replace(
                options, detach_keys=detach_keys(_detach_keys_field(body), "DetachKeys")
            )
        if not options.terminal:
            options = dataclasses.replace(options, detach_keys=None)  # Docker: a TTY's only
        if options.terminal and valid_size(size) and size != [0, 0]:
            options = dataclasses.replace(options, size=(size[0], size[1]))
        if body.get("Detach"):
            try:
                session = self.d.exec_detached(entry.container, options)
            except BaseException:
                entry.running, entry.ended = False, time.monotonic()
                raise
            entry.session, entry.pid = session.id, session.pid
            return Response(200, b"", content_type="text/plain")
        raw = bool(body.get("Tty"))  # the start's, not the create's (moby's exec router)
        rfile, wfile = r.hijack(RAW if raw else MUX)
        mux = MultiplexWriter(wfile, raw=raw)

        def on_start(session: str) -> None:
            entry.session = session
            if entry.pending_size:
                self._resize_exec_soon(session, *entry.pending_size)

        try:
            code = self.d.exec(
                entry.container,
                options,
                mux.streams(rfile if entry.attach_stdin else None),
                on_start,
            )
        except OcimuxError as exc:
            code = exc.exit_code
            with contextlib.suppress(OSError):
                mux.write(2, f"{exc}\n".encode())
        except (BrokenPipeError, ConnectionResetError):
            code = None
        else:
            if code is None:  # detached: the process runs on, a detached instance now
                entry.running = False
                with contextlib.suppress(OcimuxError):
                    if entry.session is not None:
                        entry.pid = self.d.exec_inspect(entry.session).pid
                linger(r, rfile)
                return None
        entry.exit_code, entry.running, entry.ended = code, False, time.monotonic()
        return None

    def forget_execs(self, cid: str) -> None:
        """Drop every exec instance of container `cid` (it has been removed)."""
        with self._lock:
            for exec_id in [k for k, e in self.execs.items() if e.container == cid]:
                del self.execs[exec_id]

    def sweep_execs(self, *, force: bool = False) -> None:
        """Forget instances ended `EXEC_TTL` ago and those whose container is gone.

        Runs at most every `SWEEP_EVERY` seconds unless `force`. A detached instance's end is
        learnt from its session only once it is older than the TTL (one look each).
        """
        now = time.monotonic()
        with self._lock:
            if not force and now < self._next_exec_sweep:
                return
            self._next_exec_sweep = now + SWEEP_EVERY
            entries = list(self.execs.values())
        gone = set()
        for cid in {e.container for e in entries}:
            try:
                self.d.store.get_container(cid)
            except NotFoundError:
                gone.add(cid)
            except OcimuxError:
                pass
        drop = []
        for e in entries:
            if e.container in gone:
                drop.append(e.id)
            elif e.ended is None and e.session is not None and not e.running:
                if now - e.created >= EXEC_TTL and self._detached_ended(e.session):
                    e.ended = now
            elif e.ended is not None and now - e.ended >= EXEC_TTL:
                drop.append(e.id)
        with self._lock:
            for exec_id in drop:
                self.execs.pop(exec_id, None)

    def _detached_ended(self, session: str) -> bool:
        try:
            return self.d.exec_inspect(session).status != "running"
        except NotFoundError:
            return True
        except OcimuxError:
            return False

    def exec_resize(self, r: Request) -> Response:
        entry = self._exec(r.params["id"])
        height, width = (
            int(r.integer("h", 0, high=65535) or 0),
            int(r.integer("w", 0, high=65535) or 0),
        )
        if not entry.options.terminal:
            raise ApiError(409, f"exec {entry.id} has no TTY")
        if entry.session is None:
            entry.pending_size = (height, width)
        else:
            self._resize_exec_soon(entry.session, height, width)
        return Response(200, b"", content_type="text/plain")

    def _resize_exec_soon(self, session: str, height: int, width: int) -> None:
        """Resize now, or, while the session's process is still starting, retry for 2 s."""
        try:
            self.d.exec_resize(session, height, width)
            return
        except OcimuxError:
            pass

        def retry() -> None:
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                time.sleep(0.05)
                try:
                    self.d.exec_resize(session, height, width)
                    return
                except OcimuxError:
                    continue

        threading.Thread(target=retry, daemon=True).start()

    def exec_inspect(self, r: Request) -> Response:
        entry = self._exec(r.params["id"])
        running, code, pid = entry.running, entry.exit_code, entry.pid
        if entry.session is not None and entry.exit_code is None:
            try:
                session = self.d.exec_inspect(entry.session)
                running, code, pid = session.status == "running", session.exit_code, session.pid
            except NotFoundError:
                pass  # an attached session is forgotten by ocimux once it ended; we kept its code
        o = entry.options
        return Response(200, {
            "ID": entry.id, "Running": running, "ExitCode": code, "Pid": pid,
            "ProcessConfig": {"tty": o.terminal, "entrypoint": o.args[0], "arguments": list(o.args[1:]),
                              "privileged": o.privileged, "user": o.user or ""},
            "OpenStdin": entry.attach_stdin, "OpenStderr": True, "OpenStdout": True,
            "CanRemove": False, "ContainerID": entry.container, "DetachKeys": "",
        })  # fmt: skip
