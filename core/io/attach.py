"""The client side of conmon's attach protocol, shared by every runtime whose monitor speaks it.

The monitor listens on an AF_UNIX SOCK_SEQPACKET socket (`ProcessIO.attach_socket`).
Each packet it sends is one byte of stream id (2 stdout, 3 stderr) and up to 8192 bytes of
data; what the client sends is raw stdin, and `shutdown(SHUT_WR)` closes the container's
stdin. The monitor closes the connection when the container exits (conmon `src/conn_sock.c`).
Resizing goes through the control FIFO (`monitorfiles.write_resize`).

Docker's HTTP attach wraps each chunk in an 8-byte header: stream id, three zero bytes and a
big-endian length; with a terminal the stream is raw (`MultiplexWriter`).
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ocimux.base.errors import RuntimeCommandError
from ocimux.base.monitorfiles import read_exit_file
from ocimux.base.monitorfiles import (
    write_resize as write_resize,  # until the mock imports it from there
)
from ocimux.interface.options import StdStreams

if TYPE_CHECKING:
    from ocimux.interface.options import AttachOptions
    from ocimux.interface.runtime import Runtime

__all__ = [
    "MultiplexWriter",
    "attach_container",
    "connect_attach_socket",
    "parse_detach_keys",
    "relay",
]

STDOUT, STDERR = 2, 3
#: conmon's STDIO_BUF_SIZE plus the stream byte
PACKET_SIZE = 8193
_STDIN_CHUNK = 32768


def connect_attach_socket(path: Path, *, timeout: float = 5.0) -> socket.socket:
    """Connect to a monitor's SEQPACKET attach socket at `path`, however long the path is.

    Paths over sun_path's 108 bytes are reached through `/proc/self/fd/N` of an O_PATH
    descriptor, as podman does. Retries until `timeout` while the socket does not exist yet.
    Raises RuntimeCommandError if it cannot connect.
    """
    deadline = time.monotonic() + timeout
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                sock.connect(f"/proc/self/fd/{fd}")
            finally:
                os.close(fd)
            return sock
        except OSError as exc:
            sock.close()
            retry = exc.errno in (errno.ENOENT, errno.ECONNREFUSED)
            if not retry or time.monotonic() >= deadline:
                raise RuntimeCommandError(
                    f"cannot connect to attach socket {path}: {exc.strerror}",
                    verb="attach",
                    hint="is the container's monitor still running? see `ocimux ps -a`",
                ) from exc
            time.sleep(0.01)


def parse_detach_keys(spec: str) -> bytes:
    """Turn podman's detach-key syntax (`"ctrl-p,ctrl-q"`, `"a,ctrl-@"`) into bytes.

    `""` disables detaching and returns b"". Raises ValueError for a key it cannot encode.
    """
    if not spec:
        return b""
    out = bytearray()
    for key in spec.split(","):
        key = key.strip()
        if key.startswith("ctrl-") and len(key) == 6:
            ch = key[5].lower()
            if "a" <= ch <= "z":
                out.append(ord(ch) - ord("a") + 1)
                continue
            special = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}
            if ch in special:
                out.append(special[ch])
                continue
        elif len(key) == 1:
            out.append(ord(key))
            continue
        raise ValueError(f"invalid detach key {key!r}: use a letter or ctrl-<letter>")
    return bytes(out)


class _DetachMatcher:
    """Watch an input stream for the detach sequence; hold back a partial match."""

    def __init__(self, keys: bytes | None) -> None:
        self.keys = keys or b""
        self.pending = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """Return (bytes to forward, whether the sequence was seen)."""
        if not self.keys:
            return data, False
        buf = self.pending + data
        self.pending = b""
        idx = buf.find(self.keys)
        if idx >= 0:
            return buf[:idx], True
        # keep the longest suffix that is a prefix of the keys
        for n in range(min(len(self.keys) - 1, len(buf)), 0, -1):
            if self.keys.startswith(buf[-n:]):
                self.pending = buf[-n:]
                return buf[:-n], False
        return buf, False


def _write(stream: BinaryIO, data: bytes) -> None:
    stream.write(data)
    stream.flush()


def attach_container(
    runtime: Runtime,
    cid: str,
    streams: StdStreams,
    options: AttachOptions,
    *,
    ready: Callable[[], None] | None = None,
) -> int | None:
    """Relay the container's stdio to `streams` until it exits (return its exit code) or detach (None).

    With `options.start`, connects first and then calls `runtime.start(cid)`. `ready` is called
    once connected: from then on no output is missed.
    """
    sock = connect_attach_socket(runtime.layout.io_dir(cid) / "attach")
    try:
        if ready is not None:
            ready()
        if options.size:
            runtime.resize(cid, *options.size)
        if options.start:
            runtime.start(cid)
        detached = relay(sock, streams, options)
    finally:
        sock.close()
    if detached:
        return None
    return _wait_exit_code(runtime, cid)


def _wait_exit_code(runtime: Runtime, cid: str) -> int | None:
    """After the monitor closed the socket, its exit file follows within moments.

    The exit file is read first (cheap); the runtime is asked (a process spawn for CLI
    runtimes) only if the file is slow to appear.
    """
    deadline = time.monotonic() + runtime.context.command_timeout
    exit_file = runtime.layout.exit_file(cid)
    quick = time.monotonic() + 0.25
    while time.monotonic() < quick:
        code = read_exit_file(exit_file)
        if code is not None:
            return code
        time.sleep(0.001)
    while True:
        state = runtime.state(cid)
        if state.status == "stopped":
            return state.exit_code
        if state.status == "unknown" or time.monotonic() >= deadline:
            raise RuntimeCommandError(
                f"the output stream ended but the container did not stop ({state.reason or state.status})",
                container=cid,
                runtime=runtime.name,
                verb="attach",
            )
        time.sleep(0.005)


def relay(sock: socket.socket, streams: StdStreams, options: AttachOptions) -> bool:
    """Copy packets to streams and stdin to the socket; return True if the user detached."""
    matcher = _DetachMatcher(options.detach_keys)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ, "sock")
    stdin_fd = _stdin_fd(streams.stdin) if options.stdin else None
    feeder: _ThreadFeeder | None = None
    if options.stdin and streams.stdin is not None and stdin_fd is None:
        feeder = _ThreadFeeder(sock, streams.stdin, matcher)
    elif stdin_fd is not None:
        try:
            sel.register(stdin_fd, selectors.EVENT_READ, "stdin")
        except PermissionError:
            # epoll refuses regular files and /dev/null (EPERM): read those in a thread
            stdin_fd = None
            feeder = _ThreadFeeder(sock, streams.stdin, matcher)  # type: ignore[arg-type]
    if feeder is not None:
        sel.register(feeder.detached_fd, selectors.EVENT_READ, "detached")
        feeder.start()
    try:
        while True:
            for key, _ in sel.select():
                if key.data == "detached":
                    if os.read(key.fd, 1):
                        return True  # the feeder saw the detach sequence
                    sel.unregister(key.fd)  # the feeder ended with its input
                    continue
                if key.data == "sock":
                    try:
                        packet = sock.recv(PACKET_SIZE)
                    except ConnectionResetError:
                        # the monitor closed while input it never read was queued (the
                        # process had exited): that is the end of the stream, not an error
                        packet = b""
                    if not packet:
                        return False
                    _deliver(packet, streams)
                else:
                    data = os.read(stdin_fd, _STDIN_CHUNK)  # type: ignore[arg-type]
                    if not data:
                        sel.unregister(stdin_fd)  # type: ignore[arg-type]
                        _shutdown_write(sock)
                        continue
                    forward, detach = matcher.feed(data)
                    if forward:
                        sock.sendall(forward)
                    if detach:
                        return True
    finally:
        sel.close()
        if feeder is not None:
            feeder.close()


def _deliver(packet: bytes, streams: StdStreams) -> None:
    kind, data = packet[0], packet[1:]
    if kind == STDOUT:
        _write(streams.stdout, data)
    elif kind == STDERR:
        _write(streams.stderr, data)
    # other ids are unused by conmon; drop them like conmon drops unknown ones


def _stdin_fd(stdin: BinaryIO | None) -> int | None:
    if stdin is None:
        return None
    try:
        return stdin.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def _shutdown_write(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


class _ThreadFeeder:
    """Copy a stdin without a pollable descriptor (BytesIO in tests, an HTTP client's input,
    a regular file) to the socket in a thread, watching it for the detach sequence.

    `detached_fd` gets a byte once the sequence was seen (the relay's selector watches it),
    and reads as ended once the thread is done; nothing after the sequence is read. At the
    end of the input the container's stdin is closed (`shutdown(SHUT_WR)`).
    """

    def __init__(self, sock: socket.socket, stdin: BinaryIO, matcher: _DetachMatcher) -> None:
        self.sock, self.stdin, self.matcher = sock, stdin, matcher
        self.detached_fd, self._signal_fd = os.pipe2(os.O_CLOEXEC)
        self._lock = threading.Lock()
        self._closed = False

    def start(self) -> None:
        threading.Thread(target=self._feed, daemon=True, name="ocimux-attach-stdin").start()

    def _feed(self) -> None:
        try:
            while chunk := self.stdin.read(_STDIN_CHUNK):
                forward, detach = self.matcher.feed(chunk)
                if forward:
                    self.sock.sendall(forward)
                if detach:
                    self._signal()
                    return
            _shutdown_write(self.sock)
        except (OSError, ValueError):  # the relay closed the socket, or stdin was closed
            return
        finally:
            self._release()

    def _signal(self) -> None:
        with self._lock:
            if not self._closed:
                os.write(self._signal_fd, b"d")

    def _release(self) -> None:
        """The thread is done with its end of the pipe."""
        with self._lock:
            if self._signal_fd >= 0:
                os.close(self._signal_fd)
                self._signal_fd = -1

    def close(self) -> None:
        """The relay is done: close the read end (a thread still reading leaves on its own)."""
        with self._lock:
            self._closed = True
            os.close(self.detached_fd)


class MultiplexWriter:
    """Write stdout/stderr chunks to one binary stream in Docker's framing (raw for a TTY)."""

    def __init__(self, wfile: Any, *, raw: bool = False) -> None:
        self.wfile = wfile
        self.raw = raw
        self._lock = threading.Lock()

    def write(self, stream_id: int, data: bytes) -> None:
        if not data:
            return
        # Docker numbers stdout 1 and stderr 2; conmon numbers them 2 and 3.
        with self._lock:
            if not self.raw:
                self.wfile.write(struct.pack(">BxxxL", stream_id, len(data)))
            self.wfile.write(data)
            self.wfile.flush()

    def streams(self, stdin: BinaryIO | None = None) -> StdStreams:
        """File-like stdout/stderr that frame what is written to them."""
        return StdStreams(stdout=_Channel(self, 1), stderr=_Channel(self, 2), stdin=stdin)  # type: ignore[arg-type]


class _Channel:
    def __init__(self, mux: MultiplexWriter, stream_id: int) -> None:
        self.mux = mux
        self.stream_id = stream_id

    def write(self, data: bytes) -> int:
        self.mux.write(self.stream_id, bytes(data))
        return len(data)

    def flush(self) -> None:
        pass
