"""Writing and reading the k8s-file container log that conmon (and the mock shim) write.

Each line is `TIMESTAMP STREAM TAG DATA`: STREAM is `stdout` or `stderr`, TAG is `F` for a
full line (a newline followed it) or `P` for a partial one (conmon's `--log-size-max` or a
write without a newline).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["STDERR", "STDOUT", "follow_log", "format_log", "parse_line"]

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
    running: Callable[[], bool] | None = None,
    poll: float = 0.05,
) -> Iterator[tuple[str, bytes]]:
    """Yield (stream, data) from the log; with `follow`, keep reading while `running()` is true."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed in finally
    except FileNotFoundError:
        return
    try:
        pending = b""
        while True:
            chunk = fh.readline()
            if chunk:
                pending += chunk
                if pending.endswith(b"\n"):
                    parsed = parse_line(pending)
                    pending = b""
                    if parsed:
                        yield parsed
                continue
            if not follow or running is None or not running():
                # one last read: the writer may have flushed between our read and the check
                rest = pending + fh.read()
                for line in rest.splitlines(keepends=True):
                    parsed = parse_line(line)
                    if parsed:
                        yield parsed
                return
            time.sleep(poll)
    finally:
        fh.close()


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
