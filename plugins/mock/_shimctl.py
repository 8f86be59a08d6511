"""The runtime's side of the shim: start one and read its sync pipe; stop one for good.

`launch` follows podman's createOCIContainer/readConmonPipeData: the shim gets the write end
of a pipe, daemonizes (its intermediate process is reaped here, so the caller never keeps a
zombie-prone child), and reports one JSON line: `{"data": PID}` or `{"data": -1,
"message": TEXT}`. Every wait is bounded by the runtime's `command_timeout`.
"""

from __future__ import annotations

import errno
import json
import os
import selectors
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocimux import process
from ocimux.errors import (
    CommandNotFoundError,
    CommandNotInvocableError,
    OcimuxError,
    RuntimeCommandError,
    RuntimeTimeoutError,
)

from ._proc import (
    ATTACH_SOCKET,
    CTL_FIFO,
    SHIM_LOG,
    START_FIFO,
    STATE_FILE,
    ShimState,
    proc_stat,
    remove_quietly,
)

if TYPE_CHECKING:
    from ocimux.runtime import Runtime

__all__ = ["SHIM_MODULE", "GateError", "launch", "open_gate", "terminate", "wait_for"]

#: the shim runs as `python -m SHIM_MODULE`
SHIM_MODULE = "ocimux.plugins.mock.shim"
#: how long a process may take to die after SIGKILL (podman's killContainerTimeout)
KILL_WAIT = 5.0


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    """Poll `predicate` (5 ms, doubling to 50 ms) until true or `timeout` seconds; return it."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while not predicate():
        if time.monotonic() >= deadline:
            return predicate()
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    return True


def terminate(directory: Path, timeout: float) -> bool:
    """SIGKILL the process group recorded in `directory`, give its shim `timeout` seconds to
    record the exit and leave, then SIGKILL the shim; return whether both are gone.

    Zombies count as gone (an orphan waits for init to reap it). Nothing recorded: True.
    """
    try:
        st = ShimState.load(directory)
    except ValueError:
        return True
    if st is None:
        return True

    def process_gone() -> bool:
        stat = st.process_stat()
        return stat is None or stat.state in ("Z", "X")

    def all_gone() -> bool:
        return process_gone() and not st.shim_live()

    if not process_gone():
        for kill in (os.killpg, os.kill):  # not a group leader yet if it died before setsid
            try:
                kill(st.pid, signal.SIGKILL)
                break
            except ProcessLookupError:
                continue
    if wait_for(all_gone, timeout):
        return True
    if st.shim_live():
        try:
            os.kill(st.shim_pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return wait_for(all_gone, KILL_WAIT)


def remove_shim_files(directory: Path) -> None:
    """Remove the files a shim makes (not `exit`, not the logs)."""
    for name in (STATE_FILE, START_FIFO, CTL_FIFO, ATTACH_SOCKET, SHIM_LOG):
        remove_quietly(directory / name)


class GateError(Exception):
    """A gated process could not be released; the message says why."""


def open_gate(directory: Path, timeout: float, waiting: Callable[[], None]) -> None:
    """Release the process gated in `directory`: it execs its command now.

    Like runc's exec.fifo: the process blocks opening the `start` FIFO for reading; this
    opens it for writing, removes it (a container reads "running" from then on) and writes
    one byte. While the process has not opened the FIFO yet, `waiting()` is called before
    each retry; it raises when there is no point in waiting (the process died). Raises
    GateError if the FIFO cannot be opened or written, or after `timeout` seconds.
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
        # ENXIO: no reader yet: the process is just forked, or it died
        waiting()
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
    """Reap the shim's intermediate process; return the shim's pid it printed (0 if none)."""
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


def _shim_log_tail(directory: Path) -> str:
    try:
        text = (directory / SHIM_LOG).read_text(errors="replace").strip()
    except OSError:
        return ""
    return text.splitlines()[-1] if text else ""


