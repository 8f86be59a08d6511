"""The shim v2 task API's messages, written from containerd's public .proto definitions.

Sources (containerd v1.6): `runtime/v2/task/shim.proto` (service `containerd.task.v2.Task`),
`api/types/task/task.proto` (Status, ProcessInfo), `api/types/mount.proto`,
`api/services/ttrpc/events/v1/events.proto` (the Events service a shim publishes to), the
well-known Any/Timestamp/Status types, `runtime/v2/runc/options/oci.proto` (the runc shim's
create options), and ttrpc's `request.proto` (Request, Response, KeyValue).
"""

from __future__ import annotations

import json
from typing import Any

from .protowire import Field, Schema

F = Field

# --- well-known and ttrpc types -----------------------------------------------------------------

ANY = Schema("google.protobuf.Any", type_url=F(1, "string"), value=F(2, "bytes"))
TIMESTAMP = Schema("google.protobuf.Timestamp", seconds=F(1, "int64"), nanos=F(2, "int32"))
RPC_STATUS = Schema(
    "google.rpc.Status",
    code=F(1, "int32"),
    message=F(2, "string"),
    details=F(3, "message", ANY, True),
)
KEY_VALUE = Schema("ttrpc.KeyValue", key=F(1, "string"), value=F(2, "string"))
REQUEST = Schema(
    "ttrpc.Request",
    service=F(1, "string"),
    method=F(2, "string"),
    payload=F(3, "bytes"),
    timeout_nano=F(4, "int64"),
    metadata=F(5, "message", KEY_VALUE, True),
)
RESPONSE = Schema("ttrpc.Response", status=F(1, "message", RPC_STATUS), payload=F(2, "bytes"))
EMPTY = Schema("google.protobuf.Empty")

# --- containerd types ---------------------------------------------------------------------------

MOUNT = Schema(
    "containerd.types.Mount",
    type=F(1, "string"),
    source=F(2, "string"),
    target=F(3, "string"),
    options=F(4, "string", repeated=True),
)
PROCESS_INFO = Schema(
    "containerd.v1.types.ProcessInfo", pid=F(1, "uint32"), info=F(2, "message", ANY)
)

#: containerd.v1.types.Status → ocimux's status names
STATUS_NAMES = {0: "unknown", 1: "created", 2: "running", 3: "stopped", 4: "paused", 5: "paused"}

# --- containerd.task.v2.Task --------------------------------------------------------------------

TASK_SERVICE = "containerd.task.v2.Task"

