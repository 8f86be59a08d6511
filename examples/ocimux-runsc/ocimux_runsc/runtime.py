"""runsc's differences from runc (gVisor runsc 20221219, Debian 12 package `runsc`).

Plugin options, from `[ocimux.plugins.runsc]` in containers.conf:

- `network` (default `"none"`): runsc's `--network` global flag. runsc's default, `sandbox`,
  needs a network namespace of its own; with the host's it fails at `start` ("cannot run with
  network enabled in root network namespace"), so ocimux passes `--network=none` unless told.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from ocimux import Capabilities, Capability
from ocimux.oci.cli import OciCli
from ocimux.oci.runtime import OciCliRuntime

from .probe import probe_checkpoint

__all__ = ["RunscRuntime"]

#: where the gVisor release and the Debian package install runsc
DEFAULT_PATHS = ("/usr/bin/runsc", "/usr/sbin/runsc", "/usr/local/bin/runsc")

#: runsc's `--network` when `[ocimux.plugins.runsc] network` is not set
DEFAULT_NETWORK = "none"


class RunscRuntime(OciCliRuntime):
    """gVisor's runsc under conmon.

    - Every call, including conmon's `create` and `exec`, gets `--network=<option>` (see the
      module docstring); it is a global flag, so it is part of `cli()`.
    - JSON errors go only to the `--log` file; stderr stays plain text. ocimux reads the last
      record of that file, so error messages are runsc's own.
    - `exec` detached is `--detach --pid-file` (`-d` is unknown); conmon already passes that.
    - No `update` verb (usage, exit 128): `update_resources` is declared false, so ocimux
      refuses before running anything.
    - `delete` waits for the gofer; conmon (a subreaper) reaps it, so delete is not the
      ~1.75 s it is when PID 1 has to.
    - `kill SIGTERM` kills a `sleep` running as the sandbox's init (runc/crun ignore it).
    """

    binary: ClassVar[str | None] = "runsc"
    default_paths: ClassVar[tuple[str, ...]] = DEFAULT_PATHS
    capabilities = Capabilities(
        isolation=Capability(True, "declared", "gVisor user-space kernel"),
        resource_limits=Capability(
            True, "declared", "runsc puts the sandbox in a cgroup with linux.resources"
        ),
        devices=Capability(
            False, "declared", "gVisor passes no host device nodes (only GPUs through nvproxy)"
        ),
        privileged=Capability(
            False, "declared", "gVisor cannot give a container host devices or host privileges"
        ),
        seccomp=Capability(
            False, "declared", "runsc ignores linux.seccomp unless started with --oci-seccomp"
        ),
        host_network=Capability(False, "declared", "this plugin runs runsc with --network=none"),
        umask=Capability(
            False, "declared", "runsc 20221219 ignores process.user.umask (measured: 0022 stays)"
        ),
        domainname=Capability(
            False,
            "declared",
            "not verified: gVisor 20221219 has no /proc/sys/kernel/domainname to check it",
        ),
        json_errors=Capability(
            True, "declared", "runsc writes JSON records to the --log file (stderr stays plain)"
        ),
        pause=Capability(True, "declared", "runsc pause/resume"),
        exec=Capability(True, "declared", "runsc exec"),
        terminal=Capability(True, "declared", "conmon -t: a console socket, resized through ctl"),
        update_resources=Capability(False, "declared", "runsc has no update command"),
        no_cgroups=Capability(False, "declared", "not supported by this plugin"),
        kvm=Capability(False, "declared", "runsc --platform=kvm hangs on this host"),
        checkpoint=Capability(False, "declared", "not probed yet: needs `runsc help checkpoint`"),
    )
    probes = (probe_checkpoint,)

    def network(self) -> str:
        """runsc's `--network` mode: `[ocimux.plugins.runsc] network`, else "none"."""
        return str(self.context.options.get("network") or DEFAULT_NETWORK)

    def cli(self) -> OciCli:
        """The base driver plus `--network=...` before every verb (and in conmon's args)."""
        base = super().cli()
        return dataclasses.replace(
            base, extra_global=(*base.extra_global, f"--network={self.network()}")
        )
