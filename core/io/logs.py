"""Writing and reading the k8s-file container log that conmon (and the mock shim) write.

Each line is `TIMESTAMP STREAM TAG DATA`: STREAM is `stdout` or `stderr`, TAG is `F` for a
full line (a newline followed it) or `P` for a partial one (conmon's `--log-size-max` or a
write without a newline).
"""

from __future__ import annotations

import calendar
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ocimux.base.monitorfiles import process_alive, read_exit_file

if TYPE_CHECKING:
    from ocimux.interface.runtime import Runtime

__all__ = [
    "STDERR",
    "STDOUT",
    "container_ended",
    "follow_lines",
    "follow_log",
    "format_log",
    "parse_line",
    "stamp_ns",
]

#: attach-socket stream ids (conmon's stdpipe_t), also used to name a log record's stream
STDOUT = 2
STDERR = 3
_STREAM_NAMES = {STDOUT: b"stdout", STDERR: b"stderr"}


def parse_line(line: bytes) -> tuple[str, bytes] | None:
    """Return (stream, data including its newline if full) for one log line, or None if malformed."""
    parts = line.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr"):
        return None
    data = parts[3] if len(parts) == 4 else b""
    if parts[2] == b"F":
        data += b"\n"
    return parts[1].decode(), data


def _epoch(whole: bytes) -> int:
    """`YYYY-MM-DDTHH:MM:SS` as seconds since the epoch (UTC)."""
    if len(whole) != 19 or whole[4:5] != b"-" or whole[10:11] != b"T" or whole[13:14] != b":":
        raise ValueError(f"not a log timestamp: {whole!r}")
    fields = (whole[0:4], whole[5:7], whole[8:10], whole[11:13], whole[14:16], whole[17:19])
    return calendar.timegm(tuple(int(f) for f in fields))


def stamp_ns(stamp: bytes) -> int:
    """`2026-11-29T06:53:54.142372511+00:00` (or `...Z`, any offset) as ns since the epoch; 0 if
    it cannot be read."""
    try:
        seconds = _epoch(stamp[:19])
        rest = stamp[19:]
        frac = 0
        if rest[:1] == b".":
            digits = rest[1:].split(b"+")[0].split(b"-")[0].split(b"Z")[0]
            frac = int(digits[:9].ljust(9, b"0")) if digits else 0
            rest = rest[1 + len(digits) :]
        offset = 0
        if rest[:1] in (b"+", b"-") and len(rest) >= 6:
            offset = (int(rest[1:3]) * 3600 + int(rest[4:6]) * 60) * (-1 if rest[:1] == b"-" else 1)
        return (seconds - offset) * 1_000_000_000 + frac
    except (ValueError, UnicodeDecodeError):
        return 0


def follow_log(
    path: Path,
    *,
    follow: bool = False,
    ended: Callable[[], bool] | None = None,
    wait: Callable[[float], None] = time.sleep,
    poll: float = 0.02,
    idle_poll: float = 0.25,
    tail: int | None = None,
) -> Iterator[tuple[str, bytes]]:
    """Yield (stream, data) from the log; with `follow`, keep reading until `ended()` is true.

    The arguments are `follow_lines`'.
    """
    lines = follow_lines(
        path, follow=follow, ended=ended, wait=wait, poll=poll, idle_poll=idle_poll, tail=tail
    )
    for line in lines:
        parsed = parse_line(line)
        if parsed:
            yield parsed


def follow_lines(
    path: Path,
    *,
    follow: bool = False,
    ended: Callable[[], bool] | None = None,
    wait: Callable[[float], None] = time.sleep,
    poll: float = 0.02,
    idle_poll: float = 0.25,
    tail: int | None = None,
) -> Iterator[bytes]:
    """Yield the log's whole lines; with `follow`, keep reading until `ended()` is true.

    While following, an idle log costs one read and one `ended()` call per `wait(delay)`:
    the delay grows from `poll` to `idle_poll` while nothing arrives. No runtime is asked;
    `ended` should look at the monitor's files (see `container_ended`). `wait` may raise to
    stop (the server's follower raises once its client has gone). A log replaced by a
    rotation (a new inode at `path`) is read to its end, then the new file from its start.
    `tail` (>= 0) keeps only the last `tail` lines of what the log holds when its end is
    first reached; whatever is written later is all yielded (a follower's `--tail`).
    """
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed in finally
    except FileNotFoundError:
        return
    held: deque[bytes] | None = deque(maxlen=tail) if tail is not None and tail >= 0 else None
    try:
        pending = b""
        delay = poll
        while True:
            chunk = fh.readline()
            if chunk:
                delay = poll
                pending += chunk
                if pending.endswith(b"\n"):
                    line, pending = pending, b""
                    if held is not None:
                        held.append(line)
                    else:
                        yield line
                continue
            if held is not None:  # the end as it was: the tail goes out, then what follows
                yield from held
                held = None
            if not follow or ended is None or ended():
                # one last read: the writer may have flushed between our read and the check
                yield from _lines(pending + fh.read())
                return
            replaced = _replacement(path, fh)
            if replaced is not None:
                yield from _lines(pending + fh.read())
                pending = b""
                fh.close()
                fh = replaced
                continue
            wait(delay)
            delay = min(delay * 2, idle_poll)
    finally:
        fh.close()


def _lines(data: bytes) -> Iterator[bytes]:
    for line in data.splitlines(keepends=True):
        yield line if line.endswith(b"\n") else line + b"\n"


def _replacement(path: Path, fh: BinaryIO) -> BinaryIO | None:
    """The file now at `path` if a rotation put a new one there; a truncated log is rewound."""
    try:
        st = os.stat(path)
    except OSError:
        return None  # removed with its container: `ended()` says so soon
    own = os.fstat(fh.fileno())
    if (st.st_ino, st.st_dev) == (own.st_ino, own.st_dev):
        if st.st_size < fh.tell():
            fh.seek(0)  # truncated in place: what is there now is new
        return None
    try:
        return open(path, "rb")  # noqa: SIM115 - the caller closes it
    except OSError:
        return None


def container_ended(runtime: Runtime, cid: str, monitor_pid: int | None) -> Callable[[], bool]:
    """A cheap `ended` for `follow_log`: the exit file has a code, or the monitor is gone.

    Reads two small files (the exit file, the monitor's /proc entry); never runs the runtime
    binary, so an idle follower costs next to nothing however long it waits. Without a
    monitor pid (a runtime that reports none) the runtime's `state` is asked.
    """
    exit_file = runtime.layout.exit_file(cid)

    def ended() -> bool:
        if read_exit_file(exit_file) is not None:
            return True
        if monitor_pid:
            return not process_alive(monitor_pid)
        return runtime.state(cid).status in ("stopped", "unknown")

    return ended


def format_log(stream: int, data: bytes, now_ns: int | None = None) -> bytes:
    """Render one chunk of output as k8s-file lines: full lines `F`, a trailing partial `P`.

    Like conmon, a line split across two reads becomes a `P` record and then an `F` record.
    """
    ns = time.time_ns() if now_ns is None else now_ns
    sec, frac = divmod(ns, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)).encode()
    head = b"%s.%09d+00:00 %s " % (stamp, frac, _STREAM_NAMES[stream])
    *lines, rest = data.split(b"\n")
    out = [head + b"F " + line + b"\n" for line in lines]
    if rest:
        out.append(head + b"P " + rest + b"\n")
    return b"".join(out)
