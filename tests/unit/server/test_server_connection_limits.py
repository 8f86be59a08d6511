"""The HTTP layer's connection handling, in process: idle connections parked, capped, timed out."""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ocimux.server.connections import Limits, default_max_connections
from ocimux.server.httpd import Request, Response, compile_route, make_server

from tests.unit.server.apiclient import ApiClient, UnixHTTPConnection


def ping(_: Request) -> Response:
    return Response(200, b"OK", content_type="text/plain")


@pytest.fixture
def served(request: pytest.FixtureRequest) -> Iterator[tuple[str, object]]:
    limits = getattr(request, "param", Limits())
    path = str(Path(tempfile.mkdtemp(prefix="ocx", dir="/tmp")) / "t.sock")
    server = make_server([compile_route("GET", "/_ping", ping)], socket_path=path, limits=limits)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield path, server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def connect(path: str) -> socket.socket:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(5)
    conn.connect(path)
    return conn


def test_the_default_cap_leaves_file_descriptors_for_the_engine() -> None:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY:
        assert default_max_connections() <= max(16, soft - 128)


@pytest.mark.parametrize("served", [Limits(max_connections=8)], indirect=True)
def test_at_the_cap_the_oldest_idle_connection_makes_room(served: tuple[str, object]) -> None:
    path, _ = served
    idle = [connect(path) for _ in range(20)]
    try:
        start = time.monotonic()
        assert ApiClient(path).get("/_ping", timeout=5).body == b"OK"
        assert time.monotonic() - start < 1.0
        closed = 0
        for conn in idle[:12]:
            conn.settimeout(2)
            if conn.recv(1) == b"":
                closed += 1
        assert closed == 12, "the oldest idle connections were not the ones closed"
    finally:
        for conn in idle:
            conn.close()


@pytest.mark.parametrize("served", [Limits(header_timeout=0.3, idle_timeout=0.3)], indirect=True)
def test_silent_slow_and_idle_connections_are_closed(served: tuple[str, object]) -> None:
    path, _ = served
    silent = connect(path)
    slow = connect(path)
    slow.sendall(b"GET /_ping HTTP/1.1\r\nHost: x")
    keep = UnixHTTPConnection(path, 5)
    keep.request("GET", "/_ping")
    assert keep.getresponse().read() == b"OK"
    assert silent.recv(1) == b""
    assert slow.recv(1) == b""
    assert keep.sock is not None and keep.sock.recv(1) == b""
    for conn in (silent, slow):
        conn.close()
    keep.close()


def test_idle_keep_alive_connections_hold_no_thread(served: tuple[str, object]) -> None:
    path, _ = served
    before = threading.active_count()
    conns = []
    for _ in range(30):
        conn = UnixHTTPConnection(path, 5)
        conn.request("GET", "/_ping")
        assert conn.getresponse().read() == b"OK"
        conns.append(conn)
    time.sleep(0.2)
    assert threading.active_count() <= before + 1
    conn = conns[0]  # a parked connection serves its next request
    conn.request("GET", "/_ping")
    assert conn.getresponse().read() == b"OK"
    for conn in conns:
        conn.close()


def test_pipelined_requests_are_all_answered(served: tuple[str, object]) -> None:
    path, _ = served
    conn = connect(path)
    conn.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n" * 3)
    data = b""
    while data.count(b"\r\n\r\nOK") < 3:
        chunk = conn.recv(65536)
        assert chunk, data
        data += chunk
    assert data.count(b"HTTP/1.1 200") == 3
    conn.close()
