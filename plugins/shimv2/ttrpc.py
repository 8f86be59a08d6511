"""A ttrpc client (and the small server the event sink needs) over a unix stream socket.

ttrpc (github.com/containerd/ttrpc, PROTOCOL.md) frames every message with a 10-byte header:
payload length (uint32, big-endian), stream id (uint32), message type (1 request,
2 response, 3 data) and flags; payloads are at most 4 MiB. A client numbers its streams
with odd ids counting up from 1. A request carries a `Request` protobuf (service, method,
payload, timeout in nanoseconds, metadata); the server answers on the same stream id with a
`Response` (a google.rpc.Status and the payload). One call is outstanding per connection
here: callers that block (Wait) use a connection of their own.
"""

from __future__ import annotations

import errno
import socket
import struct
import threading
from collections.abc import Callable
from typing import Any

from . import messages as m
from .protowire import DecodeError, Schema

__all__ = ["TtrpcClient", "TtrpcConnectionError", "TtrpcError", "serve_connection"]

HEADER = struct.Struct(">IIBB")
MAX_PAYLOAD = 4 << 20
TYPE_REQUEST, TYPE_RESPONSE = 1, 2
#: containerd's namespace travels as ttrpc metadata under this key (pkg/namespaces/ttrpc.go)
NAMESPACE_KEY = "containerd-namespace-ttrpc"

#: gRPC status codes a shim answers with
CODE_NAMES = {
    1: "Canceled", 2: "Unknown", 3: "InvalidArgument", 4: "DeadlineExceeded", 5: "NotFound",
    6: "AlreadyExists", 7: "PermissionDenied", 9: "FailedPrecondition", 10: "Aborted",
    11: "OutOfRange", 12: "Unimplemented", 13: "Internal", 14: "Unavailable",
}  # fmt: skip


class TtrpcError(Exception):
    """The server answered with a non-zero status."""

    def __init__(self, code: int, message: str, method: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.method = method

    @property
    def code_name(self) -> str:
        return CODE_NAMES.get(self.code, str(self.code))


class TtrpcConnectionError(OSError):
    """The socket could not be reached, or the connection broke during a call."""


def socket_path(address: str) -> str:
    """`unix:///run/x` or `/run/x` → a path; `unix://@name` → an abstract socket name."""
    path = address.removeprefix("unix://")
    return "\0" + path[1:] if path.startswith("@") else path


class TtrpcClient:
    """One connection to a ttrpc server; `call` is thread-safe (calls are serialised)."""

    def __init__(
        self, address: str, *, timeout: float = 10.0, namespace: str | None = None
    ) -> None:
        self.address = address
        self.namespace = namespace
        self._lock = threading.Lock()
        self._next_stream = 1
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(socket_path(address))
        except OSError as exc:
            self._sock.close()
            raise TtrpcConnectionError(
                exc.errno or errno.ECONNREFUSED,
                f"cannot connect to {address}: {exc.strerror or exc}",
            ) from exc

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> TtrpcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(
        self,
        service: str,
        method: str,
        request: Schema,
        values: dict[str, Any],
        response: Schema,
        *,
        timeout: float | None = 10.0,
    ) -> dict[str, Any]:
        """Send one request and wait for its response; `timeout=None` waits for ever (Wait)."""
        metadata = [{"key": NAMESPACE_KEY, "value": self.namespace}] if self.namespace else None
        frame = m.REQUEST.encode(
            service=service,
            method=method,
            payload=request.encode(values),
            timeout_nano=int(timeout * 1e9) if timeout else 0,
            metadata=metadata,
        )
        if len(frame) > MAX_PAYLOAD:
            raise ValueError(f"{method} request is larger than ttrpc's 4 MiB limit")
        with self._lock:
            stream = self._next_stream
            self._next_stream += 2
            self._sock.settimeout(None if timeout is None else timeout + 5.0)
            try:
                self._sock.sendall(HEADER.pack(len(frame), stream, TYPE_REQUEST, 0) + frame)
                while True:
                    length, got_stream, kind, _flags = HEADER.unpack(
                        _recv_exact(self._sock, HEADER.size)
                    )
                    if length > MAX_PAYLOAD:
                        raise TtrpcConnectionError(
                            errno.EPROTO, f"{method}: oversized ttrpc frame ({length} bytes)"
                        )
                    body = _recv_exact(self._sock, length)
                    if got_stream == stream and kind == TYPE_RESPONSE:
                        break
            except TimeoutError as exc:
                raise TtrpcConnectionError(
                    errno.ETIMEDOUT, f"{method}: no answer from {self.address} within {timeout:g}s"
                ) from exc
            except OSError as exc:
                if isinstance(exc, TtrpcConnectionError):
                    raise
                raise TtrpcConnectionError(
                    exc.errno or errno.EPIPE,
                    f"{method}: connection to {self.address} broke: {exc.strerror or exc}",
                ) from exc
        try:
            answer = m.RESPONSE.decode(body)
            status = answer["status"]
            if status and status["code"]:
                raise TtrpcError(status["code"], status["message"], method)
            return response.decode(answer["payload"])
        except DecodeError as exc:
            raise TtrpcConnectionError(errno.EPROTO, f"{method}: unreadable answer: {exc}") from exc


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    buf = bytearray()
    while len(buf) < size:
        chunk = sock.recv(size - len(buf))
        if not chunk:
            raise TtrpcConnectionError(errno.ECONNRESET, "the server closed the connection")
        buf += chunk
    return bytes(buf)


#: a server-side handler: (service, method, payload) → response payload; raise TtrpcError to fail
Handler = Callable[[str, str, bytes], bytes]


def serve_connection(conn: socket.socket, handler: Handler) -> None:
    """Answer requests on one accepted connection until the peer closes it."""
    try:
        while True:
            try:
                length, stream, kind, _flags = HEADER.unpack(_recv_exact(conn, HEADER.size))
            except TtrpcConnectionError:
                return
            if length > MAX_PAYLOAD:
                return
            body = _recv_exact(conn, length)
            if kind != TYPE_REQUEST:
                continue
            try:
                request = m.REQUEST.decode(body)
                payload = handler(request["service"], request["method"], request["payload"])
                answer = m.RESPONSE.encode(payload=payload)
            except TtrpcError as exc:
                answer = m.RESPONSE.encode(status={"code": exc.code, "message": exc.message})
            except (DecodeError, ValueError) as exc:
                answer = m.RESPONSE.encode(status={"code": 3, "message": f"bad request: {exc}"})
            conn.sendall(HEADER.pack(len(answer), stream, TYPE_RESPONSE, 0) + answer)
    except OSError:
        return
    finally:
        conn.close()
