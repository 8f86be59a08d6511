"""The Docker Engine API subset `ocimux serve` answers, over the Dispatcher.

Each endpoint is one method of `DockerApi`, listed in `ENDPOINTS` with what the OpenAPI
description says of it (openapi.py builds the document from that table, so the two cannot
drift). Shapes follow the Docker Engine API v1.43 reference: containers are Docker's
(`Id`, `Names: ["/web"]`, `State`, `Status: "Up 3 seconds"`), images are rootfs directories
registered with `ocimux image add`, errors are `{"message": ...}` with Docker's status codes.

Docker's exec model creates a session, then starts it; ocimux starts at once. A created exec
lives in this process until `exec/{id}/start`; its id is then mapped to ocimux's session.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocimux.errors import (
    CapabilityError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    OcimuxError,
    RuntimeNotFoundError,
    StateError,
)

from .httpd import ApiError, Request, Response, Route, compile_route
from .images import ImageStore, image_id

if TYPE_CHECKING:
    from ocimux.dispatcher import Dispatcher
    from ocimux.store import ContainerRecord

__all__ = ["API_VERSION", "ENDPOINTS", "DockerApi"]

API_VERSION = "1.43"
MIN_API_VERSION = "1.24"
RAW = "application/vnd.docker.raw-stream"
MUX = "application/vnd.docker.multiplexed-stream"
ZERO_TIME = "0001-01-01T00:00:00Z"
#: annotation recording the Docker image name a container was created from
IMAGE_ANNOTATION = "io.ocimux.image"

_DOCKER_STATE = {
    "created": "created", "creating": "created", "running": "running", "paused": "paused",
    "stopped": "exited", "removing": "removing", "unknown": "dead",
}  # fmt: skip


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: str
    summary: str
    query: tuple[tuple[str, str], ...] = ()  # (name, type)
    body: bool = False
    responses: tuple[int, ...] = (200,)
    tags: tuple[str, ...] = field(default=())


E = Endpoint
ENDPOINTS: tuple[Endpoint, ...] = (
    E("GET", "/_ping", "ping", "Ping the server", responses=(200,)),
    E("GET", "/version", "version", "Version of the server"),
    E("GET", "/info", "info", "System information, with ocimux's runtimes in Runtimes"),
    E("POST", "/containers/create", "create", "Create a container", (("name", "string"),), True, (201, 400, 404, 409)),
    E("GET", "/containers/json", "list", "List containers", (("all", "boolean"), ("limit", "integer"), ("size", "boolean"), ("filters", "string")), responses=(200, 400)),
    E("GET", "/containers/{id}/json", "inspect", "Inspect a container", (("size", "boolean"),), responses=(200, 404)),
    E("POST", "/containers/{id}/start", "start", "Start a container", responses=(204, 304, 404, 409, 500)),
    E("POST", "/containers/{id}/stop", "stop", "Stop a container", (("t", "integer"), ("signal", "string")), responses=(204, 304, 400, 404, 500)),
    E("POST", "/containers/{id}/restart", "restart", "Restart a container", (("t", "integer"),), responses=(204, 400, 404, 409, 500)),
    E("POST", "/containers/{id}/kill", "kill", "Kill a container", (("signal", "string"),), responses=(204, 400, 404, 409, 500)),
    E("POST", "/containers/{id}/wait", "wait", "Wait for a container", (("condition", "string"),), responses=(200, 400, 404)),
    E("POST", "/containers/{id}/pause", "pause", "Pause a container", responses=(204, 400, 404, 409, 500)),
    E("POST", "/containers/{id}/unpause", "unpause", "Unpause a container", responses=(204, 400, 404, 409, 500)),
    E("POST", "/containers/{id}/attach", "attach", "Attach to a container (hijacked stream)", (("stream", "boolean"), ("logs", "boolean"), ("stdin", "boolean"), ("stdout", "boolean"), ("stderr", "boolean"), ("detachKeys", "string")), responses=(101, 200, 400, 404, 409)),
    E("POST", "/containers/{id}/resize", "resize", "Resize a container's TTY", (("h", "integer"), ("w", "integer")), responses=(200, 400, 404, 409)),
    E("GET", "/containers/{id}/logs", "logs", "A container's logs", (("follow", "boolean"), ("stdout", "boolean"), ("stderr", "boolean"), ("timestamps", "boolean"), ("tail", "string"), ("since", "string"), ("until", "string")), responses=(200, 400, 404)),
    E("DELETE", "/containers/{id}", "remove", "Remove a container", (("force", "boolean"), ("v", "boolean"), ("link", "boolean")), responses=(204, 400, 404, 409, 500)),
    E("POST", "/containers/{id}/exec", "exec_create", "Create an exec instance", body=True, responses=(201, 400, 404, 409)),
    E("POST", "/exec/{id}/start", "exec_start", "Start an exec instance (hijacked stream)", body=True, responses=(101, 200, 400, 404, 409)),
    E("POST", "/exec/{id}/resize", "exec_resize", "Resize an exec instance's TTY", (("h", "integer"), ("w", "integer")), responses=(200, 400, 404, 409)),
    E("GET", "/exec/{id}/json", "exec_inspect", "Inspect an exec instance", responses=(200, 404)),
    E("GET", "/images/json", "images", "List images", (("all", "boolean"), ("filters", "string")), responses=(200,)),
    E("GET", "/images/{name}/json", "image_inspect", "Inspect an image", responses=(200, 404)),
)  # fmt: skip


def _rfc3339(epoch: float | None) -> str:
    if not epoch:
        return ZERO_TIME
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch))
    return f"{whole}.{int((epoch % 1) * 1e9):09d}Z"


def _ago(epoch: float | None) -> str:
    seconds = max(0, int(time.time() - (epoch or time.time())))
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    if seconds < 1:
        return "Less than a second"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


@dataclass
class _Exec:
    id: str
    container: str
    options: Any  # ExecOptions
    attach_stdin: bool
    session: str | None = None
    running: bool = False
    exit_code: int | None = None
    pid: int = 0
    pending_size: tuple[int, int] | None = None


class DockerApi:
    """The endpoints, over one Dispatcher (thread-safe) and the image store."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.d = dispatcher
        self.image_store = ImageStore(dispatcher.config.state_dir)
        self.execs: dict[str, _Exec] = {}
        #: exit codes of containers removed by AutoRemove, for `wait` answering after removal
        self.exit_codes: dict[str, int] = {}
        #: HostConfig.ConsoleSize of created containers with a terminal, until they start
        self.console_sizes: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def routes(self) -> list[Route]:
        return [
            compile_route(e.method, e.path, self._wrap(getattr(self, e.handler))) for e in ENDPOINTS
        ]

    @staticmethod
    def _wrap(fn: Any) -> Any:
        def handler(request: Request) -> Response | None:
            try:
                return fn(request)
            except OcimuxError as exc:
                raise ApiError(_status_of(exc), _docker_message(exc)) from None

        return handler

    # --- system ---------------------------------------------------------------------------

    def ping(self, r: Request) -> Response:
        headers = {"API-Version": API_VERSION, "Docker-Experimental": "false", "OSType": "linux",
                   "Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"}  # fmt: skip
        return Response(200, b"OK", headers, content_type="text/plain; charset=utf-8")

    def _version(self) -> str:
        from ocimux._version import VERSION

        return VERSION

    def version(self, r: Request) -> Response:
        release = platform.release()
        return Response(200, {
            "Platform": {"Name": "ocimux"},
            "Components": [{"Name": "ocimux", "Version": self._version(), "Details": {}}],
            "Version": self._version(), "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": "", "GoVersion": "", "Os": "linux", "Arch": _arch(), "KernelVersion": release,
            "BuildTime": "",
        })  # fmt: skip

    def info(self, r: Request) -> Response:
        recs = self.d.list()
        counts = {
            s: sum(1 for c in recs if _DOCKER_STATE.get(c.status) == s)
            for s in ("running", "paused")
        }
        runtimes = {}
        for name in self.d.registry.runtime_names():
            try:
                runtime = self.d.registry.get(name)
            except OcimuxError:
                continue
            if runtime.unavailable_reason() is None:
                runtimes[name] = {"path": runtime.path or name}
        try:
            default = self.d.registry.default_name()
        except OcimuxError:
            default = ""
        return Response(200, {
            "ID": "ocimux", "Containers": len(recs), "ContainersRunning": counts["running"],
            "ContainersPaused": counts["paused"],
            "ContainersStopped": len(recs) - counts["running"] - counts["paused"],
            "Images": len(self.image_store.list()), "Driver": "rootfs", "DriverStatus": [],
            "Name": socket.gethostname(), "ServerVersion": self._version(), "OSType": "linux",
            "OperatingSystem": platform.platform(), "Architecture": platform.machine(),
            "KernelVersion": platform.release(), "NCPU": os.cpu_count() or 1,
            "MemTotal": _mem_total(), "DockerRootDir": str(self.d.config.state_dir),
            "Runtimes": runtimes, "DefaultRuntime": default, "SecurityOptions": [],
            "Warnings": [], "CgroupDriver": "cgroupfs", "Plugins": {"Volume": [], "Network": [], "Log": []},
        })  # fmt: skip

    # --- containers -----------------------------------------------------------------------

    def create(self, r: Request) -> Response:
        from ocimux.dispatcher import NewContainer

        body = r.json()
        host = body.get("HostConfig") or {}
        if not isinstance(host, dict):
            raise ApiError(400, "HostConfig must be an object")
        image_name = body.get("Image")
        if not isinstance(image_name, str) or not image_name:
            raise ApiError(400, "config must name an Image")
        image = self.image_store.get(image_name)
        args = _strings(body.get("Entrypoint"), "Entrypoint") + _strings(body.get("Cmd"), "Cmd")
        if not args:
            args = list(image.get("cmd") or [])
        if not args:
            raise ApiError(400, "no command specified")
        labels = body.get("Labels") or {}
        if not isinstance(labels, dict):
            raise ApiError(400, "Labels must be an object")
        annotations = {str(k): str(v) for k, v in labels.items()}
        annotations[IMAGE_ANNOTATION] = image["name"]
        stop_timeout = body.get("StopTimeout")
        if stop_timeout is not None and (
            not isinstance(stop_timeout, int) or isinstance(stop_timeout, bool)
        ):
            raise ApiError(400, "StopTimeout must be an integer")
        runtime = host.get("Runtime") or None
        if runtime is not None and not isinstance(runtime, str):
            raise ApiError(400, "HostConfig.Runtime must be a string")
        new = NewContainer(
            args=tuple(args),
            rootfs=_rootfs(image),
            name=r.query.get("name") or None,
            runtime=runtime,
            env=tuple(list(image.get("env") or []) + _strings(body.get("Env"), "Env")),
            cwd=_str_or_none(body.get("WorkingDir"), "WorkingDir"),
            user=_str_or_none(body.get("User"), "User"),
            stdin=bool(body.get("OpenStdin")),
            terminal=bool(body.get("Tty")),
            annotations=annotations,
            auto_remove=bool(host.get("AutoRemove")),
            stop_timeout=stop_timeout,
        )
        rec = self.d.create(new)
        size = host.get("ConsoleSize")
        if new.terminal and _valid_size(size):
            self.console_sizes[rec.id] = (size[0], size[1])  # applied before start
        return Response(201, {"Id": rec.id, "Warnings": []})

    def list(self, r: Request) -> Response:
        show_all = r.flag("all")
        limit = r.integer("limit", -1, low=-1)
        filters = _filters(r.query.get("filters"))
        out = []
        for rec in sorted(self.d.list(), key=lambda c: c.created_at, reverse=True):
            state = _DOCKER_STATE.get(rec.status, "dead")
            if not show_all and state not in ("running", "paused"):
                continue
            if not _matches(rec, state, filters):
                continue
            out.append(self._summary(rec, state))
        if limit is not None and limit >= 0:
            out = out[:limit]
        return Response(200, out)

    def _summary(self, rec: ContainerRecord, state: str) -> dict[str, Any]:
        image = (rec.config.get("annotations") or {}).get(IMAGE_ANNOTATION, "")
        command = " ".join(rec.config.get("command") or [])
        return {
            "Id": rec.id, "Names": [f"/{rec.name}"], "Image": image,
            "ImageID": image_id(image, str(rec.config.get("rootfs", ""))) if image else "",
            "Command": command, "Created": int(rec.created_at), "Ports": [],
            "Labels": _labels(rec), "State": state, "Status": _status_text(rec, state),
            "HostConfig": {"NetworkMode": "none"}, "NetworkSettings": {"Networks": {}}, "Mounts": [],
        }  # fmt: skip

    def _record(self, ref: str) -> ContainerRecord:
        return self.d.inspect(ref)

    def inspect(self, r: Request) -> Response:
        rec = self._record(r.params["id"])
        state = _DOCKER_STATE.get(rec.status, "dead")
        args = list(rec.config.get("command") or [])
        image = (rec.config.get("annotations") or {}).get(IMAGE_ANNOTATION, "")
        return Response(200, {
            "Id": rec.id, "Created": _rfc3339(rec.created_at),
            "Path": args[0] if args else "", "Args": args[1:],
            "State": {
                "Status": state, "Running": state in ("running", "paused"), "Paused": state == "paused",
                "Restarting": False, "OOMKilled": False, "Dead": state == "dead",
                "Pid": rec.pid if state in ("running", "paused") else 0,
                "ExitCode": rec.exit_code or 0, "Error": rec.status_reason,
                "StartedAt": _rfc3339(rec.started_at), "FinishedAt": _rfc3339(rec.finished_at),
            },
            "Image": image_id(image, str(rec.config.get("rootfs", ""))) if image else "",
            "ResolvConfPath": "", "HostnamePath": "", "HostsPath": "", "LogPath": "",
            "Name": f"/{rec.name}", "RestartCount": 0, "Driver": "rootfs", "Platform": "linux",
            "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "", "ExecIDs": None,
            # "json-file": Docker clients read logs only from drivers they know can be read
            # back; ocimux's k8s-file log can, through /logs
            "HostConfig": {"Runtime": rec.runtime, "AutoRemove": bool(rec.config.get("auto_remove")),
                           "LogConfig": {"Type": "json-file", "Config": {}},
                           "NetworkMode": "none", "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}},
            "GraphDriver": {"Name": "rootfs", "Data": {"RootFS": str(rec.config.get("rootfs", ""))}},
            "Mounts": [],
            "Config": {
                "Hostname": rec.id[:12], "Domainname": "", "User": rec.config.get("user") or "",
                "AttachStdin": False, "AttachStdout": True, "AttachStderr": True,
                "Tty": bool(rec.config.get("terminal")), "OpenStdin": bool(rec.config.get("stdin")),
                "StdinOnce": False, "Env": list(rec.config.get("env") or []), "Cmd": args,
                "Image": image, "WorkingDir": rec.config.get("cwd") or "", "Entrypoint": None,
                "Labels": _labels(rec), "StopSignal": str(rec.config.get("stop_signal", 15)),
                "StopTimeout": rec.config.get("stop_timeout"),
            },
            "NetworkSettings": {"Networks": {}, "Ports": {}},
        })  # fmt: skip

    def start(self, r: Request) -> Response:
        rec = self._record(r.params["id"])
        if rec.status in ("running", "paused"):
            return Response(304)
        if rec.status == "stopped":
            self._recreate(rec)  # Docker starts an exited container again
        size = self.console_sizes.pop(rec.id, None)
        if size and size != (0, 0):
            self.d.resize(rec.id, *size)  # the terminal has its size before the process runs
        rec = self.d.start(rec.id)
        if rec.config.get("auto_remove"):
            self._remove_when_stopped(rec.id)
        return Response(204)

    def _remove_when_stopped(self, cid: str) -> None:
        """Docker's AutoRemove: the server removes the container once it has exited."""

        def watch() -> None:
            rec = self._wait_status(cid, ("stopped", "unknown"))
            if rec is not None:
                self._remember_exit(cid, rec.exit_code)  # `wait` answers after the removal
                try:
                    self.d.delete(cid, force=True)
                except OcimuxError:
                    pass

        threading.Thread(target=watch, daemon=True, name=f"autoremove-{cid[:12]}").start()

    def _remember_exit(self, cid: str, code: int | None) -> None:
        with self._lock:
            self.exit_codes[cid] = code or 0
            while len(self.exit_codes) > 1000:
                self.exit_codes.pop(next(iter(self.exit_codes)))

    def _wait_status(
        self, cid: str, wanted: tuple[str, ...], timeout: float | None = None
    ) -> ContainerRecord | None:
        """Poll until the container is in one of `wanted`; None once it is gone."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.01
        while True:
            try:
                rec = self.d.inspect(cid)
            except NotFoundError:
                return None
            if rec.status in wanted or (deadline is not None and time.monotonic() > deadline):
                return rec
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def stop(self, r: Request) -> Response:
        rec = self._record(r.params["id"])
        timeout = r.integer("t", None) if "t" in r.query else r.integer("timeout", None)
        if rec.status == "stopped":
            return Response(304)
        self.d.stop(rec.id, float(timeout) if timeout is not None else None)
        return Response(204)

    def restart(self, r: Request) -> Response:
        rec = self._record(r.params["id"])
        timeout = r.integer("t", None)
        if rec.status in ("running", "paused"):
            rec = self.d.stop(rec.id, float(timeout) if timeout is not None else None)
        self._recreate(rec)
        self.d.start(rec.id)
        if rec.config.get("auto_remove"):
            self._remove_when_stopped(rec.id)
        return Response(204)

    def _recreate(self, rec: ContainerRecord) -> None:
        """Make an exited container created again: same id, name, config, creation time, log.

        An OCI container runs once; Docker's start of an exited container and its restart
        are a new runtime container under the old identity.
        """
        from ocimux.dispatcher import NewContainer

        c = rec.config
        new = NewContainer(
            id=rec.id, name=rec.name, runtime=rec.runtime, args=tuple(c.get("command") or ()),
            rootfs=_rootfs({"rootfs": c.get("rootfs")}), env=tuple(c.get("env") or ()),
            cwd=c.get("cwd"), user=c.get("user"), stdin=bool(c.get("stdin")),
            terminal=bool(c.get("terminal")), annotations=dict(c.get("annotations") or {}),
            auto_remove=bool(c.get("auto_remove")), stop_timeout=c.get("stop_timeout"),
        )  # fmt: skip
        log = self.d.runtime_of(rec).log_path(rec.id)
        kept = Path(self.d.config.state_dir) / f"restart-{rec.id}.log"
        with contextlib.suppress(OSError):
            os.replace(log, kept)  # the log outlives the re-creation, as Docker's does
        self.d.delete(rec.id, force=True)
        self.d.create(new)
        self.d.store.update_container(rec.id, created_at=rec.created_at)
        with contextlib.suppress(OSError):
            old_log = kept.read_bytes()
            kept.unlink()
            with open(log, "ab") as fh:  # before start: the monitor has written nothing yet
                fh.write(old_log)

    def kill(self, r: Request) -> Response:
        from ocimux.signals import parse_signal

        rec = self._record(r.params["id"])
        spec = r.query.get("signal") or "SIGKILL"
        try:
            sig = parse_signal(spec)
        except (InvalidArgumentError, ValueError) as exc:
            raise ApiError(400, f"invalid signal {spec!r}: {exc}") from None
        if rec.status not in ("running", "paused"):
            raise ApiError(409, f"Container {r.params['id']} is not running")
        self.d.kill(rec.id, sig)
        return Response(204)

    def wait(self, r: Request) -> None:
        condition = r.query.get("condition") or "not-running"
        if condition not in ("not-running", "next-exit", "removed"):
            raise ApiError(400, f"invalid condition {condition!r}")
        rec = self._record(r.params["id"])
        out = r.stream(200, "application/json")
        final: ContainerRecord | None = rec
        if condition != "not-running" or rec.status in ("running", "paused", "creating"):
            final = self._wait_status(rec.id, ("stopped", "unknown"))
            if condition == "removed" and final is not None:
                self._wait_gone(rec.id)
        if final is not None:
            code = final.exit_code
        else:  # removed meanwhile (AutoRemove): the code was kept for us
            with self._lock:
                code = self.exit_codes.get(rec.id)
        error = None
        if final is not None and final.status == "unknown":
            error = {"Message": final.status_reason}
        _write(out, json.dumps({"StatusCode": code or 0, "Error": error}).encode() + b"\n")
        return None

    def _wait_gone(self, cid: str) -> None:
        while True:
            try:
                self.d.store.get_container(cid)
            except NotFoundError:
                return
            time.sleep(0.05)

    def pause(self, r: Request) -> Response:
        self.d.pause(self._record(r.params["id"]).id)
        return Response(204)

    def unpause(self, r: Request) -> Response:
        self.d.unpause(self._record(r.params["id"]).id)
        return Response(204)

    def resize(self, r: Request) -> Response:
        rec = self._record(r.params["id"])
        height, width = r.integer("h", 0, high=65535), r.integer("w", 0, high=65535)
        if not rec.config.get("terminal"):
            raise ApiError(409, f"container {r.params['id']} has no TTY")
        if rec.status not in ("created", "running", "paused"):
            raise ApiError(409, f"Container {r.params['id']} is not running")
        self.d.resize(rec.id, int(height or 0), int(width or 0))
        return Response(200, b"", content_type="text/plain")

    def attach(self, r: Request) -> None:
        from ocimux.attach import MultiplexWriter

        rec = self._record(r.params["id"])
        tty = bool(rec.config.get("terminal"))
        stream, logs = r.flag("stream"), r.flag("logs")
        stdin = r.flag("stdin") and bool(rec.config.get("stdin"))
        if rec.status not in ("created", "running", "paused") and stream and not logs:
            raise ApiError(409, f"container {r.params['id']} is not running")
        _tail(r)
        r.flag("stdout"), r.flag("stderr")  # a bad value is a 400 before the stream starts
        runtime = self.d.runtime_of(rec)
        rfile, wfile = r.hijack(RAW if tty else MUX)
        try:
            if logs:
                self._write_log(
                    runtime.log_path(rec.id), MultiplexWriter(wfile, raw=tty), r, follow=False
                )
            if stream and rec.status in ("created", "running", "paused"):
                runtime.http_attach(rec.id, wfile, stdin=rfile if stdin else None, tty=tty)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return None

    def logs(self, r: Request) -> None:
        from ocimux.attach import MultiplexWriter

        rec = self._record(r.params["id"])
        if not (r.flag("stdout") or r.flag("stderr")):
            raise ApiError(400, "you must choose at least one stream")
        _tail(r)
        r.flag("follow")
        tty = bool(rec.config.get("terminal"))
        runtime = self.d.runtime_of(rec)
        out = r.stream(200, RAW if tty else MUX)
        try:
            self._write_log(
                runtime.log_path(rec.id),
                MultiplexWriter(out, raw=tty),
                r,
                follow=r.flag("follow"),
                cid=rec.id,
            )
        except (BrokenPipeError, ConnectionResetError):
            pass
        return None

    def _write_log(
        self, path: Any, mux: Any, r: Request, *, follow: bool, cid: str | None = None
    ) -> None:
        from ocimux.logs import follow_log

        want = {"stdout": r.flag("stdout"), "stderr": r.flag("stderr")}
        tail = _tail(r)

        def running() -> bool:
            try:
                return (
                    self.d.inspect(cid).status in ("created", "running", "paused") if cid else False
                )
            except OcimuxError:
                return False

        records = follow_log(path, follow=follow, running=running if follow else None)
        if tail not in ("all", "") and int(tail) >= 0 and not follow:
            records = list(records)[-int(tail) :] if int(tail) > 0 else []
        for stream, data in records:
            if want.get(stream):
                mux.write(1 if stream == "stdout" else 2, data)

    def remove(self, r: Request) -> Response:
        rec = self._record(r.params["id"])
        force = r.flag("force")
        if not force and rec.status in ("running", "paused"):
            raise ApiError(
                409,
                f"cannot remove container {r.params['id']}: container is {rec.status}: stop the container before removing or force remove",
            )
        self.d.delete(rec.id, force=force, timeout=0 if force else None)
        return Response(204)

    # --- exec -----------------------------------------------------------------------------

    def exec_create(self, r: Request) -> Response:
        from ocimux.options import ExecOptions

        rec = self._record(r.params["id"])
        body = r.json()
        cmd = _strings(body.get("Cmd"), "Cmd")
        if not cmd:
            raise ApiError(400, "no exec command specified")
        if rec.status != "running":
            raise ApiError(
                409,
                f"Container {r.params['id']} is not running"
                if rec.status != "paused"
                else f"Container {r.params['id']} is paused, unpause the container before exec",
            )
        options = ExecOptions(
            args=tuple(cmd), env=tuple(_strings(body.get("Env"), "Env")),
            cwd=_str_or_none(body.get("WorkingDir"), "WorkingDir"), user=_str_or_none(body.get("User"), "User"),
            terminal=bool(body.get("Tty")), stdin=bool(body.get("AttachStdin")), privileged=bool(body.get("Privileged")),
        )  # fmt: skip
        exec_id = secrets.token_hex(32)
        with self._lock:
            self.execs[exec_id] = _Exec(exec_id, rec.id, options, bool(body.get("AttachStdin")))
        return Response(201, {"Id": exec_id})

    def _exec(self, exec_id: str) -> _Exec:
        with self._lock:
            entry = self.execs.get(exec_id)
        if entry is None:
            raise ApiError(404, f"No such exec instance: {exec_id}")
        return entry

    def exec_start(self, r: Request) -> Response | None:
        import dataclasses

        from ocimux.attach import MultiplexWriter

        entry = self._exec(r.params["id"])
        body = r.json()
        with self._lock:
            if entry.running or entry.exit_code is not None:
                raise ApiError(409, f"exec {entry.id} has already been started")
            entry.running = True
        size = body.get("ConsoleSize")
        options = entry.options
        if options.terminal and _valid_size(size) and size != [0, 0]:
            options = dataclasses.replace(options, size=(size[0], size[1]))
        if body.get("Detach"):
            session = self.d.exec_detached(entry.container, options)
            entry.session, entry.pid = session.id, session.pid
            return Response(200, b"", content_type="text/plain")
        rfile, wfile = r.hijack(RAW if options.terminal else MUX)
        mux = MultiplexWriter(wfile, raw=options.terminal)

        def on_start(session: str) -> None:
            entry.session = session
            if entry.pending_size:
                self._resize_exec_soon(session, *entry.pending_size)

        try:
            code = self.d.exec(
                entry.container,
                options,
                mux.streams(rfile if entry.attach_stdin else None),
                on_start,
            )
        except OcimuxError as exc:
            code = exc.exit_code
            with contextlib.suppress(OSError):
                mux.write(2, f"{exc}\n".encode())
        except (BrokenPipeError, ConnectionResetError):
            code = None
        entry.exit_code, entry.running = code, False
        return None

    def exec_resize(self, r: Request) -> Response:
        entry = self._exec(r.params["id"])
        height, width = (
            int(r.integer("h", 0, high=65535) or 0),
            int(r.integer("w", 0, high=65535) or 0),
        )
        if not entry.options.terminal:
            raise ApiError(409, f"exec {entry.id} has no TTY")
        if entry.session is None:
            entry.pending_size = (height, width)
        else:
            self._resize_exec_soon(entry.session, height, width)
        return Response(200, b"", content_type="text/plain")

    def _resize_exec_soon(self, session: str, height: int, width: int) -> None:
        """Resize now, or, while the session's process is still starting, retry for 2 s."""
        try:
            self.d.exec_resize(session, height, width)
            return
        except OcimuxError:
            pass

        def retry() -> None:
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                time.sleep(0.05)
                try:
                    self.d.exec_resize(session, height, width)
                    return
                except OcimuxError:
                    continue

        threading.Thread(target=retry, daemon=True).start()

    def exec_inspect(self, r: Request) -> Response:
        entry = self._exec(r.params["id"])
        running, code, pid = entry.running, entry.exit_code, entry.pid
        if entry.session is not None and entry.exit_code is None:
            try:
                session = self.d.exec_inspect(entry.session)
                running, code, pid = session.status == "running", session.exit_code, session.pid
            except NotFoundError:
                pass  # an attached session is forgotten by ocimux once it ended; we kept its code
        o = entry.options
        return Response(200, {
            "ID": entry.id, "Running": running, "ExitCode": code, "Pid": pid,
            "ProcessConfig": {"tty": o.terminal, "entrypoint": o.args[0], "arguments": list(o.args[1:]),
                              "privileged": o.privileged, "user": o.user or ""},
            "OpenStdin": entry.attach_stdin, "OpenStderr": True, "OpenStdout": True,
            "CanRemove": False, "ContainerID": entry.container, "DetachKeys": "",
        })  # fmt: skip

    # --- images ---------------------------------------------------------------------------

    def images(self, r: Request) -> Response:
        return Response(200, [_image_summary(i) for i in self.image_store.list()])

    def image_inspect(self, r: Request) -> Response:
        image = self.image_store.get(r.params["name"])
        summary = _image_summary(image)
        return Response(200, {
            "Id": summary["Id"], "RepoTags": summary["RepoTags"], "RepoDigests": [], "Parent": "",
            "Comment": "a root filesystem directory registered with ocimux", "Created": _rfc3339(image["created"]),
            "Os": "linux", "Architecture": _arch(), "Size": 0, "VirtualSize": 0,
            "Config": {"Cmd": image.get("cmd") or None, "Env": image.get("env") or [], "Labels": {}},
            "RootFS": {"Type": "layers", "Layers": []}, "GraphDriver": {"Name": "rootfs", "Data": {"RootFS": image["rootfs"]}},
        })  # fmt: skip


# --- helpers --------------------------------------------------------------------------------


def _status_of(exc: OcimuxError) -> int:
    if isinstance(exc, RuntimeNotFoundError):
        return 400
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConflictError | StateError):
        return 409
    if isinstance(exc, InvalidArgumentError | CapabilityError):
        return 400
    if exc.exit_code in (126, 127):
        return 400  # the command cannot run: the client's request, as Docker answers
    return 500


