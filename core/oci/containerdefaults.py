"""containers.conf `[containers]`: the defaults every container gets, podman's when unset.

`defaults_from_table` reads the keys ocimux applies (`APPLIED_KEYS`) into `ContainerDefaults`,
checking each value as podman's parsers do; `resolve` lays them under what one container asked
for (a run flag or API field wins, as in podman). Keys ocimux does not apply are `containerkeys.py`'s
business: accepted where podman's value or this host makes them moot, otherwise refused.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from ocimux.base.errors import InvalidArgumentError

from .containerconfig import ContainerConfig, Device, Mount
from .flagvalues import parse_device, parse_mount, parse_size, parse_volume
from .logsize import check_log_size

__all__ = [
    "APPLIED_KEYS",
    "DEFAULT_SHM_SIZE",
    "PODMAN_CAPABILITIES",
    "ContainerDefaults",
    "DefaultValueError",
    "check_umask",
    "defaults_from_table",
    "resolve",
]

#: The `[containers]` keys ocimux applies to every container (README's key table lists them).
APPLIED_KEYS: tuple[str, ...] = (
    "default_capabilities", "default_sysctls", "default_ulimits", "env", "pids_limit",
    "seccomp_profile", "init_path", "no_hosts", "tz", "umask", "log_size_max",
    "read_only", "init", "privileged", "devices", "volumes", "mounts", "annotations",
    "shm_size", "oom_score_adj", "netns", "cgroupns", "ipcns", "pidns", "utsns", "env_host",
    "http_proxy", "base_hosts_file", "container_name_as_hostname", "cgroup_conf",
    "host_containers_internal_ip", "cgroups",
)  # fmt: skip

#: podman's default capabilities (containers/common `pkg/config/default.go`)
PODMAN_CAPABILITIES: Final = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID",
    "CAP_SYS_CHROOT",
)  # fmt: skip
#: podman's `shm_size` ("65536k", binary units as its --shm-size flag reads it)
DEFAULT_SHM_SIZE: Final = 65536 << 10


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
    #: `[containers] init_path`, then `[engine] init_path` (podman's FindInitBinary order)
    init_path: str | None = None
    engine_init_path: str | None = None
    no_hosts: bool = False
    tz: str = ""
    umask: str = "0022"
    #: the log's cap in bytes, -1 none (podman's `log_size_max`)
    log_size_max: int = -1
    read_only: bool = False
    init: bool = False
    privileged: bool = False
    #: added to every container's own devices (podman adds them at spec generation)
    devices: tuple[Device, ...] = ()
    #: `volumes` then `mounts`; a container's own mount at the same destination wins
    mounts: tuple[Mount, ...] = ()
    #: under the container's own annotations
    annotations: tuple[tuple[str, str], ...] = ()
    shm_size: int = DEFAULT_SHM_SIZE
    #: None: not set (the process inherits ocimux's)
    oom_score_adj: int | None = None
    #: "private" (podman's default: ocimux's own, a namespace with only loopback), "none", "host"
    netns: str = "private"
    #: "private"/"shareable" (own namespace), "host", "none" (own namespace, no /dev/shm)
    ipcns: str = "shareable"
    pidns: str = "private"
    utsns: str = "private"
    #: "" (unset): no cgroup namespace, as ocimux always did; "private": one of its own
    cgroupns: str = ""
    env_host: bool = False
    http_proxy: bool = True
    #: "": the loopback entries (the host's /etc/hosts with --network host); "none", "image",
    #: or an absolute path
    base_hosts_file: str = ""
    container_name_as_hostname: bool = False
    #: cgroup v2 files to write, (name, value), under any the container sets itself
    cgroup_conf: tuple[tuple[str, str], ...] = ()
    #: "" or "none": no host.containers.internal entry (no network reaches the host); an IP
    host_containers_internal_ip: str = ""
    #: "enabled", "no-conmon" (conmon never gets a cgroup of its own here), "disabled"
    cgroups: str = "enabled"
    #: where each value came from, for messages ("containers.conf [containers] default_ulimits")
    source: str = "containers.conf [containers]"


class DefaultValueError(InvalidArgumentError):
    """A `[containers]` value ocimux cannot use; `key` and `value` name it."""

    def __init__(self, key: str, value: Any, why: str, *, source: str, hint: str | None = None):
        self.key = key
        self.value = value
        self.why = why
        sep = " " if why.startswith("must ") else ": "  # "pids_limit must be a int"
        super().__init__(f"{source}: {key}{sep}{why}", hint=hint)


def check_umask(text: str) -> int:
    """The umask `text` (octal, e.g. "0022") as a number; InvalidArgumentError if it is not one."""
    if not re.fullmatch(r"[0-7]{1,4}", str(text)) or int(str(text), 8) > 0o777:
        raise InvalidArgumentError(f"invalid umask {text!r}: use an octal mask such as 0022")
    return int(str(text), 8)


_LISTS: Final = {
    "default_capabilities": "capabilities", "default_sysctls": "sysctls",
    "default_ulimits": "ulimits", "env": "env",
}  # fmt: skip
_SCALARS: Final[tuple[tuple[str, type], ...]] = (
    ("pids_limit", int), ("seccomp_profile", str), ("init_path", str), ("no_hosts", bool),
    ("tz", str), ("umask", str), ("log_size_max", int), ("read_only", bool), ("init", bool),
    ("privileged", bool), ("oom_score_adj", int), ("netns", str), ("cgroupns", str),
    ("ipcns", str), ("pidns", str), ("utsns", str), ("env_host", bool), ("http_proxy", bool),
    ("base_hosts_file", str), ("container_name_as_hostname", bool),
    ("host_containers_internal_ip", str), ("cgroups", str),
)  # fmt: skip


def defaults_from_table(
    table: Mapping[str, Any],
    files: Sequence[str] = (),
    *,
    engine_init_path: str | None = None,
    ignore: Sequence[str] = (),
) -> ContainerDefaults:
    """Build `ContainerDefaults` from a merged containers.conf `[containers]` table.

    Reads the keys of APPLIED_KEYS (an absent key keeps podman's default; one in `ignore`,
    `[ocimux] ignore_container_defaults`, counts as absent) and `[engine] init_path`. Raises
    DefaultValueError naming the key for a value of the wrong type or one its parser refuses
    (a log_size_max between 0 and 8191, a volume whose source is missing, ...). Which values
    ocimux refuses to honour at all (netns = "pasta") is `containerkeys.refusals`' question.
    """
    source = "containers.conf [containers]" + (f" ({', '.join(files)})" if files else "")
    table = {k: v for k, v in table.items() if k not in ignore}
    kwargs: dict[str, Any] = {"source": source, "engine_init_path": engine_init_path or None}

    def bad(key: str, why: str) -> DefaultValueError:
        return DefaultValueError(key, table[key], why, source=source)

    for key in (*_LISTS, "devices", "volumes", "mounts", "annotations", "cgroup_conf"):
        if key in table:
            value = table[key]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise bad(key, "must be an array of strings")
            if key in _LISTS:
                kwargs[_LISTS[key]] = tuple(value)
    for key, kind in _SCALARS:
        if key in table:
            value = table[key]
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise bad(key, f"must be a {kind.__name__}")
            kwargs[key] = value
    if "umask" in kwargs:
        try:
            check_umask(kwargs["umask"])
        except InvalidArgumentError as exc:
            raise bad("umask", exc.detail) from None
    if "log_size_max" in kwargs:
        try:
            check_log_size(kwargs["log_size_max"], "log_size_max")
        except InvalidArgumentError as exc:
            raise bad("log_size_max", exc.detail) from None
    _parsed(table, kwargs, bad)
    return ContainerDefaults(**kwargs)


def _parsed(
    table: Mapping[str, Any],
    kwargs: dict[str, Any],
    bad: Callable[[str, str], DefaultValueError],
) -> None:
    """The keys whose text podman parses (devices, mounts, sizes, pairs, addresses)."""

    def each(key: str, parse: Callable[[str], Any]) -> tuple[Any, ...]:
        try:
            return tuple(parse(item) for item in table.get(key) or ())
        except InvalidArgumentError as exc:
            raise bad(key, exc.detail) from None

    kwargs["devices"] = each("devices", parse_device)
    mounts: dict[str, Mount] = {}
    for mount in (*each("volumes", parse_volume), *each("mounts", parse_mount)):
        mounts.setdefault(mount.destination, mount)  # podman: the first at a destination wins
    kwargs["mounts"] = tuple(mounts.values())
    kwargs["annotations"] = each("annotations", _pair("annotation KEY=VALUE", need_value=False))
    kwargs["cgroup_conf"] = each("cgroup_conf", _pair("cgroup file NAME=VALUE", need_value=True))
    if "shm_size" in table:
        value = table["shm_size"]
        if not isinstance(value, str):
            raise bad("shm_size", "must be a str")
        try:
            kwargs["shm_size"] = parse_size(value, "shm_size")
        except InvalidArgumentError as exc:
            raise bad("shm_size", exc.detail) from None
        if kwargs["shm_size"] <= 0:
            raise bad("shm_size", "it must be greater than 0 (podman's rule)")
    adj = kwargs.get("oom_score_adj")
    if adj is not None and not -1000 <= adj <= 1000:
        raise bad("oom_score_adj", f"{adj} is out of range (-1000 to 1000)")
    hosts = kwargs.get("base_hosts_file", "")
    if hosts not in ("", "none", "image"):
        if not hosts.startswith("/") or not os.path.isfile(hosts):
            raise bad(
                "base_hosts_file",
                f"{hosts!r} is not an existing file (use an absolute path, image or none)",
            )
    address = kwargs.get("host_containers_internal_ip", "")
    if address not in ("", "none"):
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise bad("host_containers_internal_ip", f"{address!r} is not an IP address") from None


def _pair(what: str, *, need_value: bool) -> Callable[[str], tuple[str, str]]:
    def parse(item: str) -> tuple[str, str]:
        key, sep, value = item.partition("=")
        if not key.strip() or (need_value and not sep):
            raise InvalidArgumentError(f"invalid {what} {item!r}")
        return key.strip(), value

    return parse


def _hostname_of(name: str) -> str:
    """podman's container_name_as_hostname: the name without '_', at most 64 characters."""
    return name.replace("_", "")[:64]


def resolve(cfg: ContainerConfig, defaults: ContainerDefaults, name: str) -> ContainerConfig:
    """`cfg` with each field it leaves to the configuration (None) filled from `defaults`.

    What a container asked for wins, as a podman flag wins over containers.conf. Lists the
    configuration adds to the container's own (devices, mounts, annotations) and namespaces
    without a per-container option stay in `defaults` for the spec builder. Idempotent.
    """
    changes: dict[str, Any] = {}
    for field in ("read_only", "init", "privileged", "env_host", "http_proxy", "oom_score_adj"):
        if getattr(cfg, field) is None:
            changes[field] = getattr(defaults, field)
    if cfg.network is None:
        changes["network"] = "host" if defaults.netns == "host" else "none"
    if cfg.shm_size is None:
        changes["shm_size"] = defaults.shm_size
    if cfg.hostname is None and defaults.container_name_as_hostname and defaults.utsns != "host":
        changes["hostname"] = _hostname_of(name)
    return replace(cfg, **changes) if changes else cfg
