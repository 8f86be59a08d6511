"""Docker's attach, exec and logs details through the API, on the mock runtime (host processes):
exec framing from the start's `Tty`, detach keys, attaching before a start, the logs window."""

from __future__ import annotations

import calendar
import json
import re
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from ocimux.server.shapes import MUX, RAW

from tests.unit.server.apiclient import ApiClient, Server, assert_error, by_stream, frames

STAMP = re.compile(rb"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (.*)$", re.S)


class Stream:
    """A hijacked connection kept open: send stdin, read the stream, see its end."""

    def __init__(self, path: str, url: str, body: Any = None) -> None:
        payload = json.dumps(body if body is not None else {}).encode()
        head = (
            f"POST {url} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
        )
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(path)
        self.sock.sendall(head.encode() + payload)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(4096)
            assert chunk, f"the server closed before its headers: {data!r}"
            data += chunk
        head_text, _, self.buffer = data.partition(b"\r\n\r\n")
        lines = head_text.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}  # fmt: skip

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_until(self, needle: bytes, timeout: float = 10) -> bytes:
        deadline = time.monotonic() + timeout
        while needle not in self.buffer:
            left = deadline - time.monotonic()
            assert left > 0, f"no {needle!r} in {self.buffer!r}"
            self.sock.settimeout(left)
            chunk = self.sock.recv(4096)
            assert chunk, f"the stream ended without {needle!r}: {self.buffer!r}"
            self.buffer += chunk
        return self.buffer

    def read_to_end(self, timeout: float = 10) -> bytes:
        """Everything until the server stops writing (fails if it does not within `timeout`)."""
        self.sock.settimeout(timeout)
        while chunk := self.sock.recv(4096):
            self.buffer += chunk
        return self.buffer

    def close(self) -> None:
        self.sock.close()


def exec_create(api: ApiClient, cid: str, body: dict[str, Any]) -> str:
    reply = api.post(f"/containers/{cid}/exec", body)
    assert reply.status == 201, reply
    return str(reply.json()["Id"])


def exec_json(api: ApiClient, exec_id: str) -> dict[str, Any]:
    reply = api.get(f"/exec/{exec_id}/json")
    assert reply.status == 200, reply
    return reply.json()


def sleeper(server: Server, **extra: Any) -> str:
    return server.run(["/bin/sh", "-c", "exec sleep 300"], **extra)


# --- exec framing -----------------------------------------------------------------------------


def test_exec_framing_follows_the_starts_tty_not_the_creates(server: Server) -> None:
    api = server.client
    cid = sleeper(server)
    # created with a terminal, started without: multiplexed, the terminal's output as stdout
    tty_exec = exec_create(api, cid, {"Cmd": ["/bin/sh", "-c", "echo via-tty"], "Tty": True, "AttachStdout": True})  # fmt: skip
    status, headers, stream = api.hijack(f"/exec/{tty_exec}/start", {"Tty": False})
    assert (status, headers["content-type"]) == (101, MUX), stream
    assert by_stream(stream)[1].replace(b"\r\n", b"\n") == b"via-tty\n"
    # created without, started with: raw, both streams as they come
    plain = exec_create(api, cid, {"Cmd": ["/bin/sh", "-c", "echo o; echo e >&2"], "AttachStdout": True, "AttachStderr": True})  # fmt: skip
    status, headers, stream = api.hijack(f"/exec/{plain}/start", {"Tty": True})
    assert (status, headers["content-type"]) == (101, RAW), stream
    assert sorted(stream.splitlines()) == [b"e", b"o"]
    api.post(f"/containers/{cid}/kill")


# --- detach keys ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "typed"),
    [(None, b"\x10\x11"), ("ctrl-x", b"\x18"), ("a,b", b"ab")],
    ids=["default", "ctrl-x", "two-letters"],
)
def test_exec_detach_keys_end_the_stream_and_the_exec_runs_on(
    server: Server, keys: str | None, typed: bytes
) -> None:
    api = server.client
    cid = sleeper(server)
    body: dict[str, Any] = {"Cmd": ["cat"], "Tty": True, "AttachStdin": True, "AttachStdout": True}
    if keys is not None:
        body["DetachKeys"] = keys
    exec_id = exec_create(api, cid, body)
    stream = Stream(server.socket_path, f"/exec/{exec_id}/start", {"Tty": True})
    try:
        assert stream.status == 101
        stream.send(b"hello\n")
        stream.read_until(b"hello")
        stream.send(typed[:1])
        time.sleep(0.3)  # a partial sequence is held back, not passed on and not a detach
        stream.send(typed[1:])
        rest = stream.read_to_end(timeout=5)
        assert b"^P" not in rest and b"^X" not in rest, rest
        # Docker half-closes a detached stream: one more write is no broken pipe
        stream.send(b"after the detach\n")
    finally:
        stream.close()
    assert exec_json(api, exec_id)["Running"] is True
    api.post(f"/containers/{cid}/kill")


