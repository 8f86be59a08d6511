"""crun's differences from runc (crun#508 lists the CLI incompatibilities)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from ocimux import Capabilities, Capability
from ocimux.oci.probes import probe_checkpoint
from ocimux.oci.runtime import OciCliRuntime

from .probe import probe_build_features

if TYPE_CHECKING:
    from ocimux import CreateRequest

__all__ = ["CrunRuntime"]

#: podman's candidate paths for crun (containers/common pkg/config/default.go)
DEFAULT_PATHS = (
    "/usr/bin/crun", "/usr/sbin/crun", "/usr/local/bin/crun", "/usr/local/sbin/crun", "/sbin/crun",
    "/bin/crun", "/run/current-system/sw/bin/crun",
)  # fmt: skip


class CrunRuntime(OciCliRuntime):
    """crun under conmon.

    - `--root` must be absolute: crun chdirs into the bundle first (host.md §2); ocimux's is.
    - `update --memory 100M` fails ("cannot parse the data"): crun takes bytes only. ocimux
      always passes `--resources FILE` with byte values, which both accept.
    - Without cgroups: `--cgroup-manager=disabled` before the verb (podman passes the same).
    - `features` exists only from crun 1.8.6 (go-runc's note); `checkpoint` only with +CRIU.
    """

    binary: ClassVar[str | None] = "crun"
    default_paths: ClassVar[tuple[str, ...]] = DEFAULT_PATHS
    capabilities = Capabilities(
        json_errors=Capability(
            True, "declared", "crun writes JSON records with --log FILE --log-format=json"
        ),
        no_cgroups=Capability(True, "declared", "crun --cgroup-manager=disabled"),
        pause=Capability(True, "declared", "crun pause/resume through the cgroup freezer"),
        update_resources=Capability(True, "declared", "crun update --resources (bytes only)"),
        exec=Capability(True, "declared", "crun exec"),
        isolation=Capability(True, "declared", "Linux namespaces and cgroups"),
        resource_limits=Capability(
            True, "declared", "crun applies linux.resources to the container's cgroup"
        ),
        devices=Capability(
            True, "declared", "crun creates linux.devices nodes and device cgroup rules"
        ),
        privileged=Capability(
            True, "declared", "crun runs with every capability and host device asked for"
        ),
        seccomp=Capability(True, "declared", "crun loads linux.seccomp with libseccomp"),
        host_network=Capability(
            True,
            "declared",
            "crun joins the host's network when the spec asks for no network namespace",
        ),
        umask=Capability(True, "declared", "crun sets process.user.umask (runtime-spec 1.0.2)"),
        domainname=Capability(True, "declared", "`domainname` and the kernel.domainname sysctl"),
        kvm=Capability(
            False, "declared", "crun starts no virtual machine (krun is another runtime)"
        ),
        terminal=Capability(True, "declared", "conmon -t: a console socket, resized through ctl"),
        checkpoint=Capability(False, "declared", "not probed yet: needs +CRIU and `criu check`"),
    )
    probes = (probe_checkpoint, probe_build_features)

    def create_global_args(self, request: CreateRequest) -> list[str]:
        args = super().create_global_args(request)
        if request.no_cgroups:
            args.append("--cgroup-manager=disabled")
        return args
