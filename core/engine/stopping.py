"""Stopping a container or an exec process: the engine's escalation over `kill` and `state`.

podman's rule, once for every runtime: the stop signal, `timeout` seconds, then SIGKILL, and
SIGKILL must take effect within `KILL_WAIT_SECONDS`. A paused container gets SIGKILL and is
then thawed (on cgroup v1 a frozen task cannot die until it is thawed: runc thaws it itself,
crun does not). A kill that fails because the process exited meanwhile is no error.
"""

from __future__ import annotations

import math
import signal as _signal
import time
from typing import TYPE_CHECKING

from ocimux.base._faults import crash_point
from ocimux.base.errors import InvalidArgumentError, OcimuxError, RuntimeCommandError
from ocimux.interface.runtime import KILL_WAIT_SECONDS

if TYPE_CHECKING:
    from ocimux.interface.runtime import Runtime

__all__ = ["check_timeout", "stop", "stop_exec", "wait_stopped"]


def check_timeout(value: float | None, what: str = "timeout") -> None:
    """Reject a negative, infinite or NaN timeout (None means "the default")."""
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise InvalidArgumentError(
            f"{what} must be a non-negative number of seconds (got {value!r})"
        )


def stop(
    runtime: Runtime,
    cid: str,
    timeout: float,
    stop_signal: int = _signal.SIGTERM,
    *,
    all_procs: bool = False,
) -> None:
    """Stop the container; return once it is stopped (`timeout == 0`: SIGKILL at once)."""
    if runtime.state(cid).status == "paused":
        try:
            runtime.kill(cid, _signal.SIGKILL, all_procs=all_procs)
        finally:
            try:
                runtime.resume(cid)
            except OcimuxError:
                pass  # already thawed by the runtime, or gone
        if wait_stopped(runtime, cid, None, KILL_WAIT_SECONDS):
            return
    elif timeout > 0:
        if _signal_unless_stopped(runtime, cid, None, stop_signal, all_procs):
            return
        crash_point("stop:signalled")
        if wait_stopped(runtime, cid, None, timeout):
            return
    if _signal_unless_stopped(runtime, cid, None, _signal.SIGKILL, all_procs):
        return
    if not wait_stopped(runtime, cid, None, KILL_WAIT_SECONDS):
        raise RuntimeCommandError(
            f"still running {KILL_WAIT_SECONDS:g}s after SIGKILL",
            container=cid,
            runtime=runtime.name,
            verb="stop",
            hint="the process may be stuck in the kernel (state D)",
        )


def stop_exec(runtime: Runtime, cid: str, exec_id: str, timeout: float) -> None:
    """Stop an exec process: SIGTERM, `timeout`, SIGKILL. The container keeps running."""
    if timeout > 0:
        if _signal_unless_stopped(runtime, cid, exec_id, _signal.SIGTERM, False):
            return
        if wait_stopped(runtime, cid, exec_id, timeout):
            return
    if _signal_unless_stopped(runtime, cid, exec_id, _signal.SIGKILL, False):
        return
    if not wait_stopped(runtime, cid, exec_id, KILL_WAIT_SECONDS):
        raise RuntimeCommandError(
            f"exec session {exec_id} survived SIGKILL",
            container=cid,
            runtime=runtime.name,
            verb="exec stop",
        )


def _ended(runtime: Runtime, cid: str, exec_id: str | None) -> bool:
    return runtime.state(cid, exec_id).status in ("stopped", "unknown" if exec_id else "stopped")


def _signal_unless_stopped(
    runtime: Runtime, cid: str, exec_id: str | None, sig: int, all_procs: bool
) -> bool:
    """Send `sig`; return True if the process turned out to be stopped already."""
    if _ended(runtime, cid, exec_id):
        return True
    try:
        runtime.kill(cid, sig, all_procs=all_procs, exec_id=exec_id)
    except RuntimeCommandError:
        if _ended(runtime, cid, exec_id):
            return True
        raise
    return False


def wait_stopped(runtime: Runtime, cid: str, exec_id: str | None, timeout: float) -> bool:
    """Poll `state` until the process has stopped (True) or `timeout` passed (False)."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        if _ended(runtime, cid, exec_id):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
