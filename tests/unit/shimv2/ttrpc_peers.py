"""ttrpc peers in this process for the shim v2 tests (unit and integration), no root.

Fixtures here are imported by tests/unit/shimv2/conftest.py and
tests/integration/shimv2/conftest.py; the frame helpers by the tests themselves.

- `sock_dir`: a short private directory under /tmp (a unix socket path must fit in 108 bytes,
  which pytest's tmp_path does not promise).
- `ttrpc_server(handler)`: a listener whose connections are served by the product's own
  `serve_connection` with `handler`, each in a thread; returns the socket's path.
- `raw_server(script)`: a hand-written ttrpc peer: `script(conn)` runs in a thread on the one
  accepted connection and speaks raw frames (`read_frame` / `write_frame`), so a test can see
  and forge headers the product's server would never produce.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import struct
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ocimux.plugins.shimv2.ttrpc import Handler, serve_connection

HEADER = struct.Struct(">IIBB")  # written from ttrpc's PROTOCOL.md, not imported


def recv_exact(conn: socket.socket, size: int) -> bytes:
    buf = b""
    while len(buf) < size:
        chunk = conn.recv(size - len(buf))
        if not chunk:
            raise EOFError("peer closed")
        buf += chunk
    return buf


def read_frame(conn: socket.socket) -> tuple[int, int, int, int, bytes]:
    """(length, stream id, type, flags, body) of the next frame."""
    length, stream, kind, flags = HEADER.unpack(recv_exact(conn, HEADER.size))
    return length, stream, kind, flags, recv_exact(conn, length)


def write_frame(conn: socket.socket, stream: int, kind: int, body: bytes, flags: int = 0) -> None:
    conn.sendall(HEADER.pack(len(body), stream, kind, flags) + body)


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="sv2-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def ttrpc_server(sock_dir: Path) -> Iterator[Callable[..., str]]:
    listeners: list[socket.socket] = []
    conns: list[socket.socket] = []

    def start(handler: Handler, name: str = "task.sock") -> str:
        path = str(sock_dir / name)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(16)
        listeners.append(listener)

        def accept_loop() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                conns.append(conn)
                threading.Thread(target=serve_connection, args=(conn, handler), daemon=True).start()

        threading.Thread(target=accept_loop, daemon=True).start()
        return path

    yield start
    for sock in listeners + conns:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


@pytest.fixture
def raw_server(sock_dir: Path) -> Iterator[Callable[..., str]]:
    listeners: list[socket.socket] = []
    conns: list[socket.socket] = []
    threads: list[threading.Thread] = []
    errors: list[BaseException] = []

    def start(script: Callable[[socket.socket], None], name: str = "raw.sock") -> str:
        path = str(sock_dir / name)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(1)
        listeners.append(listener)

        def run() -> None:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conns.append(conn)
            try:
                script(conn)
            except (EOFError, OSError):
                pass  # the client went away: the test decides whether that matters
            except BaseException as exc:  # an assertion in the script fails the test
                errors.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        threads.append(thread)
        return path

    yield start
    for sock in listeners + conns:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
    for thread in threads:
        thread.join(5)
    if errors:
        raise errors[0]
