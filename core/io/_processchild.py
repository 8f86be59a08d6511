"""What a monitor's forked child does before it becomes the process (`Command`, in order).

It runs in a fresh fork of the single-threaded monitor and never returns: it execs, or writes
`ocimux: MESSAGE` to its stderr (the container's log) and exits as a shell would (127 not
found, 126 cannot invoke or set up). Namespaces, capabilities and `no_new_privs` go through
libc (Python 3.11 has no `os.setns`).
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import resource
import signal
import termios
from collections.abc import Sequence
from typing import NoReturn

from ocimux.base.command import exec_error
from ocimux.base.linuxcaps import ALL_CAPABILITIES

from ._launch import Command
from ._procfs import START_FIFO

__all__ = ["enter_pid_namespace", "exec_child", "write_all"]

#: dispositions Python changes (SIGPIPE, SIGXFSZ ignored; SIGINT handled) or a parent may have
_RESET_SIGNALS = tuple(
    getattr(signal, n)
    for n in ("SIGPIPE", "SIGXFSZ", "SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGCHLD")
)
#: entered in this order (the user namespace first: it grants the rights to the others)
_NAMESPACES = (("user", 0x10000000), ("cgroup", 0x02000000), ("ipc", 0x08000000),
               ("uts", 0x04000000), ("net", 0x40000000), ("mnt", 0x00020000))  # fmt: skip
CLONE_NEWPID = 0x20000000
_PR_SET_KEEPCAPS, _PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS, _PR_CAP_AMBIENT = 8, 24, 38, 47
_CAP_VERSION_3 = 0x20080522
#: fds are moved above this while the child arranges its own (Command's are below it)
_HIGH = 100


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"{what}: {os.strerror(number)}")


def _same(kind: str, pid: int) -> bool:
    return os.stat(f"/proc/self/ns/{kind}").st_ino == os.stat(f"/proc/{pid}/ns/{kind}").st_ino


def enter_pid_namespace(pid: int) -> int | None:
    """Make our next child a member of `pid`'s pid namespace; return the fd that undoes it
    (`restore_pid_namespace`), or None when it is ours already."""
    if _same("pid", pid):
        return None
    own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    target = os.open(f"/proc/{pid}/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check(_libc().setns(target, CLONE_NEWPID), f"setns(pid of {pid})")
    except OSError:
        os.close(own)
        raise
    finally:
        os.close(target)
    return own


def restore_pid_namespace(own: int | None) -> None:
    if own is not None:
        try:
            _check(_libc().setns(own, CLONE_NEWPID), "setns(our pid namespace)")
        finally:
            os.close(own)


def _enter(pid: int) -> None:
    """Join `pid`'s namespaces (those that differ from ours) and its root directory."""
    libc = _libc()
    root = os.open(f"/proc/{pid}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    fds = [(kind, flag, os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC))
           for kind, flag in _NAMESPACES if not _same(kind, pid)]  # fmt: skip
    for kind, flag, fd in fds:
        _check(libc.setns(fd, flag), f"setns({kind} of {pid})")
    os.fchdir(root)
    os.chroot(".")


def _mask(names: Sequence[str]) -> int:
    mask = 0
    for name in names:
        if name not in ALL_CAPABILITIES:
            raise OSError(0, f"unknown capability {name}")
        mask |= 1 << ALL_CAPABILITIES.index(name)
    return mask


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]  # fmt: skip


