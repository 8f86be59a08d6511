"""messages: field numbers pinned to containerd's .proto files by hand-written bytes.

Every expected byte string below was written from the .proto definitions (containerd v1.6
runtime/v2/task/shim.proto, api/types/task/task.proto, api/events/task.proto,
api/services/ttrpc/events/v1/events.proto, runtime/v2/runc/options/oci.proto, ttrpc's
request.proto): key byte = field number << 3 | wire type (0 varint, 2 length-delimited).
"""

from __future__ import annotations

import json

import pytest
from ocimux.plugins.shimv2 import messages as m


def ld(number: int, body: bytes) -> bytes:
    """A length-delimited field with a one-byte key and length."""
    assert number < 16 and len(body) < 128
    return bytes([number << 3 | 2, len(body)]) + body


def vi(number: int, value: int) -> bytes:
    """A varint field with a one-byte key and a value below 128."""
    assert number < 16 and value < 128
    return bytes([number << 3, value])


# --- containerd.task.v2.Task requests -------------------------------------------------------------


def test_create_task_request() -> None:
    # id=1 bundle=2 rootfs=3 terminal=4 stdin=5 stdout=6 stderr=7 ... options=10 (Any)
    got = m.CREATE_TASK_REQUEST.encode(
        id="c1",
        bundle="/b",
        terminal=True,
        stdin="/in",
        stdout="/out",
        options={"type_url": "T", "value": b"\x01"},
    )
    options = ld(1, b"T") + ld(2, b"\x01")  # Any: type_url=1, value=2
    assert got == (
        ld(1, b"c1")
        + ld(2, b"/b")
        + vi(4, 1)
        + ld(5, b"/in")
        + ld(6, b"/out")
        + b"\x52\x06"
        + options
    )


def test_create_task_request_rootfs_mounts() -> None:
    # Mount: type=1 source=2 target=3 options=4 (repeated string)
    got = m.CREATE_TASK_REQUEST.encode(
        rootfs=[{"type": "bind", "source": "/s", "options": ["rbind", "ro"]}], stderr="/e"
    )
    mount = ld(1, b"bind") + ld(2, b"/s") + ld(4, b"rbind") + ld(4, b"ro")
    assert got == ld(3, mount) + ld(7, b"/e")


def test_kill_request() -> None:
    # id=1 exec_id=2 signal=3 all=4
    assert m.KILL_REQUEST.encode(id="c", signal=9, all=True) == b"\x0a\x01c\x18\x09\x20\x01"
    assert m.KILL_REQUEST.encode(id="c", exec_id="e", signal=15) == b"\x0a\x01c\x12\x01e\x18\x0f"


@pytest.mark.parametrize(
    "schema",
    [
        m.START_REQUEST,
        m.DELETE_REQUEST,
        m.STATE_REQUEST,
        m.WAIT_REQUEST,
        m.KILL_REQUEST,
        m.EXEC_PROCESS_REQUEST,
        m.RESIZE_PTY_REQUEST,
        m.CLOSE_IO_REQUEST,
    ],
)
def test_requests_about_a_process_carry_id_1_and_exec_id_2(schema: m.Schema) -> None:
    assert schema.encode(id="ctr", exec_id="ex") == b"\x0a\x03ctr\x12\x02ex"


@pytest.mark.parametrize(
    "schema",
    [
        m.PIDS_REQUEST,
        m.STATS_REQUEST,
        m.CONNECT_REQUEST,
        m.SHUTDOWN_REQUEST,
        m.PAUSE_REQUEST,
        m.RESUME_REQUEST,
        m.CHECKPOINT_TASK_REQUEST,
        m.UPDATE_TASK_REQUEST,
    ],
)
def test_container_requests_carry_id_1(schema: m.Schema) -> None:
    assert schema.encode(id="ctr") == b"\x0a\x03ctr"


def test_exec_process_request_with_a_spec_any() -> None:
    # id=1 exec_id=2 terminal=3 stdin=4 stdout=5 stderr=6 spec=7
    spec = m.spec_any("Process", {"args": ["sh"]})
    got = m.EXEC_PROCESS_REQUEST.encode(
        id="c", exec_id="e", terminal=True, stdin="/i", stdout="/o", stderr="/x", spec=spec
    )
    any_body = ld(1, spec["type_url"].encode()) + ld(2, b'{"args": ["sh"]}')
    head = ld(1, b"c") + ld(2, b"e") + vi(3, 1) + ld(4, b"/i") + ld(5, b"/o") + ld(6, b"/x")
    assert got == head + ld(7, any_body)


