"""What a log reader shows of the k8s-file log: a time window, the last lines, timestamps.

Shared by `ocimux logs` (podman's `--since`, `--until`, `--tail`, `-t`) and the Docker API's
`GET /containers/{id}/logs` (`since`, `until`, `tail`, `timestamps`). As Docker's json-file
reader does, `tail` picks the last lines first and the window filters those; `since` keeps
records written at or after it, `until` those at or before it, and a follower stops once
`until` has passed. A timestamp prefixes each line's first record (a `P` record's
continuation gets none), in the reader's format: Docker's fixed nine digits or podman's
`time.RFC3339Nano` (trailing zeros dropped), both in UTC.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .logs import follow_lines, parse_line, stamp_ns

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["LogWindow", "docker_stamp", "podman_stamp", "read_window"]


def _utc(ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000))


def docker_stamp(ns: int) -> bytes:
    """Docker's `jsonmessage.RFC3339NanoFixed` in UTC: `2026-12-07T19:50:01.042000000Z`."""
    return f"{_utc(ns)}.{ns % 1_000_000_000:09d}Z".encode()


def podman_stamp(ns: int) -> bytes:
    """Go's `time.RFC3339Nano` in UTC, as `podman logs -t`: `2026-12-07T19:50:01.042Z`."""
    frac = f"{ns % 1_000_000_000:09d}".rstrip("0")
    return f"{_utc(ns)}{'.' + frac if frac else ''}Z".encode()


@dataclass(frozen=True, slots=True)
class LogWindow:
    """Which records to show, and how."""

    #: ns since the epoch; records written before it are left out (None: from the start)
    since_ns: int | None = None
    #: ns since the epoch; records written after it are left out (None: no end)
    until_ns: int | None = None
    #: the last `tail` lines only (None: all)
    tail: int | None = None
    #: renders a record's time as the line's prefix (None: no timestamps)
    stamp: Callable[[int], bytes] | None = None


def read_window(
    path: Path,
    window: LogWindow,
    *,
    follow: bool = False,
    ended: Callable[[], bool] | None = None,
    wait: Callable[[float], None] = time.sleep,
) -> Iterator[tuple[str, bytes]]:
    """Yield (stream, data) of the log at `path` as `window` says (data with its prefix).

    `follow`, `ended` and `wait` are `follow_lines`'; with `window.until_ns`, a follower also
    ends once that time has passed.
    """
    until = window.until_ns
    stop = ended
    if follow and until is not None and ended is not None:
        container_ended = ended

        def passed_or_ended() -> bool:
            return time.time_ns() > until or container_ended()

        stop = passed_or_ended

    timed = window.since_ns is not None or until is not None or window.stamp is not None
    line_start = {"stdout": True, "stderr": True}
    for line in follow_lines(path, follow=follow, ended=stop, wait=wait, tail=window.tail):
        parsed = parse_line(line)
        if parsed is None:
            continue
        stream, data = parsed
        starts = line_start[stream]
        line_start[stream] = data.endswith(b"\n")  # a `P` record's line goes on
        if not timed:
            yield stream, data
            continue
        written = stamp_ns(line.split(b" ", 1)[0])
        if window.since_ns is not None and written < window.since_ns:
            continue
        if until is not None and written > until:
            if follow:
                return  # written after the window: nothing later can be in it
            continue
        if window.stamp is not None and starts:
            data = window.stamp(written) + b" " + data
        yield stream, data
