"""The I/O monitor as a process, with this test playing the shim (FIFOs + a fake task service).

The real monitor (`python -m ocimux.plugins.shimv2.monitor`) runs in a temporary directory
against a fake containerd.task.v2.Task served by serve_connection. The test writes the shim's
ends of the FIFOs and a conmon-style attach client: ctl `1 H W` lines must become ResizePty,
client input must reach the stdin FIFO, output must reach clients (a stream byte + data) and
the k8s-file log, and the end of output must become Wait → `exit` (and Delete for an exec).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ocimux.plugins.shimv2 import messages as m
from ocimux.plugins.shimv2 import monitor as mon
from ocimux.plugins.shimv2.ttrpc import TtrpcError

REQUESTS = {
    "ResizePty": m.RESIZE_PTY_REQUEST,
    "Wait": m.WAIT_REQUEST,
    "CloseIO": m.CLOSE_IO_REQUEST,
    "Delete": m.DELETE_REQUEST,
}
RESPONSES = {"Wait": m.WAIT_RESPONSE, "Delete": m.DELETE_RESPONSE}


class FakeShim:
    def __init__(self, exit_status: int) -> None:
        self.exit_status = exit_status
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def __call__(self, service: str, method: str, payload: bytes) -> bytes:
        if service != m.TASK_SERVICE or method not in REQUESTS:
            raise TtrpcError(12, f"{method} not implemented")
        with self.lock:
            self.calls.append((method, REQUESTS[method].decode(payload)))
        if method == "Wait":
            return m.WAIT_RESPONSE.encode(exit_status=self.exit_status)
        return b""

    def seen(self, method: str) -> list[dict[str, Any]]:
        with self.lock:
            return [request for name, request in self.calls if name == method]


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)
    return value


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def start_monitor(
    sock_dir: Path, ttrpc_server: Callable[..., str]
) -> Iterator[Callable[..., tuple[int, Path]]]:
    pids: list[int] = []

    def start(shim: FakeShim, *flags: str, exec_id: str = "") -> tuple[int, Path]:
        address = ttrpc_server(shim, "shim.sock")
        directory = sock_dir / "box"
        directory.mkdir()
        argv = [
            sys.executable, "-I", "-m", mon.__name__, "--dir", str(directory),
            "--address", address, "--namespace", "ns", "--id", "c1", "--exec-id", exec_id,
            "--log", str(directory / "ctr.log"), "--timeout", "5", *flags,
        ]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        assert done.returncode == 0, done.stderr
        pid = int(done.stdout.strip())
        pids.append(pid)
        assert (directory / mon.PIDFILE).read_text() == str(pid)
        return pid, directory

    yield start
    for pid in pids:
        if alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def attach(directory: Path) -> socket.socket:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    client.connect(str(directory / mon.ATTACH))
    client.settimeout(5)
    return client


def read_fifo(path: Path, size: int) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    data = b""
    try:
        deadline = time.monotonic() + 5
        while len(data) < size and time.monotonic() < deadline:
            with contextlib.suppress(BlockingIOError):
                data += os.read(fd, 4096)
            time.sleep(0.01)
    finally:
        os.close(fd)
    return data


def test_a_terminal_monitor_resizes_relays_and_records_the_exit(
    start_monitor: Callable[..., tuple[int, Path]],
) -> None:
    shim = FakeShim(exit_status=7)
    pid, directory = start_monitor(shim, "--terminal")
    assert (directory / mon.STDIN_FIFO).exists() and not (directory / mon.STDERR_FIFO).exists()
    ctl = os.open(directory / mon.CTL, os.O_WRONLY)
    os.write(ctl, b"1 30 90\n")
    wait_for(lambda: shim.seen("ResizePty"), "ResizePty")
    # not resizes, or not valid ones: ignored; then one more that must arrive
    os.write(ctl, b"2 10 10\n1 x y\n1 70000 1\n1 5\n" + b"1 4")
    os.write(ctl, b"1 123\n")
    os.close(ctl)
    wait_for(lambda: len(shim.seen("ResizePty")) == 2, "the second ResizePty")
    assert shim.seen("ResizePty") == [
        {"id": "c1", "exec_id": "", "width": 90, "height": 30},
        {"id": "c1", "exec_id": "", "width": 123, "height": 41},
    ]

    client = attach(directory)
    client.send(b"echo hi\r")
    assert read_fifo(directory / mon.STDIN_FIFO, 8) == b"echo hi\r"
    client.shutdown(socket.SHUT_WR)  # a terminal's stdin is never closed by a client's EOF
    out = os.open(directory / mon.STDOUT_FIFO, os.O_WRONLY)
    os.write(out, b"hi\r\n")
    assert client.recv(65536) == bytes([2]) + b"hi\r\n"  # conmon's stream byte: 2 = stdout
    os.close(out)  # the console closed: the process is gone

    assert wait_for(lambda: (directory / mon.EXIT).exists(), "the exit file")
    assert (directory / mon.EXIT).read_text() == "7"
    wait_for(lambda: not alive(pid), "the monitor to end")
    assert client.recv(65536) == b""
    assert shim.seen("Wait") == [{"id": "c1", "exec_id": ""}]
    assert shim.seen("CloseIO") == [] and shim.seen("Delete") == []
    assert b" stdout F hi\r\n" in (directory / "ctr.log").read_bytes()
    left = {p.name for p in directory.iterdir()}
    assert left == {"ctr.log", mon.EXIT}, left


def test_an_exec_monitor_closes_stdin_and_removes_its_session(
    start_monitor: Callable[..., tuple[int, Path]],
) -> None:
    shim = FakeShim(exit_status=5)
    pid, directory = start_monitor(shim, "--stdin", exec_id="e1")
    ctl = os.open(directory / mon.CTL, os.O_WRONLY)
    os.write(ctl, b"1 30 90\n")  # no terminal: nothing to resize
    os.close(ctl)

    client = attach(directory)
    client.send(b"some input")
    client.shutdown(socket.SHUT_WR)
    wait_for(lambda: shim.seen("CloseIO"), "CloseIO")
    assert shim.seen("CloseIO") == [{"id": "c1", "exec_id": "e1", "stdin": True}]

    out = os.open(directory / mon.STDOUT_FIFO, os.O_WRONLY)
    err = os.open(directory / mon.STDERR_FIFO, os.O_WRONLY)
    os.write(err, b"oops\n")
    assert client.recv(65536) == bytes([3]) + b"oops\n"  # 3 = stderr
    os.write(out, b"fine\n")
    assert client.recv(65536) == bytes([2]) + b"fine\n"
    os.close(out)
    os.close(err)

    wait_for(lambda: (directory / mon.EXIT).exists(), "the exit file")
    assert (directory / mon.EXIT).read_text() == "5"
    wait_for(lambda: not alive(pid), "the monitor to end")
    assert shim.seen("ResizePty") == []
    assert shim.seen("Wait") == [{"id": "c1", "exec_id": "e1"}]
    assert shim.seen("Delete") == [{"id": "c1", "exec_id": "e1"}]
    log = (directory / "ctr.log").read_text()
    assert "stderr F oops" in log and "stdout F fine" in log


def test_sigterm_ends_the_monitor_without_an_exit_code(
    start_monitor: Callable[..., tuple[int, Path]],
) -> None:
    shim = FakeShim(exit_status=0)
    pid, directory = start_monitor(shim, "--terminal")
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not alive(pid), "the monitor to end")
    assert not (directory / mon.EXIT).exists()
    assert {p.name for p in directory.iterdir()} <= {"ctr.log"}
    assert shim.calls == []


def test_a_monitor_that_cannot_start_says_why(sock_dir: Path) -> None:
    argv = [
        sys.executable, "-I", "-m", mon.__name__, "--dir", str(sock_dir),
        "--address", str(sock_dir / "none.sock"), "--namespace", "ns", "--id", "c1",
        "--log", str(sock_dir / "no-such-dir" / "ctr.log"),
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    assert done.returncode == 1 and done.stdout == ""
    assert "cannot set up the I/O monitor" in done.stderr
    assert {p.name for p in sock_dir.iterdir()} == set()
