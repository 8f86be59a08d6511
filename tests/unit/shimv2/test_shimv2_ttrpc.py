"""ttrpc: TtrpcClient against the product's serve_connection and against hand-written peers.

Frames are checked against ttrpc's PROTOCOL.md: a 10-byte big-endian header (length, stream
id, type, flags), odd client stream ids counting up by 2, a Request protobuf carrying service,
method, payload, timeout and metadata, a Response carrying a google.rpc.Status and payload.
"""

from __future__ import annotations

import errno
import socket
import threading
import time
from collections.abc import Callable

import pytest
from ocimux.plugins.shimv2 import messages as m
from ocimux.plugins.shimv2.protowire import Field, Schema
from ocimux.plugins.shimv2.ttrpc import (
    MAX_PAYLOAD,
    NAMESPACE_KEY,
    TtrpcClient,
    TtrpcConnectionError,
    TtrpcError,
    serve_connection,
    socket_path,
)

from tests.unit.shimv2.ttrpc_peers import HEADER, read_frame, write_frame

BLOB = Schema("Blob", data=Field(1, "bytes"), n=Field(2, "int64"))
REQUEST, RESPONSE, DATA = 1, 2, 3


def echo(service: str, method: str, payload: bytes) -> bytes:
    return payload


def answer(conn: socket.socket, stream: int, payload: bytes = b"", **status: object) -> None:
    body = m.RESPONSE.encode(payload=payload, status=status or None)
    write_frame(conn, stream, RESPONSE, body)


# --- through serve_connection ---------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["", "unix://"])
def test_payload_round_trip(ttrpc_server: Callable[..., str], prefix: str) -> None:
    seen: list[tuple[str, str]] = []

    def handler(service: str, method: str, payload: bytes) -> bytes:
        seen.append((service, method))
        return payload

    path = ttrpc_server(handler)
    with TtrpcClient(prefix + path, timeout=5) as client:
        for value in ({"data": b"\x00\x01hello", "n": -5}, {}, {"data": b"x" * 300_000, "n": 1}):
            got = client.call("svc.S", "Echo", BLOB, value, BLOB, timeout=5)
            assert got == {"data": b"", "n": 0, **value}
    assert seen == [("svc.S", "Echo")] * 3


def test_an_error_status_surfaces_as_ttrpc_error(ttrpc_server: Callable[..., str]) -> None:
    def handler(service: str, method: str, payload: bytes) -> bytes:
        if method == "Missing":
            raise TtrpcError(5, "not found")
        if method == "Odd":
            raise TtrpcError(99, "strange")
        if method == "Bad":
            raise ValueError("cannot parse")
        return payload

    with TtrpcClient(ttrpc_server(handler), timeout=5) as client:
        with pytest.raises(TtrpcError) as info:
            client.call("s", "Missing", BLOB, {}, BLOB)
        assert info.value.code == 5 and info.value.code_name == "NotFound"
        assert info.value.message == "not found" and str(info.value) == "not found"
        assert info.value.method == "Missing"
        with pytest.raises(TtrpcError) as info:
            client.call("s", "Odd", BLOB, {}, BLOB)
        assert info.value.code == 99 and info.value.code_name == "99"
        with pytest.raises(TtrpcError) as info:
            client.call("s", "Bad", BLOB, {}, BLOB)  # ValueError in a handler: InvalidArgument
        assert info.value.code == 3 and info.value.code_name == "InvalidArgument"
        assert "cannot parse" in info.value.message
        # the connection is still good after error answers
        assert client.call("s", "Echo", BLOB, {"n": 1}, BLOB, timeout=1)["n"] == 1


def test_calls_from_threads_are_serialised(ttrpc_server: Callable[..., str]) -> None:
    def slow_echo(service: str, method: str, payload: bytes) -> bytes:
        time.sleep(0.002)
        return payload

    results: dict[int, int] = {}
    with TtrpcClient(ttrpc_server(slow_echo), timeout=5) as client:

        def worker(k: int) -> None:
            for i in range(10):
                n = k * 100 + i
                results[n] = client.call("s", "E", BLOB, {"n": n}, BLOB)["n"]

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
    assert results == {n: n for n in results} and len(results) == 40


def test_an_abstract_socket_address(ttrpc_server: Callable[..., str]) -> None:
    name = f"ocimux-test-{time.monotonic_ns()}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind("\0" + name)
    listener.listen(1)

    def serve() -> None:
        conn, _ = listener.accept()
        serve_connection(conn, echo)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        assert socket_path(f"unix://@{name}") == "\0" + name
        with TtrpcClient(f"unix://@{name}", timeout=5) as client:
            assert client.call("s", "E", BLOB, {"n": 3}, BLOB)["n"] == 3
    finally:
        listener.close()
    thread.join(5)


