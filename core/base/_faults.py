"""Crash points for tests: `OCIMUX_CRASH_AT=<point>` makes this process SIGKILL itself there.

Used by the crash-safety tests to prove that a `ocimux` killed in the middle of an operation
leaves nothing half-done once the next call has reconciled. Costs one dict lookup per point.
"""

from __future__ import annotations

import os
import signal

__all__ = ["POINTS", "crash_point"]

#: every point the Dispatcher marks, in the order an operation reaches them
POINTS = (
    "create:recorded",       # the record exists ("creating"); nothing else yet
    "create:bundle",         # the bundle directory is written
    "create:layer",          # the container's overlay layer is mounted (--rootfs DIR:O, images)
    "create:runtime",        # the runtime created it (conmon runs); the record still says "creating"
    "start:runtime",         # the runtime started it; the record still says "created"
    "stop:signalled",        # the stop signal was sent; nothing recorded
    "delete:marked",         # the record says "removing"; the runtime still has it
    "delete:runtime",        # the runtime deleted it; directory and record remain
    "exec:recorded",         # the session record exists; no process yet
    "exec:started",          # the session's process runs; the CLI is attached
    "checkpoint:runtime",    # the runtime checkpointed it; nothing recorded
    # ocimux-oci (ocimux.ocifront): its record under --root and the backend's container
    "oci-create:recorded",   # the record says "creating"; the backend has nothing yet
    "oci-create:backend",    # the backend created it; the record still says "creating"
    "oci-delete:marked",     # the record says "deleting"; the backend still has it
    "oci-delete:backend",    # the backend deleted it; the record remains ("deleting")
)  # fmt: skip


def crash_point(name: str) -> None:
    """Die here, at once and without cleanup, if `OCIMUX_CRASH_AT` names this point."""
    if os.environ.get("OCIMUX_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
