"""Reconciling records with what the runtimes say, and finishing what a dead process left.

There is no daemon: containers outlive the `ocimux` process (their monitors hold them), so
every call that reads a record first asks the owning runtime for the truth. A record still
"creating" or "removing" whose lock nobody holds was left by an `ocimux` that died in the
middle (killed, crashed, power cut): its operation is finished here — a half-created
container is removed completely, a half-removed one too — so the next call sees each
container either fully there or fully gone.

A runtime whose plugin is broken (it fails to import, cannot be built) or fails (its `state`
raises) answers for its own containers only: they read "unknown" with the plugin's error as
the reason (`broken_view`, not stored: the next call asks again), and every other runtime's
containers list normally. `rm -f` removes such a container without its runtime, with a
warning (`remove_without_runtime`; podman's MissingRuntime).
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from . import states
from .errors import (
    ContainerNotFoundError,
    OcimuxError,
    PluginError,
    RuntimeNotFoundError,
    StoreError,
)

if TYPE_CHECKING:
    from .dispatcher import Dispatcher
    from .options import RuntimeState
    from .runtime import Runtime
    from .store import ContainerRecord

__all__ = [
    "INTERRUPTED",
    "broken_view",
    "finish_interrupted",
    "refresh",
    "refresh_all",
    "remove_container_dir",
    "remove_without_runtime",
    "removed_meanwhile",
]

#: statuses that exist only while one `ocimux` process works on the container (holding its lock)
INTERRUPTED = frozenset({"creating", "removing"})


def refresh(
    d: Dispatcher, rec: ContainerRecord, known: RuntimeState | None = None
) -> ContainerRecord | None:
    """Reconcile one record; None if it turned out to be a leftover that is now removed.

    `known` is the runtime's answer when the caller already has it (a bulk query). The lock
    is taken only when something changed. Raises ContainerNotFoundError if another process
    removed the container meanwhile (e.g. an `rm -f` this call waited for).
    """
    if rec.status in INTERRUPTED:
        return _try_finish(d, rec)
    if rec.status not in states.ACTIVE and rec.status != "unknown":
        return rec
    try:
        runtime: Runtime | None = d.registry.get(rec.runtime)
    except RuntimeNotFoundError:
        runtime = None  # missing: stored as unknown under the lock (`refresh_locked`)
    except OcimuxError as exc:
        return broken_view(rec, exc)  # its plugin is broken: this record says so, no other
    if runtime is not None:
        try:
            st = known if known is not None else runtime.state(rec.id)
        except PluginError as exc:
            return broken_view(rec, exc)  # its plugin failed (a bug in it): the same
        if st.status == rec.status and st.pid in (0, rec.pid) and st.reason == rec.status_reason:
            return rec
    with d.store.lock(rec.id, d.config.lock_timeout):
        try:
            rec = d.store.get_container(rec.id)
        except ContainerNotFoundError:
            raise removed_meanwhile(rec) from None
        return d.refresh_locked(rec, runtime)


def broken_view(rec: ContainerRecord, exc: OcimuxError) -> ContainerRecord:
    """`rec` as listed while its runtime's plugin is broken or failing: "unknown", with why.

    Not stored: the truth is unknown, not changed, and the next call asks the runtime again.
    """
    return replace(
        rec, status="unknown", status_reason=f"runtime {rec.runtime} failed: {exc.detail}"
    )


def remove_without_runtime(rec: ContainerRecord, runtime: Runtime | None, why: str) -> None:
    """Warn that `rm -f` removes `rec` without its (missing or failing) runtime.

    A failing runtime still gets one chance to `delete` what it holds (its `state` or `kill`
    may be what fails); whatever it keeps is left to the operator (`ocimux system check`).
    The caller then removes the record and ocimux's own files of it.
    """
    from .guard import warn

    if runtime is not None:
        with suppress(OcimuxError):
            runtime.delete(rec.id)
    warn(
        f"removing container {rec.name} without its runtime {rec.runtime} ({why}); what the "
        "runtime may still hold of it is not cleaned up: see `ocimux system check`"
    )


def removed_meanwhile(rec: ContainerRecord) -> ContainerNotFoundError:
    """The error for a container another ocimux process removed while this one looked at it."""
    return ContainerNotFoundError(
        f"container {rec.name} was removed meanwhile by another ocimux process",
        hint="see `ocimux ps -a`",
    )


def refresh_all(d: Dispatcher) -> list[ContainerRecord]:
    """Every record, reconciled; asks each runtime once for all its containers."""
    records = d.store.list_containers()
    groups: dict[str, list[str]] = {}
    for rec in records:
        if rec.status in states.ACTIVE or rec.status == "unknown":
            groups.setdefault(rec.runtime, []).append(rec.id)
    known: dict[str, RuntimeState] = {}
    for name, cids in groups.items():
        with suppress(OcimuxError):  # a missing runtime, or fall back to one question each
            known.update(d.registry.get(name).states(cids))
    out = []
    for rec in records:
        try:
            fresh = refresh(d, rec, known.get(rec.id))
        except ContainerNotFoundError:
            continue  # removed meanwhile
        except OcimuxError:
            fresh = rec  # a runtime that fails to answer must not hide the others
        if fresh is not None:
            out.append(fresh)
    return out


def _try_finish(d: Dispatcher, rec: ContainerRecord) -> ContainerRecord | None:
    """Finish an interrupted create or delete if its process is gone (its lock is free)."""
    try:
        with d.store.lock(rec.id, 0):
            try:
                rec = d.store.get_container(rec.id)
            except ContainerNotFoundError:
                # its lock was free because the `rm` working on it had just finished
                raise removed_meanwhile(rec) from None
            if rec.status not in INTERRUPTED:
                return rec
            finish_interrupted(d, rec)
            return None
    except StoreError:
        return rec  # another process is creating or removing it right now


def finish_interrupted(d: Dispatcher, rec: ContainerRecord) -> None:
    """Remove every trace of a container whose create or delete was interrupted.

    The caller holds the lock. Runtime state, monitor, layer mount, directory and record all
    go; processes the runtime no longer knows are killed through the container's cgroup. A
    directory is deleted only if it is ocimux's own (`remove_container_dir`). Raises
    OcimuxError, keeping the record, if its layer is still mounted afterwards.
    """
    from .cgroups import kill_container_cgroups

    runtime = d.runtime_or_none(rec)
    if runtime is not None:
        with suppress(OcimuxError):
            runtime.delete(rec.id)
        directory = runtime.container_dir(rec.id)
    else:
        directory = Path(rec.bundle)
    if _own(d, directory):
        kill_container_cgroups(rec.id, directory / "config.json")
    remove_container_dir(d, directory)
    d.store.remove_container(rec.id)
    d.hooks.event(
        "delete", container=rec.id, name=rec.name, runtime=rec.runtime, interrupted=rec.status
    )


def _own(d: Dispatcher, directory: Path) -> bool:
    from .trust import inside_containers_dir

    return inside_containers_dir(directory, Path(d.config.state_dir) / "containers")


def remove_container_dir(
    d: Dispatcher, directory: Path | str, keep_upper: Path | None = None
) -> bool:
    """Remove a container's directory (layer unmounted first) if it is ocimux's own to delete.

    Only a directory directly inside `<state_dir>/containers/`, resolved and owned by the
    caller, is deleted (`trust.inside_containers_dir`): a path read from the database may have
    been planted. Returns whether it was removed; raises OcimuxError (deleting nothing) while
    its layer stays mounted.
    """
    from .overlay import remove_with_layer

    if not _own(d, Path(directory)):
        return False
    remove_with_layer(Path(directory), keep_upper=keep_upper)
    return True
