"""The HTTP layer of `ocimux serve`: HTTP/1.1 on a unix socket (or TCP, optionally TLS).

Built on the standard library's `http.server` on purpose: every request in flight gets its
own thread, and the Docker API's hijacked connections (attach, exec start) hand the raw
socket to the blocking attach relay that the CLI uses too. Idle connections wait without a
thread, within a cap and timeouts (connections.py); each request is logged in one line
(requestlog.py). `Request` carries the parsed path, query and JSON body; a handler returns a
`Response`, or takes over the connection with `Request.hijack()`. Errors are Docker's:
`{"message": "..."}`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ocimux.base.sockets import remove_if_stale

from .apiversion import split_version
from .connections import ConnectionServer, Limits
from .requestlog import log_line, request_line

__all__ = ["ApiError", "Limits", "Request", "Response", "Route", "make_server"]

MAX_BODY = 8 << 20


class ApiError(Exception):
    """An answer with a status code and Docker's `{"message": ...}` body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Response:
    status: int = 200
    body: Any = None  # JSON-serialisable, bytes, or None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    headers: Any
    body: bytes
    handler: BaseHTTPRequestHandler

    def json(self) -> dict[str, Any]:
        if not self.body.strip():
            return {}
        try:
            value = json.loads(self.body)
        except ValueError as exc:
            raise ApiError(400, f"invalid JSON body: {exc}") from None
        if not isinstance(value, dict):
            raise ApiError(400, "the JSON body must be an object")
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.query.get(name)
        if value is None:
            return default
        if value.lower() in ("1", "true", "yes"):
            return True
        if value.lower() in ("0", "false", "no", ""):
            return False
        raise ApiError(400, f"invalid boolean value for {name}: {value!r}")

    def integer(
        self, name: str, default: int | None = None, *, low: int = 0, high: int = 2**31 - 1
    ) -> int | None:
        value = self.query.get(name)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError:
            raise ApiError(400, f"invalid integer value for {name}: {value!r}") from None
        if not low <= number <= high:
            raise ApiError(400, f"{name} must be between {low} and {high} (got {number})")
        return number

    def hijack(self, content_type: str) -> tuple[Any, Any]:
        """Answer `101 UPGRADED` (or 200 for a client that did not ask) and own the stream.

        Returns (rfile, wfile): what the client sends after the headers, and where to write.
        The connection is closed when the handler returns.
        """
        rfile, wfile, answer = self.hijack_later(content_type)
        answer()
        return rfile, wfile

    def hijack_later(self, content_type: str) -> tuple[Any, Any, Callable[[], None]]:
        """Own the stream now, answer when `answer()` is called (once; later calls do nothing).

        For an attach: docker's client starts the container as soon as it reads the answer, so
        the answer must wait until the container's output is being received, or the first
        bytes go only to the log. Call `answer()` before writing anything to wfile.
        """
        h = self.handler
        h.close_connection = True
        h.hijacked = True
        answered = False

        def answer() -> None:
            nonlocal answered
            if answered:
                return
            answered = True
            if "upgrade" in (self.headers.get("Connection") or "").lower():
                h.send_response_only(101, "UPGRADED")
                h.send_header("Connection", "Upgrade")
                h.send_header("Upgrade", "tcp")
            else:
                h.send_response_only(200, "OK")
            h.send_header("Content-Type", content_type)
            h.end_headers()
            h.wfile.flush()

        return HijackedInput(h.connection, h.rfile), h.wfile, answer

    def wait_unless_gone(self, timeout: float) -> None:
        """Sleep up to `timeout` s; raise ConnectionResetError once the client has gone.

        For a streamed answer that may stay silent (a log follower): the client sends nothing
        more, so its socket becoming readable means it closed (or sent bytes we drop).
        """
        conn = self.handler.connection
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN | select.POLLRDHUP)
        if not poller.poll(timeout * 1000):
            return
        conn.setblocking(False)
        try:
            data = conn.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # reset, or a TLS error: gone either way
            if isinstance(exc, ssl.SSLWantReadError | ssl.SSLWantWriteError):
                return  # a TLS record is incomplete: nothing to decide yet
            self.handler.gone = type(exc).__name__
            raise ConnectionResetError("the client has gone") from None
        finally:
            with contextlib.suppress(OSError):
                conn.setblocking(True)
        if not data:
            self.handler.gone = "closed"
            raise ConnectionResetError("the client has gone")

    def stream(self, status: int, content_type: str) -> Any:
        """Send headers for a body of unknown length (ended by closing); return the writer."""
        h = self.handler
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.flush()
        h.close_connection = True
        return h.wfile


class HijackedInput:
    """What the client of a hijacked connection sends (stdin of an attach or exec).

    Reads return what has arrived (not a full buffer). It reads a duplicate of the socket,
    not the handler's buffered `rfile`: a reader blocked in `rfile` would hold its lock and
    the handler could not close the connection. Bytes `rfile` had already buffered come first.
    """

    def __init__(self, conn: socket.socket, rfile: Any) -> None:
        self._pending = b""
        conn.setblocking(False)
        try:
            self._pending = rfile.read1(65536) or b""
        except (BlockingIOError, OSError, ValueError, TypeError):
            self._pending = b""
        finally:
            conn.setblocking(True)
        # a TLS connection cannot be read through a duplicate of its fd (the bytes are TLS
        # records): read the TLS socket itself, the handler never reads it again
        tls = hasattr(conn, "pending")
        self._sock = conn if tls else socket.socket(fileno=os.dup(conn.fileno()))

    def read(self, n: int = -1) -> bytes:
        if self._pending:
            data, self._pending = self._pending, b""
            return data
        try:
            data = self._sock.recv(n if n > 0 else 65536)
        except OSError:
            data = b""
        if not data:
            self._sock.close()
        return data


