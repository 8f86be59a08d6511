"""Writing and reading the k8s-file container log that conmon (and the mock shim) write.

Each line is `TIMESTAMP STREAM TAG DATA`: STREAM is `stdout` or `stderr`, TAG is `F` for a
full line (a newline followed it) or `P` for a partial one (conmon's `--log-size-max` or a
write without a newline).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ocimux.base.monitorfiles import process_alive, read_exit_file

if TYPE_CHECKING:
    from ocimux.interface.runtime import Runtime

__all__ = ["STDERR", "STDOUT", "container_ended", "follow_log", "format_log", "parse_line"]

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


def follow_log(
    path: Path,
    *,
    follow: bool = False,
    ended: Callable[[], bool] | None = None,
    wait: Callable[[float], None] = time.sleep,
    poll: float = 0.02,
    idle_poll: float = 0.25,
) -> Iterator[tuple[str, bytes]]:
    """Yield (stream, data) from the log; with `follow`, keep reading until `ended()` is true.

    While following, an idle log costs one read and one `ended()` call per `wait(delay)`:
    the delay grows from `poll` to `idle_poll` while nothing arrives. No runtime is asked;
    `ended` should look at the monitor's files (see `container_ended`). `wait` may raise to
    stop (the server's follower raises once its client has gone). A log replaced by a
    rotation (a new inode at `path`) is read to its end, then the new file from its start.
    """
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed in finally
    except FileNotFoundError:
        return
    try:
        pending = b""
        delay = poll
        while True:
            chunk = fh.readline()
            if chunk:
                delay = poll
                pending += chunk
                if pending.endswith(b"\n"):
                    parsed = parse_line(pending)
                    pending = b""
                    if parsed:
                        yield parsed
                continue
            if not follow or ended is None or ended():
                # one last read: the writer may have flushed between our read and the check
                yield from _parsed(pending + fh.read())
                return
            replaced = _replacement(path, fh)
            if replaced is not None:
                yield from _parsed(pending + fh.read())
                pending = b""
                fh.close()
                fh = replaced
                continue
            wait(delay)
            delay = min(delay * 2, idle_poll)
    finally:
        fh.close()


def _parsed(data: bytes) -> Iterator[tuple[str, bytes]]:
    for line in data.splitlines(keepends=True):
        parsed = parse_line(line)
        if parsed:
            yield parsed


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