def test_resize_close_io_shutdown_checkpoint() -> None:
    # ResizePty: width=3 height=4; CloseIO: stdin=3; Shutdown: now=2; Checkpoint: path=2
    assert m.RESIZE_PTY_REQUEST.encode(id="c", width=80, height=24) == b"\x0a\x01c\x18\x50\x20\x18"
    assert m.CLOSE_IO_REQUEST.encode(id="c", stdin=True) == b"\x0a\x01c\x18\x01"
    assert m.SHUTDOWN_REQUEST.encode(id="c", now=True) == b"\x0a\x01c\x10\x01"
    assert m.CHECKPOINT_TASK_REQUEST.encode(id="c", path="/p") == b"\x0a\x01c\x12\x02/p"


def test_update_task_request_resources_and_annotations() -> None:
    # resources=2 (Any), annotations=3 (map<string,string>)
    got = m.UPDATE_TASK_REQUEST.encode(
        id="c", resources={"type_url": "R", "value": b"{}"}, annotations={"k": "v"}
    )
    assert got == ld(1, b"c") + ld(2, ld(1, b"R") + ld(2, b"{}")) + ld(3, ld(1, b"k") + ld(2, b"v"))


# --- responses ------------------------------------------------------------------------------------


def test_wait_response_decodes() -> None:
    # exit_status=1, exited_at=2 (Timestamp: seconds=1 int64, nanos=2 int32)
    data = b"\x08\x03" + ld(2, b"\x08\x80\x01\x10\x05")
    assert m.WAIT_RESPONSE.decode(data) == {
        "exit_status": 3,
        "exited_at": {"seconds": 128, "nanos": 5},
    }
    assert m.WAIT_RESPONSE.decode(b"") == {"exit_status": 0, "exited_at": None}


def test_state_response_decodes_and_names_its_status() -> None:
    # id=1 bundle=2 pid=3 status=4 stdin=5 stdout=6 stderr=7 terminal=8 exit_status=9
    # exited_at=10 exec_id=11
    data = (
        ld(1, b"c")
        + ld(2, b"/b")
        + vi(3, 42)
        + vi(4, 2)
        + ld(6, b"/o")
        + vi(8, 1)
        + b"\x5a\x01e"  # exec_id = 11: (11 << 3 | 2) = 0x5a
    )
    got = m.STATE_RESPONSE.decode(data)
    assert got["id"] == "c" and got["bundle"] == "/b" and got["pid"] == 42
    assert got["status"] == 2 and m.STATUS_NAMES[got["status"]] == "running"
    assert got["stdout"] == "/o" and got["stdin"] == "" and got["terminal"] is True
    assert got["exec_id"] == "e" and got["exit_status"] == 0 and got["exited_at"] is None

    stopped = m.STATE_RESPONSE.decode(vi(4, 3) + b"\x48\x89\x01" + ld(10, b"\x08\x01"))
    assert m.STATUS_NAMES[stopped["status"]] == "stopped"
    assert stopped["exit_status"] == 137 and stopped["exited_at"] == {"seconds": 1, "nanos": 0}


def test_status_enum_matches_task_proto() -> None:
    # UNKNOWN=0 CREATED=1 RUNNING=2 STOPPED=3 PAUSED=4 PAUSING=5
    assert m.STATUS_NAMES == {
        0: "unknown",
        1: "created",
        2: "running",
        3: "stopped",
        4: "paused",
        5: "paused",
    }


