"""The one place that starts processes. Every other module calls `run` or `spawn`.

Public (`ocimux.base.process`): a plugin runs its binaries through it too, and gets the same rules.

- argv is always a list; nothing goes through a shell.
- stdout and stderr are read together (`communicate`), never one then the other: a runtime
  that fills one pipe while we wait on the other deadlocks (podman#22246).
- `NOTIFY_SOCKET` is removed from the environment (a runtime would otherwise signal systemd).
- Every `run` has a timeout; a command that hangs is killed and reported with its argv.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from .errors import RuntimeTimeoutError

__all__ = ["DEVNULL", "PIPE", "Completed", "child_env", "run", "spawn", "wait"]

DEVNULL = subprocess.DEVNULL
PIPE = subprocess.PIPE


@dataclass(frozen=True, slots=True)
class Completed:
    """A finished command: its argv, exit status and both outputs (bytes)."""

    argv: list[str]
    returncode: int
    stdout: bytes
    stderr: bytes

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