def test_socket_path_forms() -> None:
    assert socket_path("/run/x.sock") == "/run/x.sock"
    assert socket_path("unix:///run/x.sock") == "/run/x.sock"
    assert socket_path("unix://@abc") == "\0abc"


def test_a_request_over_four_mib_is_refused_before_sending(
    ttrpc_server: Callable[..., str],
) -> None:
    with TtrpcClient(ttrpc_server(echo), timeout=5) as client:
        with pytest.raises(ValueError, match="4 MiB"):
            client.call("s", "E", BLOB, {"data": b"x" * MAX_PAYLOAD}, BLOB)
        assert client.call("s", "E", BLOB, {"n": 2}, BLOB)["n"] == 2


# --- serve_connection on a socketpair -------------------------------------------------------------


def test_serve_connection_answers_on_the_request_stream_and_skips_other_frames() -> None:
    ours, theirs = socket.socketpair()
    thread = threading.Thread(target=serve_connection, args=(theirs, echo), daemon=True)
    thread.start()
    try:
        write_frame(ours, 7, DATA, b"ignored")  # a data frame: no answer
        write_frame(
            ours, 9, REQUEST, m.REQUEST.encode(service="s", method="m", payload=b"\x10\x04")
        )
        length, stream, kind, flags, body = read_frame(ours)
        assert (stream, kind, flags, length) == (9, RESPONSE, 0, len(body))
        assert m.RESPONSE.decode(body) == {"status": None, "payload": b"\x10\x04"}
        write_frame(ours, 11, REQUEST, b"\x0b")  # an unreadable Request: InvalidArgument
        _, stream, _, _, body = read_frame(ours)
        status = m.RESPONSE.decode(body)["status"]
        assert stream == 11 and status["code"] == 3 and "bad request" in status["message"]
    finally:
        ours.close()
    thread.join(5)
    assert not thread.is_alive(), "serve_connection must return once the peer closes"


def test_serve_connection_drops_a_peer_announcing_an_oversized_frame() -> None:
    ours, theirs = socket.socketpair()
    thread = threading.Thread(target=serve_connection, args=(theirs, echo), daemon=True)
    thread.start()
    ours.sendall(HEADER.pack(MAX_PAYLOAD + 1, 1, REQUEST, 0))
    thread.join(5)
    assert not thread.is_alive()
    ours.settimeout(5)
    assert ours.recv(10) == b""  # closed without an answer
    ours.close()


# --- against hand-written peers -------------------------------------------------------------------


def test_stream_ids_are_odd_and_count_up_by_two(raw_server: Callable[..., str]) -> None:
    headers: list[tuple[int, int, int, int]] = []

    def script(conn: socket.socket) -> None:
        while True:
            length, stream, kind, flags, body = read_frame(conn)
            headers.append((length, stream, kind, flags))
            assert length == len(body)
            answer(conn, stream, BLOB.encode(n=stream))

    with TtrpcClient(raw_server(script), timeout=5) as client:
        got = [client.call("s", "M", BLOB, {}, BLOB)["n"] for _ in range(5)]
    assert got == [1, 3, 5, 7, 9]
    assert [h[1] for h in headers] == [1, 3, 5, 7, 9]
    assert all(kind == REQUEST and flags == 0 for _, _, kind, flags in headers)


def test_request_fields_namespace_metadata_and_timeout(raw_server: Callable[..., str]) -> None:
    requests: list[dict] = []

    def script(conn: socket.socket) -> None:
        while True:
            _, stream, _, _, body = read_frame(conn)
            requests.append(m.REQUEST.decode(body))
            answer(conn, stream)

    with TtrpcClient(raw_server(script, "a.sock"), timeout=5, namespace="ns1") as client:
        client.call("svc", "Meth", BLOB, {"n": 4}, BLOB, timeout=2.5)
        client.call("svc", "Wait", BLOB, {}, BLOB, timeout=None)
    with TtrpcClient(raw_server(script, "b.sock"), timeout=5) as client:
        client.call("svc", "Meth", BLOB, {}, BLOB)
    first, waiting, bare = requests
    assert first == {
        "service": "svc",
        "method": "Meth",
        "payload": BLOB.encode(n=4),
        "timeout_nano": 2_500_000_000,
        "metadata": [{"key": "containerd-namespace-ttrpc", "value": "ns1"}],
    }
    assert NAMESPACE_KEY == "containerd-namespace-ttrpc"
    assert waiting["timeout_nano"] == 0  # timeout=None: wait for ever, no deadline sent
    assert bare["metadata"] == [] and bare["timeout_nano"] == 10_000_000_000


