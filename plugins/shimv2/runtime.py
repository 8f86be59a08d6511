"""`ShimV2Runtime`: a Runtime over any containerd shim v2 binary (`containerd-shim-*-v2`).

Per container, in its directory (the bundle, named by the container id as the shim's own
`delete` action requires): the shim writes `address`, its log `log` and its runtime's files;
ocimux's I/O monitor (monitor.py) keeps the stdio FIFOs, `attach`, `ctl` and the k8s-file
log `ctr.log` there, and the exit status in `<run_dir>/persist/<id>/exit` (an exec
session's in `persist/<id>/exec/<session>/exit`: a full state disk cannot refuse them);
`shim.pid` is the shim daemon (the container's monitor in podman's sense:
`check_conmon_running` asks whether it lives). Every operation is one ttrpc call to the
shim's task service at `address`, so a later `ocimux` process reconnects by reading it.

Exec sessions get an I/O monitor of their own in their directory; it removes the session
from the shim once it has recorded the exit status.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal as _signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ocimux import Capabilities, Capability, process
from ocimux._faults import crash_point
from ocimux.attach import read_exit_file
from ocimux.conmon import named_process_alive, process_alive, read_pidfile
from ocimux.errors import OcimuxError, RuntimeCommandError, StateError
from ocimux.files import private_dir
from ocimux.ocicli import classify
from ocimux.options import CreateResult, ExecStatus, RuntimeInfo, RuntimeState
from ocimux.runtime import KILL_WAIT_SECONDS, Runtime
from ocimux.sockets import remove_if_stale

from . import messages as m
from . import monitor as mon
from .events import ensure_sink
from .launch import SHIM_BINARY, ShimCommand
from .task import TaskClient
from .ttrpc import TtrpcConnectionError, TtrpcError, socket_path

if TYPE_CHECKING:
    from ocimux.options import CreateRequest, ExecOptions, Resources, StdStreams

__all__ = ["ShimV2Runtime"]

DEFAULT_NAMESPACE = "ocimux"
SHIM_PIDFILE = "shim.pid"
#: grpc status NotFound: the shim does not know the container or exec session
NOT_FOUND = 5
#: how long a stopped container's I/O monitor may take to log its last output (at most)
DRAIN_GRACE = 10.0


class ShimV2Runtime(Runtime):
    """Drive a shim v2 binary through its ttrpc task service; the shim monitors the container.

    Plugin options (`[ocimux.plugins.<name>]`): `namespace` (default "ocimux": the shim's
    containerd namespace, which also names the runc shim's state directory), `debug` (the
    shim logs at debug level to `log`), `runc_binary` (for the runc shim: the OCI runtime
    it runs, default runc).
    """

    binary: ClassVar[str | None] = "containerd-shim-runc-v2"
    default_paths: ClassVar[tuple[str, ...]] = (
        "/usr/bin/containerd-shim-runc-v2",
        "/usr/local/bin/containerd-shim-runc-v2",
    )
    capabilities = Capabilities(
        json_errors=Capability(
            False, "declared", "shim v2 reports errors as ttrpc status messages, not a JSON log"
        ),
        pause=Capability(True, "declared", "shim v2 Pause/Resume"),
        update_resources=Capability(
            True, "declared", "shim v2 Update (runtime-spec LinuxResources)"
        ),
        exec=Capability(True, "declared", "shim v2 Exec/Start/Wait"),
        terminal=Capability(True, "declared", "shim v2 terminal=true and ResizePty"),
        isolation=Capability(True, "declared", "the runc shim runs runc: namespaces and cgroups"),
        resource_limits=Capability(
            True,
            "declared",
            "the runc shim (runc) applies linux.resources to the container's cgroup",
        ),
        devices=Capability(
            True,
            "declared",
            "the runc shim (runc) creates linux.devices nodes and device cgroup rules",
        ),
        privileged=Capability(
            True,
            "declared",
            "the runc shim (runc) runs with every capability and host device asked for",
        ),
        seccomp=Capability(
            True, "declared", "the runc shim (runc) loads linux.seccomp with libseccomp"
        ),
        host_network=Capability(
            True,
            "declared",
            "the runc shim (runc) joins the host's network when the spec asks for no network namespace",
        ),
        umask=Capability(
            True, "declared", "the runc shim (runc) sets process.user.umask (runtime-spec 1.0.2)"
        ),
        domainname=Capability(
            True, "declared", "the kernel.domainname sysctl in the UTS namespace, through runc"
        ),
        no_cgroups=Capability(False, "declared", "shim v2 has no option to run without cgroups"),
        kvm=Capability(False, "declared", "the runc shim starts no virtual machine"),
        checkpoint=Capability(
            False, "declared", "not wired for shim v2 in ocimux (the runc shim would need CRIU)"
        ),
    )

    # --- identity ---------------------------------------------------------------------------

    def unavailable_reason(self) -> str | None:
        reason = super().unavailable_reason()
        if reason is None and self.path and not SHIM_BINARY.match(os.path.basename(self.path)):
            return f"{self.path} is not a shim v2 binary (expected containerd-shim-<name>-v2)"
        return reason

    @property
    def namespace(self) -> str:
        return str(self.context.options.get("namespace") or DEFAULT_NAMESPACE)

    def shim(self) -> ShimCommand:
        reason = self.unavailable_reason()
        if reason or not self.path:
            raise RuntimeCommandError(reason or "no shim binary", runtime=self.name)
        private_dir(self.context.state_dir)
        return ShimCommand(
            binary=self.path,
            namespace=self.namespace,
            address=str(self.context.state_dir / "containerd.sock"),
            events=str(self.context.state_dir / "events.sock"),
            runtime=self.name,
            timeout=self.context.command_timeout,
            debug=bool(self.context.options.get("debug")),
        )

    def create_options(self) -> dict[str, Any] | None:
        """The Any for CreateTaskRequest.options; the runc shim's keeps its state with ours."""
        if not self.path or os.path.basename(self.path) != "containerd-shim-runc-v2":
            return None
        options = {"root": str(self.context.state_dir / "runc")}
        if self.context.options.get("runc_binary"):
            options["binary_name"] = str(self.context.options["runc_binary"])
        return {"type_url": m.RUNC_OPTIONS_TYPE, "value": m.RUNC_OPTIONS.encode(options)}

    # --- talking to a container's shim ------------------------------------------------------

    def shim_address(self, cid: str) -> str | None:
        try:
            return (self.container_dir(cid) / "address").read_text().strip() or None
        except OSError:
            return None

    def _task(self, cid: str, verb: str, address: str | None = None) -> TaskClient:
        address = address or self.shim_address(cid)
        if not address:
            raise RuntimeCommandError(
                "the container has no shim (no address file)",
                container=cid, runtime=self.name, verb=verb, hint="remove it with `ocimux rm -f`",
            )  # fmt: skip
        try:
            return self._client(address)
        except TtrpcConnectionError as exc:
            raise self._gone(cid, verb, exc) from exc

    def _client(self, address: str) -> TaskClient:
        """A connection to the shim at `address` (raises TtrpcConnectionError)."""
        return TaskClient(address, namespace=self.namespace, timeout=self.context.command_timeout)

    def _gone(self, cid: str, verb: str, exc: Exception) -> RuntimeCommandError:
        pid = read_pidfile(self.container_dir(cid) / SHIM_PIDFILE)
        return RuntimeCommandError(
            f"cannot reach the container's shim (pid {pid}): {exc}",
            container=cid, runtime=self.name, verb=verb,
            hint="the shim process died; remove the container with `ocimux rm -f`",
        )  # fmt: skip

    @contextlib.contextmanager
    def _rpc(self, cid: str, verb: str, address: str | None = None) -> Iterator[TaskClient]:
        """A connection to the container's shim; shim errors become ocimux errors."""
        with self._task(cid, verb, address) as task:
            try:
                yield task
            except TtrpcError as exc:
                raise classify(exc.message, container=cid, runtime=self.name, verb=verb) from exc
            except TtrpcConnectionError as exc:
                raise self._gone(cid, verb, exc) from exc

    # --- monitors ---------------------------------------------------------------------------

    def _start_monitor(
        self, directory: Path, address: str, cid: str, *, exec_id: str = "",
        terminal: bool, stdin: bool, log: Path, exit_command: tuple[str, ...] = (),
        log_size_max: int = -1, exit_file: Path | None = None,
    ) -> int:  # fmt: skip
        """Start the I/O monitor in `directory`; return its pid once its FIFOs are open."""
        argv = [
            sys.executable, "-I", "-m", mon.__name__, "--dir", str(directory), "--address", address,
            "--namespace", self.namespace, "--id", cid, "--exec-id", exec_id, "--log", str(log),
            "--timeout", str(self.context.command_timeout),
            *(["--terminal"] if terminal else []), *(["--stdin"] if stdin else []),
            *(f"--exit-command={arg}" for arg in exit_command),
            "--log-size-max", str(log_size_max), *(["--exit-file", str(exit_file)] if exit_file else []),
        ]  # fmt: skip
        done = process.run(argv, timeout=self.context.command_timeout)
        text = done.stdout.decode(errors="replace").strip()
        if done.returncode != 0 or not text.isdigit():
            raise RuntimeCommandError(
                done.stderr_text or f"the I/O monitor failed (exit {done.returncode})",
                argv=argv, container=cid, runtime=self.name, verb="exec" if exec_id else "create",
            )  # fmt: skip
        return int(text)

    @staticmethod
    def _io_paths(directory: Path, terminal: bool, stdin: bool) -> dict[str, str]:
        return {
            "stdin": str(directory / mon.STDIN_FIFO) if stdin or terminal else "",
            "stdout": str(directory / mon.STDOUT_FIFO),
            "stderr": "" if terminal else str(directory / mon.STDERR_FIFO),
        }

    @staticmethod
    def _stop_monitor(directory: Path) -> None:
        pid = read_pidfile(directory / mon.PIDFILE)
        if pid and process_alive(pid):
            with contextlib.suppress(OSError):
                os.kill(pid, _signal.SIGTERM)

    # --- lifecycle --------------------------------------------------------------------------

    def create_container(self, request: CreateRequest) -> CreateResult:
        """Start a shim for the container and its I/O monitor, then `Create` the task."""
        cid, bundle = request.cid, request.bundle
        shim = self.shim()
        fd = os.open(bundle / "log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.close(fd)  # the shim's own log: a regular file it appends to
        ensure_sink(Path(shim.events), self.context.command_timeout)
        address = shim.start(cid, bundle)
        try:
            self._start_monitor(
                bundle, address, cid, terminal=request.terminal, stdin=request.stdin,
                log=self.log_path(cid), exit_command=request.exit_command,
                log_size_max=request.log_size_max,
                exit_file=private_dir(self.persist_dir(cid)) / mon.EXIT,
            )  # fmt: skip
            with self._rpc(cid, "create", address) as task:
                answer = task.create(
                    id=cid, bundle=str(bundle), terminal=request.terminal,
                    options=self.create_options(), **self._io_paths(bundle, request.terminal, request.stdin),
                )  # fmt: skip
                shim_pid = task.connect(cid)["shim_pid"]
            (bundle / SHIM_PIDFILE).write_text(str(shim_pid))
        except BaseException:
            self._abandon(cid, address)
            raise
        return CreateResult(pid=answer["pid"], monitor_pid=shim_pid)

    def _abandon(self, cid: str, address: str) -> None:
        """Undo a failed create: the monitor, the task, the shim and what it left."""
        bundle = self.container_dir(cid)
        self._stop_monitor(bundle)
        with contextlib.suppress(TtrpcError, OSError):
            with TaskClient(address, namespace=self.namespace, timeout=5.0) as task:
                with contextlib.suppress(TtrpcError):
                    task.delete(cid)
                task.shutdown(cid, now=True)
        self.shim().delete(cid, bundle)
        mon_files = (
            mon.ATTACH,
            mon.CTL,
            mon.STDIN_FIFO,
            mon.STDOUT_FIFO,
            mon.STDERR_FIFO,
            mon.PIDFILE,
        )
        for name in mon_files:
            (bundle / name).unlink(missing_ok=True)

    def start_container(self, cid: str) -> None:
        with self._rpc(cid, "start") as task:
            task.start(cid)

    def kill_container(self, cid: str, signal: int, *, all_procs: bool = False) -> None:
        with self._rpc(cid, "kill") as task:
            task.kill(cid, signal, all_procs=all_procs)

    def stop_container(
        self, cid: str, timeout: float, stop_signal: int = 15, *, all_procs: bool = False
    ) -> None:
        if self._stop_paused(cid, all_procs):
            return
        super().stop_container(cid, timeout, stop_signal, all_procs=all_procs)

    def delete_container(self, cid: str) -> None:
        """`Delete` the task and `Shutdown` the shim; a shim that is gone is cleaned up by its binary."""
        bundle = self.container_dir(cid)
        address = self.shim_address(cid)  # none: no shim was ever started
        reached = False
        if address:
            try:
                with self._client(address) as task:
                    try:
                        task.delete(cid)
                    except TtrpcError as exc:
                        if exc.code != NOT_FOUND:
                            raise classify(
                                exc.message, container=cid, runtime=self.name, verb="delete"
                            ) from exc
                    reached = True
                    with contextlib.suppress(TtrpcError, OSError):
                        task.shutdown(cid)
            except TtrpcConnectionError:
                pass  # the shim is gone: its binary cleans up below
        if address and not reached and self.path:
            self.shim().delete(cid, bundle)
            _remove_dead_socket(address)  # a killed shim leaves its socket behind
        self._reap_shim(cid)
        self._stop_monitor(bundle)
        shutil.rmtree(self.persist_dir(cid), ignore_errors=True)

    def exit_file_path(self, cid: str) -> Path:
        """The monitor's exit file, on the run dir (a full state disk cannot refuse it)."""
        return self.persist_dir(cid) / mon.EXIT

    def _reap_shim(self, cid: str) -> None:
        """The shim exits after Shutdown; make sure no shim outlives its container."""
        pid = read_pidfile(self.container_dir(cid) / SHIM_PIDFILE)
        deadline = time.monotonic() + 2.0
        while self._shim_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        if self._shim_alive(pid):
            with contextlib.suppress(OSError):
                os.kill(pid, _signal.SIGKILL)  # type: ignore[arg-type]

    @staticmethod
    def _shim_alive(pid: int | None) -> bool:
        """Whether `pid` is a live shim (its comm guards against pid reuse)."""
        return named_process_alive(pid, "containerd-shim", prefix=True)

    def state_container(self, cid: str) -> RuntimeState:
        code = read_exit_file(self.exit_file_path(cid))
        address = self.shim_address(cid)
        try:
            if not address:
                raise TtrpcConnectionError(2, "no address file")
            with self._client(address) as task:
                answer = task.state(cid)
        except TtrpcConnectionError as exc:
            if code is not None:
                return RuntimeState("stopped", 0, code)
            pid = read_pidfile(self.container_dir(cid) / SHIM_PIDFILE)
            return RuntimeState(
                "unknown",
                reason=f"its shim (pid {pid}) is gone ({exc}): the exit code is lost; "
                "remove it with `ocimux rm -f`",
            )
        except TtrpcError as exc:
            if code is not None:
                return RuntimeState("stopped", 0, code)
            return RuntimeState("unknown", reason=f"the shim does not know it: {exc.message}")
        status = m.STATUS_NAMES.get(answer["status"], "unknown")
        if status == "stopped":
            code = self._await_drained(cid)
            return RuntimeState("stopped", 0, answer["exit_status"] if code is None else code)
        return RuntimeState(status, answer["pid"])  # type: ignore[arg-type]

    def _await_drained(self, cid: str) -> int | None:
        """Wait until the I/O monitor has logged the last output and written `exit`; its code.

        The shim reports the task stopped as soon as the process is reaped, while the monitor
        may still be copying the last bytes from the FIFOs into the log: "stopped" (and so
        `wait`) must come after the drain, as conmon's exit file does. Bounded: a monitor that
        died or hangs ends the wait (None without an exit file).
        """
        exit_file = self.exit_file_path(cid)
        pidfile = self.container_dir(cid) / mon.PIDFILE
        deadline = time.monotonic() + min(self.context.command_timeout, DRAIN_GRACE)
        delay = 0.001
        while True:
            code = read_exit_file(exit_file)
            if code is not None:
                return code
            monitor = read_pidfile(pidfile)  # removed by the monitor as it ends
            if not (monitor and process_alive(monitor)) or time.monotonic() >= deadline:
                return read_exit_file(exit_file)
            time.sleep(delay)
            delay = min(delay * 2, 0.02)

    def pause_container(self, cid: str) -> None:
        with self._rpc(cid, "pause") as task:
            task.pause(cid)

    def unpause_container(self, cid: str) -> None:
        with self._rpc(cid, "unpause") as task:
            task.resume(cid)

    def update_container(self, cid: str, resources: Resources) -> None:
        with self._rpc(cid, "update") as task:
            task.update(cid, resources.as_linux_resources())

    def list_processes(self, cid: str) -> list[int]:
        if self.state_container(cid).status not in ("running", "paused"):
            return []
        with self._rpc(cid, "ps") as task:
            return task.pids(cid)

    def attach_resize(self, cid: str, height: int, width: int) -> None:
        with self._rpc(cid, "resize") as task:
            task.resize_pty(cid, width, height)

    # --- exec -------------------------------------------------------------------------------

    def _exec_start(
        self, cid: str, session_id: str, options: ExecOptions, connect: Any = None
    ) -> int:
        """Start the session's monitor, `Exec` and `Start` it; `connect()` runs in between."""
        from ocimux.spec import exec_process

        directory = private_dir(self.exec_dir(cid, session_id))
        process = exec_process(self.container_dir(cid), options)
        address = self.shim_address(cid) or ""
        exit_file = self._exec_exit_file(cid, session_id)
        private_dir(exit_file.parent)
        exit_file.unlink(missing_ok=True)  # a previous run of the same session id's
        self._start_monitor(
            directory, address, cid, exec_id=session_id, terminal=options.terminal,
            stdin=options.stdin, log=directory / "exec.log", exit_file=exit_file,
        )  # fmt: skip
        try:
            with self._rpc(cid, "exec") as task:
                task.exec(cid, session_id, process, terminal=options.terminal,
                          **self._io_paths(directory, options.terminal, options.stdin))  # fmt: skip
                try:
                    if connect is not None:
                        connect()
                    pid = task.start(cid, session_id)["pid"]
                except BaseException:
                    with contextlib.suppress(TtrpcError, OSError):
                        task.delete(cid, session_id)
                    raise
        except BaseException:
            self._stop_monitor(directory)
            raise
        (directory / "exec_pid").write_text(str(pid))
        return pid

    def exec_container(
        self, cid: str, session_id: str, options: ExecOptions, streams: StdStreams
    ) -> int | None:
        from ocimux.attach import connect_attach_socket, relay, wait_exit_file
        from ocimux.options import AttachOptions

        directory = self.exec_dir(cid, session_id)
        sockets = []

        def connect() -> None:
            sockets.append(connect_attach_socket(directory / mon.ATTACH))

        try:
            self._exec_start(cid, session_id, options, connect)
            if options.terminal and options.size:
                # after Start: the runc shim ignores resizes of an exec until it has a console;
                # a process that has already exited cannot be resized, and that is no error
                with contextlib.suppress(RuntimeCommandError):
                    self.exec_attach_resize(cid, session_id, *options.size)
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
        monitor = read_pidfile(directory / mon.PIDFILE)
        code = wait_exit_file(
            self._exec_exit_file(cid, session_id),
            self.context.command_timeout,
            alive=lambda: process_alive(monitor),
        )
        if code is None:
            raise RuntimeCommandError(
                f"exec session {session_id[:12]} ended without an exit code",
                container=cid, runtime=self.name, verb="exec",
            )  # fmt: skip
        return code

    def exec_container_detached(self, cid: str, session_id: str, options: ExecOptions) -> int:
        return self._exec_start(cid, session_id, options)

    def exec_attach_resize(self, cid: str, session_id: str, height: int, width: int) -> None:
        with self._rpc(cid, "exec resize") as task:
            task.resize_pty(cid, width, height, session_id)

    def _exec_exit_file(self, cid: str, session_id: str) -> Path:
        """An exec session's exit file, on the run dir as conmon's (`exec_persist_dir`): a
        full state disk cannot refuse it. Removed with the session or the container."""
        return self.exec_persist_dir(cid, session_id) / mon.EXIT

    def exec_update_status(self, cid: str, session_id: str) -> ExecStatus:
        directory = self.exec_dir(cid, session_id)
        exit_file = self._exec_exit_file(cid, session_id)
        pid = read_pidfile(directory / "exec_pid") or 0
        code = read_exit_file(exit_file)
        if code is not None:
            return ExecStatus(running=False, pid=pid, exit_code=code)
        running = process_alive(read_pidfile(directory / mon.PIDFILE))
        return ExecStatus(running=running, pid=pid, exit_code=read_exit_file(exit_file))

    def exec_kill_container(self, cid: str, session_id: str, signal: int) -> None:
        """Kill with the session's exec id, through the shim (a VM's pids are not ours)."""
        if not self.exec_update_status(cid, session_id).running:
            raise StateError(
                f"exec session {session_id[:12]} is not running",
                container=cid, runtime=self.name, verb="exec kill",
            )  # fmt: skip
        with self._rpc(cid, "exec kill") as task:
            task.kill(cid, signal, exec_id=session_id)

    def _exec_process_ended(self, cid: str, session_id: str) -> bool:
        """Whether the session's process has exited, by its monitor or by the shim's word.

        The monitor lives on while anything still holds the process's output open (a child
        the SIGKILL'd shell left behind in the container): the shim already says "stopped".
        """
        if not self.exec_update_status(cid, session_id).running:
            return True
        try:
            with self._task(cid, "exec stop") as task:
                status = task.state(cid, exec_id=session_id)["status"]
        except (TtrpcError, OSError, OcimuxError):
            return False  # the monitor's view stands
        return m.STATUS_NAMES.get(status) == "stopped"

    def exec_stop_container(self, cid: str, session_id: str, timeout: float) -> None:
        """SIGTERM, wait `timeout`, SIGKILL, through the shim (a VM's pids are not ours)."""
        deadline = time.monotonic() + timeout
        for sig in (_signal.SIGTERM, _signal.SIGKILL):
            if self._exec_process_ended(cid, session_id):
                return
            try:
                with self._task(cid, "exec stop") as task:
                    task.kill(cid, sig, exec_id=session_id)
            except (TtrpcError, OSError, OcimuxError):
                pass  # it exited meanwhile
            while time.monotonic() < deadline:
                if self._exec_process_ended(cid, session_id):
                    return
                time.sleep(0.02)
            deadline = time.monotonic() + KILL_WAIT_SECONDS
        raise RuntimeCommandError(
            f"exec session {session_id} survived SIGKILL",
            container=cid,
            runtime=self.name,
            verb="exec stop",
        )

    # --- monitor and info -------------------------------------------------------------------

    def check_conmon_running(self, cid: str) -> bool:
        return self._shim_alive(read_pidfile(self.container_dir(cid) / SHIM_PIDFILE))

    def runtime_info(self) -> RuntimeInfo:
        """`<shim> -v` prints `Version:`, `Revision:` and `Go version:` lines."""
        version, text = "unknown", ""
        if self.path:
            try:
                text = process.run(
                    [self.path, "-v"], timeout=self.context.command_timeout
                ).stdout.decode(errors="replace")
            except (OSError, OcimuxError):
                text = ""
            for line in text.splitlines():
                key, _, value = line.strip().partition(":")
                if key == "Version" and value.strip():
                    version = value.strip()
                    break
        return RuntimeInfo(
            name=self.name, path=self.path, version=version,
            monitor="the shim itself (ttrpc) + ocimux I/O monitor", extra={"version_text": text.strip()},
        )  # fmt: skip


def _remove_dead_socket(address: str) -> None:
    """Unlink the shim's socket file if nothing listens on it any more."""
    path = socket_path(address)
    if not path.startswith("\0"):  # an abstract socket went with the shim
        remove_if_stale(path)
