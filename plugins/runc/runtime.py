"""runc's differences from the OCI CLI contract (there are few: runc set most of it)."""

from __future__ import annotations

from typing import ClassVar

from ocimux import Capabilities, Capability
from ocimux.oci.probes import probe_checkpoint
from ocimux.oci.runtime import OciCliRuntime

from .probe import probe_features

__all__ = ["RuncRuntime"]

#: podman's candidate paths for runc (containers/common pkg/config/default.go)
DEFAULT_PATHS = (
    "/usr/bin/runc", "/usr/sbin/runc", "/usr/local/bin/runc", "/usr/local/sbin/runc", "/sbin/runc",
    "/bin/runc", "/usr/lib/cri-o-runc/sbin/runc", "/run/current-system/sw/bin/runc",
)  # fmt: skip


class RuncRuntime(OciCliRuntime):
    """runc 1.x under conmon.

    `kill --all` is obsolete from runc 1.2 (runc PR #3825: hidden, only suppresses the "not
    running" error; runc kills the whole cgroup for SIGKILL itself when it must); 1.1 needs it.
    It is still passed: both versions accept it.
    """

    binary: ClassVar[str | None] = "runc"
    default_paths: ClassVar[tuple[str, ...]] = DEFAULT_PATHS
    capabilities = Capabilities(
        json_errors=Capability(
            True, "declared", "runc writes JSON records with --log FILE --log-format=json"
        ),
        pause=Capability(True, "declared", "runc pause/resume through the cgroup freezer"),
        update_resources=Capability(True, "declared", "runc update --resources"),
        exec=Capability(True, "declared", "runc exec"),
        isolation=Capability(True, "declared", "Linux namespaces and cgroups"),
        resource_limits=Capability(
            True, "declared", "runc applies linux.resources to the container's cgroup"
        ),
        devices=Capability(
            True, "declared", "runc creates linux.devices nodes and device cgroup rules"
        ),
        privileged=Capability(
            True, "declared", "runc runs with every capability and host device asked for"
        ),
        seccomp=Capability(True, "declared", "runc loads linux.seccomp with libseccomp"),
        host_network=Capability(
            True,
            "declared",
            "runc joins the host's network when the spec asks for no network namespace",
        ),
        umask=Capability(True, "declared", "runc sets process.user.umask (runtime-spec 1.0.2)"),
        domainname=Capability(
            True,
            "declared",
            "the kernel.domainname sysctl in the UTS namespace (runc < 1.2 ignores `domainname`)",
        ),
        no_cgroups=Capability(
            False, "declared", "runc has no cgroup manager that disables cgroups"
        ),
        kvm=Capability(False, "declared", "runc starts no virtual machine"),
        terminal=Capability(True, "declared", "conmon -t: a console socket, resized through ctl"),
        checkpoint=Capability(
            False, "declared", "not probed yet: needs `checkpoint --help` and `criu check`"
        ),
    )
    probes = (probe_features, probe_checkpoint)
