"""The one place that starts processes. Every other module calls `run` or `spawn`.

Public (`ocimux.base.process`): a plugin runs its binaries through it too, and gets the same rules.

- argv is always a list; nothing goes through a shell.
- stdout and stderr are read together (`communicate`), never one then the other: a runtime
  that fills one pipe while we wait on the other deadlocks (podman#22246).
- `NOTIFY_SOCKET` is removed from the environment (a runtime would otherwise signal systemd).
- Every `run` has a timeout; a command that hangs is killed and reported with its argv.
"""

from __future__ import annotations

import _signal  # the C module: signal.py's enums cost ~5 ms
import os

from .errors import RuntimeTimeoutError

#: typing.TYPE_CHECKING without importing typing (~4 ms on ocimux-oci's delete and create)
TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess
    from collections.abc import Mapping, Sequence
    from typing import IO, Any

__all__ = ["DEVNULL", "PIPE", "Completed", "child_env", "run", "run_fds", "spawn", "wait"]

# subprocess's values, without importing it here (~5 ms, and dataclasses ~8 ms, are more than
# a hot path such as ocimux-oci's delete may spend): subprocess is imported by the calls
DEVNULL = -3
PIPE = -1


class Completed:
    """A finished command: its argv, exit status and both outputs (bytes). A plain class:
    importing dataclasses costs ~8 ms on every path that runs a process."""

    __slots__ = ("argv", "returncode", "stderr", "stdout")

    def __init__(self, argv: list[str], returncode: int, stdout: bytes, stderr: bytes) -> None:
        self.argv, self.returncode, self.stdout, self.stderr = argv, returncode, stdout, stderr

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Completed) and all(
            getattr(self, k) == getattr(other, k) for k in self.__slots__
        )

    def __repr__(self) -> str:
        return (f"Completed(argv={self.argv!r}, returncode={self.returncode!r}, "
                f"stdout={self.stdout!r}, stderr={self.stderr!r})")  # fmt: skip

    @property
    def stderr_text(self) -> str:
        return self.stderr.decode(errors="replace").strip()


def child_env(extra: Mapping[str, str] | None = None, *, inherit: bool = True) -> dict[str, str]:
    """The environment for a child: ours without NOTIFY_SOCKET (none unless `inherit`), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"} if inherit else {}
    if extra:
        env.update(extra)
    return env


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    input: bytes | None = None,
    stdin: int | IO[Any] | None = DEVNULL,
    stdout: int | IO[Any] | None = PIPE,
    stderr: int | IO[Any] | None = PIPE,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    pass_fds: Sequence[int] = (),
) -> Completed:
    """Run `argv` to completion and return its status and output.

    Raises RuntimeTimeoutError (naming the command) if it runs longer than `timeout` seconds;
    the process group is killed first. Raises FileNotFoundError/PermissionError if the
    binary cannot be executed; callers translate those.
    """
    import subprocess  # lazy: see DEVNULL

    argv = [os.fspath(a) for a in argv]
    proc = subprocess.Popen(  # noqa: S603 - argv list, no shell
        argv,
        stdin=PIPE if input is not None else stdin,
        stdout=stdout,
        stderr=stderr,
        env=child_env(env),
        cwd=cwd,
        pass_fds=tuple(pass_fds),
        start_new_session=True,
    )
    with _Watchdog(proc, timeout) as dog:
        try:
            out, err = proc.communicate(input)
        except BaseException:
            _kill_group(proc)
            proc.wait()
            raise
    if dog.fired:
        raise RuntimeTimeoutError(argv, timeout)
    return Completed(argv, proc.returncode, out or b"", err or b"")


def wait(proc: subprocess.Popen[bytes], timeout: float) -> int:
    """Wait for `proc` to exit; kill its process group and raise RuntimeTimeoutError after `timeout`."""
    with _Watchdog(proc, timeout) as dog:
        code = proc.wait()
    if dog.fired:
        raise RuntimeTimeoutError([str(a) for a in proc.args], timeout)  # type: ignore[union-attr]
    return code


class _Watchdog:
    """Kill a process group when a timer runs out, so the caller can block without polling.

    `Popen.communicate(timeout=)` and `wait(timeout=)` poll with sleeps growing to 50 ms,
    which costs a few milliseconds per runtime command; a blocking wait plus a timer
    thread returns the moment the child exits.
    """

    def __init__(self, proc: subprocess.Popen[bytes], timeout: float) -> None:
        import threading  # lazy: see DEVNULL

        self.proc = proc
        self.fired = False
        self._timer = threading.Timer(timeout, self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        self.fired = True
        _kill_group(self.proc)

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def spawn(
    argv: Sequence[str],
    *,
    stdin: int | IO[Any] | None = DEVNULL,
    stdout: int | IO[Any] | None = DEVNULL,
    stderr: int | IO[Any] | None = DEVNULL,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    pass_fds: Sequence[int] = (),
    new_session: bool = True,
    inherit_env: bool = True,
    umask: int = -1,
) -> subprocess.Popen[bytes]:
    """Start `argv` and return the Popen without waiting (for monitors such as conmon).

    With `inherit_env=False` the child gets exactly `env` (a container's process environment);
    `umask` (e.g. 0o077 for monitors, whose files must be private) applies to the child only.
    """
    import subprocess  # lazy: see DEVNULL

    return subprocess.Popen(  # noqa: S603 - argv list, no shell
        [os.fspath(a) for a in argv],
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        env=child_env(env, inherit=inherit_env),
        cwd=cwd,
        pass_fds=tuple(pass_fds),
        start_new_session=new_session,
        umask=umask,
    )


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, 9)
    except (ProcessLookupError, PermissionError):
        try:
            proc.kill()
        except ProcessLookupError:
            pass


def run_fds(
    argv: Sequence[str], *, timeout: float, stdin: int, stdout: int, stderr: int,
    pass_fds: Sequence[int] = (),
) -> int:  # fmt: skip
    """Run `argv` (an absolute path first) with the given fds as its stdio (each its own
    target or >= 3) and `pass_fds` at their own numbers, in our session, and return its exit
    status; for paths that must not pay for subprocess.

    fork + exec, and a pidfd polled for `timeout`: no thread, no polling loop. The child's
    signals are at their defaults, as after a shell's fork+exec (Python ignores SIGPIPE and
    SIGXFSZ; glibc's posix_spawn would leave its internal 32 and 33 ignored, and a container's
    processes would inherit that). On timeout the child is killed and RuntimeTimeoutError
    raised. Our other fds are close-on-exec (Python opens every fd so).
    """
    import select  # lazy: a C module, ~0.1 ms

    argv = [os.fspath(a) for a in argv]
    if not os.access(argv[0], os.X_OK):  # the child could only exit 127 without a word
        error = FileNotFoundError if not os.path.exists(argv[0]) else PermissionError
        raise error(2 if error is FileNotFoundError else 13, "cannot execute", argv[0])
    env = child_env()
    pid = os.fork()
    if pid == 0:  # the child: nothing here may return into the caller
        try:
            for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
                if fd != target:
                    os.dup2(fd, target)
            for fd in pass_fds:
                os.set_inheritable(fd, True)
            for signum in (_signal.SIGPIPE, _signal.SIGXFSZ):
                _signal.signal(signum, _signal.SIG_DFL)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    pidfd = os.pidfd_open(pid)
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if not poller.poll(int(timeout * 1000)):
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            raise RuntimeTimeoutError(argv, timeout)
    finally:
        os.close(pidfd)
    _pid, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)
