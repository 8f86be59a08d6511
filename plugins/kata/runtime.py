"""Kata's differences from the generic shim v2 backend: binary, paths, capabilities, info.

Facts (kata-containers 4.1.0, podman-oci.md §7): `containerd-shim-kata-v2` speaks shim v2
like the runc shim and starts one VM per sandbox; `kata-runtime` (kept for `check`, `env`,
`--version`) has no lifecycle verbs, so the paths containers.conf lists for `kata`
(/usr/bin/kata-runtime, kata-qemu, kata-fc) are not ones this plugin can drive and are
skipped. kata-deploy installs under /opt/kata/bin. The shim reads its configuration from
`KATA_CONF_FILE` when set (option `config_path`), else /etc/kata-containers/configuration.toml.

`[engine] cgroup_manager = "systemd"` goes through the shim v2 backend's create: the spec gets
`linux.cgroupsPath = "machine.slice:ocimux:<id>"`, and Kata's shim picks its systemd cgroup
manager by that form (IsSystemdCgroup: `<x>.slice:prefix:name`); it gets no runc option.
Where systemd is not running, create fails before the shim starts.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from typing import ClassVar

from ocimux import Capabilities, Capability
from ocimux.base import process
from ocimux.base.errors import OcimuxError
from ocimux.interface.options import RuntimeInfo
from ocimux.plugins.shimv2 import ShimV2Runtime
from ocimux.plugins.shimv2.launch import ShimCommand

__all__ = ["KataRuntime"]

SHIM = "containerd-shim-kata-v2"
DEFAULT_PATHS = tuple(f"{d}/{SHIM}" for d in ("/usr/bin", "/usr/local/bin", "/opt/kata/bin"))


class KataRuntime(ShimV2Runtime):
    """Kata Containers: each container in a lightweight VM, driven over shim v2.

    Options (`[ocimux.plugins.kata]`): `config_path` (Kata's configuration.toml, passed as
    KATA_CONF_FILE), `kata_runtime` (the `kata-runtime` tool for info and `check`, default
    from $PATH or /opt/kata/bin), `check` (run `kata-runtime check` in `ocimux runtimes`,
    default false: it takes seconds), and the shim v2 backend's `namespace` and `debug`.
    """

    binary: ClassVar[str | None] = SHIM
    default_paths: ClassVar[tuple[str, ...]] = DEFAULT_PATHS
    capabilities = Capabilities(
        kvm=Capability(True, "declared", "Kata runs every sandbox in a virtual machine (KVM)"),
        isolation=Capability(True, "declared", "a VM with its own guest kernel per sandbox"),
        resource_limits=Capability(
            True, "declared", "the sandbox's host cgroup and the guest's get the limits"
        ),
        devices=Capability(
            False,
            "declared",
            "host devices need VFIO passthrough, which ocimux does not set up for Kata",
        ),
        privileged=Capability(
            False,
            "declared",
            "Kata gives privileged containers no host devices by default (privileged_without_host_devices)",
        ),
        seccomp=Capability(
            False,
            "declared",
            "Kata's default configuration turns guest seccomp off (disable_guest_seccomp = true)",
        ),
        host_network=Capability(
            False, "declared", "a VM cannot share the host's network namespace"
        ),
        umask=Capability(
            False, "declared", "not verified that the kata agent applies process.user.umask"
        ),
        domainname=Capability(
            False, "declared", "not verified that the kata agent sets the domain name"
        ),
        pause=Capability(
            True, "declared", "shim v2 Pause/Resume (the agent freezes the guest's cgroup)"
        ),
        update_resources=Capability(
            True, "declared", "shim v2 Update (the VM is resized to the limits)"
        ),
        exec=Capability(True, "declared", "shim v2 Exec through the kata agent"),
        terminal=Capability(True, "declared", "shim v2 terminal=true and ResizePty"),
        json_errors=Capability(
            False, "declared", "shim v2 reports errors as ttrpc status messages"
        ),
        no_cgroups=Capability(False, "declared", "the sandbox always gets a host cgroup"),
        checkpoint=Capability(
            False, "declared", "containerd-shim-kata-v2 answers Checkpoint with Unimplemented"
        ),
    )

    @classmethod
    def accepts_binary(cls, path: str) -> bool:
        """containers.conf's `kata` paths name kata-runtime (no lifecycle verbs since 2.0): skip them."""
        return os.path.basename(path).startswith("containerd-shim-")

    def create_options(self) -> None:
        return None

    def shim(self) -> ShimCommand:
        command = super().shim()
        config = self.context.options.get("config_path")
        if config:
            return dataclasses.replace(command, env={"KATA_CONF_FILE": str(config)})
        return command

    def kata_runtime(self) -> str | None:
        configured = self.context.options.get("kata_runtime")
        if configured:
            return str(configured)
        found = shutil.which("kata-runtime") or shutil.which("kata-runtime", path="/opt/kata/bin")
        return os.path.abspath(found) if found else None

    def info(self) -> RuntimeInfo:
        """The shim's version, plus `kata-runtime --version` (and `check` if asked) when present."""
        info = super().info()
        extra = dict(info.extra)
        tool = self.kata_runtime()
        version = info.version
        if tool:
            text = _run_text([tool, "--version"], self.context.command_timeout)
            extra["kata_runtime_version"] = text
            # `kata-runtime  : 3.2.0` / `   commit   : ...` / `   OCI specs: 1.0.2` (main.go)
            first = text.splitlines()[0] if text else ""
            if ":" in first and first.split(":", 1)[1].strip():
                version = first.split(":", 1)[1].strip()
            if self.context.options.get("check"):
                extra["kata_check"] = _run_text(
                    [tool, "check", "--no-network-checks"], self.context.command_timeout
                )
        return RuntimeInfo(
            name=info.name, path=info.path, version=version, monitor=info.monitor, extra=extra
        )


def _run_text(argv: list[str], timeout: float) -> str:
    try:
        done = process.run(argv, timeout=timeout)
    except (OSError, OcimuxError) as exc:
        return f"{argv[0]} failed: {exc}"
    return (done.stdout + done.stderr).decode(errors="replace").strip()
