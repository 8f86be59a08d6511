"""The runtime's side of a `ProcessRuntime` monitor: start one, open its gate, stop it for good.

`launch` follows podman's createOCIContainer/readConmonPipeData: the monitor gets the write
end of a pipe, daemonizes (its intermediate process is reaped here, so the caller never keeps
a zombie-prone child), and reports one JSON line: `{"data": PID}` or `{"data": -1,
"message": TEXT}`. Every wait is bounded by the runtime's `command_timeout`.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import selectors
import signal
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocimux.base import process
from ocimux.base.errors import OcimuxError, RuntimeCommandError, RuntimeTimeoutError
from ocimux.io._procfs import (
    MONITOR_LOG,
    START_FIFO,
    STATE_FILE,
    MonitorState,
    proc_stat,
    remove_quietly,
)
from ocimux.io.monitor import ATTACH, CTL

if TYPE_CHECKING:
    from ocimux.io._launch import Launch

__all__ = [
    "MONITOR_MODULE",
    "GateError",
    "drain_control",
    "launch",
    "open_gate",
    "remove_monitor_files",
    "terminate",
    "wait_for",
]

#: the monitor runs as `python -m MONITOR_MODULE`
MONITOR_MODULE = "ocimux.io.processmonitor"
#: how long a process may take to die after SIGKILL (podman's killContainerTimeout)
KILL_WAIT = 5.0


def wait_for(predicate: Callable[[], object], timeout: float) -> bool:
    """Poll `predicate` (5 ms, doubling to 50 ms) until true or `timeout` seconds; return it."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while not predicate():
        if time.monotonic() >= deadline:
            return bool(predicate())
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    return True


