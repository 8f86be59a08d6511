"""events: the sink shims publish to (Events.Forward → one JSON line per event).

`Sink.handle` in-process with hand-built ForwardRequests; rotation at 1 MiB; `read_events`;
then the real sink process started by `ensure_sink`: a Forward call over ttrpc lands in
events.jsonl, a second start is kept out by the lock, a stale socket is replaced. Every sink
process a test starts is found by its directory (pgrep -f) and killed at teardown.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ocimux.plugins.shimv2 import events as ev
from ocimux.plugins.shimv2 import messages as m
from ocimux.plugins.shimv2.events import EVENTS_LOG, ROTATE_BYTES, Sink, ensure_sink, read_events
from ocimux.plugins.shimv2.ttrpc import TtrpcClient, TtrpcError

EXIT_TYPE = "containerd.events.TaskExit"


def forward(
    topic: str, type_url: str, value: bytes, *, namespace: str = "ocimux", seconds: int = 1700
) -> bytes:
    return m.FORWARD_REQUEST.encode(
        envelope={
            "timestamp": {"seconds": seconds, "nanos": 5},
            "namespace": namespace,
            "topic": topic,
            "event": {"type_url": type_url, "value": value},
        }
    )


def task_exit(cid: str, exec_id: str, pid: int, status: int) -> bytes:
    return forward(
        "/tasks/exit",
        EXIT_TYPE,
        m.TASK_EXIT.encode(
            container_id=cid, id=exec_id, pid=pid, exit_status=status, exited_at={"seconds": 9}
        ),
    )


def lines(directory: Path, name: str = EVENTS_LOG) -> list[dict]:
    return [json.loads(line) for line in (directory / name).read_text().splitlines()]


# --- Sink.handle in-process -----------------------------------------------------------------------


def test_a_task_exit_becomes_one_json_line(tmp_path: Path) -> None:
    sink = Sink(tmp_path, "events.sock")
    assert sink.handle(m.EVENTS_SERVICE, "Forward", task_exit("c1", "c1", 4242, 137)) == b""
    assert lines(tmp_path) == [
        {
            "time": 1700,
            "namespace": "ocimux",
            "topic": "/tasks/exit",
            "type": EXIT_TYPE,
            "container_id": "c1",
            "exec_id": "",  # the init process: its id is the container's
            "pid": 4242,
            "exit_status": 137,
        }
    ]
    assert (tmp_path / EVENTS_LOG).read_text().endswith("\n")


def test_an_exec_exit_records_the_exec_id(tmp_path: Path) -> None:
    sink = Sink(tmp_path, "events.sock")
    sink.handle(m.EVENTS_SERVICE, "Forward", task_exit("c1", "sess-1", 77, 3))
    (record,) = lines(tmp_path)
    assert (record["container_id"], record["exec_id"], record["pid"], record["exit_status"]) == (
        "c1",
        "sess-1",
        77,
        3,
    )


def test_other_events_record_their_container_id(tmp_path: Path) -> None:
    sink = Sink(tmp_path, "events.sock")
    # containerd.events.TaskStart { container_id = 1; pid = 2; }
    start = b"\x0a\x02c2\x10\x07"
    sink.handle(
        m.EVENTS_SERVICE, "Forward", forward("/tasks/start", "containerd.events.TaskStart", start)
    )
    sink.handle(m.EVENTS_SERVICE, "Forward", m.FORWARD_REQUEST.encode(envelope={}))
    first, empty = lines(tmp_path)
    assert first == {
        "time": 1700,
        "namespace": "ocimux",
        "topic": "/tasks/start",
        "type": "containerd.events.TaskStart",
        "container_id": "c2",
    }
    assert empty == {"time": 0, "namespace": "", "topic": "", "type": "", "container_id": ""}


def test_an_undecodable_event_is_recorded_as_such(tmp_path: Path) -> None:
    sink = Sink(tmp_path, "events.sock")
    sink.handle(m.EVENTS_SERVICE, "Forward", forward("/tasks/exit", EXIT_TYPE, b"\x0b"))
    sink.handle(
        m.EVENTS_SERVICE,
        "Forward",
        forward("/tasks/oom", "containerd.events.TaskOOM", b"\x0a\x09c"),
    )
    exit_record, oom = lines(tmp_path)
    assert exit_record["undecodable"] is True and exit_record["topic"] == "/tasks/exit"
    assert oom["undecodable"] is True and oom["type"] == "containerd.events.TaskOOM"


@pytest.mark.parametrize(
    ("service", "method"),
    [
        (m.EVENTS_SERVICE, "Publish"),
        ("containerd.task.v2.Task", "Forward"),
        ("", ""),
    ],
)
def test_anything_but_forward_is_unimplemented(tmp_path: Path, service: str, method: str) -> None:
    with pytest.raises(TtrpcError) as info:
        Sink(tmp_path, "events.sock").handle(service, method, task_exit("c", "c", 1, 0))
    assert info.value.code == 12 and info.value.code_name == "Unimplemented"
    assert not (tmp_path / EVENTS_LOG).exists()


def test_events_jsonl_rotates_past_one_mib(tmp_path: Path) -> None:
    old = [{"seq": i, "pad": "x" * 1000} for i in range(ROTATE_BYTES // 1000 + 10)]
    (tmp_path / EVENTS_LOG).write_text("".join(json.dumps(r) + "\n" for r in old))
    assert (tmp_path / EVENTS_LOG).stat().st_size > ROTATE_BYTES
    sink = Sink(tmp_path, "events.sock")
    sink.handle(m.EVENTS_SERVICE, "Forward", task_exit("c1", "c1", 1, 5))
    sink.handle(m.EVENTS_SERVICE, "Forward", task_exit("c2", "c2", 2, 6))
    assert lines(tmp_path, f"{EVENTS_LOG}.1") == old
    assert [r["container_id"] for r in lines(tmp_path)] == ["c1", "c2"]
    events = read_events(tmp_path)
    assert events[: len(old)] == old
    assert [r["container_id"] for r in events[len(old) :]] == ["c1", "c2"]


def test_a_second_rotation_replaces_the_first(tmp_path: Path) -> None:
    (tmp_path / f"{EVENTS_LOG}.1").write_text('{"gen": 0}\n')
    (tmp_path / EVENTS_LOG).write_text(('{"gen": 1}\n') * (ROTATE_BYTES // 10))
    Sink(tmp_path, "events.sock").handle(m.EVENTS_SERVICE, "Forward", task_exit("c", "c", 1, 0))
    events = read_events(tmp_path)
    assert events[0] == {"gen": 1} and {"gen": 0} not in events
    assert events[-1]["container_id"] == "c"


def test_a_file_of_exactly_one_mib_is_not_rotated(tmp_path: Path) -> None:
    (tmp_path / EVENTS_LOG).write_bytes(b" " * (ROTATE_BYTES - 1) + b"\n")
    Sink(tmp_path, "events.sock").handle(m.EVENTS_SERVICE, "Forward", task_exit("c", "c", 1, 0))
    assert not (tmp_path / f"{EVENTS_LOG}.1").exists()


def test_read_events_reads_rotated_then_current_and_skips_garbage(tmp_path: Path) -> None:
    assert read_events(tmp_path) == []
    assert read_events(tmp_path / "missing") == []
    (tmp_path / f"{EVENTS_LOG}.1").write_text('{"n": 1}\nnot json\n{"n": 2}\n')
    assert read_events(tmp_path) == [{"n": 1}, {"n": 2}]
    (tmp_path / EVENTS_LOG).write_text('{"n": 3}\n{"n": 4')  # a torn last line
    assert read_events(tmp_path) == [{"n": 1}, {"n": 2}, {"n": 3}]


def test_concurrent_appends_do_not_interleave(tmp_path: Path) -> None:
    sink = Sink(tmp_path, "events.sock")

    def publish(k: int) -> None:
        for i in range(50):
            sink.handle(m.EVENTS_SERVICE, "Forward", task_exit(f"c{k}", f"e{i}", i, k))

    threads = [threading.Thread(target=publish, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    records = lines(tmp_path)
    assert len(records) == 200
    for k in range(4):
        assert [r["pid"] for r in records if r["container_id"] == f"c{k}"] == list(range(50))


def test_serve_exits_when_idle_but_not_while_a_shim_is_connected(
    sock_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ev, "IDLE_EXIT", 0.2)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock_dir / "events.sock"))
    listener.listen(4)
    sink = Sink(sock_dir, "events.sock")
    thread = threading.Thread(target=sink.serve, args=(listener,), daemon=True)
    thread.start()
    try:
        with TtrpcClient(str(sock_dir / "events.sock"), timeout=5) as client:
            client.call(m.EVENTS_SERVICE, "Forward", m.FORWARD_REQUEST, {}, m.EMPTY)
            thread.join(1.5)  # more than one accept timeout with a connection open
            assert thread.is_alive(), "the sink left while a shim was connected"
        thread.join(5)
        assert not thread.is_alive(), "the idle sink did not exit"
    finally:
        listener.close()


# --- the sink process -----------------------------------------------------------------------------


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
