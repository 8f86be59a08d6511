"""The mock runtime: containers as plain host processes, on `ocimux.oci.processruntime`.

It isolates nothing (no namespaces, no cgroups, no change of user), so it runs anywhere and
as any user; and it is the fault injector for the Dispatcher's error paths (`faults.py`).
`[engine] cgroup_manager` does not concern it: it makes no cgroup for either manager to make,
so "systemd" is neither applied nor refused here (nor is `conmon_env_vars`: no conmon).
Everything else (the monitor, conmon's protocols, terminals, the start gate, exec sessions,
state from files and /proc) is `ProcessRuntime`'s: this module says how to spawn the process
and where to inject faults.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from ocimux.base.command import resolve_command
from ocimux.base.errors import CapabilityError
from ocimux.interface.capabilities import Capabilities, Capability
from ocimux.oci.processruntime import Command, ProcessRuntime

from .faults import Faults

if TYPE_CHECKING:
    from ocimux.interface.options import (
        CreateRequest,
        CreateResult,
        ExecOptions,
        ProcessIO,
        Resources,
        RuntimeState,
    )
    from ocimux.interface.specview import SpecView

__all__ = ["MockRuntime"]


def _cwd(spec: SpecView) -> str:
    """`<rootfs>/<cwd>` if that directory exists, else the rootfs: where the process starts."""
    candidate = spec.root_path / spec.cwd.lstrip("/")
    return str(candidate if candidate.is_dir() else spec.root_path)


def _annotations(path: Path) -> dict[str, str]:
    """The spec's annotations; {} when unreadable: a container whose config has gone must
    still be deletable."""
    try:
        found = json.loads(path.read_bytes()).get("annotations")
    except (OSError, ValueError, AttributeError):
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


class MockRuntime(ProcessRuntime):
    """Runs each container's `process.args` as a host process, started in its rootfs.

    Needs no binary and no privileges; the process gets exactly the spec's env, cwd
    `<rootfs>/<cwd>` (or the rootfs), the monitor's umask; `process.user`, capabilities,
    mounts and limits in the spec are ignored (the capabilities below say so). A command
    that cannot run exits 127 / 126 at start, as a shell's would; an exec's is refused
    before anything runs. Plugin options (`[ocimux.plugins.NAME]`): `fail_on`, `hang_on`,
    `fail_message`, `fail_status` inject faults into every container (`faults.py`).
    """

    api_version = 1
    binary = None
    monitor_name = "ocimux process monitor (mock)"
    capabilities = Capabilities(
        pause=Capability(True, "declared", "SIGSTOP/SIGCONT of the container's process groups"),
        exec=Capability(True, "declared", "runs the command as a host process in the rootfs"),
        no_cgroups=Capability(True, "declared", "the mock never uses cgroups"),
        resource_limits=Capability(False, "declared", "the mock has no cgroups to limit"),
        devices=Capability(False, "declared", "the mock has no device cgroup or mount namespace"),
        privileged=Capability(
            False, "declared", "the mock confines nothing, so it cannot grant privileges"
        ),
        seccomp=Capability(False, "declared", "the mock loads no seccomp filter"),
        host_network=Capability(False, "declared", "the mock has no network namespace to leave"),
        umask=Capability(False, "declared", "the mock's processes keep its monitor's umask"),
        domainname=Capability(False, "declared", "the mock has no UTS namespace"),
        checkpoint=Capability(False, "declared", "the mock cannot save process state"),
        kvm=Capability(False, "declared", "the mock starts no virtual machine"),
        json_errors=Capability(False, "declared", "no runtime binary writes an error log"),
        update_resources=Capability(
            False, "declared", "the mock enforces no limits: it has no cgroups"
        ),
        terminal=Capability(
            True, "declared", "pseudo-terminals from its monitor, resized through the ctl FIFO"
        ),
        isolation=Capability(False, "declared", "processes run on the host without namespaces"),
    )

    # --- process spawning -------------------------------------------------------------------

    def command(self, spec: SpecView) -> Command:
        return Command(argv=spec.args, env=spec.env, cwd=_cwd(spec))

    def exec_command(self, spec: SpecView, pid: int) -> Command:
        return self.command(spec)  # another host process: there is nothing to enter

    def check_command(self, spec: SpecView, root: Path, exec_id: str | None = None) -> None:
        if exec_id is not None:  # resolved on the host, through the session's PATH
            resolve_command("/", spec.args, spec.env, _cwd(spec))

    # --- fault injection --------------------------------------------------------------------

    def _inject(self, cid: str, op: str, spec: Path | None = None) -> None:
        """Apply the faults configured for `op` (the annotations are read afresh each time)."""
        path = spec or self.container_dir(cid) / "config.json"
        faults = Faults.load(_annotations(path), self.context.options)
        if op == "create":
            faults.validate()
        faults.inject(op, runtime=self.name, container=cid, timeout=self.context.command_timeout)

    def create(self, request: CreateRequest) -> CreateResult:
        self._inject(request.cid, "create", request.bundle / "config.json")
        return super().create(request)

    def start(self, cid: str, exec_id: str | None = None) -> None:
        if not exec_id:
            self._inject(cid, "start")
        super().start(cid, exec_id)

    def kill(
        self, cid: str, signal: int, *, all_procs: bool = False, exec_id: str | None = None
    ) -> None:
        if not exec_id:
            self._inject(cid, "kill")
            if signal in (15, 9):  # SIGTERM, SIGKILL: the engine's stop escalation sends these
                self._inject(cid, "stop")
        super().kill(cid, signal, all_procs=all_procs, exec_id=exec_id)

    def pause(self, cid: str) -> None:
        self._inject(cid, "pause")
        super().pause(cid)

    def resume(self, cid: str) -> None:
        self._inject(cid, "unpause")
        super().resume(cid)

    def delete(self, cid: str, exec_id: str | None = None) -> None:
        if not exec_id:
            self._inject(cid, "delete")
        super().delete(cid, exec_id)

    def state(self, cid: str, exec_id: str | None = None) -> RuntimeState:
        if not exec_id:
            self._inject(cid, "state")
        return super().state(cid, exec_id)

    def exec(self, cid: str, exec_id: str, process: ExecOptions, io: ProcessIO) -> None:
        self._inject(cid, "exec")
        super().exec(cid, exec_id, process, io)

    def update(self, cid: str, resources: Resources) -> None:
        """Refuse: the mock has no cgroups (capability `update_resources` is false)."""
        self._inject(cid, "update")
        cap = self.capabilities.update_resources
        raise CapabilityError(
            "update_resources", cap.reason, source=cap.source, container=cid,
            runtime=self.name, verb="update",
        )  # fmt: skip
