"""`relay` with a stdin that has no descriptor (an HTTP client's input): the detach sequence is
seen in the feeding thread, held back while partial, never forwarded; the end closes stdin."""

from __future__ import annotations

import io
import queue
import socket
import threading

import pytest
from ocimux.interface.options import AttachOptions, StdStreams
from ocimux.io.attach import relay


class Chunks:
    """A stdin that hands out queued chunks one read at a time; None is the end."""

    def __init__(self) -> None:
        self.q: queue.Queue[bytes | None] = queue.Queue()

    def read(self, _: int = -1) -> bytes:
        chunk = self.q.get(timeout=10)
        return b"" if chunk is None else chunk


def run_relay(stdin: Chunks, keys: bytes | None) -> tuple[socket.socket, dict[str, object]]:
    """Relay between a SEQPACKET pair's one end and `stdin`; return the other end (the monitor)."""
    ours, monitor = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    monitor.settimeout(10)
    result: dict[str, object] = {}
    streams = StdStreams(stdout=io.BytesIO(), stderr=io.BytesIO(), stdin=stdin)  # type: ignore[arg-type]

    def go() -> None:
        result["detached"] = relay(ours, streams, AttachOptions(stdin=True, detach_keys=keys))

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    result["thread"], result["ours"] = thread, ours  # the caller closes the socket, not relay
    return monitor, result


def test_the_sequence_detaches_and_is_not_forwarded() -> None:
    stdin = Chunks()
    monitor, result = run_relay(stdin, b"\x10\x11")
    stdin.q.put(b"abc\x10")
    assert monitor.recv(100) == b"abc"  # the partial sequence is held back
    stdin.q.put(b"\x11after")
    thread = result["thread"]
    assert isinstance(thread, threading.Thread)
    thread.join(10)
    assert not thread.is_alive() and result["detached"] is True
    monitor.setblocking(False)
    with pytest.raises(BlockingIOError):
        monitor.recv(100)  # neither the keys nor what followed them went on
    monitor.close()


def test_a_partial_sequence_that_does_not_complete_is_forwarded() -> None:
    stdin = Chunks()
    monitor, result = run_relay(stdin, b"\x10\x11")
    stdin.q.put(b"\x10")
    stdin.q.put(b"x")
    assert monitor.recv(100) == b"\x10x"  # held, then let go with what did not complete it
    stdin.q.put(None)  # the end of the input closes the container's stdin
    assert monitor.recv(100) == b""
    monitor.close()  # the monitor goes: the stream ends, not detached
    thread = result["thread"]
    assert isinstance(thread, threading.Thread)
    thread.join(10)
    assert result["detached"] is False


def test_without_keys_everything_is_forwarded() -> None:
    stdin = Chunks()
    monitor, result = run_relay(stdin, None)
    stdin.q.put(b"\x10\x11")
    assert monitor.recv(100) == b"\x10\x11"
    stdin.q.put(None)
    assert monitor.recv(100) == b""
    monitor.close()
    thread = result["thread"]
    assert isinstance(thread, threading.Thread)
    thread.join(10)
    assert result["detached"] is False