def test_exec_start_may_name_the_detach_keys(server: Server) -> None:
    api = server.client
    cid = sleeper(server)
    exec_id = exec_create(api, cid, {"Cmd": ["cat"], "Tty": True, "AttachStdin": True})
    stream = Stream(server.socket_path, f"/exec/{exec_id}/start", {"Tty": True, "DetachKeys": "ctrl-y"})  # fmt: skip
    try:
        stream.send(b"\x19")
        stream.read_to_end(timeout=5)
    finally:
        stream.close()
    assert exec_json(api, exec_id)["Running"] is True
    api.post(f"/containers/{cid}/kill")


def test_without_a_terminal_the_keys_pass_through(server: Server) -> None:
    api = server.client
    cid = sleeper(server)
    exec_id = exec_create(api, cid, {"Cmd": ["cat"], "AttachStdin": True, "AttachStdout": True})  # fmt: skip
    stream = Stream(server.socket_path, f"/exec/{exec_id}/start", {"Tty": False})
    try:
        stream.send(b"\x10\x11after\n")
        stream.read_until(b"after\n")
        stream.sock.shutdown(socket.SHUT_WR)  # the end of stdin: cat exits
        data = stream.read_to_end()
    finally:
        stream.close()
    assert by_stream(data)[1] == b"\x10\x11after\n", data
    assert exec_json(api, exec_id)["ExitCode"] == 0


def test_attach_detach_keys_end_the_stream_and_the_container_runs_on(server: Server) -> None:
    api = server.client
    cid = server.run(["cat"], Tty=True, OpenStdin=True)
    stream = Stream(
        server.socket_path,
        f"/containers/{cid}/attach?stream=1&stdin=1&stdout=1&stderr=1&detachKeys=ctrl-x",
    )
    try:
        assert (stream.status, stream.headers["content-type"]) == (101, RAW)
        stream.send(b"typed\n")
        stream.read_until(b"typed")
        stream.send(b"\x18")
        rest = stream.read_to_end(timeout=5)
        assert b"^X" not in rest, rest
    finally:
        stream.close()
    assert api.get(f"/containers/{cid}/json").json()["State"]["Status"] == "running"
    api.post(f"/containers/{cid}/kill")


@pytest.mark.parametrize("keys", ["ctrl-", "ctrl-1", "ab,", "ctrl-pq"])
def test_bad_detach_keys_are_refused_before_anything_runs(server: Server, keys: str) -> None:
    api = server.client
    cid = sleeper(server)
    assert_error(api.post(f"/containers/{cid}/attach?stream=1&detachKeys={keys}"), 400, "detach keys")  # fmt: skip
    assert_error(api.post(f"/containers/{cid}/exec", {"Cmd": ["true"], "DetachKeys": keys}), 400, "detach keys")  # fmt: skip
    api.post(f"/containers/{cid}/kill")


# --- attach before the start ------------------------------------------------------------------


def test_attach_to_an_exited_container_streams_its_next_run(server: Server, tmp_path: Path) -> None:
    api = server.client
    runs = tmp_path / "runs"
    cid = server.run(["/bin/sh", "-c", f"echo run >> {runs}; echo out-$(wc -l < {runs}); echo err >&2; exit 5"])  # fmt: skip
    assert api.post(f"/containers/{cid}/wait").json()["StatusCode"] == 5
    # as `docker start -a`: attach, wait for the next exit, then start
    stream = Stream(server.socket_path, f"/containers/{cid}/attach?stream=1&stdout=1&stderr=1")
    waited: dict[str, Any] = {}

    def wait_next_exit() -> None:
        waited["reply"] = api.post(f"/containers/{cid}/wait?condition=next-exit")

    waiter = threading.Thread(target=wait_next_exit)
    try:
        assert (stream.status, stream.headers["content-type"]) == (101, MUX)
        waiter.start()
        time.sleep(0.3)  # neither may take the old run's end for the next one's
        assert waiter.is_alive()
        assert api.post(f"/containers/{cid}/start").status == 204
        data = stream.read_to_end()
    finally:
        stream.close()
        waiter.join(10)
    assert by_stream(data) == {1: b"out-2\n", 2: b"err\n"}, frames(data)
    assert waited["reply"].json()["StatusCode"] == 5


