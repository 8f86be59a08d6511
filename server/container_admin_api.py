"""Container housekeeping endpoints of the Docker API: `prune`, `rename`, `top`.

Each is a thin mapping onto what the CLI does too: `Dispatcher.delete` of every container
that is not running, `Dispatcher.rename` (the store's name column), `ocimux.engine.top`.
"""

from __future__ import annotations

import os
import re
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ocimux.base.errors import OcimuxError
from ocimux.engine.states import ALLOWED
from ocimux.engine.top import top as container_top
from ocimux.oci.overlay import LAYER

from .httpd import ApiError, Request, Response
from .shapes import labels_of, parse_filters

if TYPE_CHECKING:
    from collections.abc import Callable

    from ocimux.engine.dispatcher import Dispatcher
    from ocimux.engine.store import ContainerRecord

__all__ = ["ContainerAdminEndpoints", "prune_selector", "tree_size"]

#: Go's durations as Docker's `until` takes them: 10m, 1h30m, 2.5s
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h))+")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
_PRUNE_FILTERS = ("until", "label", "label!")


def _timestamp(value: str, now: float) -> float:
    """Docker's `until`: Unix seconds, an RFC 3339 time, or a Go duration before now."""
    text = value.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):  # Unix seconds (Docker's `1700000000.5`)
        return float(text)
    if _DURATION.fullmatch(text):
        parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
        return now - sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    try:
        return datetime.fromisoformat(text).timestamp()
    except (ValueError, OverflowError, OSError):  # not a time, or one mktime cannot place
        raise ApiError(
            400, f"invalid filter 'until={value}': not a timestamp or duration"
        ) from None


def _has_label(labels: dict[str, str], spec: str) -> bool:
    key, eq, want = spec.partition("=")
    return key in labels and (not eq or labels[key] == want)


def prune_selector(
    filters: dict[str, list[str]], now: float | None = None
) -> Callable[[ContainerRecord], bool]:
    """Which stopped containers a prune with these `filters` removes (all of them without).

    `until`: created before it; `label`: has every one (`k` or `k=v`); `label!`: has none.
    Raises ApiError 400 for any other filter, or a malformed `until`, before anything goes.
    """
    unknown = sorted(set(filters) - set(_PRUNE_FILTERS))
    if unknown:
        raise ApiError(400, f"invalid filter '{unknown[0]}'")
    now = time.time() if now is None else now
    untils = [_timestamp(v, now) for v in filters.get("until", [])]
    wanted, unwanted = filters.get("label", []), filters.get("label!", [])

    def selected(rec: ContainerRecord) -> bool:
        if any(rec.created_at >= until for until in untils):
            return False
        labels = labels_of(rec)
        return all(_has_label(labels, s) for s in wanted) and not any(
            _has_label(labels, s) for s in unwanted
        )

    return selected


def tree_size(top: Path) -> int:
    """Bytes of the files under `top` (sizes as `stat` says, each hard link once), as Docker's
    layer size counts them; 0 if it does not exist."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for directory, _, files in os.walk(top):
        for name in files:
            try:
                st = os.lstat(os.path.join(directory, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


class ContainerAdminEndpoints:
    """`containers/prune`, `containers/{id}/rename`, `containers/{id}/top`; mixed into DockerApi."""

    d: Dispatcher
    forget_execs: Callable[[str], None]

    def prune(self, r: Request) -> Response:
        selected = prune_selector(parse_filters(r.query.get("filters")))
        deleted, reclaimed = [], 0
        for rec in self.d.list():
            # Docker prunes every container that is not running: created, exited and dead
            if rec.status not in ALLOWED["delete"] or not selected(rec):
                continue
            size = self._written(rec)
            try:
                self.d.delete(rec.id)
            except OcimuxError:
                continue  # started, or removed by someone else, meanwhile: not ours to report
            self.forget_execs(rec.id)
            deleted.append(rec.id)
            reclaimed += size
        # Go encodes an empty list as null, and so does dockerd here
        return Response(200, {"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed})

    def _written(self, rec: ContainerRecord) -> int:
        """Bytes the container wrote into its own layer (Docker's SizeRw); 0 without a layer."""
        try:
            upper = self.d.runtime_of(rec).container_dir(rec.id) / LAYER / "upper"
        except OcimuxError:
            return 0
        return tree_size(upper)

    def rename(self, r: Request) -> Response:
        rec = self.d.inspect(r.params["id"])
        name = (r.query.get("name") or "").removeprefix("/")
        if not name:
            raise ApiError(400, "Neither old nor new names may be empty")
        if name == rec.name:
            raise ApiError(400, "Renaming a container with the same name as its current name")
        self.d.rename(rec.id, name)
        return Response(204)

    def top(self, r: Request) -> Response:
        rec = self.d.inspect(r.params["id"])
        if rec.status not in ("running", "paused"):
            raise ApiError(409, f"Container {r.params['id']} is not running")
        ps_args = r.query.get("ps_args") or ""
        titles, rows = container_top(rec.pid, ps_args, container=rec.name)
        return Response(200, {"Titles": titles, "Processes": rows})