def _credentials(command: Command) -> None:
    """no_new_privs, then the bounding set, user and groups, then the other capability sets."""
    libc = _libc()
    if command.no_new_privileges:
        _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    caps = command.capabilities
    if caps is not None:
        keep = _mask(caps.bounding)
        with open("/proc/sys/kernel/cap_last_cap", "rb") as fh:
            last = int(fh.read())
        for number in range(last + 1):
            if not keep & (1 << number):
                _check(libc.prctl(_PR_CAPBSET_DROP, number, 0, 0, 0), "prctl(PR_CAPBSET_DROP)")
        _check(libc.prctl(_PR_SET_KEEPCAPS, 1, 0, 0, 0), "prctl(PR_SET_KEEPCAPS)")
    if command.user is not None:
        os.setgroups(list(command.user.additional_gids))
        os.setgid(command.user.gid)
        os.setuid(command.user.uid)
    if caps is not None:
        sets = [_mask(s) for s in (caps.effective, caps.permitted, caps.inheritable)]
        data = (_CapData * 2)(*(_CapData(*(m >> shift & 0xFFFFFFFF for m in sets))
                                for shift in (0, 32)))  # fmt: skip
        _check(libc.capset(ctypes.byref(_CapHeader(_CAP_VERSION_3, 0)), data), "capset")
        _check(libc.prctl(_PR_CAP_AMBIENT, 4, 0, 0, 0), "prctl(PR_CAP_AMBIENT_CLEAR_ALL)")
        for name in caps.ambient:
            number = ALL_CAPABILITIES.index(name)
            _check(libc.prctl(_PR_CAP_AMBIENT, 2, number, 0, 0), f"raise ambient {name}")


def write_all(fd: int, data: bytes) -> None:
    """Write all of `data` to `fd` (blocking)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def exec_child(
    command: Command,
    stdio: Sequence[int],
    *,
    gated: bool,
    passed: dict[int, int],
    errpipe: int | None = None,
    terminal: bool = False,
) -> NoReturn:
    """Become `command`'s process; never returns.

    Takes its own session and process group, restores default signal dispositions and an
    empty signal mask, makes `stdio` its fds 0-2 (with `terminal`, a pty's slave three times,
    which becomes its controlling terminal), gives each fd in `passed` (target -> source) its
    target number, closes every other fd. With `gated` it blocks until a byte arrives on the
    start FIFO. Then it applies `command` (see `Command`) and execs. If anything fails it
    writes `ocimux: MESSAGE` to stderr and, when `errpipe` is given, MESSAGE there
    (the pipe is close-on-exec: EOF alone means the exec succeeded).
    """
    code, message, err_fd = 126, "cannot start the process", None
    try:
        os.setsid()
        for sig in _RESET_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        # Move every source out of the way first, so no dup2 below clobbers another.
        moved = {t: fcntl.fcntl(s, fcntl.F_DUPFD_CLOEXEC, _HIGH) for t, s in passed.items()}
        if errpipe is not None:
            err_fd = fcntl.fcntl(errpipe, fcntl.F_DUPFD_CLOEXEC, _HIGH)
        for target, fd in enumerate(stdio):
            os.dup2(fd, target)
        if terminal:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        for target, fd in moved.items():
            os.dup2(fd, target)  # inheritable: the command keeps it
        _close_all_but({0, 1, 2, *moved, *([err_fd] if err_fd is not None else [])})
        if gated:
            wait_for_start()
        if command.umask is not None:
            os.umask(command.umask)
        for limit in command.rlimits:
            number = getattr(resource, limit.type, None)
            if number is None:
                raise OSError(0, f"unknown rlimit {limit.type}")
            resource.setrlimit(number, (limit.soft, limit.hard))
        if command.enter:
            _enter(command.enter)
        os.chdir(command.cwd)
        _credentials(command)
        env = dict(e.split("=", 1) for e in command.env if "=" in e)
        try:
            os.execvpe(command.argv[0], list(command.argv), env)
        except OSError as exc:
            error = exec_error(command.argv[0], exc)
            code, message = error.exit_code, error.detail
    except BaseException as exc:  # a forked child must never return into the monitor
        message = f"cannot start the process: {exc}"
    try:
        write_all(2, f"ocimux: {message}\n".encode())
        if err_fd is not None:
            write_all(err_fd, message.encode())
    except BaseException:
        pass
    finally:
        os._exit(code)


def _close_all_but(keep: set[int]) -> None:
    low = 0
    for fd in sorted(keep):
        if fd > low:
            os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, os.sysconf("SC_OPEN_MAX"))


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
