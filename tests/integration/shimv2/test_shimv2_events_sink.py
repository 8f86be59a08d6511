"""The events sink as a process (`ensure_sink`): a Forward call over ttrpc lands in events.jsonl,
a second start is kept out by the lock, a stale socket is replaced, a relative directory works.
Every sink process a test starts is found by its directory (pgrep -f) and killed at teardown.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ocimux.plugins.shimv2 import events as ev
from ocimux.plugins.shimv2 import messages as m
from ocimux.plugins.shimv2.events import EVENTS_LOG, ensure_sink, read_events
from ocimux.plugins.shimv2.ttrpc import TtrpcClient, TtrpcError

from tests.unit.shimv2.test_shimv2_events import task_exit


def sink_pids(directory: Path) -> list[int]:
    """Live sink processes serving `directory`: pgrep -f for the module, then their cwd."""
    done = subprocess.run(["pgrep", "-f", re.escape(ev.__name__)], capture_output=True, text=True)
    found = []
    for pid in map(int, done.stdout.split()):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/cwd") == str(directory.resolve()) and not gone(pid):
                found.append(pid)
    return found


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def kill_sinks(directory: Path) -> None:
    for pid in sink_pids(directory):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while not gone(pid) and time.monotonic() < deadline:
            time.sleep(0.01)


@pytest.fixture
def sink_dir(sock_dir: Path) -> Iterator[Path]:
    directory = sock_dir / "rt"
    directory.mkdir()
    yield directory
    kill_sinks(directory)
    assert not sink_pids(directory)


def test_ensure_sink_starts_one_sink_that_records_forwarded_events(sink_dir: Path) -> None:
    path = sink_dir / "events.sock"
    ensure_sink(path, timeout=10)
    (pid,) = sink_pids(sink_dir)
    assert f"--dir {sink_dir}" in Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    assert path.is_socket()
    with TtrpcClient(str(path), timeout=5, namespace="ocimux") as client:
        got = client.call(
            m.EVENTS_SERVICE, "Forward", m.FORWARD_REQUEST,
            m.FORWARD_REQUEST.decode(task_exit("box", "box", 31, 3)), m.EMPTY,
        )  # fmt: skip
        assert got == {}
        with pytest.raises(TtrpcError) as info:
            client.call(m.EVENTS_SERVICE, "Publish", m.FORWARD_REQUEST, {}, m.EMPTY)
        assert info.value.code_name == "Unimplemented"
    (record,) = read_events(sink_dir)
    assert record["container_id"] == "box" and record["pid"] == 31 and record["exit_status"] == 3
    assert (sink_dir / EVENTS_LOG).stat().st_mode & 0o777 == 0o600

    ensure_sink(path, timeout=10)  # somebody answers: nothing is started
    assert sink_pids(sink_dir) == [pid]


def test_the_lock_keeps_a_second_sink_out(sink_dir: Path) -> None:
    ensure_sink(sink_dir / "events.sock", timeout=10)
    (pid,) = sink_pids(sink_dir)
    # start one past ensure_sink's probe: it must find the lock held and leave
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-m",
            ev.__name__,
            "--dir",
            str(sink_dir),
            "--socket",
            "events.sock",
        ],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert done.returncode == 0, done.stderr
    time.sleep(0.1)
    assert sink_pids(sink_dir) == [pid]
    with TtrpcClient(str(sink_dir / "events.sock"), timeout=5) as client:
        client.call(m.EVENTS_SERVICE, "Forward", m.FORWARD_REQUEST, {}, m.EMPTY)
    assert len(read_events(sink_dir)) == 1


def test_a_dead_sinks_socket_is_replaced(sink_dir: Path) -> None:
    path = sink_dir / "events.sock"
    ensure_sink(path, timeout=10)
    kill_sinks(sink_dir)  # SIGKILL: the socket file stays behind
    assert path.exists() and not sink_pids(sink_dir)
    ensure_sink(path, timeout=10)
    assert len(sink_pids(sink_dir)) == 1
    with TtrpcClient(str(path), timeout=5) as client:
        client.call(
            m.EVENTS_SERVICE, "Forward", m.FORWARD_REQUEST,
            m.FORWARD_REQUEST.decode(task_exit("again", "again", 1, 0)), m.EMPTY,
        )  # fmt: skip
    assert read_events(sink_dir)[-1]["container_id"] == "again"


def test_ensure_sink_reports_a_sink_that_cannot_start(sock_dir: Path) -> None:
    with pytest.raises(Exception):  # noqa: B017 - any error at all would do
        ensure_sink(sock_dir / "no-such-dir" / "events.sock", timeout=10)


def test_a_relative_directory_works(sink_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(sink_dir.parent)
    path = Path(sink_dir.name) / "events.sock"
    ensure_sink(path, timeout=10)
    try:
        with TtrpcClient(str(path), timeout=5) as client:
            client.call(
                m.EVENTS_SERVICE, "Forward", m.FORWARD_REQUEST,
                m.FORWARD_REQUEST.decode(task_exit("rel", "rel", 1, 0)), m.EMPTY,
            )  # fmt: skip
        assert read_events(sink_dir)[-1]["container_id"] == "rel"
    finally:
        kill_sinks(sink_dir)
