"""`OciCliRuntime`: a Runtime over an OCI-CLI binary (runc, crun, ...) with conmon as the monitor.

The container's directory is its bundle (config.json) and conmon's: `attach`, `ctl`,
`winsz`, `pidfile`, `conmon.pid`, the k8s-file log (`ProcessIO.log`) and the JSON error log
`oci-log`. An exec session's conmon has the session's directory, with its start gate and
sync channel as FIFOs there (`conmon.prepare_exec`), so `exec` and `start` are separate verbs.
The exit files are on the run dir, which a full state disk cannot take from them:
`<run_dir>/persist/<id>/exit` (conmon's persist dir, podman's layout) and
`<run_dir>/runtimes/<name>.exits/<id>`; an exec session's under `persist/<id>/exec/<session>/`.
The runtime's `--root` is this runtime's private state directory. State comes from the exit
file first, then `<runtime> state`.

`[engine] cgroup_manager = "systemd"` (`context.cgroup_manager`) is podman's: conmon's
`--systemd-cgroup` (it hands the runtime `--systemd-cgroup` for create and restore), the
systemd `linux.cgroupsPath`, `--systemd-cgroup` before every verb ocimux runs itself, and a
one-line refusal before anything runs where systemd is not running (`ocimux.oci.cgroupmanager`).
conmon's environment is `[engine] conmon_env_vars` under ocimux's own (`conmon.conmon_environ`).

A plugin for a runc-like runtime subclasses this and overrides only what differs: an option
type, `cli()`, `create_global_args()`, or one verb.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from ocimux.base import process
from ocimux.base.errors import OcimuxError, RuntimeCommandError
from ocimux.base.files import private_dir
from ocimux.base.monitorfiles import process_alive, read_exit_file, read_pidfile, write_resize
from ocimux.interface.options import CreateResult, RuntimeInfo, RuntimeState
from ocimux.interface.runtime import Runtime

from . import conmon
from .cgroupmanager import SYSTEMD, require_systemd, use_systemd_cgroups_path
from .cli import (
    CheckpointOpts,
    DeleteOpts,
    KillOpts,
    OciCli,
    UpdateOpts,
    classify,
    error_message,
    log_offset,
    parse_version,
)

if TYPE_CHECKING:
    from ocimux.interface.options import (
        CheckpointOptions,
        CreateRequest,
        ExecOptions,
        ProcessIO,
        Resources,
        RestoreOptions,
    )

__all__ = ["OciCliRuntime"]

#: how long state waits for conmon to write the exit file once the runtime says "stopped"
EXIT_FILE_GRACE = 2.0


class OciCliRuntime(Runtime):
    """Drive a runc-compatible CLI through `OciCli`, with conmon holding each container."""

    #: the runtime-spec statuses this runtime reports, mapped to ocimux's
    status_map: ClassVar[dict[str, str]] = {
        "creating": "created", "created": "created", "running": "running",
        "paused": "paused", "stopped": "stopped",
    }  # fmt: skip

    # --- building blocks ----------------------------------------------------------------------

    def cli(self) -> OciCli:
        """The driver for this runtime's binary with its global flags."""
        if self.path is None:
            raise RuntimeCommandError(self.unavailable_reason() or "no binary", runtime=self.name)
        return OciCli(
            path=self.path,
            root=self.context.state_dir,
            name=self.name,
            flags=self.context.flags,
            json_log=bool(self.effective_capabilities().json_errors),
            timeout=self.context.command_timeout,
            systemd_cgroup=self.systemd_cgroups(),
        )

    def systemd_cgroups(self) -> bool:
        """Whether containers' cgroups are systemd's: `[engine] cgroup_manager = "systemd"`."""
        return self.context.cgroup_manager == SYSTEMD

    def exit_dir(self) -> Path:
        """conmon's `--exit-dir`: beside `--root`, not in it (runc lists every entry of its root)."""
        # named after the state directory, not the runtime: a runtime given by path has a name
        # with slashes (the Registry names its state directory `<basename>@<digest>`)
        return self.context.state_dir.with_name(f"{self.context.state_dir.name}.exits")

    def _exit_file(self, cid: str) -> Path:
        """conmon's `<persist-dir>/exit`, on the run dir."""
        return self.layout.exit_file(cid)

    def oci_log(self, cid: str) -> Path:
        """The JSON error log the runtime appends to (`--log`)."""
        return self.container_dir(cid) / "oci-log"

    def create_global_args(self, request: CreateRequest) -> list[str]:
        """Global flags for `create` (conmon passes them as `--runtime-arg`).

        Without `--systemd-cgroup`: conmon's `--systemd-cgroup` adds it (once) for create.
        """
        cli = dataclasses.replace(self.cli(), systemd_cgroup=False)
        return cli.global_args(self.oci_log(request.cid))

    def kill_opts(self, all_procs: bool) -> KillOpts:
        return KillOpts(all_procs=all_procs)

    def update_opts(self, resources_file: Path) -> UpdateOpts:
        return UpdateOpts(resources_file)

    # --- lifecycle ----------------------------------------------------------------------------

    def create(self, request: CreateRequest) -> CreateResult:
        """Start conmon, which runs `<runtime> create`; return the init pid and conmon's pid."""
        return self._launch_container(request, restore=None)

    def restore(self, request: CreateRequest, options: RestoreOptions) -> CreateResult:
        """Start conmon with `--restore`: it runs `<runtime> restore --detach --image-path ...`.

        The container comes back running. The previous run's exit files are removed first so
        its state is not mistaken for the restored one's. Needs capability `checkpoint`.
        """
        self._exit_file(request.cid).unlink(missing_ok=True)
        (self.exit_dir() / request.cid).unlink(missing_ok=True)
        return self._launch_container(request, restore=options.image_path)

    def checkpoint(self, cid: str, options: CheckpointOptions) -> None:
        """`<runtime> checkpoint --image-path P --work-path <bundle>`; stops it unless leave_running."""
        private_dir(options.image_path)
        opts = CheckpointOpts(
            image_path=options.image_path, work_path=self.container_dir(cid),
            leave_running=options.leave_running, tcp_established=options.tcp_established,
            file_locks=options.file_locks,
        )  # fmt: skip
        self.cli().checkpoint(cid, opts, log=self.oci_log(cid))

    def _launch_container(self, request: CreateRequest, restore: Path | None) -> CreateResult:
        systemd = self.systemd_cgroups() and not request.no_cgroups  # podman: none without
        if systemd:  # before anything runs: no conmon, no runtime, no cgroup
            require_systemd(request.cid, self.name)
            use_systemd_cgroups_path(request.bundle, request.cid)
        env = self.conmon_env()
        if not self.context.conmon_path:
            raise RuntimeCommandError(
                "conmon not found in [engine] conmon_path or $PATH",
                runtime=self.name,
                verb="create",
                hint="install conmon",
            )
        private_dir(self.context.state_dir)
        exit_dir = self.exit_dir()
        private_dir(exit_dir)
        io = request.io
        persist = private_dir(io.exit_file.parent)
        launch = conmon.ConmonLaunch(
            conmon=self.context.conmon_path,
            cid=request.cid,
            name=request.name,
            runtime_path=self.path or "",
            runtime_args=tuple(self.create_global_args(request)),
            directory=request.bundle,
            exit_dir=exit_dir,
            stdin=io.stdin,
            terminal=io.terminal,
            restore=restore,
            persist_dir=persist,
            log_size_max=io.log_size_max,
            exit_command=io.exit_command,
            log=io.log,
            systemd_cgroup=systemd,
        )
        offset = log_offset(self.oci_log(request.cid))
        message, monitor_pid = conmon.launch(launch, env=env, timeout=self.context.command_timeout)
        if message.data < 0:
            detail = error_message(message.message.encode(), self.oci_log(request.cid), offset)
            raise classify(
                detail or "the runtime failed to create the container",
                argv=launch.argv(),
                exit_status=None,
                container=request.cid,
                runtime=self.name,
                verb="create",
            )
        return CreateResult(pid=message.data, monitor_pid=monitor_pid)

    def conmon_env(self) -> dict[str, str]:
        """conmon's environment (the runtime's too): `conmon.conmon_environ` of `[engine]
        conmon_env_vars`, with the plugin option `conmon_env` (a list of NAME=value) last."""
        extra = self.context.options.get("conmon_env") or ()
        if isinstance(extra, str):
            extra = (extra,)
        return conmon.conmon_environ(self.context.conmon_env, tuple(extra))

    def start(self, cid: str, exec_id: str | None = None) -> None:
        if exec_id:
            self._release_exec(cid, exec_id)
            return
        self.cli().start(cid, log=self.oci_log(cid))

    def kill(
        self, cid: str, signal: int, *, all_procs: bool = False, exec_id: str | None = None
    ) -> None:
        if exec_id:  # the runtime has no verb for it: the process is the host's
            pid = read_pidfile(self.layout.exec_dir(cid, exec_id) / "exec_pid")
            if pid and process_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal)
            return
        self.cli().kill(cid, signal, self.kill_opts(all_procs), log=self.oci_log(cid))

    def delete(self, cid: str, exec_id: str | None = None) -> None:
        """`delete --force`; a container the runtime does not know is already deleted."""
        if exec_id:
            self._delete_exec(cid, exec_id)
            return
        try:
            self.cli().delete(cid, DeleteOpts(force=True), log=self.oci_log(cid))
        except RuntimeCommandError as exc:
            if not _does_not_exist(exc.detail):
                raise
        self._reap_conmon(cid)
        (self.exit_dir() / cid).unlink(missing_ok=True)
        shutil.rmtree(self.layout.persist_dir(cid), ignore_errors=True)

    def _reap_conmon(self, cid: str) -> None:
        """conmon ends once its container is gone; wait briefly so no monitor outlives delete."""
        pid = read_pidfile(self.container_dir(cid) / "conmon.pid")
        if self._exit_code(cid) is not None:
            return  # it wrote the exit files; it only waits for its exit command now, then ends
        deadline = time.monotonic() + 2.0
        while conmon.conmon_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        if conmon.conmon_alive(pid):
            os.kill(pid, 9)  # type: ignore[arg-type]

    def state(self, cid: str, exec_id: str | None = None) -> RuntimeState:
        if exec_id:
            return self._exec_state(cid, exec_id)
        code = self._exit_code(cid)
        if code is not None:
            return RuntimeState("stopped", 0, code)
        try:
            state = self.cli().state(cid)
        except RuntimeCommandError as exc:
            if _does_not_exist(exc.detail):
                return self._forgotten(cid)
            raise
        return self._from_state(cid, state)

    def states(self, cids: list[str]) -> dict[str, RuntimeState]:
        """Exit files first, then one `<runtime> list` for the rest (not one `state` each)."""
        out: dict[str, RuntimeState] = {}
        pending = []
        for cid in cids:
            code = self._exit_code(cid)
            if code is not None:
                out[cid] = RuntimeState("stopped", 0, code)
            else:
                pending.append(cid)
        if pending:
            listed = {str(c.get("id")): c for c in self.cli().list()}
            for cid in pending:
                out[cid] = (
                    self._from_state(cid, listed[cid]) if cid in listed else self._forgotten(cid)
                )
        return out

    def _forgotten(self, cid: str) -> RuntimeState:
        code = self._exit_code(cid)  # conmon may have finished just now
        if code is not None:
            return RuntimeState("stopped", 0, code)
        return RuntimeState(
            "unknown",
            reason=f"{self.name} no longer knows the container and no exit code was recorded",
        )

    def _from_state(self, cid: str, state: dict) -> RuntimeState:  # type: ignore[type-arg]
        status = self.status_map.get(str(state.get("status")), "unknown")
        pid = int(state.get("pid") or 0)
        if status == "stopped":
            code = self._wait_exit_code(cid)
            if code is None:
                return RuntimeState("stopped", 0, None, reason="conmon recorded no exit code")
            return RuntimeState("stopped", 0, code)
        if status != "unknown" and not self._conmon_running(cid):
            monitor = read_pidfile(self.container_dir(cid) / "conmon.pid")
            return RuntimeState(
                "unknown", pid,
                reason=f"its conmon (pid {monitor}) died: output and exit code are lost; "
                "remove it with `ocimux rm -f`",
            )  # fmt: skip
        return RuntimeState(status, pid)

    def _exit_code(self, cid: str) -> int | None:
        return read_exit_file(self._exit_file(cid))

    def _wait_exit_code(self, cid: str) -> int | None:
        deadline = time.monotonic() + EXIT_FILE_GRACE
        while True:
            code = self._exit_code(cid)
            if code is not None or not self._conmon_running(cid) or time.monotonic() >= deadline:
                return code if code is not None else self._exit_code(cid)
            time.sleep(0.005)

    def pause(self, cid: str) -> None:
        self.cli().pause(cid, log=self.oci_log(cid))

    def resume(self, cid: str) -> None:
        self.cli().resume(cid, log=self.oci_log(cid))

    def update(self, cid: str, resources: Resources) -> None:
        """Write the limits as `linux.resources` JSON and run `update --resources FILE`."""
        with tempfile.NamedTemporaryFile(
            "w", dir=self.container_dir(cid), prefix="resources-", suffix=".json", delete=True
        ) as fh:
            json.dump(resources.as_linux_resources(), fh)
            fh.flush()
            self.cli().update(cid, self.update_opts(Path(fh.name)), log=self.oci_log(cid))

    # --- exec sessions under conmon (podman's ExecContainer) ---------------------------------

    def exec(self, cid: str, exec_id: str, process: ExecOptions, io: ProcessIO) -> None:
        """Write the session's process spec and start its conmon (`--exec --exec-attach`).

        conmon waits at its start gate with the attach socket ready; `start(cid, exec_id)`
        releases it. The terminal gets `io.size` before the process runs.
        """
        # lazy: the spec modules cost ~12 ms, and only exec needs them (not ps, stop, rm, logs)
        from .bundle import write_json
        from .spec import exec_process

        if not self.context.conmon_path:
            raise RuntimeCommandError(
                "conmon not found in [engine] conmon_path or $PATH",
                runtime=self.name, verb="exec", hint="install conmon",
            )  # fmt: skip
        directory = private_dir(io.directory)
        spec_file = directory / "process.json"
        write_json(spec_file, exec_process(self.container_dir(cid), process))
        persist = private_dir(io.exit_file.parent)
        io.exit_file.unlink(missing_ok=True)  # a previous run of the same session id's
        launch = conmon.ConmonLaunch(
            conmon=self.context.conmon_path,
            cid=cid,
            name=cid,
            runtime_path=self.path or "",
            runtime_args=tuple(self.cli().global_args(self.oci_log(cid))),
            directory=directory,
            exit_dir=persist,
            stdin=io.stdin,
            terminal=io.terminal,
            session=exec_id,
            exec_spec=spec_file,
            persist_dir=persist,
            log=io.log,
        )
        conmon.prepare_exec(launch, env=self.conmon_env(), timeout=self.context.command_timeout)
        if io.terminal and io.size:
            write_resize(io.control, *io.size)

    def _release_exec(self, cid: str, exec_id: str) -> None:
        """Open the session's start gate; conmon then runs `<runtime> exec`."""
        directory = self.layout.exec_dir(cid, exec_id)
        offset = log_offset(self.oci_log(cid))
        message = conmon.release_exec(directory, timeout=self.context.command_timeout)
        if message.data >= 0:
            return
        detail = error_message(message.message.encode(), self.oci_log(cid), offset)
        detail = detail or "the runtime failed to start the process"
        try:
            command = json.loads((directory / "process.json").read_text())["args"][0]
        except (OSError, ValueError, KeyError, IndexError):
            command = ""
        if command and command not in detail:  # crun says only "open executable: ..."
            detail = f"{command}: {detail}"
        raise classify(detail, exit_status=None, container=cid, runtime=self.name, verb="exec")

    def _exec_state(self, cid: str, exec_id: str) -> RuntimeState:
        """From the session's files: exit file, `exec_pid`, its conmon's pid."""
        directory = self.layout.exec_dir(cid, exec_id)
        code = read_exit_file(self.layout.exit_file(cid, exec_id))
        pid = read_pidfile(directory / "exec_pid") or 0
        if code is not None:
            return RuntimeState("stopped", pid, code)
        monitor = read_pidfile(directory / "conmon.pid")
        if process_alive(pid):
            return RuntimeState("running", pid)
        if conmon.conmon_alive(monitor):
            # at its start gate, or draining the output of a process that just ended
            return RuntimeState("created" if not pid else "running", pid)
        code = read_exit_file(self.layout.exit_file(cid, exec_id))  # it may have just ended
        if code is not None:
            return RuntimeState("stopped", pid, code)
        return RuntimeState("unknown", pid, reason="its conmon is gone and recorded no exit code")

    def _delete_exec(self, cid: str, exec_id: str) -> None:
        """Kill what is left of the session (process, conmon at its gate); drop its run-dir files."""
        directory = self.layout.exec_dir(cid, exec_id)
        pid = read_pidfile(directory / "exec_pid")
        if pid and process_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        monitor = read_pidfile(directory / "conmon.pid")
        deadline = time.monotonic() + 2.0
        while conmon.conmon_alive(monitor) and time.monotonic() < deadline:
            if not pid:  # never released: nothing to wait for
                break
            time.sleep(0.01)
        if conmon.conmon_alive(monitor):
            with contextlib.suppress(ProcessLookupError):
                os.kill(monitor, 9)  # type: ignore[arg-type]
        shutil.rmtree(self.layout.persist_dir(cid, exec_id), ignore_errors=True)

    # --- monitor and info ---------------------------------------------------------------------

    def _conmon_running(self, cid: str) -> bool:
        return conmon.conmon_alive(read_pidfile(self.container_dir(cid) / "conmon.pid"))

    def info(self) -> RuntimeInfo:
        text = self.cli().version()
        monitor = None
        if self.context.conmon_path:
            try:
                out = process.run(
                    [self.context.conmon_path, "--version"], timeout=self.context.command_timeout
                )
                monitor = out.stdout.decode(errors="replace").strip().splitlines()[0]
            except (OSError, OcimuxError, IndexError):
                monitor = None
        return RuntimeInfo(
            name=self.name,
            path=self.path,
            version=parse_version(text),
            monitor=monitor,
            extra={"version_text": text},
        )


def _does_not_exist(message: str) -> bool:
    text = message.lower()
    return "does not exist" in text or "no such file or directory" in text or "not found" in text
