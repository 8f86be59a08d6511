"""Linux capabilities: their names, and which ones this process can hand to a container.

A container can get only capabilities in the bounding set of whoever creates it: on a host where
ocimux itself lacks one (this development host has no CAP_SYS_RESOURCE), `--cap-add ALL` and
`--privileged` mean "every capability we have", as podman computes them from its bounding set.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ALL_CAPABILITIES",
    "bounding_set",
    "effective_has",
    "normalize_capability",
    "status_mask",
]

#: capability names by number (include/uapi/linux/capability.h, Linux 5.9+: up to 40)
ALL_CAPABILITIES: Final = tuple(
    f"CAP_{name}"
    for name in (
        "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP "
        "LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER "
        "SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE "
        "SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP "
        "MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF "
        "CHECKPOINT_RESTORE"
    ).split()
)


def normalize_capability(name: str) -> str | None:
    """Return `CAP_X` for `x`, `X`, `cap_x` or `CAP_X`, "ALL" for all, None if no such capability."""
    upper = name.strip().upper()
    if upper == "ALL":
        return "ALL"
    full = upper if upper.startswith("CAP_") else f"CAP_{upper}"
    return full if full in ALL_CAPABILITIES else None


def status_mask(field: str, status: str | None = None) -> int | None:
    """The capability mask `field` ("CapEff", "CapBnd", ...) of a `/proc/<pid>/status` text.

    `status` None reads this process's; None is returned if it cannot be read or parsed.
    """
    if status is None:
        try:
            with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
                status = fh.read()
        except OSError:
            return None
    for line in status.splitlines():
        if line.startswith(f"{field}:"):
            try:
                return int(line.split(":", 1)[1].strip(), 16)
            except ValueError:
                return None
    return None


def effective_has(capability: str, status: str | None = None) -> bool | None:
    """Whether `capability` (CAP_X) is in the effective set (CapEff); None if unknown."""
    mask = status_mask("CapEff", status)
    return None if mask is None else bool(mask >> ALL_CAPABILITIES.index(capability) & 1)


def bounding_set() -> tuple[str, ...]:
    """The capabilities in this process's bounding set (CapBnd), in number order.

    Falls back to every known capability if /proc cannot be read.
    """
    mask = status_mask("CapBnd")
    if mask is None:
        return ALL_CAPABILITIES
    return tuple(c for i, c in enumerate(ALL_CAPABILITIES) if mask >> i & 1)
