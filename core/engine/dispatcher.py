"""The Dispatcher: the only place that knows containers, and routes each call to its runtime.

It records which runtime created each container and sends every later call there, whatever
the default is by then. It owns the state machine (`states.py`), takes the container's lock
for every change, checks the capability an operation needs before anything runs, and tells
hook plugins what happened.

`create`, in order:
 1. validate the name (or generate one) and the options;
 2. choose the runtime: `--runtime`, else the policy hook `ocimux_choose_runtime`, else the
    default; load its plugin and check it is installed;
 3. check capabilities the request needs (no_cgroups, terminal);
 4. build the spec (from `--rootfs` + command, or the user's bundle + overrides), let
    `ocimux_adjust_spec` hooks change it;
 5. reserve the record ("creating"; the name is taken atomically) and take the lock;
 6. write the container's bundle directory and call `Runtime.create_container`;
 7. record pid, monitor pid and owner ("created"); fire the `create` event.
 A failure after step 5 undoes everything: runtime state deleted, directory removed, record
 dropped. Nothing is left half-created.
"""

from __future__ import annotations

import os
import shutil
import signal as _signal
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack, suppress
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, final

from ocimux.base._faults import crash_point
from ocimux.base.errors import (
    ContainerNotFoundError,
    InvalidArgumentError,
    OcimuxError,
    PluginError,
    RuntimeCommandError,
    RuntimeNotFoundError,
    StateError,
)
from ocimux.base.ids import is_full_id, new_id, validate_name
from ocimux.base.signals import STOP_SIGNAL_ANNOTATION
from ocimux.interface.options import (
    AttachOptions,
    CreateRequest,
    ExecOptions,
    Resources,
    RestoreOptions,
    StdStreams,
)
from ocimux.interface.runtime import KILL_WAIT_SECONDS
from ocimux.io.attach import attach_container
from ocimux.oci.cgroups import kill_container_cgroups
from ocimux.oci.overlay import LAYER, MERGED, mount_layer, remove_with_layer

from . import states, stopping
from ._cleanup import cleanup_environ, decide, exit_command, removal_claim, write_origin
from ._reserve import StateDiskFullError, free_container_logs
from .execs import ExecSessions
from .newcontainer import NewContainer
from .pidfile import remove_pidfile, write_pidfile
from .reconcile import INTERRUPTED, Reconciler, remove_without_runtime
from .stopping import check_timeout
from .store import ContainerRecord, ExecRecord

if TYPE_CHECKING:
    from ocimux.config import Config
    from ocimux.interface.options import CheckpointOptions
    from ocimux.interface.runtime import Runtime

    from .hooks import Hooks
    from .registry import Registry
    from .store import Store

__all__ = ["Dispatcher", "NewContainer", "check_timeout"]


def _resumes_paused(rec: ContainerRecord, sig: int) -> bool:
    """Whether `kill` resumes a paused container after `sig` (moby's daemon/kill.go rule)."""
    configured = (  # --stop-signal, or the annotation in a user's bundle
        (rec.config.get("container") or {}).get("stop_signal") is not None
        or STOP_SIGNAL_ANNOTATION in (rec.config.get("annotations") or {})
    )
    if sig == _signal.SIGKILL or not configured:
        return True
    return sig == int(rec.config.get("stop_signal", _signal.SIGTERM))


