"""Host device nodes as runtime-spec `linux.devices` entries and device cgroup rules."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from typing import Any, Final

from .containerconfig import Device
from .errors import InvalidArgumentError

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
    """Every character and block device under the host's /dev (one level of subdirectories)."""
    found: list[Device] = []
    for top in sorted(os.listdir("/dev")):
        path = f"/dev/{top}"
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and top not in _SKIP:
            try:
                names = sorted(os.listdir(path))
            except OSError:
                continue
            for name in names:
                sub = f"{path}/{name}"
                try:
                    if _is_device(os.lstat(sub).st_mode):
                        found.append(Device(sub, sub))
                except OSError:
                    continue
        elif _is_device(st.st_mode) and top not in ("console", "ptmx", "tty"):
            found.append(Device(path, path))
    return found


def _is_device(mode: int) -> bool:
    return stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