def test_small_responses_decode() -> None:
    assert m.CREATE_TASK_RESPONSE.decode(b"\x08\xe8\x07") == {"pid": 1000}
    assert m.START_RESPONSE.decode(b"\x08\x07") == {"pid": 7}
    # Delete: pid=1 exit_status=2 exited_at=3
    assert m.DELETE_RESPONSE.decode(b"\x08\x07\x10\x01" + ld(3, b"")) == {
        "pid": 7,
        "exit_status": 1,
        "exited_at": {"seconds": 0, "nanos": 0},
    }
    # Connect: shim_pid=1 task_pid=2 version=3
    assert m.CONNECT_RESPONSE.decode(b"\x08\x0a\x10\x0b" + ld(3, b"v2")) == {
        "shim_pid": 10,
        "task_pid": 11,
        "version": "v2",
    }
    # Pids: repeated ProcessInfo processes=1 (pid=1, info=2)
    procs = ld(1, b"\x08\x05") + ld(1, b"\x08\x06" + ld(2, ld(1, b"x")))
    assert m.PIDS_RESPONSE.decode(procs) == {
        "processes": [
            {"pid": 5, "info": None},
            {"pid": 6, "info": {"type_url": "x", "value": b""}},
        ]
    }
    assert m.STATS_RESPONSE.decode(ld(1, ld(1, b"t") + ld(2, b"v"))) == {
        "stats": {"type_url": "t", "value": b"v"}
    }


# --- events ---------------------------------------------------------------------------------------


def test_forward_request_with_a_task_exit() -> None:
    # TaskExit: container_id=1 id=2 pid=3 exit_status=4 exited_at=5
    exit_event = m.TASK_EXIT.encode(container_id="c", id="e", pid=7, exit_status=3)
    assert exit_event == ld(1, b"c") + ld(2, b"e") + vi(3, 7) + vi(4, 3)
    # Envelope: timestamp=1 namespace=2 topic=3 event=4; ForwardRequest: envelope=1
    got = m.FORWARD_REQUEST.encode(
        envelope={
            "timestamp": {"seconds": 5},
            "namespace": "ns",
            "topic": "/tasks/exit",
            "event": {"type_url": "containerd.events.TaskExit", "value": exit_event},
        }
    )
    event = ld(1, b"containerd.events.TaskExit") + ld(2, exit_event)
    envelope = ld(1, vi(1, 5)) + ld(2, b"ns") + ld(3, b"/tasks/exit") + ld(4, event)
    assert got == ld(1, envelope)
    assert m.CONTAINER_EVENT.decode(exit_event) == {"container_id": "c"}


# --- ttrpc envelope and runc options --------------------------------------------------------------


def test_ttrpc_request_and_response() -> None:
    # Request: service=1 method=2 payload=3 timeout_nano=4 metadata=5 (KeyValue key=1 value=2)
    got = m.REQUEST.encode(
        service="S",
        method="M",
        payload=b"\x01",
        timeout_nano=100,
        metadata=[{"key": "k", "value": "v"}],
    )
    assert got == ld(1, b"S") + ld(2, b"M") + ld(3, b"\x01") + vi(4, 100) + ld(
        5, ld(1, b"k") + ld(2, b"v")
    )
    # Response: status=1 (google.rpc.Status code=1 message=2), payload=2
    data = ld(1, vi(1, 5) + ld(2, b"not found")) + ld(2, b"\x08\x01")
    assert m.RESPONSE.decode(data) == {
        "status": {"code": 5, "message": "not found", "details": []},
        "payload": b"\x08\x01",
    }


def test_runc_options() -> None:
    # containerd.runc.v1.Options: binary_name=6 root=7 systemd_cgroup=9
    assert m.RUNC_OPTIONS_TYPE == "containerd.runc.v1.Options"
    got = m.RUNC_OPTIONS.encode(root="/r", binary_name="crun", systemd_cgroup=True)
    assert got == ld(6, b"crun") + ld(7, b"/r") + vi(9, 1)
    assert m.RUNC_OPTIONS.encode(no_pivot_root=True, io_uid=5) == b"\x08\x01\x20\x05"


def test_spec_any_is_containerd_typeurl_json() -> None:
    process = {"args": ["sh", "-c", "echo ü"], "terminal": True, "cwd": "/"}
    got = m.spec_any("Process", process)
    assert got["type_url"] == "types.containerd.io/opencontainers/runtime-spec/1/Process"
    assert isinstance(got["value"], bytes)
    assert json.loads(got["value"]) == process
    resources = m.spec_any("LinuxResources", {"memory": {"limit": 1}})
    assert (
        resources["type_url"] == "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources"
    )
    assert m.ANY.decode(m.ANY.encode(got)) == got


def test_service_names() -> None:
    assert m.TASK_SERVICE == "containerd.task.v2.Task"
    assert m.EVENTS_SERVICE == "containerd.services.events.ttrpc.v1.Events"
    assert m.EMPTY.encode() == b"" and m.EMPTY.decode(b"\x08\x01") == {}
