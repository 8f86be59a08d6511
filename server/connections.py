"""Connections of `ocimux serve`: accepted, parked without a thread while idle, capped, timed out.

One thread runs a selector over the listening socket and every idle connection (a new one
before its first byte, a keep-alive one between requests). A connection with bytes to read
gets a thread for its request; when the request is done and nothing more is buffered, the
connection goes back to the selector. So an idle connection costs a file descriptor, never
a thread; a long request (attach, a log follower, wait) keeps its thread until it ends.

Limits (`Limits`):
- `header_timeout`: a new connection must send a request, and any request must deliver its
  line, headers and body, within this (a slow or silent client cannot hold a thread).
- `idle_timeout`: a keep-alive connection idle this long between requests is closed.
- `max_connections`: at the cap, the oldest idle connection is closed to admit a new one (as
  nginx reuses keep-alive connections); with none idle, new ones wait in the listen backlog.
  Running out of file descriptors in `accept` (EMFILE) is handled the same way, never spun on.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .requestlog import log_line

if TYPE_CHECKING:
    import ssl

__all__ = ["ConnectionServer", "Limits", "default_max_connections"]

#: file descriptors kept free for the engine itself (store, logs, runtime pipes, monitors)
FD_RESERVE = 128
_OUT_OF_FDS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
#: how long `shutdown` waits for requests in flight to finish
DRAIN_SECONDS = 2.0


def default_max_connections() -> int:
    """The connection cap this process can afford: its file-descriptor limit minus a reserve."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 65536
    return max(16, min(soft - FD_RESERVE, 16384))


@dataclass(frozen=True, slots=True)
class Limits:
    #: seconds a connection may take to send a whole request (and a new one to start one)
    header_timeout: float = 30.0
    #: seconds a keep-alive connection may wait for its next request
    idle_timeout: float = 120.0
    #: open connections at most; 0 means `default_max_connections()`
    max_connections: int = 0


class _Conn:
    __slots__ = ("deadline", "handler", "sock", "started")

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.handler: Any = None  # made in the connection's first request thread
        self.deadline = deadline
        self.started = 0.0