def terminate(directory: Path, timeout: float) -> bool:
    """SIGKILL the process (and its monitor's child's group) recorded in `directory`, give
    the monitor `timeout` seconds to record the exit and leave, then SIGKILL it; return
    whether all are gone. Zombies count as gone. Nothing recorded: True."""
    try:
        st = MonitorState.load(directory)
    except ValueError:
        return True
    if st is None:
        return True

    def all_gone() -> bool:
        return not st.process_live() and not st.child_live() and not st.monitor_live()

    for pid, live in ((st.pid, st.process_live()), (st.child, st.child_live())):
        if live:
            for kill in (os.killpg, os.kill):  # not a group leader yet if it died before setsid
                try:
                    kill(pid, signal.SIGKILL)
                    break
                except ProcessLookupError:
                    continue
    if wait_for(all_gone, timeout):
        return True
    if st.monitor_live():
        try:
            os.kill(st.monitor_pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return wait_for(all_gone, KILL_WAIT)


def remove_monitor_files(directory: Path) -> None:
    """Remove the files a monitor makes (not the exit file, not the logs)."""
    for name in (STATE_FILE, START_FIFO, CTL, ATTACH, MONITOR_LOG):
        remove_quietly(directory / name)


def drain_control(directory: Path, timeout: float) -> None:
    """Wait until the monitor has read every line written to its `ctl` FIFO (FIONREAD 0), so
    a resize written before `start` is applied before the process runs."""
    try:
        fd = os.open(directory / CTL, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return  # no monitor reads it: nothing to wait for
    try:
        count = bytearray(4)

        def drained() -> bool:
            fcntl.ioctl(fd, termios.FIONREAD, count)
            return int.from_bytes(count, sys.byteorder) == 0

        wait_for(drained, timeout)
    finally:
        os.close(fd)


class GateError(Exception):
    """A held process could not be released; the message says why."""


def open_gate(directory: Path, timeout: float, waiting: Callable[[], object]) -> None:
    """Release the process held in `directory`: it runs its command now.

    Like runc's exec.fifo: the process blocks reading the `start` FIFO; this opens it for
    writing, removes it (the state reads "running" from then on) and writes one byte. While
    nobody reads it yet, `waiting()` is called before each retry; it raises when there is no
    point in waiting (the process died). Raises GateError if the FIFO cannot be opened or
    written, or after `timeout` seconds.
    """
    fifo = directory / START_FIFO
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            break
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # ENOENT: released meanwhile
                raise GateError(f"cannot open {fifo}: {exc.strerror}") from None
        waiting()  # ENXIO: no reader yet: the process is just forked, or it died
        if time.monotonic() >= deadline:
            raise GateError("the process never waited for start")
        time.sleep(0.001)
    try:
        os.unlink(fifo)
        os.write(fd, b"\0")
    except OSError as exc:  # EPIPE: the process died between open and write
        raise GateError(f"cannot release the process: {exc.strerror}") from None
    finally:
        os.close(fd)


def _read_line(fd: int, deadline: float) -> bytes | None:
    """Read up to the first newline or EOF; None if `deadline` passes first."""
    data = b""
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(timeout=left):
                return None
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
    return data.partition(b"\n")[0]


def _reap(proc: Any, deadline: float) -> int:
    """Reap the monitor's intermediate process; return the monitor's pid it printed (0: none)."""
    while proc.poll() is None:
        if time.monotonic() >= deadline:
            proc.kill()
            proc.wait()
            break
        time.sleep(0.002)
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    try:
        text = os.read(fd, 64)
    except BlockingIOError:
        text = b""
    finally:
        proc.stdout.close()
    return int(text) if text.strip().isdigit() else 0


def _log_tail(directory: Path) -> str:
    try:
        text = (directory / MONITOR_LOG).read_text(errors="replace").strip()
    except OSError:
        return ""
    return text.splitlines()[-1] if text else ""


def launch(
    directory: Path, job: Launch, *, context: dict[str, str], timeout: float
) -> tuple[int, int]:
    """Start a monitor for `directory` and return (process pid, monitor pid) once it reports.

    On any failure the monitor is gone and its files removed before this raises:
    RuntimeCommandError with the monitor's message (`context` names container, runtime and
    verb), RuntimeTimeoutError if it never reports within `timeout` seconds.
    """
    read_fd, write_fd = os.pipe()
    argv = [sys.executable, "-m", MONITOR_MODULE, "--dir", str(directory)]
    argv += ["--sync-fd", str(write_fd)]
    try:
        log_fd = os.open(
            directory / MONITOR_LOG, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600
        )
        try:
            proc = process.spawn(
                argv,
                stdin=process.PIPE,
                stdout=process.PIPE,
                stderr=log_fd,
                pass_fds=(write_fd,),
                cwd=directory,
            )
        finally:
            os.close(log_fd)
    except OSError as exc:
        os.close(read_fd)
        remove_quietly(directory / MONITOR_LOG)
        raise RuntimeCommandError(
            f"cannot start the monitor: {exc.strerror or exc}", argv=argv, **context
        ) from None
    finally:
        os.close(write_fd)
    assert proc.stdin is not None
    try:
        proc.stdin.write(job.to_json())
        proc.stdin.close()
    except OSError:
        pass  # it died: its report (or none) says why
    deadline = time.monotonic() + timeout
    try:
        line = _read_line(read_fd, deadline)
    finally:
        os.close(read_fd)
        monitor_pid = _reap(proc, deadline + KILL_WAIT)
    error: OcimuxError | None = None
    pid = -1
    if line is None:
        error = RuntimeTimeoutError(argv, timeout, **context)
    else:
        try:
            message = json.loads(line) if line else {}
            pid = int(message["data"])
        except (ValueError, KeyError, TypeError):
            detail = _log_tail(directory) or f"the monitor reported {line!r}"
            error = RuntimeCommandError(detail, argv=argv, **context)
        else:
            if pid < 0:
                text = str(message.get("message") or "the monitor failed without a message")
                error = RuntimeCommandError(text, argv=argv, **context)
    if error is not None:
        # A monitor that reported a failure exits by itself; one that hangs is killed at once.
        _kill(monitor_pid, grace=0.0 if line is None else KILL_WAIT)
        terminate(directory, 0.0)  # its process, if the monitor got as far as recording one
        remove_monitor_files(directory)
        log = directory / job.log
        if log.exists() and log.stat().st_size == 0:
            remove_quietly(log)
        raise error
    return pid, monitor_pid


def _kill(pid: int, grace: float) -> None:
    """Make sure a failed monitor is gone: give it `grace` seconds to exit, then SIGKILL it."""

    def gone() -> bool:
        stat = proc_stat(pid)
        return stat is None or stat.dead

    if pid > 0 and not wait_for(gone, grace):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        wait_for(gone, KILL_WAIT)
