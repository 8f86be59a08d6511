"""containers.conf `[containers]`: the defaults every container gets, podman's when unset."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ocimux.base.errors import InvalidArgumentError

from .logsize import check_log_size

__all__ = [
    "APPLIED_KEYS",
    "PODMAN_CAPABILITIES",
    "ContainerDefaults",
    "check_umask",
    "defaults_from_table",
]

#: The `[containers]` keys ocimux applies to every container (README's key table lists them).
APPLIED_KEYS: tuple[str, ...] = (
    "default_capabilities", "default_sysctls", "default_ulimits", "env", "pids_limit",
    "seccomp_profile", "init_path", "no_hosts", "tz", "umask", "log_size_max",
)  # fmt: skip

#: podman's default capabilities (containers/common `pkg/config/default.go`)
PODMAN_CAPABILITIES: Final = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID",
    "CAP_SYS_CHROOT",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ContainerDefaults:
    """containers.conf `[containers]` keys ocimux applies (podman's defaults when unset)."""

    capabilities: tuple[str, ...] = PODMAN_CAPABILITIES
    sysctls: tuple[str, ...] = ("net.ipv4.ping_group_range=0 0",)
    ulimits: tuple[str, ...] = ()
    env: tuple[str, ...] = (
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "TERM=xterm",
    )
    pids_limit: int = 2048
    seccomp_profile: str = "/usr/share/containers/seccomp.json"
    init_path: str | None = None
    no_hosts: bool = False
    tz: str = ""
    umask: str = "0022"
    #: the log's cap in bytes, -1 none (podman's `log_size_max`)
    log_size_max: int = -1
    #: where each value came from, for messages ("containers.conf [containers] default_ulimits")
    source: str = "containers.conf [containers]"


def check_umask(text: str) -> int:
    """The umask `text` (octal, e.g. "0022") as a number; InvalidArgumentError if it is not one."""
    if not re.fullmatch(r"[0-7]{1,4}", str(text)) or int(str(text), 8) > 0o777:
        raise InvalidArgumentError(f"invalid umask {text!r}: use an octal mask such as 0022")
    return int(str(text), 8)


def defaults_from_table(table: Mapping[str, Any], files: Sequence[str] = ()) -> ContainerDefaults:
    """Build `ContainerDefaults` from a merged containers.conf `[containers]` table.

    Keys ocimux applies: default_capabilities, default_sysctls, default_ulimits, env,
    pids_limit, seccomp_profile, init_path, no_hosts, tz, umask, log_size_max; an absent key
    keeps podman's default. Raises InvalidArgumentError naming the key for a value of the
    wrong type (or a log_size_max between 0 and 8191).
    """
    source = "containers.conf [containers]" + (f" ({', '.join(files)})" if files else "")
    kwargs: dict[str, Any] = {"source": source}
    lists = {
        "default_capabilities": "capabilities", "default_sysctls": "sysctls",
        "default_ulimits": "ulimits", "env": "env",
    }  # fmt: skip
    for key, attr in lists.items():
        if key in table:
            value = table[key]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise InvalidArgumentError(f"{source}: {key} must be an array of strings")
            kwargs[attr] = tuple(value)
    for key, kinds in (
        ("pids_limit", int), ("seccomp_profile", str), ("init_path", str), ("no_hosts", bool),
        ("tz", str), ("umask", str), ("log_size_max", int),
    ):  # fmt: skip
        if key in table:
            value = table[key]
            if not isinstance(value, kinds) or (kinds is int and isinstance(value, bool)):
                raise InvalidArgumentError(f"{source}: {key} must be a {kinds.__name__}")
            kwargs[key] = value
    if "umask" in kwargs:
        try:
            check_umask(kwargs["umask"])
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(f"{source}: {exc.detail}") from None
    if "log_size_max" in kwargs:
        check_log_size(kwargs["log_size_max"], f"{source}: log_size_max")
    return ContainerDefaults(**kwargs)
