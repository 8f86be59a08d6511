"""A monitor's exit command: what it runs once the container it watches has exited.

conmon runs `--exit-command PATH --exit-command-arg ARG...` after writing the exit file
(podman passes `podman container cleanup [--rm] ID` there), so the container's end is carried
out even when no client is left. The shim v2 I/O monitor and the mock's shim do the same with
`run_exit_command`. ocimux's command is `ocimux container cleanup DIR` (see `_cleanup.py`).

A public building block: a plugin's monitor receives the argv in `CreateRequest.exit_command`
and calls `run_exit_command` when its container has exited (never for an exec session).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

__all__ = ["exit_command_argv", "run_exit_command"]


def exit_command_argv(command: Sequence[str]) -> list[str]:
    """conmon's flags for `command` (an absolute program path, then its arguments)."""
    if not command:
        return []
    argv = ["--exit-command", command[0]]
    for arg in command[1:]:
        argv += ["--exit-command-arg", arg]
    return argv


def run_exit_command(command: Sequence[str]) -> None:
    """Start `command` detached and return at once: its own session, stdio on /dev/null.

    Forks twice, so the command is nobody's zombie here (the init process or the nearest
    subreaper reaps it) and a slow command never holds up the monitor. Errors are ignored:
    a monitor that cannot run its exit command still ends normally (the next `ocimux` call,
    or `ocimux serve`'s sweep, reconciles the container).
    """
    if not command:
        return
    argv = [os.fspath(a) for a in command]
    try:
        pid = os.fork()
    except OSError:
        return
    if pid == 0:  # the intermediate: start the command in a new session and leave at once
        try:
            os.setsid()
            if os.fork() == 0:
                devnull = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)
                os.closerange(3, _max_fd())
                os.execv(argv[0], argv)
        except BaseException:  # noqa: S110 - a forked child must never return into the monitor
            pass
        os._exit(0)
    while True:
        try:
            os.waitpid(pid, 0)
            return
        except ChildProcessError:
            return
        except InterruptedError:
            continue


def _max_fd() -> int:
    try:
        return min(os.sysconf("SC_OPEN_MAX"), 65536)
    except (OSError, ValueError):
        return 1024
