"""Pseudo-terminals in the mock: containers and exec sessions, sized through the ctl FIFO."""

from __future__ import annotations

import io
import os
import re
import signal
import stat
from typing import TYPE_CHECKING

import pytest
from ocimux.base.errors import RuntimeCommandError
from ocimux.interface.options import AttachOptions, ExecOptions, StdStreams
from ocimux.io.attach import attach_container

if TYPE_CHECKING:
    from conftest import Harness


def pipe_stdin(data: bytes) -> tuple[io.BufferedReader, int]:
    """A real pipe (the attach relay needs a descriptor) holding `data`; (reader, write fd)."""
    r, w = os.pipe()
    os.write(w, data)
    return os.fdopen(r, "rb", buffering=0), w  # type: ignore[return-value]


def test_terminal_container_is_sized_before_start_and_takes_input(mock: Harness) -> None:
    mock.create("t1", ["sh", "-c", "stty size; read x; echo got:$x"], terminal=True)
    ctl = mock.containers / "t1" / "ctl"
    assert stat.S_ISFIFO(ctl.stat().st_mode) and stat.S_IMODE(ctl.stat().st_mode) == 0o600
    client = mock.attach("t1")
    mock.runtime.resize("t1", 33, 101)
    mock.runtime.start("t1")
    client.read_until(b"33 101")
    client.send(b"hi\n")  # no --stdin needed: with a terminal, input goes to the pty
    out, err = client.collect()
    assert b"got:hi" in out and err == b""
    assert {p[0] for p in client.packets} == {2}  # a terminal's output is all stdout
    assert mock.wait_state("t1", "stopped").exit_code == 0
    log = (mock.containers / "t1" / "ctr.log").read_bytes()
    assert b" stdout F 33 101" in log and b" stdout F got:hi" in log and b"stderr" not in log
    assert not ctl.exists() and not (mock.containers / "t1" / "attach").exists()


def test_engine_attach_sizes_and_starts_a_terminal_container(mock: Harness) -> None:
    """The engine's attach (connect, resize, start, relay) drives the mock unchanged."""
    mock.create("t1", ["sh", "-c", "stty size; read x; echo got:$x; exit 6"], terminal=True)
    stdin, w = pipe_stdin(b"hi\n")
    os.close(w)  # EOF on stdin closes nothing with a terminal: `read` still gets its line
    streams = StdStreams(io.BytesIO(), io.BytesIO(), stdin)
    try:
        code = attach_container(
            mock.runtime, "t1", streams, AttachOptions(stdin=True, start=True, size=(33, 101))
        )
    finally:
        stdin.close()
    out = streams.stdout.getvalue()  # type: ignore[attr-defined]
    assert code == 6
    assert b"33 101" in out and b"got:hi" in out


def test_resize_while_running_signals_the_foreground_group(mock: Harness) -> None:
    script = 'trap "stty size" WINCH; echo ready; while :; do sleep 0.05; done'
    mock.create("t1", ["sh", "-c", script], terminal=True)
    client = mock.attach("t1")
    mock.runtime.start("t1")
    client.read_until(b"ready")
    mock.runtime.resize("t1", 40, 120)
    client.read_until(b"40 120")
    mock.runtime.resize("t1", 41, 121)
    client.read_until(b"41 121")
    mock.runtime.kill("t1", signal.SIGKILL)
    client.collect()
    assert mock.wait_state("t1", "stopped").exit_code == 137


def test_malformed_control_lines_are_ignored(mock: Harness) -> None:
    script = 'trap "stty size" WINCH; echo ready; while :; do sleep 0.05; done'
    mock.create("t1", ["sh", "-c", script], terminal=True)
    client = mock.attach("t1")
    mock.runtime.start("t1")
    client.read_until(b"ready")
    fd = os.open(mock.containers / "t1" / "ctl", os.O_WRONLY | os.O_NONBLOCK)
    try:
        os.write(fd, b"garbage\n1 2\n1 x y\n9 1 1\n" + b"z" * 1000 + b"\n1 50 60\n")
    finally:
        os.close(fd)
    client.read_until(b"50 60")
    mock.runtime.kill("t1", signal.SIGKILL)
    client.collect()


def test_resize_without_a_terminal_is_ignored(mock: Harness) -> None:
    mock.create("c1", ["sh", "-c", "echo plain"])
    client = mock.attach("c1")
    mock.runtime.resize("c1", 30, 90)  # conmon ignores it too: no pty to size
    mock.runtime.start("c1")
    assert client.collect() == (b"plain\n", b"")


def test_resize_of_a_stopped_container_fails(mock: Harness) -> None:
    mock.run("c1", ["true"], terminal=True)
    mock.wait_state("c1", "stopped")
    with pytest.raises(RuntimeCommandError, match="control FIFO"):
        mock.runtime.resize("c1", 30, 90)


def test_terminal_jobs_in_other_process_groups_die_with_the_container(mock: Harness) -> None:
    # `set -m`: job control puts the background job in a process group of its own.
    script = "set -m; sleep 30 & echo job:$!; read x"
    mock.create("t1", ["sh", "-c", script], terminal=True)
    client = mock.attach("t1")
    mock.runtime.start("t1")
    out = client.read_until(b"\n", timeout=10)
    match = re.search(rb"job:(\d+)", out)
    assert match, out
    job = int(match[1])
    mock.remember(job)
    assert os.getpgid(job) != mock.runtime.state("t1").pid
    client.send(b"bye\n")
    client.collect()
    assert mock.wait_state("t1", "stopped").exit_code == 0
    mock.wait_for(lambda: not mock.alive(job))


@pytest.fixture
def running(mock: Harness) -> Harness:
    # outlives any test (a loaded host runs 100 execs in over 30 s); teardown kills it
    mock.run("c1", ["sleep", "3600"])
    return mock


def test_exec_with_terminal_gets_a_pty_of_the_given_size(running: Harness) -> None:
    streams = StdStreams(io.BytesIO(), io.BytesIO())
    options = ExecOptions(
        args=("sh", "-c", "tty; stty size; echo to-stderr >&2; exit 3"),
        terminal=True,
        size=(24, 91),
    )
    assert running.exec("c1", "e1", options, streams) == 3
    out = streams.stdout.getvalue()  # type: ignore[attr-defined]
    assert re.search(rb"^/dev/pts/\d+\r\n24 91\r\nto-stderr\r\n$", out), out
    assert streams.stderr.getvalue() == b""  # type: ignore[attr-defined]


def test_exec_with_terminal_takes_stdin(running: Harness) -> None:
    stdin, w = pipe_stdin(b"typed\n")
    streams = StdStreams(io.BytesIO(), io.BytesIO(), stdin)
    options = ExecOptions(args=("sh", "-c", "read x; echo got:$x"), terminal=True, stdin=True)
    try:
        assert running.exec("c1", "e1", options, streams) == 0
    finally:
        stdin.close()
        os.close(w)
    assert b"got:typed" in streams.stdout.getvalue()  # type: ignore[attr-defined]


def test_detached_exec_with_terminal(running: Harness) -> None:
    rt = running.runtime
    running.exec_detached("c1", "e1", ExecOptions(args=("sh", "-c", "tty; exit 2"), terminal=True))
    state = running.exec_state("c1", "e1")
    assert (state.status, state.exit_code) == ("stopped", 2)
    assert re.search(rb"stdout F /dev/pts/\d+", rt.layout.log("c1", "e1").read_bytes())
