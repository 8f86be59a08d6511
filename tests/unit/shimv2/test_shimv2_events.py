"""events: the sink shims publish to (Events.Forward → one JSON line per event).

`Sink.handle` in-process with hand-built ForwardRequests; rotation at 1 MiB; `read_events`;
`Sink.serve` in a thread. The sink as a process (`ensure_sink`) is tested in
tests/integration/shimv2/test_shimv2_events_sink.py.
"""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest
from ocimux.plugins.shimv2 import events as ev
from ocimux.plugins.shimv2 import messages as m
from ocimux.plugins.shimv2.events import EVENTS_LOG, ROTATE_BYTES, Sink, read_events
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
