"""Container endpoints of the Docker API: create, list, inspect, lifecycle, wait.

Docker's `AutoRemove` is the server's job here (a thread removes the container once it has
exited, keeping its exit code for `wait`); `start` of an exited container and `restart` make
a new runtime container under the old id, name, creation time and log. Attach is in
attach_api.py, logs in log_api.py.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocimux.base.errors import CapabilityError, InvalidArgumentError, NotFoundError, OcimuxError
from ocimux.base.signals import parse_signal
from ocimux.engine._cleanup import claimed, removal_claim
from ocimux.engine.images import ImageStore, image_id
from ocimux.engine.newcontainer import NewContainer
from ocimux.io.logs import container_ended

from .configshapes import config_fields, host_config, mount_points, network_mode, user_command
from .dockercommand import command, docker_annotations
from .hostconfig import container_config, docker_option
from .httpd import ApiError, Request, Response
from .shapes import (
    DOCKER_STATE,
    image_names,
    labels_of,
    matches_filters,
    parse_filters,
    rfc3339,
    rootfs_of,
    status_text,
    str_or_none,
    strings,
    valid_size,
    write_body,
)
from .unsupported import refuse_unsupported

if TYPE_CHECKING:
    from collections.abc import Callable

    from ocimux.engine.dispatcher import Dispatcher
    from ocimux.engine.store import ContainerRecord


#: seconds a container's record may be missing before a waiter takes it for removed (a
#: re-creation by `start` or `restart` deletes and re-adds it within moments)
REMOVED_AFTER = 3.0
#: seconds after a `start` request during which a `wait` on its container, missing from the
#: store, waits for the re-created record (the docker CLI sends its wait and start at once)
START_RACE_WINDOW = 2.0
#: states of a container whose `next-exit` is that of a run yet to begin
_BETWEEN_RUNS = ("stopped", "unknown", "removing", "creating")


class ContainerEndpoints:
    """`containers/...`; mixed into DockerApi."""

    d: Dispatcher
    image_store: ImageStore
    exit_codes: dict[str, int]
    console_sizes: dict[str, tuple[int, int]]
    _lock: threading.Lock
    auto_removing: set[str]
    restarting: dict[str, threading.Event]
    forget_execs: Callable[[str], None]  # ExecEndpoints': drop a removed container's execs
    release_attachers: Callable[[str], None]  # AttachEndpoints': attaches waiting for a start
    #: when the last `start` request of each container arrived (time.time())
    start_times: dict[str, float]

    def create(self, r: Request) -> Response:
        """Map Config/HostConfig (hostconfig.py) and create; 400 for anything not honoured.

        Fields ocimux cannot honour (unsupported.py), malformed values and options the
        runtime lacks a capability for are refused before anything is created.
        """
        body = r.json()
        host = body.get("HostConfig") or {}
        if not isinstance(host, dict):
            raise ApiError(400, "HostConfig must be an object")
        image_name = body.get("Image")
        if not isinstance(image_name, str) or not image_name:
            raise ApiError(400, "config must name an Image")
        refuse_unsupported(body)
        image = self.image_store.get(image_name)
        entrypoint, cmd = command(body, image)
        args = [*(entrypoint or []), *cmd]
        if not args:
            raise ApiError(400, "no command specified")
        config = container_config(body, seccomp_dir=Path(self.d.config.state_dir) / "seccomp")
        stop_timeout = body.get("StopTimeout")
        if stop_timeout is not None and (
            not isinstance(stop_timeout, int) or isinstance(stop_timeout, bool)
        ):
            raise ApiError(400, "StopTimeout must be an integer")
        runtime = host.get("Runtime") or None
        if runtime is not None and not isinstance(runtime, str):
            raise ApiError(400, "HostConfig.Runtime must be a string")
        new = NewContainer(
            args=tuple(args),
            rootfs=rootfs_of(image),
            name=r.query.get("name") or None,
            runtime=runtime,
            env=tuple(list(image.get("env") or []) + strings(body.get("Env"), "Env")),
            cwd=str_or_none(body.get("WorkingDir"), "WorkingDir"),
            user=str_or_none(body.get("User"), "User"),
            stdin=bool(body.get("OpenStdin")),
            terminal=bool(body.get("Tty")),
            annotations=docker_annotations(body, image, config, entrypoint, cmd),
            auto_remove=bool(host.get("AutoRemove")),
            stop_timeout=stop_timeout,
            config=config,
        )
        try:
            rec = self.d.create(new)
        except CapabilityError as exc:
            raise docker_option(exc) from None
        size = host.get("ConsoleSize")
        if new.terminal and valid_size(size):
            self.console_sizes[rec.id] = (size[0], size[1])  # applied before start
        return Response(201, {"Id": rec.id, "Warnings": []})

    def list(self, r: Request) -> Response:
        show_all = r.flag("all")
        limit = r.integer("limit", -1, low=-1)
        filters = parse_filters(r.query.get("filters"))
        out = []
        for rec in sorted(self.d.list(), key=lambda c: c.created_at, reverse=True):
            state = DOCKER_STATE.get(rec.status, "dead")
            if not show_all and state not in ("running", "paused"):
                continue
            if not matches_filters(rec, state, filters):
                continue
            out.append(self._summary(rec, state))
        if limit is not None and limit >= 0:
            out = out[:limit]
        return Response(200, out)

    def _summary(self, rec: ContainerRecord, state: str) -> dict[str, Any]:
        given, image = image_names(rec)
        entrypoint, cmd = user_command(rec)
        command = " ".join([*(entrypoint or []), *cmd])
        return {
            "Id": rec.id, "Names": [f"/{rec.name}"], "Image": given,
            "ImageID": image_id(image, str(rec.config.get("rootfs", ""))) if image else "",
            "Command": command, "Created": int(rec.created_at), "Ports": [],
            "Labels": labels_of(rec), "State": state, "Status": status_text(rec, state),
            "HostConfig": {"NetworkMode": network_mode(rec)}, "NetworkSettings": {"Networks": {}},
            "Mounts": mount_points(rec),
        }  # fmt: skip

    def _record(self, ref: str) -> ContainerRecord:
        return self.d.inspect(ref)

    def inspect(self, r: Request) -> Response:
        rec = self._record(r.params["id"])
        state = DOCKER_STATE.get(rec.status, "dead")
        entrypoint, cmd = user_command(rec)
        args = [*(entrypoint or []), *cmd]
        given, image = image_names(rec)
        return Response(200, {
            "Id": rec.id, "Created": rfc3339(rec.created_at),
            "Path": args[0] if args else "", "Args": args[1:],
            "State": {
                "Status": state, "Running": state in ("running", "paused"), "Paused": state == "paused",
                "Restarting": False, "OOMKilled": False, "Dead": state == "dead",
                "Pid": rec.pid if state in ("running", "paused") else 0,
                "ExitCode": rec.exit_code or 0, "Error": rec.status_reason,
                "StartedAt": rfc3339(rec.started_at), "FinishedAt": rfc3339(rec.finished_at),
            },
            "Image": image_id(image, str(rec.config.get("rootfs", ""))) if image else "",
            "ResolvConfPath": "", "HostnamePath": "", "HostsPath": "", "LogPath": "",
            "Name": f"/{rec.name}", "RestartCount": 0, "Driver": "rootfs", "Platform": "linux",
            "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "", "ExecIDs": None,
            "HostConfig": host_config(rec),
            "GraphDriver": {"Name": "rootfs", "Data": {"RootFS": str(rec.config.get("rootfs", ""))}},
            "Mounts": mount_points(rec),
            "Config": {
                "User": rec.config.get("user") or "",
                "AttachStdin": False, "AttachStdout": True, "AttachStderr": True,
                "Tty": bool(rec.config.get("terminal")), "OpenStdin": bool(rec.config.get("stdin")),
                "StdinOnce": False, "Env": list(rec.config.get("env") or []),
                "Image": given, "WorkingDir": rec.config.get("cwd") or "",
                "StopTimeout": rec.config.get("stop_timeout"), **config_fields(rec),
            },
            "NetworkSettings": {"Networks": {}, "Ports": {}},
        })  # fmt: skip

    def start(self, r: Request) -> Response:
        rec = self._record(r.params["id"])
        if rec.status in ("running", "paused"):
            return Response(304)
        with self._lock:
            self.start_times[rec.id] = time.time()
            while len(self.start_times) > 1000:
                self.start_times.pop(next(iter(self.start_times)))
        if rec.status == "stopped":
            self._recreate(rec)  # Docker starts an exited container again
            self.release_attachers(rec.id)  # `docker start -a` attached first: connect them
        size = self.console_sizes.pop(rec.id, None)
        if size and size != (0, 0):
            self.d.resize(rec.id, *size)  # the terminal has its size before the process runs
        rec = self.d.start(rec.id)
        if rec.config.get("auto_remove"):
            self._remove_when_stopped(rec.id)
        return Response(204)

    def _remove_when_stopped(self, cid: str) -> None:
        """Docker's AutoRemove: the server removes the container once it has exited.

        The server holds the container's removal claim meanwhile, so it keeps the exit code
        for `wait` before the container goes. If the server is gone by then (stopped, killed,
        restarted), the claim goes with it and the monitor's exit command removes the
        container (`ocimux.engine._cleanup`); `sweep_auto_removed` catches any left over. One watcher
        per container: an exit caused by `restart` is not the end (Docker keeps a restarted
        AutoRemove container), so the watcher waits for the restart and watches the new run.
        """
        with self._lock:
            if cid in self.auto_removing:
                return  # its watcher lives on across a restart
            self.auto_removing.add(cid)
        try:
            bundle = Path(self.d.store.get_container(cid).bundle)
        except OcimuxError:
            with self._lock:
                self.auto_removing.discard(cid)
            return
        claim = removal_claim(bundle)
        claim.__enter__()  # taken now, before the container can exit; dropped by the thread

        def watch() -> None:
            nonlocal claim
            try:
                while True:
                    rec = self._wait_status(cid, ("stopped", "unknown"))
                    if rec is not None and self._restarted(cid):
                        claim.__exit__(None, None, None)  # the re-created container's own file
                        claim = removal_claim(bundle)
                        claim.__enter__()
                        continue
                    if rec is not None:
                        self._remember_exit(cid, rec.exit_code)  # `wait` answers after removal
                        with contextlib.suppress(OcimuxError):
                            self.d.delete(cid, force=True)
                    return
            finally:
                claim.__exit__(None, None, None)
                with self._lock:
                    self.auto_removing.discard(cid)

        threading.Thread(target=watch, daemon=True, name=f"autoremove-{cid[:12]}").start()

    def _restarted(self, cid: str) -> bool:
        """Wait for a `restart` of `cid` in progress; whether the container runs again after it."""
        with self._lock:
            done = self.restarting.get(cid)
        if done is None:
            return False
        done.wait()
        try:
            return self.d.inspect(cid).status in ("running", "paused")
        except OcimuxError:
            return False

    def sweep_auto_removed(self) -> None:
        """At start: remove AutoRemove containers that exited while nobody could remove them.

        Their monitors normally did (the exit command); this catches a monitor that could not
        (it died, or the container predates exit commands). A container whose removal another
        client claims (a foreground `ocimux run --rm`) is that client's.
        """
        try:
            records = self.d.list()
        except OcimuxError:
            return
        for rec in records:
            if rec.config.get("auto_remove") and rec.status == "stopped":
                if not claimed(Path(rec.bundle)):
                    with contextlib.suppress(OcimuxError):
                        self.d.cleanup(rec.id)

    def _remember_exit(self, cid: str, code: int | None) -> None:
        with self._lock:
            self.exit_codes[cid] = code or 0
            while len(self.exit_codes) > 1000:
                self.exit_codes.pop(next(iter(self.exit_codes)))

    def _wait_status(
        self, cid: str, wanted: tuple[str, ...], timeout: float | None = None
    ) -> ContainerRecord | None:
        """Poll until the container is in one of `wanted`; None once it is gone."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.01
        while True:
            try:
                rec = self.d.inspect(cid)
            except NotFoundError:
                return None
            if rec.status in wanted or (deadline is not None and time.monotonic() > deadline):
                return rec
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def stop(self, r: Request) -> Response:
        rec = self._record(r.params["id"])
        timeout = r.integer("t", None) if "t" in r.query else r.integer("timeout", None)
        if rec.status == "stopped":
            return Response(304)
        self.d.stop(rec.id, float(timeout) if timeout is not None else None)
        return Response(204)

    def restart(self, r: Request) -> Response:
        rec = self._record(r.params["id"])
        timeout = r.integer("t", None)
        done = threading.Event()  # an AutoRemove watcher waits for it instead of removing
        with self._lock:
            self.restarting[rec.id] = done
        try:
            if rec.status in ("running", "paused"):
                rec = self.d.stop(rec.id, float(timeout) if timeout is not None else None)
            self._recreate(rec)
            self.release_attachers(rec.id)
            self.d.start(rec.id)
        finally:
            with self._lock:
                self.restarting.pop(rec.id, None)
            done.set()
        if rec.config.get("auto_remove"):
            self._remove_when_stopped(rec.id)
        return Response(204)

    def _recreate(self, rec: ContainerRecord) -> None:
        """Make an exited container created again under its identity (`Dispatcher.recreate`),
        with the command as the client gave it (Entrypoint and Cmd)."""
        entrypoint, cmd = user_command(rec)
        self.d.recreate(rec.id, (*(entrypoint or ()), *cmd))

    def kill(self, r: Request) -> Response:
        rec = self._record(r.params["id"])
        spec = r.query.get("signal") or "SIGKILL"
        try:
            sig = parse_signal(spec)
        except (InvalidArgumentError, ValueError) as exc:
            raise ApiError(400, f"invalid signal {spec!r}: {exc}") from None
        if rec.status not in ("running", "paused"):
            raise ApiError(409, f"Container {r.params['id']} is not running")
        self.d.kill(rec.id, sig)
        return Response(204)

    def wait(self, r: Request) -> None:
        condition = r.query.get("condition") or "not-running"
        if condition not in ("not-running", "next-exit", "removed"):
            raise ApiError(400, f"invalid condition {condition!r}")
        rec = self._record_of_a_wait(r.params["id"])
        out = r.stream(200, "application/json")
        final: ContainerRecord | None = rec
        if condition == "next-exit" and rec.status in _BETWEEN_RUNS:
            # `docker start -a` waits, then starts it again (its `start` may come first and
            # be re-creating the container now): the end of the run after this one
            next_run = self._next_run(r, rec)
            if next_run is None:
                final = None  # removed instead
            else:
                rec = next_run
        if final is not None and (
            condition != "not-running" or rec.status in ("running", "paused", "creating")
        ):
            self._until_ended(r, rec)  # the monitor's files, not the runtime, while it runs
            final = self._wait_status(rec.id, ("stopped", "unknown"))
            if condition == "removed" and final is not None:
                self._wait_gone(rec.id, r)
        if final is not None:
            code = final.exit_code
        else:  # removed meanwhile (AutoRemove): the code was kept for us
            with self._lock:
                code = self.exit_codes.get(rec.id)
        error = None
        if final is not None and final.status == "unknown":
            error = {"Message": final.status_reason}
        write_body(out, json.dumps({"StatusCode": code or 0, "Error": error}).encode() + b"\n")
        return None

    def _until_ended(self, r: Request, rec: ContainerRecord) -> None:
        """Wait until the container's monitor says it ended; raise once the client has gone.

        Costs two small file reads per poll, never a runtime command: an abandoned `wait`
        ends with its connection instead of polling `<runtime> state` forever.
        """
        try:
            ended = container_ended(self.d.runtime_of(rec), rec.id, rec.monitor_pid)
        except OcimuxError:
            return
        delay = 0.01
        while not ended():
            r.wait_unless_gone(delay)
            delay = min(delay * 2, 0.25)

    def _next_run(self, r: Request, rec: ContainerRecord) -> ContainerRecord | None:
        """Wait until an exited container has been started again; its record then, or None
        once it has been removed.

        Reads the store only (no runtime command): a new run has a new start time, whether it
        still runs or has ended already. The record is missing for a moment while `start`
        re-creates the container; gone for `REMOVED_AFTER` seconds, it was removed. Raises
        ConnectionResetError once the client has gone.
        """
        delay = 0.01
        missing_since: float | None = None
        while True:
            r.wait_unless_gone(delay)
            delay = min(delay * 2, 0.1)
            try:
                now = self.d.store.get_container(rec.id)
            except NotFoundError:
                missing_since = missing_since or time.monotonic()
                if time.monotonic() - missing_since >= REMOVED_AFTER:
                    return None
                continue
            missing_since = None
            if now.status in ("running", "paused"):
                return now
            if now.status in ("stopped", "unknown") and now.started_at != rec.started_at:
                return now  # the next run has ended already
            # still the old run, or being re-created (removing, creating, created)

    def _record_of_a_wait(self, ref: str) -> ContainerRecord:
        """The container `ref`; while a `start` received just before re-creates it (its record
        missing for a moment), the re-created one."""
        deadline = time.monotonic() + REMOVED_AFTER
        while True:
            try:
                return self._record(ref)
            except NotFoundError:
                with self._lock:
                    began = self.start_times.get(ref)
                recent = began is not None and time.time() - began < START_RACE_WINDOW
                if not recent or time.monotonic() > deadline:
                    raise
            time.sleep(0.02)

    def _wait_gone(self, cid: str, r: Request) -> None:
        while True:
            try:
                self.d.store.get_container(cid)
            except NotFoundError:
                return
            r.wait_unless_gone(0.05)

    def pause(self, r: Request) -> Response:
        self.d.pause(self._record(r.params["id"]).id)
        return Response(204)

    def unpause(self, r: Request) -> Response:
        self.d.unpause(self._record(r.params["id"]).id)
        return Response(204)

    def resize(self, r: Request) -> Response:
        rec = self._record(r.params["id"])
        height, width = r.integer("h", 0, high=65535), r.integer("w", 0, high=65535)
        if not rec.config.get("terminal"):
            raise ApiError(409, f"container {r.params['id']} has no TTY")
        if rec.status not in ("created", "running", "paused"):
            raise ApiError(409, f"Container {r.params['id']} is not running")
        self.d.resize(rec.id, int(height or 0), int(width or 0))
        return Response(200, b"", content_type="text/plain")

    def remove(self, r: Request) -> Response:
        rec = self._record(r.params["id"])
        force = r.flag("force")
        if not force and rec.status in ("running", "paused"):
            raise ApiError(
                409,
                f"cannot remove container {r.params['id']}: container is {rec.status}: stop the container before removing or force remove",
            )
        self.d.delete(rec.id, force=force, timeout=0 if force else None)
        self.forget_execs(rec.id)
        return Response(204)
