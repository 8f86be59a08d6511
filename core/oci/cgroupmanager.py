"""`[engine] cgroup_manager`: what "systemd" asks of an OCI runtime, and whether this host has it.

podman (libpod v5.8, containers.conf(5)) with `cgroup_manager = "systemd"`:
- conmon gets `-s` (`--systemd-cgroup`); conmon then puts `--systemd-cgroup` first among the
  runtime's flags for `create` and `restore`, not for `exec` (conmon's configure_runtime_args);
- the spec's `linux.cgroupsPath` is `<slice>:libpod:<id>`, the slice being the base name of
  the cgroup parent, `machine.slice` for root and `user.slice` rootless (getOCICgroupPath);
  runc and crun put the container in the transient unit `<prefix>-<id>.scope` of that slice;
- a container without cgroups (capability no_cgroups) gets none of this.
ocimux writes `machine.slice:ocimux:<id>` (`user.slice:ocimux:<id>` rootless) and, like
containerd's go-runc, also passes `--systemd-cgroup` to the runtime commands it runs itself.

runc and crun ask systemd over D-Bus to make the unit, so they need a running systemd. runc's
test, sd_booted(3)'s, is that `/run/systemd/system` is a directory; `systemd_running` checks
the same before anything runs, so "systemd" on a host without it fails with one line saying
what to set instead, not with the runtime's own "systemd not running on this host" (runc
1.1) or "cannot open sd-bus" (crun 1.8) once conmon has started.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Final

from ocimux.base.errors import ConfigError, InvalidArgumentError

from .bundle import CONFIG_NAME, write_json

__all__ = [
    "CGROUPFS",
    "SYSTEMD",
    "is_systemd_path",
    "require_systemd",
    "systemd_cgroups_path",
    "systemd_running",
    "use_systemd_cgroups_path",
]

SYSTEMD: Final = "systemd"
CGROUPFS: Final = "cgroupfs"
#: the directory that exists while systemd is PID 1 (sd_booted(3)), relative to the root
SYSTEMD_MARKER: Final = "run/systemd/system"
#: the root `systemd_running` looks under by default (a test points it at a fake root)
HOST_ROOT = Path("/")
#: the `prefix` of `slice:prefix:name` (podman's is "libpod")
SCOPE_PREFIX: Final = "ocimux"


def systemd_running(root: Path | None = None) -> bool:
    """Whether systemd runs this host: `<root>/run/systemd/system` is a directory."""
    return ((root or HOST_ROOT) / SYSTEMD_MARKER).is_dir()


def require_systemd(
    cid: str, runtime: str, *, verb: str = "create", root: Path | None = None
) -> None:
    """Raise ConfigError (one line: container, runtime, what was checked, what to set) unless
    `systemd_running(root)`."""
    if systemd_running(root):
        return
    marker = (root or HOST_ROOT) / SYSTEMD_MARKER
    error = ConfigError(
        f'[engine] cgroup_manager is "systemd", but systemd is not running on this host '
        f"({marker} is not a directory)",
        hint='set cgroup_manager = "cgroupfs" in [engine]',
    )
    raise error.add_context(container=cid, runtime=runtime, verb=verb)


def systemd_cgroups_path(cid: str, *, rootless: bool | None = None) -> str:
    """`machine.slice:ocimux:<cid>` (root) or `user.slice:ocimux:<cid>` (rootless)."""
    if rootless is None:
        rootless = os.geteuid() != 0
    return f"{'user' if rootless else 'machine'}.slice:{SCOPE_PREFIX}:{cid}"


def is_systemd_path(path: object) -> bool:
    """Whether `path` has the systemd form `<name>.slice:prefix:name` (Kata's test, which
    picks its cgroup manager by it)."""
    if not isinstance(path, str):
        return False
    parts = path.split(":")
    return len(parts) == 3 and parts[0].endswith(".slice") and all(parts)


def use_systemd_cgroups_path(bundle: Path, cid: str) -> str:
    """Give the bundle's spec the systemd `linux.cgroupsPath` and return it.

    A systemd-form path already there (a user's `--bundle`, a restore) is kept; a cgroupfs
    path is refused with InvalidArgumentError: "systemd" cannot place a container by it.
    """
    config = bundle / CONFIG_NAME
    try:
        spec = json.loads(config.read_bytes())
    except (OSError, ValueError) as exc:
        raise InvalidArgumentError(f"cannot read {config}: {exc}", container=cid) from exc
    linux = spec.setdefault("linux", {})
    given = linux.get("cgroupsPath")
    if is_systemd_path(given):
        return str(given)
    if given:
        raise InvalidArgumentError(
            f"the bundle's linux.cgroupsPath {given!r} is a cgroupfs path, but [engine] "
            f'cgroup_manager is "systemd"',
            container=cid,
            hint='give it as "<name>.slice:<prefix>:<name>", or drop it',
        )
    linux["cgroupsPath"] = systemd_cgroups_path(cid)
    write_json(config, spec)
    return str(linux["cgroupsPath"])
