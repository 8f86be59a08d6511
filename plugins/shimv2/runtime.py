"""`ShimV2Runtime`: a Runtime over any containerd shim v2 binary (`containerd-shim-*-v2`).

Per container, in its directory (the bundle, named by the container id as the shim's own
`delete` action requires): the shim writes `address`, its log `log` and its runtime's files;
ocimux's I/O monitor (monitor.py) keeps the stdio FIFOs, `attach`, `ctl` and the k8s-file
log `ctr.log` there, and the exit status in `<run_dir>/persist/<id>/exit` (an exec
session's in `persist/<id>/exec/<session>/exit`: a full state disk cannot refuse them);
`shim.pid` is the shim daemon (the container's monitor in podman's sense: a dead one makes
the state "unknown"). Every operation is one ttrpc call to the
shim's task service at `address`, so a later `ocimux` process reconnects by reading it.

Exec sessions get an I/O monitor of their own in their directory (`exec` starts it and
`Exec`s the process; `start` `Start`s it); the monitor removes the session from the shim
once it has recorded the exit status.

`[engine] cgroup_manager = "systemd"`: the spec gets the systemd `linux.cgroupsPath`
(`machine.slice:ocimux:<id>`) and the runc shim its create option `systemd_cgroup` (field 9
of containerd.runc.v1.Options: it then runs runc with `--systemd-cgroup`); other shims pick
their cgroup manager from the path's form (Kata: `<x>.slice:prefix:name` means systemd).
Where systemd is not running, create fails before any shim starts.
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

from ocimux import Capabilities, Capability
from ocimux.base import process
from ocimux.base.errors import OcimuxError, RuntimeCommandError
from ocimux.base.files import private_dir
from ocimux.base.monitorfiles import (
    named_process_alive,
    process_alive,
    read_exit_file,
    read_pidfile,
)
from ocimux.base.sockets import remove_if_stale
from ocimux.interface.options import CreateResult, RuntimeInfo, RuntimeState
from ocimux.interface.runtime import Runtime
from ocimux.oci.cgroupmanager import SYSTEMD, require_systemd, use_systemd_cgroups_path
from ocimux.oci.cli import classify

from . import messages as m
from . import monitor as mon
from .events import ensure_sink
from .launch import SHIM_BINARY, ShimCommand
from .task import TaskClient
from .ttrpc import TtrpcConnectionError, TtrpcError, socket_path

if TYPE_CHECKING:
    from ocimux.interface.options import CreateRequest, ExecOptions, ProcessIO, Resources

__all__ = ["ShimV2Runtime"]

DEFAULT_NAMESPACE = "ocimux"
SHIM_PIDFILE = "shim.pid"
#: grpc status NotFound: the shim does not know the container or exec session
NOT_FOUND = 5
#: how long a stopped container's I/O monitor may take to log its last output (at most)
DRAIN_GRACE = 10.0
#: an exec's drain: an orphan the exec'd shell left in the container may hold its output
#: open for as long as it lives, and the process is stopped all the same (conmon too writes an
#: exec's exit without waiting for the pipes' EOF)
EXEC_DRAIN_GRACE = 0.5
#: an exec session's terminal size, for `start` to apply after `Start`
_SIZE_FILE = "size"


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
        options: dict[str, Any] = {"root": str(self.context.state_dir / "runc")}
        if self.context.options.get("runc_binary"):
            options["binary_name"] = str(self.context.options["runc_binary"])
        if self.context.cgroup_manager == SYSTEMD:
            options["systemd_cgroup"] = True
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

    def create(self, request: CreateRequest) -> CreateResult:
        """Start a shim for the container and its I/O monitor, then `Create` the task."""
        cid, bundle, io = request.cid, request.bundle, request.io
        if self.context.cgroup_manager == SYSTEMD:  # before any shim starts
            require_systemd(cid, self.name)
            use_systemd_cgroups_path(bundle, cid)
        shim = self.shim()
        fd = os.open(bundle / "log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.close(fd)  # the shim's own log: a regular file it appends to
        ensure_sink(Path(shim.events), self.context.command_timeout)
        address = shim.start(cid, bundle)
        try:
            private_dir(io.exit_file.parent)
            self._start_monitor(
                io.directory, address, cid, terminal=io.terminal, stdin=io.stdin,
                log=io.log, exit_command=io.exit_command, log_size_max=io.log_size_max,
                exit_file=io.exit_file,
            )  # fmt: skip
            with self._rpc(cid, "create", address) as task:
                answer = task.create(
                    id=cid, bundle=str(bundle), terminal=io.terminal,
                    options=self.create_options(), **self._io_paths(io.directory, io.terminal, io.stdin),
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

    def start(self, cid: str, exec_id: str | None = None) -> None:
        if exec_id:
            self._start_exec(cid, exec_id)
            return
        with self._rpc(cid, "start") as task:
            task.start(cid)

    def kill(
        self, cid: str, signal: int, *, all_procs: bool = False, exec_id: str | None = None
    ) -> None:
        with self._rpc(cid, "exec kill" if exec_id else "kill") as task:
            task.kill(cid, signal, all_procs=all_procs, exec_id=exec_id or "")

    def delete(self, cid: str, exec_id: str | None = None) -> None:
        """`Delete` the task and `Shutdown` the shim; a shim that is gone is cleaned up by its binary."""
        if exec_id:
            self._delete_exec(cid, exec_id)
            return
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
        shutil.rmtree(self.layout.persist_dir(cid), ignore_errors=True)

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

    def state(self, cid: str, exec_id: str | None = None) -> RuntimeState:
        if exec_id:
            return self._exec_state(cid, exec_id)
        code = read_exit_file(self.layout.exit_file(cid))
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
            code = self._await_drained(self.layout.exit_file(cid), self.container_dir(cid))
            return RuntimeState("stopped", 0, answer["exit_status"] if code is None else code)
        return RuntimeState(status, answer["pid"])  # type: ignore[arg-type]

    def _await_drained(
        self, exit_file: Path, directory: Path, grace: float = DRAIN_GRACE
    ) -> int | None:
        """Wait until the I/O monitor has logged the last output and written `exit`; its code.

        The shim reports the task stopped as soon as the process is reaped, while the monitor
        may still be copying the last bytes from the FIFOs into the log: "stopped" (and so
        `wait`) must come after the drain, as conmon's exit file does. Bounded: a monitor that
        died or hangs ends the wait (None without an exit file).
        """
        pidfile = directory / mon.PIDFILE
        deadline = time.monotonic() + min(self.context.command_timeout, grace)
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

    def pause(self, cid: str) -> None:
        with self._rpc(cid, "pause") as task:
            task.pause(cid)

    def resume(self, cid: str) -> None:
        with self._rpc(cid, "unpause") as task:
            task.resume(cid)

    def update(self, cid: str, resources: Resources) -> None:
        with self._rpc(cid, "update") as task:
            task.update(cid, resources.as_linux_resources())

    def resize(self, cid: str, height: int, width: int, exec_id: str | None = None) -> None:
        with self._rpc(cid, "exec resize" if exec_id else "resize") as task:
            task.resize_pty(cid, width, height, exec_id or "")

    def close_stdin(self, cid: str, exec_id: str | None = None) -> None:
        with self._rpc(cid, "close stdin") as task:
            task.close_io(cid, exec_id or "", stdin=True)

    # --- exec -------------------------------------------------------------------------------

    def exec(self, cid: str, exec_id: str, process: ExecOptions, io: ProcessIO) -> None:
        """Start the session's I/O monitor and `Exec` the process; `start` `Start`s it."""
        # lazy: the spec modules (~12 ms) only for exec
        from ocimux.oci.spec import exec_process

        directory = private_dir(io.directory)
        spec = exec_process(self.container_dir(cid), process)
        address = self.shim_address(cid) or ""
        private_dir(io.exit_file.parent)
        io.exit_file.unlink(missing_ok=True)  # a previous run of the same session id's
        if io.terminal and io.size:
            # the runc shim ignores resizes of an exec until Start has given it a console
            (directory / _SIZE_FILE).write_text(f"{io.size[0]} {io.size[1]}")
        self._start_monitor(
            directory, address, cid, exec_id=exec_id, terminal=io.terminal,
            stdin=io.stdin, log=io.log, exit_file=io.exit_file,
        )  # fmt: skip
        try:
            with self._rpc(cid, "exec") as task:
                task.exec(cid, exec_id, spec, terminal=io.terminal,
                          **self._io_paths(directory, io.terminal, io.stdin))  # fmt: skip
        except BaseException:
            self._stop_monitor(directory)
            raise

    def _start_exec(self, cid: str, exec_id: str) -> None:
        directory = self.layout.exec_dir(cid, exec_id)
        with self._rpc(cid, "exec") as task:
            pid = task.start(cid, exec_id)["pid"]
        (directory / "exec_pid").write_text(str(pid))
        try:
            height, width = map(int, (directory / _SIZE_FILE).read_text().split())
        except (OSError, ValueError):
            return
        # a process that has already exited cannot be resized, and that is no error
        with contextlib.suppress(RuntimeCommandError):
            self.resize(cid, height, width, exec_id)

    def _exec_state(self, cid: str, exec_id: str) -> RuntimeState:
        """The monitor's exit file, else the shim's word (after the monitor's drain)."""
        directory = self.layout.exec_dir(cid, exec_id)
        exit_file = self.layout.exit_file(cid, exec_id)
        pid = read_pidfile(directory / "exec_pid") or 0
        code = read_exit_file(exit_file)
        if code is not None:
            return RuntimeState("stopped", pid, code)
        try:
            with self._task(cid, "exec") as task:
                answer = task.state(cid, exec_id=exec_id)
        except (TtrpcError, OSError, OcimuxError):
            code = read_exit_file(exit_file)  # the monitor removes the session once it wrote it
            if code is not None:
                return RuntimeState("stopped", pid, code)
            if process_alive(read_pidfile(directory / mon.PIDFILE)):
                return RuntimeState("running", pid)
            return RuntimeState("unknown", pid, reason="the shim does not know the session")
        status = m.STATUS_NAMES.get(answer["status"], "unknown")
        if status == "stopped":
            # the monitor lives on while an orphan still holds the output: the process is
            # stopped all the same (bounded wait for the drain, then the shim's exit status)
            code = self._await_drained(exit_file, directory, EXEC_DRAIN_GRACE)
            return RuntimeState("stopped", pid, answer["exit_status"] if code is None else code)
        return RuntimeState(status, answer["pid"] or pid)  # type: ignore[arg-type]

    def _delete_exec(self, cid: str, exec_id: str) -> None:
        """End the session's monitor and drop it from the shim (a running process is killed)."""
        directory = self.layout.exec_dir(cid, exec_id)
        with contextlib.suppress(TtrpcError, OSError, OcimuxError):
            with self._task(cid, "exec") as task:
                with contextlib.suppress(TtrpcError):
                    task.kill(cid, _signal.SIGKILL, exec_id=exec_id)
                with contextlib.suppress(TtrpcError):
                    task.delete(cid, exec_id)
        self._stop_monitor(directory)
        shutil.rmtree(self.layout.persist_dir(cid, exec_id), ignore_errors=True)

    # --- monitor and info -------------------------------------------------------------------

    def info(self) -> RuntimeInfo:
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
