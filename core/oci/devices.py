"""Host device nodes as runtime-spec `linux.devices` entries and device cgroup rules."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from typing import Any, Final

from ocimux.base.errors import InvalidArgumentError

from .containerconfig import Device

__all__ = ["device_entries", "host_devices"]

#: /dev subdirectories whose nodes belong to the container's own mounts, not the host's
_SKIP: Final = frozenset({"pts", "shm", "mqueue", "fd", "console"})


def device_entries(devices: Sequence[Device]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return (`linux.devices` entries, `linux.resources.devices` allow rules) for `devices`.

    Each host node is stat'ed now: its type, major and minor numbers, mode, owner and group are
    copied, as podman does. Raises InvalidArgumentError if a node is gone or is not a device.
    """
    entries: list[dict[str, Any]] = []
    rules: list[dict[str, Any]] = []
    for dev in devices:
        try:
            st = os.stat(dev.host_path)
        except OSError as exc:
            raise InvalidArgumentError(
                f"invalid --device {dev.host_path}: {exc.strerror}"
            ) from None
        if stat.S_ISCHR(st.st_mode):
            kind = "c"
        elif stat.S_ISBLK(st.st_mode):
            kind = "b"
        else:
            raise InvalidArgumentError(f"invalid --device {dev.host_path}: not a device node")
        major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
        entries.append({
            "path": dev.container_path, "type": kind, "major": major, "minor": minor,
            "fileMode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
        })  # fmt: skip
        rules.append(
            {"allow": True, "type": kind, "major": major, "minor": minor, "access": dev.permissions}
        )
    return entries, rules


def host_devices() -> list[Device]:
    """Every character and block device under the host's /dev, recursively, as podman walks it.

    /dev/pts, /dev/shm, /dev/mqueue and the like belong to the container's own mounts, and the
    console, ptmx and tty nodes to the runtime, which creates them; symlinks are not followed.
    """
    found: list[Device] = []
    for root, dirs, files in os.walk("/dev"):
        if root == "/dev":
            dirs[:] = [d for d in dirs if d not in _SKIP]
        dirs.sort()
        for name in sorted(files):
            path = f"{root}/{name}"
            if root == "/dev" and name in ("console", "ptmx", "tty"):
                continue
            try:
                if _is_device(os.lstat(path).st_mode):
                    found.append(Device(path, path))
            except OSError:
                continue
    return found


def _is_device(mode: int) -> bool:
    return stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