def launch(
    runtime: Runtime,
    cid: str,
    directory: Path,
    spec_name: str,
    log_name: str,
    *,
    gate: bool,
    stdin: bool,
    verb: str,
    terminal: bool = False,
    check_command: bool = False,
    pid_file: str | None = None,
    exit_command: tuple[str, ...] = (),
    log_size_max: int = -1,
    exit_file: Path | None = None,
) -> tuple[int, int]:
    """Start a shim for `directory` and return (process pid, shim pid) once it reports.

    The options are the shim's (`shim.py`). On any failure the shim is gone and its files
    removed before this raises: RuntimeCommandError with the shim's message,
    RuntimeTimeoutError if it never reports within `command_timeout`, and for an exec (no
    `gate`, or `check_command`) CommandNotFoundError / CommandNotInvocableError when the
    command cannot be executed.
    """
    argv = [sys.executable, "-m", SHIM_MODULE, "--dir", str(directory), "--spec", spec_name]
    argv += ["--log", log_name, *(["--gate"] if gate else []), *(["--stdin"] if stdin else [])]
    argv += [*(["--terminal"] if terminal else []), *(["--check-command"] if check_command else [])]
    argv += ["--pid-file", pid_file] if pid_file else []
    argv += [f"--exit-command={arg}" for arg in exit_command]  # run once the process exited
    argv += ["--log-size-max", str(log_size_max)] if log_size_max > 0 else []
    argv += ["--exit-file", str(exit_file)] if exit_file is not None else []
    context = {"container": cid, "runtime": runtime.name, "verb": verb}
    timeout = runtime.context.command_timeout
    read_fd, write_fd = os.pipe()
    argv += ["--sync-fd", str(write_fd)]
    try:
        log_fd = os.open(
            directory / SHIM_LOG, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600
        )
        try:
            proc = process.spawn(
                argv, stdout=process.PIPE, stderr=log_fd, pass_fds=(write_fd,), cwd=directory
            )
        finally:
            os.close(log_fd)
    except OSError as exc:
        os.close(read_fd)
        remove_quietly(directory / SHIM_LOG)
        raise RuntimeCommandError(
            f"cannot start the mock shim: {exc.strerror or exc}", argv=argv, **context
        ) from None
    finally:
        os.close(write_fd)
    deadline = time.monotonic() + timeout
    try:
        line = _read_line(read_fd, deadline)
    finally:
        os.close(read_fd)
        shim_pid = _reap(proc, deadline + KILL_WAIT)
    error: OcimuxError | None = None
    pid = -1
    if line is None:
        error = RuntimeTimeoutError(argv, timeout, **context)
    else:
        try:
            message = json.loads(line) if line else {}
            pid = int(message["data"])
        except (ValueError, KeyError, TypeError):
            detail = _shim_log_tail(directory) or f"the mock shim reported {line!r}"
            error = RuntimeCommandError(detail, argv=argv, **context)
        else:
            if pid < 0:
                error = _failure(message, argv, context)
    if error is not None:
        # A shim that reported a failure exits by itself; one that hangs is killed at once.
        _kill_shim(shim_pid, grace=0.0 if line is None else KILL_WAIT)
        terminate(directory, 0.0)  # its process, if the shim got as far as recording one
        remove_shim_files(directory)
        if pid_file:
            remove_quietly(directory / pid_file)
        log = directory / log_name
        if log.exists() and log.stat().st_size == 0:
            remove_quietly(log)
        raise error
    return pid, shim_pid


def _kill_shim(pid: int, grace: float) -> None:
    """Make sure a failed shim is gone: give it `grace` seconds to exit, then SIGKILL it."""

    def gone() -> bool:
        stat = proc_stat(pid)
        return stat is None or stat.state in ("Z", "X")

    if pid > 0 and not wait_for(gone, grace):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        wait_for(gone, KILL_WAIT)


def _failure(message: dict[str, Any], argv: list[str], context: dict[str, str]) -> OcimuxError:
    text = str(message.get("message") or "the mock shim failed without a message")
    number = message.get("errno")
    if number is None:
        return RuntimeCommandError(text, argv=argv, **context)
    if number == errno.ENOENT:
        return CommandNotFoundError(text, **context)
    return CommandNotInvocableError(text, **context)
