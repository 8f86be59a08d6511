"""TaskClient against a fake containerd.task.v2.Task served by the product's serve_connection.

The fake decodes every request with the schema of shim.proto's request type for that method
(a table written here) and answers with canned responses, so each test sees which method a
TaskClient call names and which fields it sends.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any

import pytest
from ocimux.plugins.shimv2 import messages as m
from ocimux.plugins.shimv2.task import TaskClient
from ocimux.plugins.shimv2.ttrpc import TtrpcConnectionError, TtrpcError

from tests.unit.shimv2.ttrpc_peers import read_frame, write_frame

#: method → (request schema, response schema), from shim.proto's service definition
TASK_API = {
    "State": (m.STATE_REQUEST, m.STATE_RESPONSE),
    "Create": (m.CREATE_TASK_REQUEST, m.CREATE_TASK_RESPONSE),
    "Start": (m.START_REQUEST, m.START_RESPONSE),
    "Delete": (m.DELETE_REQUEST, m.DELETE_RESPONSE),
    "Pids": (m.PIDS_REQUEST, m.PIDS_RESPONSE),
    "Pause": (m.PAUSE_REQUEST, m.EMPTY),
    "Resume": (m.RESUME_REQUEST, m.EMPTY),
    "Checkpoint": (m.CHECKPOINT_TASK_REQUEST, m.EMPTY),
    "Kill": (m.KILL_REQUEST, m.EMPTY),
    "Exec": (m.EXEC_PROCESS_REQUEST, m.EMPTY),
    "ResizePty": (m.RESIZE_PTY_REQUEST, m.EMPTY),
    "CloseIO": (m.CLOSE_IO_REQUEST, m.EMPTY),
    "Update": (m.UPDATE_TASK_REQUEST, m.EMPTY),
    "Wait": (m.WAIT_REQUEST, m.WAIT_RESPONSE),
    "Stats": (m.STATS_REQUEST, m.STATS_RESPONSE),
    "Connect": (m.CONNECT_REQUEST, m.CONNECT_RESPONSE),
    "Shutdown": (m.SHUTDOWN_REQUEST, m.EMPTY),
}


class FakeTask:
    """Records (method, decoded request); answers from `replies` (a dict, or an exception)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.replies: dict[str, Any] = {}

    def __call__(self, service: str, method: str, payload: bytes) -> bytes:
        if service != m.TASK_SERVICE or method not in TASK_API:
            raise TtrpcError(12, f"{service}/{method} not implemented")
        request, response = TASK_API[method]
        self.calls.append((method, request.decode(payload)))
        reply = self.replies.get(method, {})
        if isinstance(reply, Exception):
            raise reply
        return response.encode(reply)


@pytest.fixture
def fake(ttrpc_server: Callable[..., str]) -> tuple[FakeTask, str]:
    task = FakeTask()
    return task, ttrpc_server(task)


def test_state(fake: tuple[FakeTask, str]) -> None:
    task, address = fake
    task.replies["State"] = {"id": "c1", "pid": 42, "status": 2, "exec_id": "e1", "terminal": True}
    with TaskClient(address, namespace="ns") as client:
        got = client.state("c1", "e1")
    assert task.calls == [("State", {"id": "c1", "exec_id": "e1"})]
    assert got["pid"] == 42 and m.STATUS_NAMES[got["status"]] == "running"
    assert got["exec_id"] == "e1" and got["terminal"] is True and got["exited_at"] is None


def test_kill(fake: tuple[FakeTask, str]) -> None:
    task, address = fake
    with TaskClient(address, namespace="ns") as client:
        assert client.kill("c1", 9, all_procs=True) is None
        client.kill("c1", 15, exec_id="e2")
    assert task.calls == [
        ("Kill", {"id": "c1", "exec_id": "", "signal": 9, "all": True}),
        ("Kill", {"id": "c1", "exec_id": "e2", "signal": 15, "all": False}),
    ]


def test_wait(fake: tuple[FakeTask, str]) -> None:
    task, address = fake
    task.replies["Wait"] = {"exit_status": 3, "exited_at": {"seconds": 1_700_000_000, "nanos": 7}}
    with TaskClient(address, namespace="ns") as client:
        got = client.wait("c1", "e1")
    assert task.calls == [("Wait", {"id": "c1", "exec_id": "e1"})]
    assert got == {"exit_status": 3, "exited_at": {"seconds": 1_700_000_000, "nanos": 7}}


def test_exec_sends_the_process_spec_as_json_in_an_any(fake: tuple[FakeTask, str]) -> None:
    task, address = fake
    process = {"args": ["sh", "-c", "exit 3"], "cwd": "/", "terminal": True, "env": ["A=b"]}
    with TaskClient(address, namespace="ns") as client:
        client.exec("c1", "e1", process, terminal=True, stdin="/i", stdout="/o")
    ((method, request),) = task.calls
    assert method == "Exec"
    spec = request.pop("spec")
    assert request == {
        "id": "c1", "exec_id": "e1", "terminal": True, "stdin": "/i", "stdout": "/o", "stderr": "",
    }  # fmt: skip
    assert spec["type_url"] == "types.containerd.io/opencontainers/runtime-spec/1/Process"
    assert json.loads(spec["value"]) == process


