"""Reconciling records with what the runtimes say, and finishing what a dead process left.

`Reconciler` holds what every part of the engine shares (configuration, Registry, Store,
hooks) and the steps each verb starts with: find the container's record and its owning
runtime, take its lock, ask the runtime for the truth, check the state machine and the
capability the verb needs. The Dispatcher is a Reconciler with the verbs on top; the exec
sessions (`execs.py`) use these steps too.

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

import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ocimux.base.errors import (
    CapabilityError,
    ContainerNotFoundError,
    OcimuxError,
    PluginError,
    RuntimeNotFoundError,
    StoreError,
)
from ocimux.base.trust import inside_containers_dir
from ocimux.oci.cgroups import kill_container_cgroups
from ocimux.oci.overlay import remove_with_layer

from . import states
from .guard import warn

if TYPE_CHECKING:
    from ocimux.config import Config
    from ocimux.interface.capabilities import Capabilities
    from ocimux.interface.options import RuntimeState
    from ocimux.interface.runtime import Runtime

    from .hooks import Hooks
    from .registry import Registry
    from .store import ContainerRecord, Store

__all__ = [
    "INTERRUPTED",
    "Reconciler",
    "broken_view",
    "remove_without_runtime",
    "removed_meanwhile",
]

#: statuses that exist only while one `ocimux` process works on the container (holding its lock)
INTERRUPTED = frozenset({"creating", "removing"})


class Reconciler:
    """Records reconciled with their runtimes: the steps every engine verb starts with."""

    def __init__(self, config: Config, registry: Registry, store: Store, hooks: Hooks) -> None:
        self.config = config
        self.registry = registry
        self.store = store
        self.hooks = hooks

    # --- the owning runtime and what it can do ----------------------------------------------

    def runtime_of(self, rec: ContainerRecord) -> Runtime:
        """The runtime that owns `rec` (never the current default). Raises if it is missing."""
        try:
            return self.registry.get(rec.runtime)
        except (RuntimeNotFoundError, PluginError) as exc:
            raise RuntimeNotFoundError(
                f"its runtime is missing ({exc.detail})",
                container=rec.name,
                runtime=rec.runtime,
                hint="reinstall the runtime's plugin, or remove the container with `ocimux rm -f`",
            ) from exc

    def runtime_or_none(self, rec: ContainerRecord) -> Runtime | None:
        """The runtime that owns `rec`, or None if it is missing or its plugin is broken."""
        try:
            return self.registry.get(rec.runtime)
        except (RuntimeNotFoundError, PluginError):
            return None

    def capabilities(self, runtime: Runtime) -> Capabilities:
        return self.registry.capabilities(runtime)

    def require(self, runtime: Runtime, capability: str, rec_name: str | None, verb: str) -> None:
        """Raise CapabilityError unless `runtime` can do `capability` (before anything runs)."""
        cap = self.capabilities(runtime).get(capability)
        if not cap:
            raise CapabilityError(
                capability,
                cap.reason or "not supported",
                source=cap.source,
                container=rec_name,
                runtime=runtime.name,
                verb=verb,
            )

    # --- one container, under its lock -------------------------------------------------------

    @contextmanager
    def locked(self, ref: str, verb: str) -> Iterator[tuple[ContainerRecord, Runtime]]:
        """Look `ref` up, lock it, refresh its state, check `verb` is allowed; yield record and runtime."""
        rec = self.store.lookup(ref)
        with self.store.lock(rec.id, self.config.lock_timeout):
            rec = self._get_unless_interrupted(rec)
            runtime = self.runtime_of(rec)
            try:
                rec = self.refresh_locked(rec, runtime)
            except PluginError as exc:  # a plugin's fault in `state`: say which call met it
                exc.add_context(
                    container=rec.name, runtime=rec.runtime, verb=verb, container_id=rec.id
                )
                raise
            states.check(verb, rec.status, rec.name, rec.runtime)
            try:
                yield rec, runtime
            except OcimuxError as exc:
                exc.add_context(
                    container=rec.name, runtime=rec.runtime, verb=verb, container_id=rec.id
                )
                raise

    def _get_unless_interrupted(self, rec: ContainerRecord) -> ContainerRecord:
        """Re-read a record under its lock; finish it if a dead process left it half-done."""
        rec = self.store.get_container(rec.id)
        if rec.status in INTERRUPTED:
            self.finish_interrupted(rec)
            raise _left_half_done(rec)
        return rec

    def refresh_locked(self, rec: ContainerRecord, runtime: Runtime | None) -> ContainerRecord:
        """Ask the owning runtime for the truth and store it (the caller holds the lock)."""
        if rec.status not in states.ACTIVE and rec.status != "unknown":
            return rec
        if runtime is None:
            return self.store.update_container(
                rec.id, status="unknown", status_reason=f"runtime {rec.runtime} is missing"
            )
        st = runtime.state(rec.id)
        changes: dict[str, object] = {}
        if st.status != rec.status:
            changes["status"] = st.status
        if st.status == "stopped":
            if rec.exit_code != st.exit_code:
                changes["exit_code"] = st.exit_code
            if rec.finished_at is None:
                changes["finished_at"] = time.time()
        elif st.pid and st.pid != rec.pid:
            changes["pid"] = st.pid
        if st.reason != rec.status_reason:
            changes["status_reason"] = st.reason
        if not changes:
            return rec
        rec = self.store.update_container(rec.id, **changes)
        if changes.get("status") == "stopped":
            self.hooks.event(
                "died",
                container=rec.id,
                name=rec.name,
                runtime=rec.runtime,
                exit_code=rec.exit_code,
            )
        return rec

    # --- reading records ---------------------------------------------------------------------

    def refresh(self, rec: ContainerRecord) -> ContainerRecord:
        """Reconcile one record with its runtime.

        Raises ContainerNotFoundError if it was a leftover of a dead process, now removed.
        """
        fresh = self._refresh(rec)
        if fresh is None:
            raise _left_half_done(rec)
        return fresh

    def inspect(self, ref: str) -> ContainerRecord:
        """The container's record, reconciled with its runtime."""
        return self.refresh(self.store.lookup(ref))

    def list(self) -> list[ContainerRecord]:
        """Every container, reconciled (one state query per runtime), oldest first."""
        records = self.store.list_containers()
        groups: dict[str, list[str]] = {}
        for rec in records:
            if rec.status in states.ACTIVE or rec.status == "unknown":
                groups.setdefault(rec.runtime, []).append(rec.id)
        known: dict[str, RuntimeState] = {}
        for name, cids in groups.items():
            with suppress(OcimuxError):  # a missing runtime, or fall back to one question each
                known.update(self.registry.get(name).states(cids))
        out = []
        for rec in records:
            try:
                fresh = self._refresh(rec, known.get(rec.id))
            except ContainerNotFoundError:
                continue  # removed meanwhile
            except OcimuxError:
                fresh = rec  # a runtime that fails to answer must not hide the others
            if fresh is not None:
                out.append(fresh)
        return out

    def _refresh(
        self, rec: ContainerRecord, known: RuntimeState | None = None
    ) -> ContainerRecord | None:
        """Reconcile one record; None if it turned out to be a leftover that is now removed.

        `known` is the runtime's answer when the caller already has it (a bulk query). The lock
        is taken only when something changed. Raises ContainerNotFoundError if another process
        removed the container meanwhile (e.g. an `rm -f` this call waited for).
        """
        if rec.status in INTERRUPTED:
            return self._try_finish(rec)
        if rec.status not in states.ACTIVE and rec.status != "unknown":
            return rec
        try:
            runtime: Runtime | None = self.registry.get(rec.runtime)
        except RuntimeNotFoundError:
            runtime = None  # missing: stored as unknown under the lock (`refresh_locked`)
        except OcimuxError as exc:
            return broken_view(rec, exc)  # its plugin is broken: this record says so, no other
        if runtime is not None:
            try:
                st = known if known is not None else runtime.state(rec.id)
            except PluginError as exc:
                return broken_view(rec, exc)  # its plugin failed (a bug in it): the same
            if (
                st.status == rec.status
                and st.pid in (0, rec.pid)
                and st.reason == rec.status_reason
            ):
                return rec
        with self.store.lock(rec.id, self.config.lock_timeout):
            try:
                rec = self.store.get_container(rec.id)
            except ContainerNotFoundError:
                raise removed_meanwhile(rec) from None
            return self.refresh_locked(rec, runtime)

    # --- what a dead process left ------------------------------------------------------------

    def _try_finish(self, rec: ContainerRecord) -> ContainerRecord | None:
        """Finish an interrupted create or delete if its process is gone (its lock is free)."""
        try:
            with self.store.lock(rec.id, 0):
                try:
                    rec = self.store.get_container(rec.id)
                except ContainerNotFoundError:
                    # its lock was free because the `rm` working on it had just finished
                    raise removed_meanwhile(rec) from None
                if rec.status not in INTERRUPTED:
                    return rec
                self.finish_interrupted(rec)
                return None
        except StoreError:
            return rec  # another process is creating or removing it right now

    def finish_interrupted(self, rec: ContainerRecord) -> None:
        """Remove every trace of a container whose create or delete was interrupted.

        The caller holds the lock. Runtime state, monitor, layer mount, directory and record all
        go; processes the runtime no longer knows are killed through the container's cgroup. A
        directory is deleted only if it is ocimux's own (`remove_container_dir`). Raises
        OcimuxError, keeping the record, if its layer is still mounted afterwards.
        """
        runtime = self.runtime_or_none(rec)
        if runtime is not None:
            with suppress(OcimuxError):
                runtime.delete(rec.id)
            directory = runtime.container_dir(rec.id)
        else:
            directory = Path(rec.bundle)
        if self._own(directory):
            kill_container_cgroups(rec.id, directory / "config.json")
        self.remove_container_dir(directory)
        self.store.remove_container(rec.id)
        self.hooks.event(
            "delete", container=rec.id, name=rec.name, runtime=rec.runtime, interrupted=rec.status
        )

    def _own(self, directory: Path) -> bool:
        return inside_containers_dir(directory, Path(self.config.state_dir) / "containers")

    def remove_container_dir(self, directory: Path | str, keep_upper: Path | None = None) -> bool:
        """Remove a container's directory (layer unmounted first) if it is ocimux's own to delete.

        Only a directory directly inside `<state_dir>/containers/`, resolved and owned by the
        caller, is deleted (`trust.inside_containers_dir`): a path read from the database may
        have been planted. Returns whether it was removed; raises OcimuxError (deleting
        nothing) while its layer stays mounted.
        """
        if not self._own(Path(directory)):
            return False
        remove_with_layer(Path(directory), keep_upper=keep_upper)
        return True


def _left_half_done(rec: ContainerRecord) -> ContainerNotFoundError:
    return ContainerNotFoundError(
        f"container {rec.name} was left half-done by an ocimux process that died; it is removed now",
        hint="create it again",
    )


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
