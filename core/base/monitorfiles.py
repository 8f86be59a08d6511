"""The files a process's monitor keeps beside it (pid file, exit file, control FIFO), and
whether the monitor still runs.

conmon's protocol, which interface v1 gives every monitor (`ProcessIO`): the monitor writes
its pid to a pid file, the decimal exit code to the exit file once the process has ended
(and its output is drained), and reads resize requests `"1 <height> <width>\\n"` from the
control FIFO `ctl` (conmon `src/ctrl.c`). Readers never trust a partial file: a missing or
half-written one reads as None. Only /proc and these files are read: no process is started.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable
from pathlib import Path

from .errors import RuntimeCommandError

__all__ = [
    "named_process_alive",
    "process_alive",
    "read_exit_file",
    "read_pidfile",
    "wait_exit_file",
    "write_resize",
]


def read_pidfile(path: Path) -> int | None:
    """The pid in `path`, or None if it is missing or not a number."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def process_alive(pid: int | None) -> bool:
    """Whether `pid` exists and is not a zombie (a zombie's exit is only waiting to be reaped)."""
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def named_process_alive(pid: int | None, comm: str, *, prefix: bool = False) -> bool:
    """Whether `pid` is alive and is `comm` (or starts with it): guards against pid reuse."""
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8") as fh:
            name = fh.read().strip()
    except OSError:
        return False
    if not (name.startswith(comm) if prefix else name == comm):
        return False
    return process_alive(pid)


def read_exit_file(path: Path) -> int | None:
    """The decimal exit code a monitor wrote to `path`, or None if it is absent or partial."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.lstrip("-").isdigit() else None


def wait_exit_file(path: Path, timeout: float, alive: Callable[[], bool]) -> int | None:
    """Wait for a monitor to write the exit code to `path`; None if it died without writing one.

    `alive()` says whether the monitor still runs; it is asked only while the file is missing.
    """
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        code = read_exit_file(path)
        if code is not None:
            return code
        if time.monotonic() >= deadline or not alive():
            return read_exit_file(path)
        time.sleep(delay)
        delay = min(delay * 2, 0.02)


def write_resize(ctl_path: Path, height: int, width: int, *, timeout: float = 5.0) -> None:
    """Ask the monitor to resize the terminal through its control FIFO (conmon message type 1).

    Waits up to `timeout` for the monitor to open the FIFO's reading end. Raises
    RuntimeCommandError if it cannot open the FIFO.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(ctl_path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            break
        except OSError as exc:
            if (
                exc.errno not in (errno.ENXIO, errno.EINTR, errno.EAGAIN)
                or time.monotonic() >= deadline
            ):
                raise RuntimeCommandError(
                    f"cannot open control FIFO {ctl_path}: {exc.strerror}", verb="resize"
                ) from exc
            time.sleep(0.1)
    try:
        os.write(fd, f"1 {height} {width}\n".encode())
    finally:
        os.close(fd)