class ConnectionServer:
    """Serve `handler_class` (a BaseHTTPRequestHandler) on `listener` within `limits`.

    `serve_forever()` runs the selector until `shutdown()`; `server_close()` closes the
    listener and the idle connections. With `tls`, every connection is wrapped and its
    handshake is done (with the header timeout) in its first request's thread.
    """

    def __init__(
        self,
        listener: socket.socket,
        handler_class: type,
        *,
        limits: Limits | None = None,
        tls: ssl.SSLContext | None = None,
        log: Callable[[str], None] = log_line,
    ) -> None:
        self.socket = listener
        self.handler_class = handler_class
        self.limits = limits = limits or Limits()
        self.max_connections = limits.max_connections or default_max_connections()
        self.tls = tls
        self.log = log
        listener.setblocking(False)
        self._idle: dict[_Conn, None] = {}  # parked, oldest first
        self._active = 0
        self._lock = threading.Lock()
        self._returned: list[_Conn] = []  # parked again by request threads
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()
        self._listening = True
        self._resume_at = 0.0
        self._fds_short = False
        self._sel = selectors.DefaultSelector()

    # --- the selector thread ----------------------------------------------------------------

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self._stopped.clear()
        self._sel.register(self.socket, selectors.EVENT_READ, "listen")
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        next_sweep = time.monotonic() + 1.0
        try:
            while not self._stop.is_set():
                for key, _ in self._sel.select(poll_interval):
                    if key.data == "listen":
                        self._accept()
                    elif key.data == "wake":
                        with contextlib.suppress(BlockingIOError):
                            os.read(self._wake_r, 4096)
                    else:
                        self._wake_up(key.data)
                self._park_returned()
                now = time.monotonic()
                if not self._listening and now >= self._resume_at and self._has_room():
                    self._sel.register(self.socket, selectors.EVENT_READ, "listen")
                    self._listening = True
                if now >= next_sweep:
                    self._expire(now)
                    next_sweep = now + 1.0
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop `serve_forever` and wait until it has returned."""
        self._stop.set()
        self._wake()
        self._stopped.wait()

    def drain(self) -> None:
        """Give requests in flight a moment to finish (`server_close` does, before closing).

        A short request answered just before the signal still finishes, its request-log line
        included; a long one (a follower, an attach) is cut after DRAIN_SECONDS.
        """
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline:
            with self._lock:
                if self._active == 0:
                    return
            time.sleep(0.01)

    def server_close(self) -> None:
        self.socket.close()
        self.drain()
        for conn in list(self._idle):
            self._close(conn)
        self._idle.clear()
        self._sel.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _has_room(self) -> bool:
        with self._lock:
            return len(self._idle) + self._active < self.max_connections

    def _accept(self) -> None:
        for _ in range(64):  # a batch, then let parked connections have their turn
            if not self._has_room() and not self._evict_oldest():
                self._pause(0.05)  # every connection is busy: new ones wait in the backlog
                return
            try:
                sock, _ = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_FDS:
                    if not self._evict_oldest():
                        if not self._fds_short:  # once per shortage, not every retry
                            self.log(f"accept: {os.strerror(exc.errno or 0)}; new connections wait")
                        self._fds_short = True
                        self._pause(0.1)
                        return
                    continue
                raise
            self._fds_short = False
            sock.setblocking(True)
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
            self._park(_Conn(sock, time.monotonic() + self.limits.header_timeout))

    def _pause(self, seconds: float) -> None:
        if self._listening:
            self._sel.unregister(self.socket)
            self._listening = False
        self._resume_at = time.monotonic() + seconds

    def _evict_oldest(self) -> bool:
        """Close the connection idle longest (a client reconnects; HTTP allows it)."""
        conn = next(iter(self._idle), None)
        if conn is None:
            return False
        self._unpark(conn)
        self._close(conn)
        return True

    def _park(self, conn: _Conn) -> None:
        try:
            self._sel.register(conn.sock, selectors.EVENT_READ, conn)
        except (ValueError, OSError):  # closed meanwhile
            self._close(conn)
            return
        with self._lock:
            self._idle[conn] = None

    def _unpark(self, conn: _Conn) -> None:
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._sel.unregister(conn.sock)
        with self._lock:
            self._idle.pop(conn, None)

    def _park_returned(self) -> None:
        with self._lock:
            returned, self._returned = self._returned, []
        for conn in returned:
            self._park(conn)

    def _expire(self, now: float) -> None:
        for conn in [c for c in self._idle if c.deadline <= now]:
            self._unpark(conn)
            self._close(conn)

    def _wake_up(self, conn: _Conn) -> None:
        """Bytes arrived on an idle connection: serve its request in a thread of its own."""
        self._unpark(conn)
        with self._lock:
            self._active += 1
        conn.started = time.monotonic()
        threading.Thread(target=self._serve, args=(conn,), daemon=True, name="http").start()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    @staticmethod
    def _close(conn: _Conn) -> None:
        h = conn.handler
        if h is not None:
            with contextlib.suppress(Exception):
                h.finish()
        with contextlib.suppress(OSError):
            conn.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            conn.sock.close()

    # --- a request thread -------------------------------------------------------------------

    def _serve(self, conn: _Conn) -> None:
        keep = False
        try:
            keep = self._requests(conn)
        except Exception as exc:  # noqa: BLE001 - one line, never a traceback
            self.log(f"connection dropped: {_describe(exc)}")
        finally:
            with self._lock:
                self._active -= 1
                if keep:
                    conn.deadline = time.monotonic() + self.limits.idle_timeout
                    self._returned.append(conn)
            if not keep:
                self._close(conn)
            self._wake()

    def _requests(self, conn: _Conn) -> bool:
        """Serve the requests the connection has sent; True if it stays open, idle."""
        sock = conn.sock
        sock.settimeout(self.limits.header_timeout)
        if conn.handler is None:
            try:
                if self.tls is not None:
                    sock.do_handshake()  # type: ignore[attr-defined]
            except (OSError, ValueError) as exc:
                self.log(f"TLS handshake failed: {_describe(exc)}")
                return False
            conn.handler = self._new_handler(sock)
        h = conn.handler
        while True:
            h.reset()
            h.handle_one_request()
            h.log_done(time.monotonic() - conn.started)
            if h.close_connection or h.hijacked:
                return False
            if not _buffered(sock, h.rfile):
                return True
            conn.started = time.monotonic()  # a pipelined request: serve it now
            sock.settimeout(self.limits.header_timeout)

    def _new_handler(self, sock: socket.socket) -> Any:
        # BaseRequestHandler.__init__ would serve one connection to its end; set up by hand
        h = self.handler_class.__new__(self.handler_class)
        h.request, h.client_address, h.server = sock, ("client", 0), self
        h.setup()
        sock.settimeout(self.limits.header_timeout)  # setup() applies the class's timeout
        return h


def _buffered(sock: socket.socket, rfile: Any) -> bool:
    """Whether a next request already waits (in TLS's or our read buffer)."""
    pending = getattr(sock, "pending", None)
    if pending is not None and pending():
        return True
    sock.setblocking(False)
    try:
        return bool(rfile.peek(1))
    except (BlockingIOError, OSError, ValueError):
        return False
    finally:
        with contextlib.suppress(OSError):
            sock.setblocking(True)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