def test_an_answer_on_another_stream_is_skipped(raw_server: Callable[..., str]) -> None:
    def script(conn: socket.socket) -> None:
        _, stream, _, _, _ = read_frame(conn)
        answer(conn, stream + 98, BLOB.encode(n=666))  # someone else's answer
        write_frame(conn, stream, DATA, b"\x08\x01")  # a data frame on our stream
        write_frame(conn, stream, REQUEST, b"")  # a request from the server: not an answer
        answer(conn, stream, BLOB.encode(n=42))
        read_frame(conn)

    with TtrpcClient(raw_server(script), timeout=5) as client:
        assert client.call("s", "M", BLOB, {}, BLOB)["n"] == 42


def test_a_server_closing_mid_call_is_a_connection_error(raw_server: Callable[..., str]) -> None:
    def script(conn: socket.socket) -> None:
        read_frame(conn)
        conn.close()

    path = raw_server(script)
    with TtrpcClient(path, timeout=5) as client:
        with pytest.raises(TtrpcConnectionError) as info:
            client.call("s", "Slow", BLOB, {}, BLOB)
    assert isinstance(info.value, OSError)
    assert info.value.errno == errno.ECONNRESET


def test_a_server_closing_inside_a_frame_is_a_connection_error(
    raw_server: Callable[..., str],
) -> None:
    def script(conn: socket.socket) -> None:
        _, stream, _, _, _ = read_frame(conn)
        conn.sendall(HEADER.pack(50, stream, RESPONSE, 0) + b"\x12\x05ab")  # 4 of 50 bytes
        conn.close()

    with TtrpcClient(raw_server(script), timeout=5) as client:
        with pytest.raises(TtrpcConnectionError):
            client.call("s", "M", BLOB, {}, BLOB)


def test_connecting_to_a_missing_socket(sock_dir) -> None:
    address = str(sock_dir / "missing.sock")
    with pytest.raises(TtrpcConnectionError) as info:
        TtrpcClient(address)
    assert address in str(info.value) and info.value.errno == errno.ENOENT
    with pytest.raises(TtrpcConnectionError) as info:
        TtrpcClient("unix://" + address)
    assert "unix://" + address in str(info.value)


def test_connecting_to_a_socket_nobody_listens_on(sock_dir) -> None:
    path = sock_dir / "dead.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.close()  # the file stays, nobody listens
    with pytest.raises(TtrpcConnectionError) as info:
        TtrpcClient(str(path))
    assert info.value.errno == errno.ECONNREFUSED and str(path) in str(info.value)


def test_an_oversized_frame_header_is_a_connection_error(raw_server: Callable[..., str]) -> None:
    def script(conn: socket.socket) -> None:
        _, stream, _, _, _ = read_frame(conn)
        conn.sendall(HEADER.pack(MAX_PAYLOAD + 1, stream, RESPONSE, 0))
        conn.recv(1)  # keep the connection open: the client must not wait for the body

    with TtrpcClient(raw_server(script), timeout=5) as client:
        started = time.monotonic()
        with pytest.raises(TtrpcConnectionError, match="oversized") as info:
            client.call("s", "Big", BLOB, {}, BLOB)
        assert time.monotonic() - started < 1.5, "must not wait for 4 MiB that never come"
    assert info.value.errno == errno.EPROTO


def test_an_unreadable_response_is_a_connection_error(raw_server: Callable[..., str]) -> None:
    def script(conn: socket.socket) -> None:
        _, stream, _, _, _ = read_frame(conn)
        write_frame(conn, stream, RESPONSE, b"\x0b\x00")

    with TtrpcClient(raw_server(script), timeout=5) as client:
        with pytest.raises(TtrpcConnectionError, match="unreadable") as info:
            client.call("s", "M", BLOB, {}, BLOB)
    assert info.value.errno == errno.EPROTO


def test_a_server_that_never_answers_times_out(raw_server: Callable[..., str]) -> None:
    got_request = threading.Event()

    def script(conn: socket.socket) -> None:
        _, first, _, _, _ = read_frame(conn)
        got_request.set()
        _, second, _, _, _ = read_frame(conn)  # silent until the client tries again
        answer(conn, first, BLOB.encode(n=first))  # the late answer to the timed-out call
        answer(conn, second, BLOB.encode(n=second))

    timeout = 0.2
    with TtrpcClient(raw_server(script), timeout=5) as client:
        started = time.monotonic()
        with pytest.raises(TtrpcConnectionError) as info:
            client.call("s", "Hang", BLOB, {}, BLOB, timeout=timeout)
        elapsed = time.monotonic() - started
        assert got_request.is_set()
        assert timeout <= elapsed < timeout + 5 + 1
        assert info.value.errno == errno.ETIMEDOUT
        assert "Hang" in str(info.value) and "0.2s" in str(info.value)
        # the connection stays usable: the late answer (stream 1) is not taken for stream 3's
        assert client.call("s", "Again", BLOB, {}, BLOB)["n"] == 3
