"""Docker's JSON shapes and parameter rules, shared by the endpoint modules.

Pure functions: times as Docker writes them, a container's `Status` text, `filters`, image
summaries, how an ocimux error becomes a status code and a message Docker clients read.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocimux.base.errors import (
    CapabilityError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    OcimuxError,
    RuntimeNotFoundError,
    StateError,
)
from ocimux.engine.images import image_id
from ocimux.oci.containerconfig import ContainerConfig

from .httpd import ApiError, Request

if TYPE_CHECKING:
    from ocimux.engine.store import ContainerRecord

RAW = "application/vnd.docker.raw-stream"
MUX = "application/vnd.docker.multiplexed-stream"
ZERO_TIME = "0001-01-01T00:00:00Z"
#: annotation recording the Docker image name a container was created from (normalised)
IMAGE_ANNOTATION = "io.ocimux.image"
#: the image as the client named it (`alpine`, not `alpine:latest`): Docker shows that
IMAGE_REF_ANNOTATION = "io.ocimux.image.ref"

DOCKER_STATE = {
    "created": "created", "creating": "created", "running": "running", "paused": "paused",
    "stopped": "exited", "removing": "removing", "unknown": "dead",
}  # fmt: skip


def rfc3339(epoch: float | None) -> str:
    if not epoch:
        return ZERO_TIME
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch))
    return f"{whole}.{int((epoch % 1) * 1e9):09d}Z"


def ago(epoch: float | None) -> str:
    seconds = max(0, int(time.time() - (epoch or time.time())))
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    if seconds < 1:
        return "Less than a second"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def status_of(exc: OcimuxError) -> int:
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


def tail_of(r: Request) -> str:
    """`tail`: "all" or a number of lines (checked before a stream's headers go out)."""
    tail = r.query.get("tail", "all")
    if tail not in ("all", "") and not tail.lstrip("-").isdigit():
        raise ApiError(400, f"invalid tail value {tail!r}")
    return tail


def docker_message(exc: OcimuxError) -> str:
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


def valid_size(size: Any) -> bool:
    return (
        isinstance(size, list)
        and len(size) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 65535 for v in size)
    )


def strings(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ApiError(400, f"{what} must be a list of strings")


def str_or_none(value: Any, what: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"{what} must be a string")
    return value


def image_names(rec: ContainerRecord) -> tuple[str, str]:
    """(the image as the client named it, its normalised name); empty for a CLI container."""
    annotations = rec.config.get("annotations") or {}
    image = annotations.get(IMAGE_ANNOTATION, "")
    return annotations.get(IMAGE_REF_ANNOTATION, image), image


def rootfs_of(image: dict[str, Any]) -> Any:
    return Path(image["rootfs"]) if image.get("rootfs") else None


def labels_of(rec: ContainerRecord) -> dict[str, str]:
    """A container's labels: its configuration's; a record older than that has them only as
    annotations (less ocimux's own `io.ocimux.*`)."""
    if "container" in rec.config:
        return dict(ContainerConfig.from_dict(rec.config["container"] or {}).labels)
    annotations = rec.config.get("annotations") or {}
    return {k: v for k, v in annotations.items() if not k.startswith("io.ocimux.")}


def status_text(rec: ContainerRecord, state: str) -> str:
    if state == "running":
        return f"Up {ago(rec.started_at)}"
    if state == "paused":
        return f"Up {ago(rec.started_at)} (Paused)"
    if state == "exited":
        return f"Exited ({rec.exit_code or 0}) {ago(rec.finished_at)} ago"
    return {"created": "Created", "removing": "Removal In Progress"}.get(state, "Dead")


def parse_filters(text: str | None) -> dict[str, list[str]]:
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


def matches_filters(rec: ContainerRecord, state: str, filters: dict[str, list[str]]) -> bool:
    for key, values in filters.items():
        if key == "status" and state not in values:
            return False
        if key == "name" and not any(v.lstrip("/") in rec.name for v in values):
            return False
        if key == "id" and not any(rec.id.startswith(v) for v in values):
            return False
        if key == "label":
            labels = labels_of(rec)
            for v in values:
                k, _, want = v.partition("=")
                if k not in labels or (want and labels[k] != want):
                    return False
    return True


def image_summary(image: dict[str, Any]) -> dict[str, Any]:
    return {
        "Id": image_id(image["name"], image["rootfs"]), "ParentId": "", "RepoTags": [image["name"]],
        "RepoDigests": [], "Created": int(image["created"]), "Size": 0, "VirtualSize": 0,
        "SharedSize": -1, "Labels": {}, "Containers": -1,
    }  # fmt: skip


def arch() -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def mem_total() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            return int(fh.readline().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return 0


def write_body(out: Any, data: bytes) -> None:
    try:
        out.write(data)
        out.flush()
    except OSError:
        pass
