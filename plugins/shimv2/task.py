"""`TaskClient`: the shim v2 task service (`containerd.task.v2.Task`) as typed Python calls.

One method per RPC of shim.proto; each returns the decoded response (a dict) and raises
`TtrpcError` (the shim answered with an error status) or `TtrpcConnectionError` (no shim at
the address, or it went away mid-call). The runtime translates those into ocimux errors.
"""

from __future__ import annotations

from typing import Any

from . import messages as m
from .protowire import Schema
from .ttrpc import TtrpcClient

__all__ = ["TaskClient"]


class TaskClient:
    """A connection to one shim's task service."""

    def __init__(self, address: str, *, namespace: str, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._client = TtrpcClient(address, timeout=min(timeout, 5.0), namespace=namespace)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> TaskClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(
        self,
        method: str,
        request: Schema,
        response: Schema,
        timeout: float | None = -1.0,
        **values: Any,
    ) -> dict[str, Any]:
        wait = self.timeout if timeout == -1.0 else timeout
        return self._client.call(m.TASK_SERVICE, method, request, values, response, timeout=wait)

    def create(self, **values: Any) -> dict[str, Any]:
        """CreateTaskRequest: id, bundle, rootfs, terminal, stdin/stdout/stderr, options."""
        return self._call("Create", m.CREATE_TASK_REQUEST, m.CREATE_TASK_RESPONSE, **values)

    def start(self, cid: str, exec_id: str = "") -> dict[str, Any]:
        return self._call("Start", m.START_REQUEST, m.START_RESPONSE, id=cid, exec_id=exec_id)

    def state(self, cid: str, exec_id: str = "") -> dict[str, Any]:
        return self._call("State", m.STATE_REQUEST, m.STATE_RESPONSE, id=cid, exec_id=exec_id)

    def kill(self, cid: str, signal: int, *, all_procs: bool = False, exec_id: str = "") -> None:
        self._call(
            "Kill", m.KILL_REQUEST, m.EMPTY, id=cid, exec_id=exec_id, signal=signal, all=all_procs
        )

    def delete(self, cid: str, exec_id: str = "") -> dict[str, Any]:
        return self._call("Delete", m.DELETE_REQUEST, m.DELETE_RESPONSE, id=cid, exec_id=exec_id)

    def pids(self, cid: str) -> list[int]:
        answer = self._call("Pids", m.PIDS_REQUEST, m.PIDS_RESPONSE, id=cid)
        return [p["pid"] for p in answer["processes"]]

    def pause(self, cid: str) -> None:
        self._call("Pause", m.PAUSE_REQUEST, m.EMPTY, id=cid)

    def resume(self, cid: str) -> None:
        self._call("Resume", m.RESUME_REQUEST, m.EMPTY, id=cid)

    def exec(self, cid: str, exec_id: str, process: dict[str, Any], **io: Any) -> None:
        """ExecProcessRequest: the process spec travels as JSON in an Any (containerd's typeurl)."""
        self._call(
            "Exec", m.EXEC_PROCESS_REQUEST, m.EMPTY,
            id=cid, exec_id=exec_id, spec=m.spec_any("Process", process), **io,
        )  # fmt: skip

    def resize_pty(self, cid: str, width: int, height: int, exec_id: str = "") -> None:
        self._call(
            "ResizePty",
            m.RESIZE_PTY_REQUEST,
            m.EMPTY,
            id=cid,
            exec_id=exec_id,
            width=width,
            height=height,
        )

    def close_io(self, cid: str, exec_id: str = "", *, stdin: bool = True) -> None:
        self._call("CloseIO", m.CLOSE_IO_REQUEST, m.EMPTY, id=cid, exec_id=exec_id, stdin=stdin)

    def update(
        self, cid: str, resources: dict[str, Any], annotations: dict[str, str] | None = None
    ) -> None:
        self._call(
            "Update", m.UPDATE_TASK_REQUEST, m.EMPTY,
            id=cid, resources=m.spec_any("LinuxResources", resources), annotations=annotations,
        )  # fmt: skip

    def wait(self, cid: str, exec_id: str = "") -> dict[str, Any]:
        """Block until the process exits (no timeout); returns exit_status and exited_at."""
        return self._call("Wait", m.WAIT_REQUEST, m.WAIT_RESPONSE, None, id=cid, exec_id=exec_id)

    def stats(self, cid: str) -> dict[str, Any]:
        return self._call("Stats", m.STATS_REQUEST, m.STATS_RESPONSE, id=cid)

    def connect(self, cid: str) -> dict[str, Any]:
        """shim_pid, task_pid and the shim's version."""
        return self._call("Connect", m.CONNECT_REQUEST, m.CONNECT_RESPONSE, id=cid)

    def shutdown(self, cid: str, *, now: bool = False) -> None:
        self._call("Shutdown", m.SHUTDOWN_REQUEST, m.EMPTY, id=cid, now=now)

    def checkpoint(self, cid: str, path: str, options: dict[str, Any] | None = None) -> None:
        self._call(
            "Checkpoint", m.CHECKPOINT_TASK_REQUEST, m.EMPTY, id=cid, path=path, options=options
        )
