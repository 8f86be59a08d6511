"""Exec instances of the Docker API: created first, started later (hijacked or detached).

Docker's exec model creates an instance, then starts it; ocimux starts at once. A created
instance lives in the server's memory until `exec/{id}/start`; its id is then mapped to
ocimux's session, whose status and exit code `exec/{id}/json` reports.
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

from ocimux.errors import NotFoundError, OcimuxError

from .httpd import ApiError, Request, Response
from .shapes import MUX, RAW, str_or_none, strings, valid_size

if TYPE_CHECKING:
    from ocimux.dispatcher import Dispatcher
    from ocimux.store import ContainerRecord


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


class ExecEndpoints:
    """`containers/{id}/exec` and `exec/{id}/...`; mixed into DockerApi."""

    d: Dispatcher
    execs: dict[str, ExecInstance]
    _lock: threading.Lock

    _record: Callable[[str], ContainerRecord]  # ContainerEndpoints': a container by reference

    def exec_create(self, r: Request) -> Response:
        from ocimux.options import ExecOptions

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
        )  # fmt: skip
        exec_id = secrets.token_hex(32)
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

        from ocimux.attach import MultiplexWriter

        entry = self._exec(r.params["id"])
        body = r.json()
        with self._lock:
            if entry.running or entry.exit_code is not None:
                raise ApiError(409, f"exec {entry.id} has already been started")
            entry.running = True
        size = body.get("ConsoleSize")
        options = entry.options
        if options.terminal and valid_size(size) and size != [0, 0]:
            options = dataclasses.replace(options, size=(size[0], size[1]))
        if body.get("Detach"):
            session = self.d.exec_detached(entry.container, options)
            entry.session, entry.pid = session.id, session.pid
            return Response(200, b"", content_type="text/plain")
        rfile, wfile = r.hijack(RAW if options.terminal else MUX)
        mux = MultiplexWriter(wfile, raw=options.terminal)

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
        entry.exit_code, entry.running = code, False
        return None

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
