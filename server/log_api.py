"""`GET /containers/{id}/logs` and the log part of an attach (`logs=1`), over the k8s-file log.

Docker's options: `stdout`/`stderr` choose the streams, `tail` the last lines ("all" or a
number; with `follow` too: the last lines, then what comes), `since` and `until` a window in
Unix seconds with up to nine decimals (`1733600000.123456789`, what the docker CLI sends for
`--since 10m`), `timestamps` Docker's RFC3339Nano prefix (`ocimux.io.logview`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ocimux.io.attach import MultiplexWriter
from ocimux.io.logs import container_ended
from ocimux.io.logview import LogWindow, docker_stamp, read_window

from .httpd import ApiError, Request
from .shapes import MUX, RAW, tail_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from ocimux.engine.dispatcher import Dispatcher
    from ocimux.engine.store import ContainerRecord
    from ocimux.interface.runtime import Runtime

__all__ = ["LogEndpoints", "docker_time_ns", "log_window"]

#: Docker's `timetypes.ParseTimestamps`: seconds, optionally a dot and up to nine digits
_TIMESTAMP = re.compile(r"(-?\d{1,12})(?:\.(\d{1,9}))?")


def docker_time_ns(r: Request, name: str) -> int | None:
    """Query parameter `name` as Docker's Unix timestamp, in ns; None if absent or empty."""
    value = r.query.get(name, "")
    if value == "":
        return None
    match = _TIMESTAMP.fullmatch(value)
    if match is None:
        raise ApiError(
            400,
            f"invalid value for {name}: {value!r}: use seconds since the epoch, "
            "with up to nine decimals (1733600000.5)",
        )
    seconds, frac = match.groups()
    # as Docker: the fraction adds nanoseconds even to a negative second count
    return int(seconds) * 1_000_000_000 + int((frac or "0").ljust(9, "0"))


def log_window(r: Request) -> LogWindow:
    """The `tail`, `since`, `until` and `timestamps` of a logs request (400 if malformed)."""
    tail = tail_of(r)
    return LogWindow(
        since_ns=docker_time_ns(r, "since"),
        until_ns=docker_time_ns(r, "until"),
        tail=int(tail) if tail not in ("all", "") and int(tail) >= 0 else None,
        stamp=docker_stamp if r.flag("timestamps") else None,
    )


class LogEndpoints:
    """`containers/{id}/logs`; mixed into DockerApi."""

    d: Dispatcher
    _record: Callable[[str], ContainerRecord]  # ContainerEndpoints': a container by reference

    def logs(self, r: Request) -> None:
        rec = self._record(r.params["id"])
        if not (r.flag("stdout") or r.flag("stderr")):
            raise ApiError(400, "you must choose at least one stream")
        window = log_window(r)
        follow = r.flag("follow")
        tty = bool(rec.config.get("terminal"))
        runtime = self.d.runtime_of(rec)
        out = r.stream(200, RAW if tty else MUX)
        try:
            self._write_log(
                runtime,
                rec.id,
                MultiplexWriter(out, raw=tty),
                r,
                window,
                follow=follow,
                monitor_pid=rec.monitor_pid,
            )
        except (BrokenPipeError, ConnectionResetError):
            pass
        return None

    def _write_log(
        self,
        runtime: Runtime,
        cid: str,
        mux: Any,
        r: Request,
        window: LogWindow,
        *,
        follow: bool,
        monitor_pid: int | None = None,
    ) -> None:
        """Write the log as `window` says; a follower stops when the container ends, its
        client goes or `until` passes.

        The container's end comes from its monitor's files (`container_ended`), never from
        the runtime binary, and the follower polls its connection between reads: an
        abandoned follower ends within a fraction of a second, holding no thread.
        """
        want = {"stdout": r.flag("stdout"), "stderr": r.flag("stderr")}
        ended = container_ended(runtime, cid, monitor_pid) if follow else None
        records = read_window(
            runtime.layout.log(cid), window, follow=follow, ended=ended, wait=r.wait_unless_gone
        )
        for stream, data in records:
            if want.get(stream):
                mux.write(1 if stream == "stdout" else 2, data)