def test_a_client_gone_while_waiting_for_the_start_frees_the_attach(server: Server) -> None:
    api = server.client
    cid = server.run(["/bin/sh", "-c", "echo once"])
    assert api.post(f"/containers/{cid}/wait").json()["StatusCode"] == 0
    stream = Stream(server.socket_path, f"/containers/{cid}/attach?stream=1&stdout=1")
    assert stream.status == 101
    stream.close()
    time.sleep(0.6)  # the waiting attach sees its client gone
    assert api.post(f"/containers/{cid}/start").status == 204  # not held up by a dead attach
    assert api.post(f"/containers/{cid}/wait").json()["StatusCode"] == 0


# --- logs -------------------------------------------------------------------------------------


def test_logs_since_until_and_timestamps(server: Server) -> None:
    api = server.client
    cid = server.run(["/bin/sh", "-c", "echo one; sleep 1.1; echo two >&2; sleep 1.1; echo three"])
    assert api.post(f"/containers/{cid}/wait").json()["StatusCode"] == 0
    reply = api.get(f"/containers/{cid}/logs?stdout=1&stderr=1&timestamps=1")
    assert reply.status == 200, reply
    stamped = [(s, STAMP.match(p)) for s, p in frames(reply.body)]
    assert all(m for _, m in stamped), reply.body
    texts = [(s, m.group(2)) for s, m in stamped if m]
    assert texts == [(1, b"one\n"), (2, b"two\n"), (1, b"three\n")]
    times = [m.group(1).decode() for _, m in stamped if m]
    assert times == sorted(times)

    def seconds(stamp: str) -> str:  # as the docker CLI sends it: seconds.nanoseconds
        whole, frac = stamp.rstrip("Z").split(".")
        return f"{calendar.timegm(time.strptime(whole, '%Y-%m-%dT%H:%M:%S'))}.{frac}"

    since = api.get(f"/containers/{cid}/logs?stdout=1&stderr=1&since={seconds(times[1])}")
    assert by_stream(since.body) == {1: b"three\n", 2: b"two\n"}
    until = api.get(f"/containers/{cid}/logs?stdout=1&stderr=1&until={seconds(times[1])}")
    assert by_stream(until.body) == {1: b"one\n", 2: b"two\n"}
    window = api.get(
        f"/containers/{cid}/logs?stdout=1&stderr=1&since={seconds(times[1])}&until={seconds(times[1])}"
    )
    assert frames(window.body) == [(2, b"two\n")]
    later = int(time.time()) + 3600
    assert api.get(f"/containers/{cid}/logs?stdout=1&since={later}").body == b""
    for bad in ("yesterday", "1.2.3", "1e9", "1.1234567890"):
        assert_error(api.get(f"/containers/{cid}/logs?stdout=1&since={bad}"), 400, "since")
    assert_error(api.get(f"/containers/{cid}/logs?stdout=1&until=x"), 400, "until")


def test_a_follower_gets_the_tail_then_new_lines(server: Server, tmp_path: Path) -> None:
    api = server.client
    gate = tmp_path / "go"
    cid = server.run(["/bin/sh", "-c", f"echo a; echo b; echo c; while [ ! -e {gate} ]; do sleep 0.02; done; echo d"])  # fmt: skip
    deadline = time.monotonic() + 10
    while b"c\n" not in api.get(f"/containers/{cid}/logs?stdout=1").body:
        assert time.monotonic() < deadline, "the first lines never reached the log"
        time.sleep(0.05)
    got: dict[str, Any] = {}
    follower = threading.Thread(
        target=lambda: got.setdefault("r", api.get(f"/containers/{cid}/logs?stdout=1&follow=1&tail=1"))
    )  # fmt: skip
    follower.start()
    time.sleep(0.5)
    gate.touch()
    follower.join(15)
    assert by_stream(got["r"].body) == {1: b"c\nd\n", 2: b""}


def test_a_follower_stops_at_until(server: Server) -> None:
    api = server.client
    cid = sleeper(server)
    until = time.time() + 1.0
    started = time.monotonic()
    reply = api.get(f"/containers/{cid}/logs?stdout=1&follow=1&until={until:.3f}")
    took = time.monotonic() - started
    assert reply.status == 200 and 0.5 < took < 5, (reply, took)
    api.post(f"/containers/{cid}/kill")
