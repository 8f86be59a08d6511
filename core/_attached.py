"""Attached exec for the mock: run a host process through `_spawn`, copy its stdio as it flows.

stdout and stderr are read together (one selector, with the process's pidfd), never one
then the other; input is copied from the caller's stream by a daemon thread, which ends at
that stream's EOF. The environment is `_spawn`'s: ocimux's own with the exec's on top
(`_spawn.child_env` cannot start from an empty one), whereas a detached exec, started by
the shim, gets exactly the exec's environment.
"""

from __future__ import annotations

import os
import selectors
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from . import _spawn

if TYPE_CHECKING:
    from .options import StdStreams

__all__ = ["run_attached"]

#: after the process exits: stop copying after this long without output, or this long at all
DRAIN_IDLE = 0.05
DRAIN_MAX = 2.0
CHUNK = 65536


def _feed(source: IO[bytes], sink: IO[bytes]) -> None:
    """Copy `source` to `sink` until EOF (then close `sink`) or until `sink` is gone."""
    read = getattr(source, "read1", source.read)
    try:
        while True:
            data = read(CHUNK)
            if not data:
                break
            sink.write(data)
            sink.flush()
    except (OSError, ValueError):
        pass  # the process closed its stdin or exited
    finally:
        try:
            sink.close()
        except OSError:
            pass


def _copy(fd: int, out: IO[bytes]) -> bool:
    """Copy one read of `fd` to `out`; return False at EOF."""
    try:
        data = os.read(fd, CHUNK)
    except BlockingIOError:
        return True
    if not data:
        return False
    out.write(data)
    out.flush()
    return True


def run_attached(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None,
    cwd: Path | None,
    streams: StdStreams,
    stdin: bool,
    inherit_env: bool = True,
) -> int:
    """Run `argv` to completion, its output copied to `streams`; return its exit code.

    The exit code is 128+N when a signal N killed it. With `inherit_env=False` the process
    gets exactly `env`. Raises OSError when `argv[0]` cannot be executed; callers translate.
    """
    feed_stdin = stdin and streams.stdin is not None
    proc = _spawn.spawn(
        argv,
        stdin=_spawn.PIPE if feed_stdin else _spawn.DEVNULL,
        stdout=_spawn.PIPE,
        stderr=_spawn.PIPE,
        env=env,
        cwd=cwd,
        inherit_env=inherit_env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    sinks: dict[int, Any] = {
        proc.stdout.fileno(): streams.stdout,
        proc.stderr.fileno(): streams.stderr,
    }
    if feed_stdin:
        assert proc.stdin is not None and streams.stdin is not None
        threading.Thread(target=_feed, args=(streams.stdin, proc.stdin), daemon=True).start()
    pidfd = os.pidfd_open(proc.pid)
    try:
        _pump(pidfd, sinks)
    except BaseException:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # interrupted: do not leave it running
        except OSError:
            pass
        raise
    finally:
        os.close(pidfd)
        returncode = int(proc.wait())  # it exited, or closed both pipes: wait for its end
        proc.stdout.close()
        proc.stderr.close()
    return 128 - returncode if returncode < 0 else returncode


def _pump(pidfd: int, sinks: dict[int, Any]) -> None:
    """Copy the pipes in `sinks` until both close, or until shortly after the process exits."""
    with selectors.DefaultSelector() as sel:
        for fd in sinks:
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ)
        sel.register(pidfd, selectors.EVENT_READ)
        deadline = None
        while sinks:
            if deadline is not None and time.monotonic() >= deadline:
                break
            ready = sel.select(timeout=None if deadline is None else DRAIN_IDLE)
            if deadline is not None and not ready:
                break  # it exited and something outside it still holds the pipes
            for key, _mask in ready:
                if key.fd == pidfd:
                    sel.unregister(pidfd)
                    deadline = time.monotonic() + DRAIN_MAX
                elif not _copy(key.fd, sinks[key.fd]):
                    sel.unregister(key.fd)
                    del sinks[key.fd]
