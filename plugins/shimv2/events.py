"""The event sink shims publish to: containerd's `Events.Forward` over ttrpc, served by ocimux.

A shim v2 sends every task event (/tasks/create, /tasks/start, /tasks/exit, /tasks/oom,
/tasks/exec-added, /tasks/paused, /tasks/delete, ...) to the ttrpc address in its
`TTRPC_ADDRESS`, retrying failures; on Shutdown it waits up to 5 s for its queue to drain
(runtime/v2/shim/shim.go, publisher.go). With nobody listening every container's removal
would take those 5 s, and the events would be lost. This sink, one per runtime state
directory, accepts them and appends one JSON line per event to `events.jsonl` (rotated at
1 MiB): time, namespace, topic, event type, container id, and for /tasks/exit the exec id,
pid and exit status.

Started on demand by the runtime (`ensure_sink`) as `python -m ocimux.plugins.shimv2.events`;
a lock file keeps it to one per directory; it exits after `IDLE_EXIT` seconds without a
connected shim.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ocimux.base.errors import RuntimeCommandError
from ocimux.base.sockets import listening

from . import messages as m
from .protowire import DecodeError
from .ttrpc import TtrpcError, serve_connection

__all__ = ["EVENTS_LOG", "ensure_sink", "main", "read_events"]

EVENTS_LOG = "events.jsonl"
LOCK = "events.lock"
ROTATE_BYTES = 1 << 20
IDLE_EXIT = 10.0


def ensure_sink(socket_path: Path, timeout: float) -> None:
    """Make sure a sink serves `socket_path`; start one if nobody answers there."""
    if listening(socket_path):
        return
    # lazy: the sink process (this module) never starts one
    from ocimux.base import process

    argv = [sys.executable, "-I", "-m", __name__, "--dir", str(socket_path.parent)]
    argv += ["--socket", socket_path.name]
    done = process.run(argv, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeCommandError(
            f"cannot start the shim event sink: {done.stderr_text or f'exit {done.returncode}'}",
            argv=argv, exit_status=done.returncode, verb="create",
        )  # fmt: skip


def read_events(directory: Path) -> list[dict[str, Any]]:
    """The recorded events, oldest first (the rotated file too)."""
    out = []
    for name in (f"{EVENTS_LOG}.1", EVENTS_LOG):
        with contextlib.suppress(OSError):
            for line in (directory / name).read_text().splitlines():
                with contextlib.suppress(ValueError):
                    out.append(json.loads(line))
    return out


class Sink:
    def __init__(self, directory: Path, socket_name: str) -> None:
        self.directory = directory
        self.socket_name = socket_name
        self.lock = threading.Lock()
        self.connections = 0
        self.idle_since = time.monotonic()

    def handle(self, service: str, method: str, payload: bytes) -> bytes:
        if (service, method) != (m.EVENTS_SERVICE, "Forward"):
            raise TtrpcError(12, f"{service}/{method} is not served here")
        envelope = m.FORWARD_REQUEST.decode(payload)["envelope"] or {}
        event = envelope.get("event") or {}
        type_url = event.get("type_url", "")
        record: dict[str, Any] = {
            "time": (envelope.get("timestamp") or {}).get("seconds", 0),
            "namespace": envelope.get("namespace", ""),
            "topic": envelope.get("topic", ""),
            "type": type_url,
        }
        try:
            if type_url.endswith("TaskExit"):
                fields = m.TASK_EXIT.decode(event.get("value", b""))
                record.update(
                    container_id=fields["container_id"],
                    exec_id=fields["id"] if fields["id"] != fields["container_id"] else "",
                    pid=fields["pid"],
                    exit_status=fields["exit_status"],
                )
            else:
                record["container_id"] = m.CONTAINER_EVENT.decode(event.get("value", b""))[
                    "container_id"
                ]
        except DecodeError:
            record["undecodable"] = True
        self._append(json.dumps(record) + "\n")
        return b""

    def _append(self, line: str) -> None:
        with self.lock:
            path = self.directory / EVENTS_LOG
            with contextlib.suppress(OSError):
                if path.stat().st_size > ROTATE_BYTES:
                    os.replace(path, self.directory / f"{EVENTS_LOG}.1")
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)

    def serve(self, listener: socket.socket) -> None:
        listener.settimeout(1.0)
        while True:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                with self.lock:
                    idle = self.connections == 0 and time.monotonic() - self.idle_since > IDLE_EXIT
                if idle:
                    return
                continue
            conn.settimeout(None)
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve_one, args=(conn,), daemon=True).start()

    def _serve_one(self, conn: socket.socket) -> None:
        try:
            serve_connection(conn, self.handle)
        finally:
            with self.lock:
                self.connections -= 1
                self.idle_since = time.monotonic()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ocimux-shimv2-events")
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--socket", default="events.sock")
    args = parser.parse_args(argv)
    args.dir = Path(args.dir).resolve()
    os.chdir(args.dir)
    os.umask(0o077)
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid:
        os.close(ready_w)
        with os.fdopen(ready_r, "rb") as fh:
            answer = fh.read().decode(errors="replace")
        os.waitpid(pid, os.WNOHANG)
        if answer.startswith("ok"):
            return 0
        print(answer or "the event sink died while starting", file=sys.stderr)
        return 1
    os.close(ready_r)
    os.setsid()
    lock_fd = os.open(LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.write(ready_w, b"ok (another sink serves this directory)")
        os._exit(0)
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(args.socket)  # stale: its sink is gone (we hold the lock)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        listener.bind(args.socket)
        listener.listen(64)
    except OSError as exc:
        os.write(ready_w, f"cannot serve events in {args.dir}: {exc}".encode())
        os._exit(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.write(ready_w, b"ok")
    os.close(ready_w)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    try:
        Sink(args.dir, args.socket).serve(listener)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(args.socket)
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
