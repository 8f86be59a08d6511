"""Reading the k8s-file container log that conmon (and the mock shim) write.

Each line is `TIMESTAMP STREAM TAG DATA`: STREAM is `stdout` or `stderr`, TAG is `F` for a
full line (a newline followed it) or `P` for a partial one (conmon's `--log-size-max` or a
write without a newline).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["follow_log", "parse_line"]


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