def test_create_start_connect_pids(fake: tuple[FakeTask, str]) -> None:
    task, address = fake
    task.replies.update(
        Create={"pid": 100},
        Start={"pid": 101},
        Connect={"shim_pid": 50, "task_pid": 100, "version": "2"},
        Pids={"processes": [{"pid": 100}, {"pid": 102, "info": {"type_url": "x"}}]},
    )
    options = {"type_url": m.RUNC_OPTIONS_TYPE, "value": m.RUNC_OPTIONS.encode(root="/r")}
    with TaskClient(address, namespace="ns") as client:
        assert client.create(
            id="c1", bundle="/b", terminal=True, stdin="/i", stdout="/o", options=options
        ) == {"pid": 100}
        assert client.start("c1") == {"pid": 101}
        assert client.connect("c1") == {"shim_pid": 50, "task_pid": 100, "version": "2"}
        assert client.pids("c1") == [100, 102]
    create = task.calls[0][1]
    assert create["id"] == "c1" and create["bundle"] == "/b" and create["terminal"] is True
    assert create["stdin"] == "/i" and create["stdout"] == "/o" and create["stderr"] == ""
    assert create["rootfs"] == [] and create["options"] == options
    assert task.calls[1:] == [
        ("Start", {"id": "c1", "exec_id": ""}),
        ("Connect", {"id": "c1"}),
        ("Pids", {"id": "c1"}),
    ]


@pytest.mark.parametrize(
    ("call", "method", "request_fields"),
    [
        (lambda c: c.delete("c1", "e1"), "Delete", {"id": "c1", "exec_id": "e1"}),
        (lambda c: c.pause("c1"), "Pause", {"id": "c1"}),
        (lambda c: c.resume("c1"), "Resume", {"id": "c1"}),
        (
            lambda c: c.resize_pty("c1", 120, 40, "e1"),
            "ResizePty",
            {"id": "c1", "exec_id": "e1", "width": 120, "height": 40},
        ),
        (lambda c: c.close_io("c1", "e1"), "CloseIO", {"id": "c1", "exec_id": "e1", "stdin": True}),
        (lambda c: c.shutdown("c1", now=True), "Shutdown", {"id": "c1", "now": True}),
        (lambda c: c.shutdown("c1"), "Shutdown", {"id": "c1", "now": False}),
        (lambda c: c.stats("c1"), "Stats", {"id": "c1"}),
        (
            lambda c: c.checkpoint("c1", "/img"),
            "Checkpoint",
            {"id": "c1", "path": "/img", "options": None},
        ),
    ],
)
def test_each_call_names_its_method_and_fields(
    fake: tuple[FakeTask, str], call: Callable, method: str, request_fields: dict
) -> None:
    task, address = fake
    with TaskClient(address, namespace="ns") as client:
        call(client)
    assert task.calls == [(method, request_fields)]


def test_update_sends_linux_resources_and_annotations(fake: tuple[FakeTask, str]) -> None:
    task, address = fake
    with TaskClient(address, namespace="ns") as client:
        client.update("c1", {"memory": {"limit": 1 << 20}}, {"a": "1", "b": ""})
    ((method, request),) = task.calls
    assert method == "Update" and request["id"] == "c1"
    assert request["annotations"] == {"a": "1", "b": ""}
    assert request["resources"]["type_url"].endswith("runtime-spec/1/LinuxResources")
    assert json.loads(request["resources"]["value"]) == {"memory": {"limit": 1 << 20}}


def test_a_shim_error_surfaces_with_its_code(fake: tuple[FakeTask, str]) -> None:
    task, address = fake
    task.replies["State"] = TtrpcError(5, "container c9: not found")
    with TaskClient(address, namespace="ns") as client:
        with pytest.raises(TtrpcError) as info:
            client.state("c9")
        assert info.value.code_name == "NotFound" and info.value.method == "State"
        assert "not found" in info.value.message
        task.replies["State"] = {"id": "c1"}
        assert client.state("c1")["id"] == "c1"  # the connection survives an error answer


def test_no_shim_at_the_address(sock_dir) -> None:
    with pytest.raises(TtrpcConnectionError, match="missing.sock"):
        TaskClient(str(sock_dir / "missing.sock"), namespace="ns")


def test_namespace_and_deadlines_on_the_wire(raw_server: Callable[..., str]) -> None:
    seen: list[dict[str, Any]] = []

    def script(conn: socket.socket) -> None:
        while True:
            _, stream, _, _, body = read_frame(conn)
            seen.append(m.REQUEST.decode(body))
            write_frame(conn, stream, 2, m.RESPONSE.encode())

    with TaskClient(raw_server(script), namespace="k8s.io", timeout=7.0) as client:
        client.start("c1")
        client.wait("c1")
    start, wait = seen
    assert start["service"] == wait["service"] == "containerd.task.v2.Task"
    assert (start["method"], wait["method"]) == ("Start", "Wait")
    assert start["metadata"] == [{"key": "containerd-namespace-ttrpc", "value": "k8s.io"}]
    assert start["timeout_nano"] == 7_000_000_000  # the client's timeout is every call's deadline
    assert wait["timeout_nano"] == 0  # Wait blocks for as long as the process runs
