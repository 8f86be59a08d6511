"""What the shim's forked child does before it becomes the container's (or exec's) process.

It runs in a fresh fork of the single-threaded shim and never returns: it either execs or
exits with a shell's status (127 not found, 126 cannot invoke).
"""

from __future__ import annotations

import fcntl
import os
import signal
import termios
from collections.abc import Sequence
from typing import NoReturn

from ._bundle import ProcessSpec, classify_exec_error, env_map, resolve_cwd
from ._proc import START_FIFO

__all__ = ["exec_child", "write_all"]

#: dispositions Python changes (SIGPIPE, SIGXFSZ ignored; SIGINT handled) or a parent may have
_RESET_SIGNALS = tuple(
    getattr(signal, n)
    for n in ("SIGPIPE", "SIGXFSZ", "SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGCHLD")
)


def write_all(fd: int, data: bytes) -> None:
    """Write all of `data` to `fd` (blocking)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def exec_child(
    spec: ProcessSpec,
    stdio: Sequence[int],
    gate: bool,
    errpipe: int | None,
    *,
    terminal: bool = False,
    sync: int | None = None,
) -> NoReturn:
    """Become `spec`'s process; never returns.

    Takes its own session and process group, restores default signal dispositions and an
    empty signal mask, makes `stdio` its fds 0-2 and closes every other fd. With `terminal`
    `stdio` is a pty's slave three times, and it becomes the controlling terminal (its
    process group the foreground one, so SIGWINCH and ^C reach it). With `gate` it then
    blocks until a byte arrives on the start FIFO (signals act with their default
    dispositions meanwhile); with `sync` (a socket) it then writes a byte there and waits
    for the shim's answer, so a resize the shim got before the gate opened is applied
    before the exec. It chdirs to `<rootfs>/<cwd>` (or the rootfs) and execs `spec.args` with exactly
    `spec.env`, resolving the command through that env's PATH. If the exec fails it writes
    `ocimux mock: MESSAGE` to stderr and, when `errpipe` is given, `ERRNO:MESSAGE` there (the
    pipe is close-on-exec: EOF alone means success).
    """
    code = 126
    try:
        os.setsid()
        for sig in _RESET_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        # Move the extra fds above any target first, so no dup2 below clobbers another.
        extra = [
            fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 64) for fd in (errpipe, sync) if fd is not None
        ]
        for target, fd in enumerate(stdio):
            os.dup2(fd, target)
        if terminal:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        for target, fd in enumerate(extra, start=3):
            os.dup2(fd, target, inheritable=False)
        os.closerange(3 + len(extra), os.sysconf("SC_OPEN_MAX"))
        err_fd = 3 if errpipe is not None else None
        sync_fd = 3 + len(extra) - 1 if sync is not None else None
        if gate:
            wait_for_start()
        if sync_fd is not None:
            _sync_with_shim(sync_fd)
        os.chdir(resolve_cwd(spec.rootfs, spec.cwd))
        try:
            os.execvpe(spec.args[0], list(spec.args), env_map(spec.env))
        except OSError as exc:
            code, message = classify_exec_error(spec.args[0], exc)
            write_all(2, f"ocimux mock: {message}\n".encode())
            if err_fd is not None:
                write_all(err_fd, f"{exc.errno or 0}:{message}".encode())
    except BaseException as exc:  # a forked child must never return into the shim
        try:
            write_all(2, f"ocimux mock: cannot start the process: {exc}\n".encode())
        except BaseException:
            pass
    finally:
        os._exit(code)


def _sync_with_shim(fd: int) -> None:
    """Tell the shim the gate opened and wait for its answer (or its end)."""
    try:
        os.write(fd, b"g")
        os.read(fd, 1)
    except OSError:
        pass  # the shim is gone: nothing left to wait for
    os.close(fd)


def wait_for_start() -> None:
    """Block until a byte arrives on the start FIFO (a writer that sends nothing is ignored).

    Like runc's exec.fifo: opening a FIFO for reading blocks until a writer opens it.
    """
    while True:
        fd = os.open(START_FIFO, os.O_RDONLY | os.O_CLOEXEC)
        try:
            if os.read(fd, 1):
                return
        finally:
            os.close(fd)