CREATE_TASK_REQUEST = Schema(
    "CreateTaskRequest",
    id=F(1, "string"),
    bundle=F(2, "string"),
    rootfs=F(3, "message", MOUNT, True),
    terminal=F(4, "bool"),
    stdin=F(5, "string"),
    stdout=F(6, "string"),
    stderr=F(7, "string"),
    checkpoint=F(8, "string"),
    parent_checkpoint=F(9, "string"),
    options=F(10, "message", ANY),
)
CREATE_TASK_RESPONSE = Schema("CreateTaskResponse", pid=F(1, "uint32"))
ID_EXEC = {"id": F(1, "string"), "exec_id": F(2, "string")}
START_REQUEST = Schema("StartRequest", **ID_EXEC)
START_RESPONSE = Schema("StartResponse", pid=F(1, "uint32"))
DELETE_REQUEST = Schema("DeleteRequest", **ID_EXEC)
DELETE_RESPONSE = Schema(
    "DeleteResponse",
    pid=F(1, "uint32"),
    exit_status=F(2, "uint32"),
    exited_at=F(3, "message", TIMESTAMP),
)
STATE_REQUEST = Schema("StateRequest", **ID_EXEC)
STATE_RESPONSE = Schema(
    "StateResponse",
    id=F(1, "string"),
    bundle=F(2, "string"),
    pid=F(3, "uint32"),
    status=F(4, "enum"),
    stdin=F(5, "string"),
    stdout=F(6, "string"),
    stderr=F(7, "string"),
    terminal=F(8, "bool"),
    exit_status=F(9, "uint32"),
    exited_at=F(10, "message", TIMESTAMP),
    exec_id=F(11, "string"),
)
KILL_REQUEST = Schema("KillRequest", **ID_EXEC, signal=F(3, "uint32"), all=F(4, "bool"))
EXEC_PROCESS_REQUEST = Schema(
    "ExecProcessRequest",
    **ID_EXEC,
    terminal=F(3, "bool"),
    stdin=F(4, "string"),
    stdout=F(5, "string"),
    stderr=F(6, "string"),
    spec=F(7, "message", ANY),
)
RESIZE_PTY_REQUEST = Schema(
    "ResizePtyRequest", **ID_EXEC, width=F(3, "uint32"), height=F(4, "uint32")
)
CLOSE_IO_REQUEST = Schema("CloseIORequest", **ID_EXEC, stdin=F(3, "bool"))
PIDS_REQUEST = Schema("PidsRequest", id=F(1, "string"))
PIDS_RESPONSE = Schema("PidsResponse", processes=F(1, "message", PROCESS_INFO, True))
CHECKPOINT_TASK_REQUEST = Schema(
    "CheckpointTaskRequest", id=F(1, "string"), path=F(2, "string"), options=F(3, "message", ANY)
)
UPDATE_TASK_REQUEST = Schema(
    "UpdateTaskRequest", id=F(1, "string"), resources=F(2, "message", ANY), annotations=F(3, "map")
)
WAIT_REQUEST = Schema("WaitRequest", **ID_EXEC)
WAIT_RESPONSE = Schema(
    "WaitResponse", exit_status=F(1, "uint32"), exited_at=F(2, "message", TIMESTAMP)
)
STATS_REQUEST = Schema("StatsRequest", id=F(1, "string"))
STATS_RESPONSE = Schema("StatsResponse", stats=F(1, "message", ANY))
CONNECT_REQUEST = Schema("ConnectRequest", id=F(1, "string"))
CONNECT_RESPONSE = Schema(
    "ConnectResponse", shim_pid=F(1, "uint32"), task_pid=F(2, "uint32"), version=F(3, "string")
)
SHUTDOWN_REQUEST = Schema("ShutdownRequest", id=F(1, "string"), now=F(2, "bool"))
PAUSE_REQUEST = Schema("PauseRequest", id=F(1, "string"))
RESUME_REQUEST = Schema("ResumeRequest", id=F(1, "string"))

# --- containerd.services.events.ttrpc.v1.Events (what a shim publishes to) -----------------------

EVENTS_SERVICE = "containerd.services.events.ttrpc.v1.Events"
ENVELOPE = Schema(
    "Envelope",
    timestamp=F(1, "message", TIMESTAMP),
    namespace=F(2, "string"),
    topic=F(3, "string"),
    event=F(4, "message", ANY),
)
FORWARD_REQUEST = Schema("ForwardRequest", envelope=F(1, "message", ENVELOPE))
#: containerd.events.TaskExit (api/events/task.proto): the one event whose fields ocimux records
TASK_EXIT = Schema(
    "containerd.events.TaskExit",
    container_id=F(1, "string"),
    id=F(2, "string"),
    pid=F(3, "uint32"),
    exit_status=F(4, "uint32"),
    exited_at=F(5, "message", TIMESTAMP),
)
#: other task events carry at least the container id in field 1
CONTAINER_EVENT = Schema("containerd.events.Task*", container_id=F(1, "string"))

# --- the runc shim's create options (containerd.runc.v1.Options) --------------------------------

RUNC_OPTIONS_TYPE = "containerd.runc.v1.Options"
RUNC_OPTIONS = Schema(
    RUNC_OPTIONS_TYPE,
    no_pivot_root=F(1, "bool"),
    no_new_keyring=F(2, "bool"),
    shim_cgroup=F(3, "string"),
    io_uid=F(4, "uint32"),
    io_gid=F(5, "uint32"),
    binary_name=F(6, "string"),
    root=F(7, "string"),
    criu_path=F(8, "string"),
    systemd_cgroup=F(9, "bool"),
    criu_image_path=F(10, "string"),
    criu_work_path=F(11, "string"),
)

#: containerd registers runtime-spec types as JSON under these URLs (containerd/typeurl)
SPEC_TYPE_PREFIX = "types.containerd.io/opencontainers/runtime-spec/1/"


def spec_any(type_name: str, value: Any) -> dict[str, Any]:
    """An Any holding a runtime-spec struct as JSON ("Process", "LinuxResources")."""
    return {"type_url": SPEC_TYPE_PREFIX + type_name, "value": json.dumps(value).encode()}
