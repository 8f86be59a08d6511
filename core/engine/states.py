"""The container state machine: which operation is allowed in which state.

The Dispatcher checks this table before calling a runtime, so an operation that makes no
sense (pausing a stopped container) is a clear StateError and never a runtime call.
"""

from __future__ import annotations

from ocimux.base.errors import StateError

__all__ = ["ACTIVE", "ALLOWED", "check"]

#: states in which the container may have live processes
ACTIVE = frozenset({"created", "running", "paused"})

#: operation → states it is allowed in
ALLOWED: dict[str, frozenset[str]] = {
    "start": frozenset({"created"}),
    "attach": frozenset({"created", "running"}),
    "kill": ACTIVE,
    "stop": ACTIVE | {"stopped"},
    "pause": frozenset({"running"}),
    "unpause": frozenset({"paused"}),
    "exec": frozenset({"running"}),
    "update": ACTIVE,
    "checkpoint": frozenset({"running"}),
    "delete": frozenset({"created", "stopped", "unknown"}),
    "rename": ACTIVE | {"stopped", "unknown"},
}

_WHAT_TO_DO = {
    "start": "only a created container can be started; run a new one with `ocimux run`",
    "attach": "only a running container can be attached to; see `ocimux logs` for its output",
    "kill": "the container is not running",
    "stop": "its state is unknown (its monitor is gone); remove it with `ocimux rm -f`",
    "pause": "only a running container can be paused",
    "unpause": "only a paused container can be unpaused",
    "exec": "start the container (or unpause it) first",
    "update": "the container is not running",
    "checkpoint": "only a running container can be checkpointed",
    "delete": "stop it first, or use `ocimux rm -f`",
    "rename": "wait until it is no longer being created or removed",
}


def check(verb: str, status: str, container: str, runtime: str | None = None) -> None:
    """Raise StateError unless `verb` is allowed for a container in `status`."""
    if status in ALLOWED[verb]:
        return
    raise StateError(
        f"container is {status}",
        container=container,
        runtime=runtime,
        verb=f"cannot {verb}",
        hint=_WHAT_TO_DO[verb],
    )