def _tail(r: Request) -> str:
    """`tail`: "all" or a number of lines (checked before a stream's headers go out)."""
    tail = r.query.get("tail", "all")
    if tail not in ("all", "") and not tail.lstrip("-").isdigit():
        raise ApiError(400, f"invalid tail value {tail!r}")
    return tail


def _docker_message(exc: OcimuxError) -> str:
    """The error's line, worded so Docker clients map it to 127/126 as they do for Docker.

    The docker CLI picks 127 for messages containing "executable file not found" or "no such
    file or directory", 126 for "permission denied" (cli/command/container/run.go toStatusError).
    """
    text = str(exc)
    if exc.exit_code == 127 and not any(
        p in text for p in ("executable file not found", "no such file or directory")
    ):
        text += " (executable file not found)"
    elif exc.exit_code == 126 and "permission denied" not in text and "is a directory" not in text:
        text += " (permission denied: it cannot be invoked)"
    return text


def _valid_size(size: Any) -> bool:
    return (
        isinstance(size, list)
        and len(size) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 65535 for v in size)
    )


def _strings(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ApiError(400, f"{what} must be a list of strings")


def _str_or_none(value: Any, what: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"{what} must be a string")
    return value


def _rootfs(image: dict[str, Any]) -> Any:
    from pathlib import Path

    return Path(image["rootfs"]) if image.get("rootfs") else None


def _labels(rec: ContainerRecord) -> dict[str, str]:
    return {k: v for k, v in (rec.config.get("annotations") or {}).items() if k != IMAGE_ANNOTATION}


def _status_text(rec: ContainerRecord, state: str) -> str:
    if state == "running":
        return f"Up {_ago(rec.started_at)}"
    if state == "paused":
        return f"Up {_ago(rec.started_at)} (Paused)"
    if state == "exited":
        return f"Exited ({rec.exit_code or 0}) {_ago(rec.finished_at)} ago"
    return {"created": "Created", "removing": "Removal In Progress"}.get(state, "Dead")


def _filters(text: str | None) -> dict[str, list[str]]:
    if not text:
        return {}
    try:
        raw = json.loads(text)
    except ValueError:
        raise ApiError(400, "invalid filters: not JSON") from None
    if not isinstance(raw, dict):
        raise ApiError(400, "invalid filters: not an object")
    out: dict[str, list[str]] = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            out[key] = [k for k, v in value.items() if v]
        elif isinstance(value, list):
            out[key] = [str(v) for v in value]
        else:
            raise ApiError(400, f"invalid filter {key!r}")
    return out


def _matches(rec: ContainerRecord, state: str, filters: dict[str, list[str]]) -> bool:
    for key, values in filters.items():
        if key == "status" and state not in values:
            return False
        if key == "name" and not any(v.lstrip("/") in rec.name for v in values):
            return False
        if key == "id" and not any(rec.id.startswith(v) for v in values):
            return False
        if key == "label":
            labels = _labels(rec)
            for v in values:
                k, _, want = v.partition("=")
                if k not in labels or (want and labels[k] != want):
                    return False
    return True


def _image_summary(image: dict[str, Any]) -> dict[str, Any]:
    return {
        "Id": image_id(image["name"], image["rootfs"]), "ParentId": "", "RepoTags": [image["name"]],
        "RepoDigests": [], "Created": int(image["created"]), "Size": 0, "VirtualSize": 0,
        "SharedSize": -1, "Labels": {}, "Containers": -1,
    }  # fmt: skip


def _arch() -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def _mem_total() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            return int(fh.readline().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return 0


def _write(out: Any, data: bytes) -> None:
    try:
        out.write(data)
        out.flush()
    except OSError:
        pass