Handler = Callable[[Request], "Response | None"]


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # e.g. /containers/{id}/json
    handler: Handler
    pattern: re.Pattern[str]


def compile_route(method: str, template: str, handler: Handler) -> Route:
    # an image name may contain slashes (library/busybox); ids and other names may not
    regex = re.escape(template).replace(r"\{name\}", "(?P<name>.+)")
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", regex)
    return Route(method, template, handler, re.compile(f"^{regex}$"))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ocimux"
    routes: list[Route] = []
    hijacked = False
    status: int | None = None  # of the answer sent, for the request log
    gone: str | None = None  # why the client's connection ended early, if it did

    def reset(self) -> None:
        """Forget the previous request on this connection (the server reuses the handler)."""
        self.command = self.path = None  # type: ignore[assignment]
        self.requestline = ""
        self.close_connection = True
        self.hijacked = False
        self.status = self.gone = None

    def log_done(self, seconds: float) -> None:
        """One line for the request just served (nothing if none was read)."""
        if self.command:
            log_line(request_line(self.command, self.path, self.status, seconds, self.gone))

    def send_response_only(self, code: int, message: str | None = None) -> None:
        self.status = code
        super().send_response_only(code, message)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # `log_done` writes one line per request, with its duration

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        log_line(format % args)  # the stdlib's errors: bad request line, timeouts

    def _dispatch(self) -> None:
        self.hijacked = False
        try:
            response = self._handle()
        except ApiError as exc:
            response = Response(exc.status, {"message": exc.message})
        except (BrokenPipeError, ConnectionResetError) as exc:
            self.gone = self.gone or type(exc).__name__
            self.close_connection = True
            return
        except Exception as exc:  # noqa: BLE001 - a server answers, whatever broke
            response = Response(500, {"message": f"internal error: {type(exc).__name__}: {exc}"})
        if response is not None:
            try:
                self._send(response)
            except (BrokenPipeError, ConnectionResetError) as exc:
                self.gone = type(exc).__name__  # the client left before reading the answer
                self.close_connection = True
        if self.hijacked:
            # the stream ends: the client sees EOF now, though a thread may still read its input
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_WR)

    def _handle(self) -> Response | None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        length = self.headers.get("Content-Length")
        body = b""
        if length:
            try:
                size = int(length)
            except ValueError:
                raise ApiError(400, f"invalid Content-Length {length!r}") from None
            if size < 0 or size > MAX_BODY:
                raise ApiError(413, f"request body larger than {MAX_BODY} bytes")
            body = self.rfile.read(size)
        elif "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body = self._read_chunked()
        try:  # `/v1.43/containers/json` is `/containers/json`; 400 outside the versions served
            _, path = split_version(unquote(parts.path) or "/")
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        allowed = []
        for route in self.routes:
            match = route.pattern.match(path)
            if match is None:
                continue
            if route.method != self.command and not (
                route.method == "GET" and self.command == "HEAD"
            ):
                allowed.append(route.method)
                continue
            request = Request(
                self.command, path, match.groupdict(), query, self.headers, body, self
            )
            # the request is in: a handler may take long (wait, a follower), not the client
            self.connection.settimeout(None)
            return route.handler(request)
        if allowed:
            raise ApiError(405, f"method {self.command} not allowed on {path}")
        raise ApiError(404, "page not found")

    def _read_chunked(self) -> bytes:
        out = bytearray()
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip() or b"0", 16)
            except ValueError:
                raise ApiError(400, "bad chunked encoding") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(out)
            if len(out) + size > MAX_BODY:
                raise ApiError(413, f"request body larger than {MAX_BODY} bytes")
            out += self.rfile.read(size)
            self.rfile.readline(1024)

    def _send(self, response: Response) -> None:
        if isinstance(response.body, bytes):
            payload = response.body
        elif response.body is None:
            payload = b""
        else:
            payload = json.dumps(response.body).encode()
        self.send_response(response.status)
        if response.status not in (204, 304):
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(payload)))
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD" and response.status not in (204, 304):
            self.wfile.write(payload)
        self.wfile.flush()

    do_GET = do_POST = do_DELETE = do_HEAD = do_PUT = _dispatch

    def __getattr__(self, name: str) -> Any:
        # any other method (OPTIONS, PATCH, TRACE, ...) gets the JSON 405/404, not a 501 page
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)


def make_server(
    routes: list[Route],
    *,
    socket_path: str | None = None,
    tcp: tuple[str, int] | None = None,
    tls: ssl.SSLContext | None = None,
    limits: Limits | None = None,
) -> ConnectionServer:
    """Bind (mode 0600 for a socket) and return the server; `serve_forever()` runs it."""
    handler = type("Handler", (_Handler,), {"routes": routes})
    if tcp is not None:
        family = socket.AF_INET6 if ":" in tcp[0] else socket.AF_INET
        listener = socket.create_server(tcp, family=family, backlog=socket.SOMAXCONN)
    else:
        assert socket_path is not None
        remove_if_stale(socket_path)  # left by a server that is gone; a live one keeps its socket
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            listener.bind(socket_path)
        except OSError:
            listener.close()
            raise
        finally:
            os.umask(old)
        os.chmod(socket_path, 0o600)
        listener.listen(socket.SOMAXCONN)  # the default backlog of 5 refuses bursts of clients
    return ConnectionServer(listener, handler, limits=limits or Limits(), tls=tls)


def serve_until_signalled(server: ConnectionServer) -> None:
    """Serve until SIGINT/SIGTERM; then stop accepting and return (the caller cleans up)."""
    stop = threading.Event()

    def on_signal(*_: object) -> None:
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.serve_forever(poll_interval=0.2)
