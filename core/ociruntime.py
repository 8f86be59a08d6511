"""`OciCliRuntime`: a Runtime over an OCI-CLI binary (runc, crun, ...) with conmon as the monitor.

The container's directory is its bundle (config.json) and conmon's: `attach`, `ctl`,
`winsz`, `pidfile`, `conmon.pid`, the k8s-file log `ctr.log` and the JSON error log `oci-log`.
The exit files are on the run dir, which a full state disk cannot take from them:
`<run_dir>/persist/<id>/exit` (conmon's persist dir, podman's layout) and
`<run_dir>/runtimes/<name>.exits/<id>`; an exec session's under `persist/<id>/exec/<session>/`.
The runtime's `--root` is this runtime's private state directory. State comes from the exit
file first, then `<runtime> state`.

A plugin for a runc-like runtime subclasses this and overrides only what differs: an option
type, `cli()`, `create_global_args()`, or one verb.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from . import conmon
from ._faults import crash_point
from .attach import read_exit_file
from .errors import OcimuxError, RuntimeCommandError
from .files import private_dir
from .ocicli import (
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
from .options import CreateResult, ExecStatus, RuntimeInfo, RuntimeState
from .runtime import Runtime

if TYPE_CHECKING:
    from .options import (
        CheckpointOptions,
        CreateRequest,
        ExecOptions,
        Resources,
        RestoreOptions,
        StdStreams,
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
        )

    def exit_dir(self) -> Path:
        """conmon's `--exit-dir`: beside `--root`, not in it (runc lists every entry of its root)."""
        return self.context.state_dir.with_name(f"{self.name}.exits")

    def exit_file_path(self, cid: str) -> Path:
        """conmon's `<persist-dir>/exit`, on the run dir."""
        return self.persist_dir(cid) / "exit"

    def oci_log(self, cid: str) -> Path:
        """The JSON error log the runtime appends to (`--log`)."""
        return self.container_dir(cid) / "oci-log"

    def create_global_args(self, request: CreateRequest) -> list[str]:
        """Global flags for `create` (conmon passes them as `--runtime-arg`)."""
        return self.cli().global_args(self.oci_log(request.cid))

    def kill_opts(self, all_procs: bool) -> KillOpts:
        return KillOpts(all_procs=all_procs)

    def update_opts(self, resources_file: Path) -> UpdateOpts:
        return UpdateOpts(resources_file)

    # --- lifecycle ----------------------------------------------------------------------------

    def create_container(self, request: CreateRequest) -> CreateResult:
        """Start conmon, which runs `<runtime> create`; return the init pid and conmon's pid."""
        return self._launch_container(request, restore=None)

    def restore_container(self, request: CreateRequest, options: RestoreOptions) -> CreateResult:
        """Start conmon with `--restore`: it runs `<runtime> restore --detach --image-path ...`.

        The container comes back running. The previous run's exit files are removed first so
        its state is not mistaken for the restored one's. Needs capability `checkpoint`.
        """
        self.exit_file_path(request.cid).unlink(missing_ok=True)
        (self.exit_dir() / request.cid).unlink(missing_ok=True)
        return self._launch_container(request, restore=options.image_path)

    def checkpoint_container(self, cid: str, options: CheckpointOptions) -> None:
        """`<runtime> checkpoint --image-path P --work-path <bundle>`; stops it unless leave_running."""
        private_dir(options.image_path)
        opts = CheckpointOpts(
            image_path=options.image_path, work_path=self.container_dir(cid),
            leave_running=options.leave_running, tcp_established=options.tcp_established,
            file_locks=options.file_locks,
        )  # fmt: skip
        self.cli().checkpoint(cid, opts, log=self.oci_log(cid))

    def _launch_container(self, request: CreateRequest, restore: Path | None) -> CreateResult:
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
        persist = private_dir(self.persist_dir(request.cid))
        launch = conmon.ConmonLaunch(
            conmon=self.context.conmon_path,
            cid=request.cid,
            name=request.name,
            runtime_path=self.path or "",
            runtime_args=tuple(self.create_global_args(request)),
            directory=request.bundle,
            exit_dir=exit_dir,
            stdin=request.stdin,
            terminal=request.terminal,
            restore=restore,
            persist_dir=persist,
            log_size_max=request.log_size_max,
            exit_command=request.exit_command,
        )
        offset = log_offset(self.oci_log(request.cid))
        message, monitor_pid = conmon.launch(
            launch, env=self._conmon_env(), timeout=self.context.command_timeout
        )
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

    def _conmon_env(self) -> list[str]:
        path = os.environ.get(
            "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        )
        return [f"PATH={path}", *self.context.options.get("conmon_env", ())]

    def start_container(self, cid: str) -> None:
        self.cli().start(cid, log=self.oci_log(cid))

    def kill_container(self, cid: str, signal: int, *, all_procs: bool = False) -> None:
        self.cli().kill(cid, signal, self.kill_opts(all_procs), log=self.oci_log(cid))

    def delete_container(self, cid: str) -> None:
        """`delete --force`; a container the runtime does not know is already deleted."""
        try:
            self.cli().delete(cid, DeleteOpts(force=True), log=self.oci_log(cid))
        except RuntimeCommandError as exc:
            if not _does_not_exist(exc.detail):
                raise
        self._reap_conmon(cid)
        (self.exit_dir() / cid).unlink(missing_ok=True)
        import shutil  # not on the hot path of run

        shutil.rmtree(self.persist_dir(cid), ignore_errors=True)

    def _reap_conmon(self, cid: str) -> None:
        """conmon ends once its container is gone; wait briefly so no monitor outlives delete."""
        pid = conmon.read_pidfile(self.container_dir(cid) / "conmon.pid")
        if self._exit_code(cid) is not None:
            return  # it wrote the exit files; it only waits for its exit command now, then ends
        deadline = time.monotonic() + 2.0
        while conmon.conmon_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        if conmon.conmon_alive(pid):
            os.kill(pid, 9)  # type: ignore[arg-type]

    def state_container(self, cid: str) -> RuntimeState:
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

    def state_containers(self, cids: list[str]) -> dict[str, RuntimeState]:
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
        if status != "unknown" and not self.check_conmon_running(cid):
            monitor = conmon.read_pidfile(self.container_dir(cid) / "conmon.pid")
            return RuntimeState(
                "unknown", pid,
                reason=f"its conmon (pid {monitor}) died: output and exit code are lost; "
                "remove it with `ocimux rm -f`",
            )  # fmt: skip
        return RuntimeState(status, pid)

    def _exit_code(self, cid: str) -> int | None:
        return read_exit_file(self.exit_file_path(cid))

    def _wait_exit_code(self, cid: str) -> int | None:
        deadline = time.monotonic() + EXIT_FILE_GRACE
        while True:
            code = self._exit_code(cid)
            if (
                code is not None
                or not self.check_conmon_running(cid)
                or time.monotonic() >= deadline
            ):
                return code if code is not None else self._exit_code(cid)
            time.sleep(0.005)

    def stop_container(
        self, cid: str, timeout: float, stop_signal: int = 15, *, all_procs: bool = False
    ) -> None:
        """The base escalation; a paused container gets SIGKILL and is then thawed.

        On cgroup v1 a frozen task cannot die until it is thawed: runc 1.1 thaws it itself
        after SIGKILL, crun 1.8.1 does not ("still running after SIGKILL").
        """
        if self._stop_paused(cid, all_procs):
            return
        super().stop_container(cid, timeout, stop_signal, all_procs=all_procs)

    def pause_container(self, cid: str) -> None:
        self.cli().pause(cid, log=self.oci_log(cid))

    def unpause_container(self, cid: str) -> None:
        self.cli().resume(cid, log=self.oci_log(cid))

    def update_container(self, cid: str, resources: Resources) -> None:
        """Write the limits as `linux.resources` JSON and run `update --resources FILE`."""
        import tempfile  # not on the hot path of run

        with tempfile.NamedTemporaryFile(
            "w", dir=self.container_dir(cid), prefix="resources-", suffix=".json", delete=True
        ) as fh:
            json.dump(resources.as_linux_resources(), fh)
            fh.flush()
            self.cli().update(cid, self.update_opts(Path(fh.name)), log=self.oci_log(cid))

    def list_processes(self, cid: str) -> list[int]:
        return self.cli().ps(cid)

    # --- exec sessions under conmon (podman's ExecContainer) ---------------------------------

    def _exec_launch(self, cid: str, session_id: str, options: ExecOptions) -> conmon.ConmonLaunch:
        """Write the session's process spec and describe its conmon (`--exec --exec-attach`)."""
        from .bundle import write_json
        from .spec import exec_process

        directory = self.exec_dir(cid, session_id)
        private_dir(directory)
        process = exec_process(self.container_dir(cid), options)
        spec_file = directory / "process.json"
        write_json(spec_file, process)
        if not self.context.conmon_path:
            raise RuntimeCommandError(
                "conmon not found in [engine] conmon_path or $PATH",
                runtime=self.name,
                verb="exec",
                hint="install conmon",
            )
        return conmon.ConmonLaunch(
            conmon=self.context.conmon_path,
            cid=cid,
            name=cid,
            runtime_path=self.path or "",
            runtime_args=tuple(self.cli().global_args(self.oci_log(cid))),
            directory=directory,
            exit_dir=self.exec_persist_dir(cid, session_id),
            stdin=options.stdin,
            terminal=options.terminal,
            session=session_id,
            exec_spec=spec_file,
            persist_dir=self.exec_persist_dir(cid, session_id),
        )

    def _start_exec(
        self, cid: str, launch: conmon.ConmonLaunch, before_release=None
    ) -> tuple[int, int]:  # noqa: ANN001
        private_dir(launch.exit_dir)
        offset = log_offset(self.oci_log(cid))
        message, monitor_pid = conmon.launch(
            launch,
            env=self._conmon_env(),
            timeout=self.context.command_timeout,
            before_release=before_release,
        )
        if message.data < 0:
            detail = error_message(message.message.encode(), self.oci_log(cid), offset)
            detail = detail or "the runtime failed to start the process"
            command = (
                json.loads(launch.exec_spec.read_text())["args"][0] if launch.exec_spec else ""
            )
            if command and command not in detail:  # crun says only "open executable: ..."
                detail = f"{command}: {detail}"
            raise classify(
                detail,
                argv=launch.argv(),
                exit_status=None,
                container=cid,
                runtime=self.name,
                verb="exec",
            )
        return message.data, monitor_pid

    def exec_container(
        self, cid: str, session_id: str, options: ExecOptions, streams: StdStreams
    ) -> int | None:
        """Run a process under its own conmon, attached through its socket; return its exit code.

        Connects before the process starts (no output lost) and applies `options.size` to its
        terminal. Returns None if the user detached: the session runs on.
        """
        from .attach import connect_attach_socket, relay, wait_exit_file
        from .options import AttachOptions

        launch = self._exec_launch(cid, session_id, options)
        sockets = []

        def connect() -> None:
            sockets.append(connect_attach_socket(launch.directory / "attach"))
            if options.terminal and options.size:
                self.exec_attach_resize(cid, session_id, *options.size)

        try:
            _, monitor_pid = self._start_exec(cid, launch, connect)
            crash_point("exec:started")
            detached = relay(
                sockets[0],
                streams,
                AttachOptions(stdin=options.stdin, detach_keys=options.detach_keys),
            )
        finally:
            for sock in sockets:
                sock.close()
        if detached:
            return None
        code = wait_exit_file(
            launch.exit_dir / "exit",
            self.context.command_timeout,
            alive=lambda: conmon.conmon_alive(monitor_pid),
        )
        if code is None:
            raise RuntimeCommandError(
                f"exec session {session_id[:12]} ended without an exit code",
                container=cid,
                runtime=self.name,
                verb="exec",
            )
        return code

    def exec_container_detached(self, cid: str, session_id: str, options: ExecOptions) -> int:
        """Start a process under its own conmon (output to `exec.log`); return its pid."""
        pid, _ = self._start_exec(cid, self._exec_launch(cid, session_id, options))
        return pid

    def exec_update_status(self, cid: str, session_id: str) -> ExecStatus:
        directory = self.exec_dir(cid, session_id)
        pid = conmon.read_pidfile(directory / "exec_pid") or 0
        exit_file = self.exec_persist_dir(cid, session_id) / "exit"
        code = read_exit_file(exit_file)
        if code is not None:
            return ExecStatus(running=False, pid=pid, exit_code=code)
        monitor = conmon.read_pidfile(directory / "conmon.pid")
        running = conmon.process_alive(pid) or conmon.conmon_alive(monitor)
        return ExecStatus(running=running, pid=pid, exit_code=read_exit_file(exit_file))

    # --- monitor and info ---------------------------------------------------------------------

    def check_conmon_running(self, cid: str) -> bool:
        return conmon.conmon_alive(conmon.read_pidfile(self.container_dir(cid) / "conmon.pid"))

    def runtime_info(self) -> RuntimeInfo:
        text = self.cli().version()
        monitor = None
        if self.context.conmon_path:
            try:
                from . import process

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
