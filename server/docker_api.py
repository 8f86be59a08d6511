"""The Docker Engine API subset `ocimux serve` answers, over the Dispatcher.

Each endpoint is one method of `DockerApi`, listed in `ENDPOINTS` with what the OpenAPI
description says of it (openapi.py builds the document from that table, so the two cannot
drift). Shapes follow the Docker Engine API v1.43 reference: containers are Docker's
(`Id`, `Names: ["/web"]`, `State`, `Status: "Up 3 seconds"`), images are rootfs directories
registered with `ocimux image add`, errors are `{"message": ...}` with Docker's status codes.

The endpoints live by subject: container_api.py, exec_api.py, and here the system and image
ones; shapes.py holds Docker's JSON shapes and parameter rules.
"""

from __future__ import annotations

import os
import platform
import socket
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ocimux._version import VERSION
from ocimux.base.errors import OcimuxError
from ocimux.engine.images import ImageStore, normalize

from .apiversion import API_VERSION, MIN_API_VERSION
from .attach_api import AttachEndpoints
from .container_admin_api import ContainerAdminEndpoints
from .container_api import ContainerEndpoints
from .exec_api import ExecEndpoints, ExecInstance
from .httpd import ApiError, Request, Response, Route, compile_route
from .log_api import LogEndpoints
from .shapes import (
    DOCKER_STATE,
    MUX,
    RAW,
    arch,
    docker_message,
    image_summary,
    mem_total,
    rfc3339,
    status_of,
)

if TYPE_CHECKING:
    from ocimux.engine.dispatcher import Dispatcher

__all__ = ["API_VERSION", "ENDPOINTS", "MUX", "RAW", "DockerApi"]

#: dockerd's /info without swarm mode
_NO_SWARM = {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": False,
             "Error": "", "RemoteManagers": None}  # fmt: skip


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
    E("POST", "/containers/prune", "prune", "Remove the containers that are not running", (("filters", "string"),), responses=(200, 400)),
    E("POST", "/containers/{id}/rename", "rename", "Rename a container", (("name", "string"),), responses=(204, 400, 404, 409)),
    E("GET", "/containers/{id}/top", "top", "A container's processes, as ps shows them", (("ps_args", "string"),), responses=(200, 400, 404, 409)),
    E("GET", "/images/json", "images", "List images", (("all", "boolean"), ("filters", "string")), responses=(200,)),
    E("GET", "/images/{name}/json", "image_inspect", "Inspect an image", responses=(200, 404)),
    E("POST", "/images/create", "image_pull", "Pull an image: there is no registry, so 404 unless registered", (("fromImage", "string"), ("tag", "string")), responses=(200, 400, 404)),
)  # fmt: skip


class DockerApi(
    ContainerEndpoints, ContainerAdminEndpoints, ExecEndpoints, AttachEndpoints, LogEndpoints
):
    """The endpoints, over one Dispatcher (thread-safe) and the image store."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.d = dispatcher
        self.image_store = ImageStore(dispatcher.config.state_dir)
        self.execs: dict[str, ExecInstance] = {}
        #: exit codes of containers removed by AutoRemove, for `wait` answering after removal
        self.exit_codes: dict[str, int] = {}
        #: HostConfig.ConsoleSize of created containers with a terminal, until they start
        self.console_sizes: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()
        #: AutoRemove containers with a watcher, and those a `restart` is re-creating now
        self.auto_removing: set[str] = set()
        self.restarting: dict[str, threading.Event] = {}
        #: attaches waiting for an exited container's next start (`docker start -a`)
        self.attach_waiters: dict[str, list[Any]] = {}
        #: when each container's last `start` request arrived (a `wait` racing it waits)
        self.start_times: dict[str, float] = {}

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
                raise ApiError(status_of(exc), docker_message(exc)) from None

        return handler

    # --- system ---------------------------------------------------------------------------

    def ping(self, r: Request) -> Response:
        headers = {"API-Version": API_VERSION, "Docker-Experimental": "false", "OSType": "linux",
                   "Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"}  # fmt: skip
        return Response(200, b"OK", headers, content_type="text/plain; charset=utf-8")

    def _version(self) -> str:
        return VERSION

    def version(self, r: Request) -> Response:
        release = platform.release()
        return Response(200, {
            "Platform": {"Name": "ocimux"},
            "Components": [{"Name": "ocimux", "Version": self._version(), "Details": {}}],
            "Version": self._version(), "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": "", "GoVersion": "", "Os": "linux", "Arch": arch(), "KernelVersion": release,
            "BuildTime": "",
        })  # fmt: skip

    def info(self, r: Request) -> Response:
        recs = self.d.list()
        counts = {
            s: sum(1 for c in recs if DOCKER_STATE.get(c.status) == s)
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
            "MemTotal": mem_total(), "DockerRootDir": str(self.d.config.state_dir),
            "Runtimes": runtimes, "DefaultRuntime": default, "SecurityOptions": [],
            "Warnings": [], "CgroupDriver": "cgroupfs", "Plugins": {"Volume": [], "Network": [], "Log": []},
            "Debug": False, "Swarm": _NO_SWARM,
            # the log is a k8s-file; named as each container's HostConfig.LogConfig names it
            # (json-file), the driver Docker clients know they can read back through /logs
            "LoggingDriver": "json-file",
        })  # fmt: skip

    # --- images ---------------------------------------------------------------------------

    def image_pull(self, r: Request) -> Response:
        """No registry: a registered image is there already (200), any other is Docker's 404.

        The docker CLI pulls after a create answered `No such image`; this says why it failed.
        """
        name = r.query.get("fromImage") or ""
        if not name:
            raise ApiError(400, "fromImage is required: ocimux has no registry to import from")
        tag = r.query.get("tag") or ""
        ref = f"{name}:{tag}" if tag and ":" not in name.rsplit("/", 1)[-1] else name
        # the docker CLI sends docker.io/library/NAME: named back as the user wrote it
        ref = normalize(ref)
        self.image_store.get(ref)  # NotFoundError: 404 `No such image: REF (...)`
        return Response(200, {"status": f"Image is up to date for {ref}"})

    def images(self, r: Request) -> Response:
        return Response(200, [image_summary(i) for i in self.image_store.list()])

    def image_inspect(self, r: Request) -> Response:
        image = self.image_store.get(r.params["name"])
        summary = image_summary(image)
        return Response(200, {
            "Id": summary["Id"], "RepoTags": summary["RepoTags"], "RepoDigests": [], "Parent": "",
            "Comment": "a root filesystem directory registered with ocimux", "Created": rfc3339(image["created"]),
            "Os": "linux", "Architecture": arch(), "Size": 0, "VirtualSize": 0,
            "Config": {"Cmd": image.get("cmd") or None, "Env": image.get("env") or [], "Labels": {}},
            "RootFS": {"Type": "layers", "Layers": []}, "GraphDriver": {"Name": "rootfs", "Data": {"RootFS": image["rootfs"]}},
        })  # fmt: skip