def _await_stopped(rec: ContainerRecord, runtime: Runtime) -> None:
    """Wait (bounded) until the runtime reports the container stopped after SIGKILL."""
    deadline = time.monotonic() + KILL_WAIT_SECONDS
    delay = 0.005
    while runtime.state(rec.id).status not in ("stopped", "unknown"):
        if time.monotonic() >= deadline:
            raise RuntimeCommandError(
                f"still running {KILL_WAIT_SECONDS:g}s after SIGKILL",
                container=rec.name,
                runtime=rec.runtime,
                verb="kill",
                hint="the process may be stuck in the kernel (state D); see `ocimux ps -a`",
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


@final
class Dispatcher(Reconciler):
    """Route container operations to the owning runtime, with locks, states and hooks.

    The steps every verb starts with (the owning runtime, the lock, the runtime's truth, the
    state machine, the capability check) are the `Reconciler`'s; exec sessions are `execs`.
    """

    #: (config file, environment) this Dispatcher was opened with (`open_dispatcher`), for the
    #: exit command of an auto-removed container; None: this process's environment
    origin: tuple[str | None, Mapping[str, str]] | None = None

    def __init__(self, config: Config, registry: Registry, store: Store, hooks: Hooks) -> None:
        super().__init__(config, registry, store, hooks)
        #: the exec sessions of this Dispatcher's containers (`ocimux.engine.execs`)
        self.execs = ExecSessions(self)

    # --- create ---------------------------------------------------------------------------

    def choose_runtime(self, new: NewContainer, name: str, annotations: dict[str, str]) -> str:
        """`--runtime`, else what a policy hook says, else the default; a hook may override.

        The choice is `Registry.resolve`d: a path or a name in another case becomes the name
        to build and record."""
        default = new.runtime or self.registry.default_name()
        chosen = self.hooks.choose_runtime(
            name=name, annotations=annotations, requested=new.runtime, default=default
        )
        return self.registry.resolve(chosen or default)

    def create(self, new: NewContainer) -> ContainerRecord:
        """Create a container (not started); see the module docstring for the steps."""
        # lazy: the spec builders cost ~25 ms of imports that no other verb (ps, stop, rm) needs
        from ocimux.oci import bundle as bundles
        from ocimux.oci import spec as specs
        from ocimux.oci.containerconfig import ContainerConfig

        from . import configure

        if new.config is None:
            new = replace(new, config=ContainerConfig())
        if new.id is not None and not is_full_id(new.id):
            raise InvalidArgumentError(f"invalid container id {new.id!r}")
        cid = new.id or new_id()
        name = validate_name(new.name) if new.name else f"ocimux-{cid[:12]}"
        if new.stop_timeout is not None and new.stop_timeout > 2**32 - 1:
            raise InvalidArgumentError(
                f"stop timeout {new.stop_timeout} is too large (at most 4294967295 s)"
            )
        if new.stop_timeout is not None and new.stop_timeout < 0:
            raise InvalidArgumentError(
                f"stop timeout must not be negative (got {new.stop_timeout})"
            )
        spec, rootfs = configure.build_spec(new)
        annotations = dict(spec.get("annotations") or {})
        runtime = self.registry.get(self.choose_runtime(new, name, annotations))
        reason = runtime.unavailable_reason()
        if reason:
            raise RuntimeNotFoundError(
                reason,
                runtime=runtime.name,
                verb="create",
                container=name,
                hint="install it or choose another runtime (see `ocimux runtimes`)",
            )
        if new.no_cgroups:
            self.require(runtime, "no_cgroups", name, "create")
        if new.terminal:
            self.require(runtime, "terminal", name, "create")
        if new.restore_image is not None:
            self.require(runtime, "checkpoint", name, "restore")
        command = list(spec["process"]["args"])  # as given: --init wraps it in the spec
        applied = configure.configure_spec(
            self.capabilities(runtime), self.config, new, spec, rootfs, runtime, cid, name,
        )  # fmt: skip
        self.hooks.adjust_spec(spec=spec, runtime=runtime.name, name=name)
        stop_signal = specs.stop_signal(spec)
        layer = None  # a copy-on-write layer over rootfs (overlay.py), mounted before create
        if new.config.rootfs_overlay:
            layer = runtime.container_dir(cid) / LAYER
        rec = ContainerRecord(
            id=cid,
            name=name,
            runtime=runtime.name,
            bundle=str(runtime.container_dir(cid)),
            status="creating",
            created_at=time.time(),
            config={
                "command": command,
                "rootfs": str(rootfs),
                "layer": layer is not None,
                "stdin": new.stdin,
                "terminal": new.terminal,
                "auto_remove": new.auto_remove,
                "stop_signal": stop_signal,
                "stop_timeout": new.stop_timeout
                if new.stop_timeout is not None
                else self.config.stop_timeout,
                "annotations": annotations,
                "container": applied.record(new.config),
                "applied": applied.summary(),
                # as given (the spec holds them resolved): enough to create it again
                "env": list(new.env),
                "cwd": new.cwd,
                "user": new.user,
            },
        )
        with self.store.lock(cid, self.config.lock_timeout):
            try:
                self.store.add_container(rec)
            except OcimuxError:
                self.store.drop_lock_file(cid)
                raise
            try:
                crash_point("create:recorded")
                if layer is not None:  # the record keeps rootfs (the lower dir)
                    spec["root"]["path"] = str(layer / MERGED)
                bundle_dir = bundles.write_bundle(runtime.container_dir(cid), spec)
                configure.write_generated(bundle_dir, applied)
                crash_point("create:bundle")
                if layer is not None:
                    mount_layer(rootfs, layer, upper_from=self._kept_upper(runtime, cid))
                    crash_point("create:layer")
                io = runtime.layout.io(
                    cid,
                    stdin=new.stdin,
                    terminal=new.terminal,
                    log_size_max=configure.log_size_max(new.config, self.config),
                    exit_command=self._exit_command(bundle_dir, cid) if new.auto_remove else (),
                )
                request = CreateRequest(
                    cid=cid,
                    name=name,
                    bundle=bundle_dir,
                    io=io,
                    annotations=annotations,
                    no_cgroups=new.no_cgroups or applied.no_cgroups,
                )
                if new.restore_image is not None:
                    restored = RestoreOptions(image_path=new.restore_image)
                    result = runtime.restore(request, restored)
                else:
                    result = runtime.create(request)
                if new.config.pidfile:
                    write_pidfile(new.config.pidfile, result.pid)
            except BaseException as exc:
                self._undo_create(runtime, cid)
                if isinstance(exc, OcimuxError):
                    exc.add_context(
                        container=name, runtime=runtime.name, verb="create", container_id=cid
                    )
                raise
            crash_point("create:runtime")
            restored = new.restore_image is not None
            rec = self.store.update_container(
                cid, status="running" if restored else "created", pid=result.pid,
                monitor_pid=result.monitor_pid, started_at=time.time() if restored else None,
            )  # fmt: skip
        self.hooks.event(
            "restore" if restored else "create", container=cid, name=name, runtime=runtime.name
        )
        return rec

    def _undo_create(self, runtime: Runtime, cid: str) -> None:
        """Remove every trace of a failed create: runtime state, layer, directory, record.

        A layer that cannot be unmounted keeps the record ("creating"): the next call finishes
        the removal (`Reconciler.finish_interrupted`), never deleting through a live mount.
        """
        with suppress(Exception):
            runtime.delete(cid)
        try:
            remove_with_layer(runtime.container_dir(cid))
        except OcimuxError:
            return
        self.store.remove_container(cid)

    # --- lifecycle ------------------------------------------------------------------------

    def start(self, ref: str) -> ContainerRecord:
        """Start a created container."""
        with self.locked(ref, "start") as (rec, runtime):
            runtime.start(rec.id)
            crash_point("start:runtime")
            rec = self.store.update_container(rec.id, status="running", started_at=time.time())
        self.hooks.event("start", container=rec.id, name=rec.name, runtime=rec.runtime)
        return rec

    def attach(
        self,
        ref: str,
        streams: StdStreams,
        *,
        stdin: bool = False,
        detach_keys: bytes | None = None,
        start: bool = False,
        size: tuple[int, int] | None = None,
        ready: Callable[[], None] | None = None,
    ) -> int | None:
        """Attach to the container (starting it first with `start`); return its exit code or None if detached.

        The lock is held only while starting: attaching is long and must not block `stop`.
        `ready` is called once the container's output is being received (before any start).
        """
        with self.locked(ref, "start" if start else "attach") as (rec, runtime):
            if stdin and not rec.config.get("stdin"):
                raise InvalidArgumentError("container was created without -i; its stdin is closed")
        tty = bool(rec.config.get("terminal"))
        options = AttachOptions(
            stdin=stdin, start=start, detach_keys=detach_keys, size=size if tty else None
        )
        return self._stream(rec, runtime, streams, options, ready)

    def _stream(
        self,
        rec: ContainerRecord,
        runtime: Runtime,
        streams: StdStreams,
        options: AttachOptions,
        ready: Callable[[], None] | None = None,
    ) -> int | None:
        """Attach (and start, with `options.start`) without holding the lock; reconcile after."""
        if options.start:
            # recorded before the call: it only returns when the container exits or we detach
            rec = self.store.update_container(rec.id, status="running", started_at=time.time())
            self.hooks.event("start", container=rec.id, name=rec.name, runtime=rec.runtime)
        try:
            code = attach_container(runtime, rec.id, streams, options, ready=ready)
        except OcimuxError as exc:
            raise exc.add_context(
                container=rec.name, runtime=rec.runtime, verb="attach", container_id=rec.id
            ) from None
        finally:
            with suppress(OcimuxError):
                self.refresh(self.store.get_container(rec.id))
        return code

    def run(
        self,
        new: NewContainer,
        streams: StdStreams | None,
        *,
        detach: bool = False,
        detach_keys: bytes | None = None,
        size: tuple[int, int] | None = None,
        on_create: Callable[[ContainerRecord], None] | None = None,
    ) -> tuple[ContainerRecord, int | None]:
        """Create and start; in the foreground stream its output and return its exit code.

        With `new.auto_remove` the container is deleted once it exits (also when start fails):
        here in the foreground (this call holds the removal claim meanwhile), else, or if this
        process dies, by the exit command its monitor runs (`_cleanup.py`).
        `size` is the terminal's initial size (with `new.terminal`); `on_create` learns the
        record before the container starts (e.g. to forward window resizes to it).
        Returns (record, exit code); the code is None when detached.
        """
        rec = self.create(new)
        if on_create is not None:
            on_create(rec)
        with ExitStack() as claim:
            if new.auto_remove and not detach and streams is not None:
                # the monitor's exit command waits while we live: we read the code and remove
                claim.enter_context(removal_claim(Path(rec.bundle)))
            return self._run_created(new, rec, streams, detach, detach_keys, size)

    def _run_created(
        self,
        new: NewContainer,
        rec: ContainerRecord,
        streams: StdStreams | None,
        detach: bool,
        detach_keys: bytes | None,
        size: tuple[int, int] | None,
    ) -> tuple[ContainerRecord, int | None]:
        try:
            if detach or streams is None:
                return self.start(rec.id), None
            # the container was created just now by this call: no need to ask its runtime
            options = AttachOptions(
                stdin=new.stdin,
                start=True,
                detach_keys=detach_keys,
                size=size if new.terminal else None,
            )
            code = self._stream(rec, self.registry.get(rec.runtime), streams, options)
        except BaseException:
            if new.auto_remove:
                with suppress(OcimuxError):
                    self.delete(rec.id, force=True)
            raise
        if code is not None and new.auto_remove:
            self.delete(rec.id, force=True)
        return rec, code

    def _exit_command(self, directory: Path, cid: str) -> tuple[str, ...]:
        """Write what the monitor's exit command needs into `directory`; return its argv."""
        config_file, environ = self.origin or (None, os.environ)
        write_origin(directory, cid, config_file, cleanup_environ(environ))
        return exit_command(directory)

    def cleanup(self, cid: str) -> str:
        """Carry out a container's end once its monitor saw it exit (the exit command's job).

        Under the container's lock: reconcile the record with its runtime, then remove the
        container if it asked to be (`auto_remove`) and has stopped. A container removed
        meanwhile is no error. Returns what was done (`_cleanup.decide`).
        """
        try:
            self.store.get_container(cid)
        except ContainerNotFoundError:
            return "gone"
        with self.store.lock(cid, self.config.lock_timeout):
            try:
                rec = self.store.get_container(cid)
            except ContainerNotFoundError:
                return "gone"
            if rec.status not in INTERRUPTED:  # a dead process's leftover: delete finishes it
                rec = self.refresh_locked(rec, self.runtime_or_none(rec))
            action = decide(rec)
            if action == "remove":
                self.delete(cid, force=True)
        return action

    def kill(
        self, ref: str, sig: int = _signal.SIGKILL, *, all_procs: bool = False
    ) -> ContainerRecord:
        """Send `sig` to the container, as Docker does for a paused one and for SIGKILL.

        A paused container is resumed after the signal if it is SIGKILL or the container's
        stop signal (any signal when none was configured): a frozen process cannot act on it
        (moby's daemon/kill.go). After SIGKILL this returns once the runtime reports the
        container stopped, so its record already holds the exit code; RuntimeCommandError
        if it still runs `KILL_WAIT_SECONDS` later.
        """
        with self.locked(ref, "kill") as (rec, runtime):
            runtime.kill(rec.id, sig, all_procs=all_procs)
            resume = rec.status == "paused" and _resumes_paused(rec, sig)
            if resume:
                with suppress(RuntimeCommandError):  # runc thaws a container itself on SIGKILL
                    runtime.resume(rec.id)
            if sig == _signal.SIGKILL:
                _await_stopped(rec, runtime)
            if resume or sig == _signal.SIGKILL:
                rec = self.refresh_locked(rec, runtime)
        self.hooks.event("kill", container=rec.id, name=rec.name, runtime=rec.runtime, signal=sig)
        return rec

    def stop(self, ref: str, timeout: float | None = None) -> ContainerRecord:
        """Stop signal, wait `timeout` (the container's stop timeout by default), then SIGKILL."""
        check_timeout(timeout)
        with self.locked(ref, "stop") as (rec, runtime):
            if rec.status != "stopped":
                wait = (
                    timeout
                    if timeout is not None
                    else rec.config.get("stop_timeout", self.config.stop_timeout)
                )
                sig = int(rec.config.get("stop_signal", _signal.SIGTERM))
                if rec.status == "paused":
                    # a frozen process cannot act on the stop signal; SIGKILL works on a frozen cgroup
                    wait = 0
                stopping.stop(runtime, rec.id, float(wait), sig)
                rec = self.refresh_locked(rec, runtime)
        self.hooks.event("stop", container=rec.id, name=rec.name, runtime=rec.runtime)
        return rec

    def pause(self, ref: str) -> ContainerRecord:
        return self._toggle(ref, "pause", "paused")

    def unpause(self, ref: str) -> ContainerRecord:
        return self._toggle(ref, "unpause", "running")

    def _toggle(self, ref: str, verb: str, new_status: str) -> ContainerRecord:
        with self.locked(ref, verb) as (rec, runtime):
            self.require(runtime, "pause", rec.name, verb)
            (runtime.pause if verb == "pause" else runtime.resume)(rec.id)
            rec = self.store.update_container(rec.id, status=new_status)
        self.hooks.event(verb, container=rec.id, name=rec.name, runtime=rec.runtime)
        return rec

    def update(self, ref: str, resources: Resources) -> ContainerRecord:
        """Change a live container's limits. Needs capability `update_resources`."""
        if resources.is_empty():
            raise InvalidArgumentError("nothing to update: give at least one limit")
        with self.locked(ref, "update") as (rec, runtime):
            self.require(runtime, "update_resources", rec.name, "update")
            runtime.update(rec.id, resources)
        self.hooks.event("update", container=rec.id, name=rec.name, runtime=rec.runtime)
        return rec

    def rename(self, ref: str, name: str) -> ContainerRecord:
        """Give a container a new name (podman's `rename`): only its record changes.

        Raises InvalidArgumentError for an invalid name, ConflictError if another container has it.
        """
        name = validate_name(name)
        with self.locked(ref, "rename") as (rec, _):
            old = rec.name
            rec = self.store.update_container(rec.id, name=name)
        self.hooks.event("rename", container=rec.id, name=rec.name, runtime=rec.runtime, old=old)
        return rec

    def checkpoint(self, ref: str, options: CheckpointOptions) -> ContainerRecord:
        """Checkpoint a running container. Needs capability `checkpoint`."""
        with self.locked(ref, "checkpoint") as (rec, runtime):
            self.require(runtime, "checkpoint", rec.name, "checkpoint")
            if rec.config.get("auto_remove") and not options.leave_running:
                # its end runs the --rm removal, and the checkpoint in its directory goes too
                raise StateError(
                    f"cannot checkpoint container {rec.name}: it was created with --rm, and "
                    "stopping it for the checkpoint would remove it (and the checkpoint)",
                    hint="checkpoint it with --leave-running, or create it without --rm",
                )
            runtime.checkpoint(rec.id, options)
            crash_point("checkpoint:runtime")
            rec = self.refresh_locked(rec, runtime)
        self.hooks.event("checkpoint", container=rec.id, name=rec.name, runtime=rec.runtime)
        return rec

    def recreate(self, ref: str, args: tuple[str, ...] | None = None) -> ContainerRecord:
        """Make an exited container "created" again: same id, name, config, creation time, log.

        An OCI container runs once; Docker's start of an exited container and its restart are
        a new runtime container under the old identity. `args` replaces the command as given
        (default: the recorded one). The copy-on-write layer is kept; the old log is put back
        in front of the new one before anything runs.
        """
        # lazy: create's path only (~6 ms)
        from ocimux.oci.containerconfig import ContainerConfig

        rec = self.store.lookup(ref)
        c = rec.config
        new = NewContainer(
            id=rec.id, name=rec.name, runtime=rec.runtime,
            args=tuple(args if args is not None else c.get("command") or ()),
            rootfs=Path(c["rootfs"]) if c.get("rootfs") else None,
            env=tuple(c.get("env") or ()), cwd=c.get("cwd"), user=c.get("user"),
            stdin=bool(c.get("stdin")), terminal=bool(c.get("terminal")),
            annotations=dict(c.get("annotations") or {}),
            auto_remove=bool(c.get("auto_remove")), stop_timeout=c.get("stop_timeout"),
            config=ContainerConfig.from_dict(c.get("container") or {}),
        )  # fmt: skip
        log = self.runtime_of(rec).layout.log(rec.id)
        kept = Path(self.config.state_dir) / f"recreate-{rec.id}.log"
        with suppress(OSError):
            os.replace(log, kept)  # the log outlives the re-creation, as Docker's does
        self.delete(rec.id, force=True, keep_layer=True)
        self.create(new)
        fresh = self.store.update_container(rec.id, created_at=rec.created_at)
        with suppress(OSError):
            old_log = kept.read_bytes()
            kept.unlink()
            with open(log, "ab") as fh:  # before start: the monitor has written nothing yet
                fh.write(old_log)
        return fresh

    def restore(self, ref: str, options: RestoreOptions) -> ContainerRecord:
        """Restore a stopped, checkpointed container in place. Needs capability `checkpoint`."""
        rec = self.store.lookup(ref)
        with self.store.lock(rec.id, self.config.lock_timeout):
            rec = self.store.get_container(rec.id)
            runtime = self.runtime_of(rec)
            rec = self.refresh_locked(rec, runtime)
            if rec.status != "stopped":
                raise StateError(
                    f"container is {rec.status}",
                    container=rec.name,
                    runtime=rec.runtime,
                    verb="cannot restore",
                    hint="only a stopped container can be restored",
                )
            self.require(runtime, "checkpoint", rec.name, "restore")
            runtime.delete(rec.id)
            result = runtime.restore(self._restore_request(rec, runtime), options)
            rec = self.store.update_container(
                rec.id,
                status="running",
                pid=result.pid,
                monitor_pid=result.monitor_pid,
                exit_code=None,
                finished_at=None,
                started_at=time.time(),
            )
        self.hooks.event("restore", container=rec.id, name=rec.name, runtime=rec.runtime)
        return rec

    def _restore_request(self, rec: ContainerRecord, runtime: Runtime) -> CreateRequest:
        """What `restore` asks of the runtime: its new monitor gets what `create` gave the first.

        With `auto_remove` the exit command too: the restored container's end is its monitor's.
        """
        # lazy: the log cap's default comes with the spec builders (create's path, ~25 ms)
        from ocimux.oci.containerconfig import ContainerConfig

        from .configure import log_size_max

        bundle = Path(rec.bundle)
        auto_remove = bool(rec.config.get("auto_remove"))
        config = ContainerConfig.from_dict(rec.config.get("container") or {})
        io = runtime.layout.io(
            rec.id,
            stdin=bool(rec.config.get("stdin")),
            log_size_max=log_size_max(config, self.config),
            exit_command=self._exit_command(bundle, rec.id) if auto_remove else (),
        )
        return CreateRequest(
            cid=rec.id,
            name=rec.name,
            bundle=bundle,
            io=io,
            annotations=rec.config.get("annotations", {}),
        )

    def _kept_upper(self, runtime: Runtime, cid: str) -> Path:
        """Where `delete(keep_layer=True)` keeps a container's writes for its re-create."""
        return runtime.container_dir(cid).parent / f".{cid}.upper"

    def delete(
        self,
        ref: str,
        *,
        force: bool = False,
        timeout: float | None = None,
        keep_layer: bool = False,
    ) -> ContainerRecord:
        """Remove a container: runtime state, directory and record. `force` stops it first.

        `keep_layer` keeps what the container wrote to its copy-on-write layer for a `create`
        with the same id (Docker's restart: a new runtime container, the same filesystem).

        A container whose runtime is missing can still be removed with `force` (its runtime
        state, if any, cannot be cleaned then; the message says so).

        With `force` on a full state disk (a container flooding it with no log cap eats the
        store's reserve within milliseconds): a write of the removal that finds no room first
        kills the container and empties its own logs (`_make_room_to_remove`: no write
        needed), then the removal is tried once more; "the state disk is full" only if it
        still finds no room.
        """
        check_timeout(timeout)
        rec = self.store.lookup(ref)
        with self.store.lock(rec.id, self.config.lock_timeout):
            try:
                rec, done = self._delete_locked(rec.id, force, timeout, keep_layer)
            except StateDiskFullError:
                if not force:
                    raise
                self._make_room_to_remove(rec)
                rec, done = self._delete_locked(rec.id, force, timeout, keep_layer)
            except PluginError as exc:
                if not force:
                    raise
                # its plugin fails (state, kill or delete raise): -f removes it without it
                rec, done = self._delete_without_runtime(rec.id, exc), True
        if done:
            self.hooks.event("delete", container=rec.id, name=rec.name, runtime=rec.runtime)
        return rec

    def _delete_without_runtime(self, cid: str, exc: PluginError) -> ContainerRecord:
        """`rm -f` of a container whose runtime's plugin failed: one last `delete` by the
        runtime, a warning, then ocimux's own files and record go (`reconcile.py`)."""
        rec = self.store.get_container(cid)
        remove_without_runtime(rec, self.runtime_or_none(rec), exc.detail)
        self.remove_container_dir(rec.bundle)
        remove_pidfile(rec.config)
        self.store.remove_container(rec.id)
        return rec

    def _make_room_to_remove(self, rec: ContainerRecord) -> None:
        """For `rm -f` on a full disk: SIGKILL the container and empty its logs (it is being
        removed with them anyway), neither of which needs a write to the state disk. Only in
        ocimux's own container directory (`Runtime.container_dir`), never one a record names."""
        runtime = self.runtime_or_none(rec)
        if runtime is None:
            return
        directory = runtime.container_dir(rec.id)
        with suppress(OcimuxError):  # stopped already, or a runtime that lost it
            runtime.kill(rec.id, _signal.SIGKILL, all_procs=True)
        kill_container_cgroups(rec.id, directory / "config.json")
        with suppress(OcimuxError):
            _await_stopped(rec, runtime)  # its monitor has stopped writing the log
        free_container_logs(directory)

    def _delete_locked(
        self, cid: str, force: bool, timeout: float | None, keep_layer: bool
    ) -> tuple[ContainerRecord, bool]:
        """`delete` under the container's lock; the record, and whether it was removed now
        (False: it was a leftover of a dead process, finished instead)."""
        rec = self.store.get_container(cid)
        if rec.status in INTERRUPTED:  # left by a dead process: finishing it is the removal
            self.finish_interrupted(rec)
            return rec, False
        runtime = self.runtime_or_none(rec)
        rec = self.refresh_locked(rec, runtime)
        live_execs = self._live_execs(rec, runtime)
        if runtime is None:
            if not force:
                raise RuntimeNotFoundError(
                    f"its runtime {rec.runtime} is missing",
                    container=rec.name,
                    runtime=rec.runtime,
                    verb="rm",
                    hint="use `ocimux rm -f` to remove the record anyway",
                )
            remove_without_runtime(rec, None, rec.status_reason or "its runtime is missing")
        elif rec.status not in states.ALLOWED["delete"] or live_execs:
            if not force:
                what = (
                    f"{len(live_execs)} exec session(s) running"
                    if rec.status == "stopped"
                    else f"container is {rec.status}"
                )
                raise StateError(
                    what,
                    container=rec.name,
                    runtime=rec.runtime,
                    verb="cannot rm",
                    hint="stop it first, or use `ocimux rm -f`",
                )
            if live_execs:
                self.execs.stop_all(rec, runtime, timeout=timeout or 0)
            config_json = runtime.container_dir(rec.id) / "config.json"
            if rec.status in states.ACTIVE:
                wait = (
                    timeout
                    if timeout is not None
                    else rec.config.get("stop_timeout", self.config.stop_timeout)
                )
                try:
                    stopping.stop(
                        runtime,
                        rec.id,
                        0 if rec.status != "running" else float(wait),
                        int(rec.config.get("stop_signal", _signal.SIGTERM)),
                    )
                except OcimuxError as exc:
                    # a runtime that lost its state cannot stop it; its cgroup can
                    if not kill_container_cgroups(rec.id, config_json):
                        raise exc.add_context(
                            container=rec.name,
                            runtime=rec.runtime,
                            verb="rm",
                            container_id=rec.id,
                        ) from None
        if runtime is not None:
            if rec.status == "unknown":
                # the runtime has forgotten it (or lost its monitor): kill through its cgroup
                kill_container_cgroups(rec.id, runtime.container_dir(rec.id) / "config.json")
            # "removing": if this process dies from here on, the next call finishes the job
            before = rec.status
            self.store.update_container(rec.id, status="removing")
            crash_point("delete:marked")
            try:
                runtime.delete(rec.id)
            except OcimuxError as exc:
                self.store.update_container(rec.id, status=before)
                raise exc.add_context(
                    container=rec.name, runtime=rec.runtime, verb="rm", container_id=rec.id
                ) from None
            crash_point("delete:runtime")
            # whatever the runtime no longer knew of (a no-op once it deleted the cgroups)
            kill_container_cgroups(rec.id, runtime.container_dir(rec.id) / "config.json")
            # raises, keeping the record, while the layer is mounted: rmtree never goes through it
            kept = self._kept_upper(runtime, rec.id) if keep_layer else None
            self.remove_container_dir(runtime.container_dir(rec.id), keep_upper=kept)
            if not keep_layer:  # writes kept by an earlier re-create that never came
                shutil.rmtree(self._kept_upper(runtime, rec.id), ignore_errors=True)
        else:  # only if the directory the record names is ocimux's own (trust.py)
            self.remove_container_dir(rec.bundle)
        remove_pidfile(rec.config)
        self.store.remove_container(rec.id)
        return rec, True

    def _live_execs(self, rec: ContainerRecord, runtime: Runtime | None) -> list[ExecRecord]:
        """The container's exec sessions that still run (statuses refreshed)."""
        return [
            e
            for e in (self.execs.refresh(runtime, e) for e in self.store.list_execs(rec.id))
            if e is not None and e.status == "running"
        ]

    # --- exec (in execs.py) ------------------------------------------------------------------

    def exec(
        self,
        ref: str,
        options: ExecOptions,
        streams: StdStreams,
        on_start: Callable[[str], None] | None = None,
    ) -> int | None:
        """Run a process in a running container, attached; its exit code, or None if detached.

        `on_start` learns the session id before the process starts (e.g. to forward resizes).
        """
        return self.execs.attached(ref, options, streams, on_start)

    def exec_detached(self, ref: str, options: ExecOptions) -> ExecRecord:
        """Start a process in a running container and return its session (running)."""
        return self.execs.detached(ref, options)

    def exec_sessions(self, ref: str) -> list[ExecRecord]:
        """The container's exec sessions, their status refreshed from the runtime."""
        return self.execs.sessions(ref)

    def exec_inspect(self, session: str) -> ExecRecord:
        """One exec session by id or unique id prefix, its status refreshed."""
        return self.execs.find(session)

    def exec_stop(self, session: str, timeout: float = 10.0) -> ExecRecord:
        """Stop an exec session (SIGTERM, timeout, SIGKILL) without touching the container."""
        return self.execs.stop(session, timeout)

    def exec_kill(self, session: str, sig: int) -> ExecRecord:
        """Send `sig` to a running exec session's process; the container is not touched."""
        return self.execs.kill(session, sig)

    def exec_resize(self, session: str, height: int, width: int) -> None:
        """Resize an exec session's terminal."""
        self.execs.resize(session, height, width)

    def resize(self, ref: str, height: int, width: int) -> None:
        """Resize the container's terminal. Needs capability `terminal`."""
        rec = self.store.lookup(ref)
        runtime = self.runtime_of(rec)
        self.require(runtime, "terminal", rec.name, "resize")
        runtime.resize(rec.id, height, width)
