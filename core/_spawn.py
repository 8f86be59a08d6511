"""The one place that starts processes. Every other module calls `run` or `spawn`.

- argv is always a list; nothing goes through a shell.
- stdout and stderr are read together (`communicate`), never one then the other: a runtime
  that fills one pipe while we wait on the other deadlocks (podman#22246).
- `NOTIFY_SOCKET` is removed from the environment (a runtime would otherwise signal systemd).
- Every `run` has a timeout; a command that hangs is killed and reported with its argv.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from .errors import RuntimeTimeoutError

__all__ = ["DEVNULL", "PIPE", "Completed", "child_env", "run", "spawn"]

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
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        proc.communicate()
        raise RuntimeTimeoutError(argv, timeout) from None
    except BaseException:
        _kill_group(proc)
        proc.wait()
        raise
    return Completed(argv, proc.returncode, out or b"", err or b"")


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
) -> subprocess.Popen[bytes]:
    """Start `argv` and return the Popen without waiting (for monitors such as conmon).

    With `inherit_env=False` the child gets exactly `env` (a container's process environment).
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
    )


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, 9)
    except (ProcessLookupError, PermissionError):
        try:
            proc.kill()
        except ProcessLookupError:
            pass
