"""Every containers.conf `[containers]` key: applied, accepted (and why), or refused (and why).

DESIGN's rule: a key ocimux accepts has its effect; one it cannot honour fails `run`/`create`
before anything runs, saying why. The applied keys are `containerdefaults.APPLIED_KEYS`; for
every other key podman knows, `ACCEPTED` says why a value is moot (podman's own default, or
without effect on this kind of host, as in podman), and `refusals` names the values that are
not. `default_needs` lists the runtime capabilities the configured values need, so a runtime
that cannot honour one (the mock: no isolation) refuses it as it refuses the run flag.

Facts are podman's (containers/podman 5.x `pkg/specgen`, go.podman.io/common `pkg/config`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from .containerconfig import ContainerConfig
from .containerdefaults import DEFAULT_SHM_SIZE, ContainerDefaults

__all__ = [
    "ACCEPTED",
    "RULES",
    "KeyRefusal",
    "apparmor_enabled",
    "cgroup_v2",
    "default_needs",
    "refusals",
    "selinux_enabled",
]


@dataclass(frozen=True, slots=True)
class KeyRefusal:
    """A configured `[containers]` value ocimux cannot honour: why, and what to do instead."""

    key: str
    value: Any
    why: str
    todo: str


def apparmor_enabled() -> bool:
    """Whether the kernel enforces AppArmor (podman's apparmor.IsEnabled reads the same file)."""
    try:
        with open("/sys/module/apparmor/parameters/enabled", encoding="ascii") as fh:
            return fh.read(1) == "Y"
    except OSError:
        return False


def selinux_enabled() -> bool:
    """Whether SELinux is on (selinuxfs mounted, as go-selinux's GetEnabled finds it)."""
    return os.path.exists("/sys/fs/selinux/enforce")


def cgroup_v2() -> bool:
    """Whether the host's cgroups are unified (v2), the only ones with `cgroup_conf`'s files."""
    return os.path.exists("/sys/fs/cgroup/cgroup.controllers")


# A rule answers None when ocimux honours the value, else (why, what to do).
Rule = Callable[[Any], "tuple[str, str] | None"]


def _one_of(*allowed: Any, why: str, todo: str) -> Rule:
    return lambda value: None if value in allowed else (why, todo)


def _empty(why: str, todo: str = "remove it") -> Rule:
    return lambda value: None if not value else (why, todo)


def _apparmor(value: Any) -> tuple[str, str] | None:
    if not value or not apparmor_enabled():
        return None  # podman sets a profile only where AppArmor is enabled
    return ("AppArmor is enabled on this host and ocimux applies no AppArmor profile", "remove it")


def _label(value: Any) -> tuple[str, str] | None:
    if value is False or not selinux_enabled():
        return None  # podman: "ignored on disabled systems"; false is what ocimux does anyway
    return ("SELinux is enabled on this host and ocimux does not label containers", "set false")


def _cgroup_conf(value: Any) -> tuple[str, str] | None:
    if not value or cgroup_v2():
        return None
    # runc and crun both fail the create ("cannot use unified on cgroup v1"): refuse first
    return ("this host has cgroup v1, and cgroup_conf sets cgroup v2 files", "remove it")


_NO_NET: Final = "ocimux has no network stack and writes no resolv.conf of its own"

#: keys ocimux does not apply: why each accepted value has no effect (checked by `refusals`)
ACCEPTED: Final[Mapping[str, str]] = {
    "apparmor_profile": "podman applies it only where AppArmor is enabled (refused there)",
    "dns_options": "only [] (podman's default): " + _NO_NET,
    "dns_searches": "only [] (podman's default): " + _NO_NET,
    "dns_servers": "only [] (podman's default): " + _NO_NET,
    "interface_name": '"" or "device": a container has no network interface but loopback',
    "keyring": "only true (podman's default): the runtime gives each container a session "
    "keyring, as ocimux never passes --no-new-keyring",
    "label": "podman ignores it where SELinux is off (refused where it is on, unless false)",
    "label_users": "only false (podman's default): ocimux keeps no SELinux user or role",
    "log_driver": '"", "k8s-file" or "json-file" (podman\'s alias): the log is always '
    "conmon's k8s-file, which `logs` reads",
    "log_path": 'only "": each container keeps its log in its own directory',
    "log_tag": "the k8s-file log has no tag (podman uses it for journald and passthrough)",
    "prepare_volume_on_create": "ocimux has no named volumes to copy an image into",
    "userns": '"" or "host" (podman\'s default): ocimux creates no user namespace',
    "userns_size": "used only with userns = \"auto\", which is refused",
}  # fmt: skip

_NS_TODO: Final = 'use "private" or "host"'
#: key -> rule; a key of neither APPLIED_KEYS nor this table takes any value
RULES: Final[Mapping[str, Rule]] = {
    "apparmor_profile": _apparmor,
    "dns_options": _empty(_NO_NET),
    "dns_searches": _empty(_NO_NET),
    "dns_servers": _empty(_NO_NET),
    "interface_name": _one_of(
        "", "device", why="a container has no network interface to name", todo='use "" or "device"'
    ),
    "keyring": _one_of(
        True, why="ocimux cannot stop the runtime from creating a session keyring",
        todo="set true",
    ),
    "label": _label,
    "label_users": _one_of(
        False, why="ocimux keeps no SELinux user or role in containers", todo="set false"
    ),
    "log_driver": _one_of(
        "", "k8s-file", "json-file",
        why="ocimux keeps each container's output in conmon's k8s-file log, which `logs` reads",
        todo='use "k8s-file"',
    ),
    "log_path": _empty("each container keeps its log in its own directory"),
    "userns": _one_of(
        "", "host", why="ocimux runs every container in the host's user namespace (it creates "
        "none)", todo='use "host"',
    ),
    "netns": _one_of(
        "", "private", "none", "host",
        why="ocimux has no network stack: a container has only loopback (private, none) or the "
        "host's network", todo='use "private", "none" or "host"',
    ),
    "pidns": _one_of("", "private", "host", why="only private and host are supported",
                     todo=_NS_TODO),
    "utsns": _one_of("", "private", "host", why="only private and host are supported",
                     todo=_NS_TODO),
    "cgroupns": _one_of("", "private", "host", why="only private and host are supported",
                        todo=_NS_TODO),
    "ipcns": _one_of(
        "", "private", "shareable", "host", "none",
        why="only private, shareable, host and none are supported", todo=_NS_TODO,
    ),
    "cgroup_conf": _cgroup_conf,
    "cgroups": _one_of(
        "enabled", "no-conmon", "disabled",
        why="split (conmon and the container in the caller's cgroup) is not supported",
        todo='use "enabled", "no-conmon" or "disabled"',
    ),
}  # fmt: skip


def refusals(table: Mapping[str, Any], ignore: tuple[str, ...] = ()) -> list[KeyRefusal]:
    """Each configured `[containers]` value ocimux cannot honour, in the table's order.

    Keys listed in `ignore` (`[ocimux] ignore_container_defaults`) are skipped: the user chose
    to run without them.
    """
    out = []
    for key, value in table.items():
        rule = RULES.get(key)
        if key in ignore or rule is None:
            continue
        found = rule(value)
        if found is not None:
            out.append(KeyRefusal(key, value, *found))
    return out


def default_needs(asked: ContainerConfig, d: ContainerDefaults) -> list[tuple[str, str]]:
    """The (capability, key) pairs the runtime needs for the configured defaults in effect.

    Only values that change the container count (podman's defaults need nothing), and only
    where the container did not decide for itself (`asked` leaves the field None).
    """
    iso = [
        (asked.read_only is None and d.read_only, "read_only"),
        (asked.init is None and d.init, "init"),
        (bool(d.mounts), "volumes/mounts"),
        (asked.shm_size is None and d.shm_size != DEFAULT_SHM_SIZE, "shm_size"),
        (asked.oom_score_adj is None and bool(d.oom_score_adj), "oom_score_adj"),
        (d.pidns == "host", "pidns"), (d.utsns == "host", "utsns"),
        (d.ipcns in ("host", "none"), "ipcns"), (d.cgroupns == "private", "cgroupns"),
        (d.base_hosts_file != "", "base_hosts_file"),
        (
            asked.hostname is None and d.container_name_as_hostname and d.utsns != "host",
            "container_name_as_hostname",
        ),
        (d.host_containers_internal_ip not in ("", "none"), "host_containers_internal_ip"),
    ]  # fmt: skip
    needs = [("isolation", key) for asked_for, key in iso if asked_for]
    if asked.network is None and d.netns == "host":
        needs += [("isolation", "netns"), ("host_network", "netns")]
    if asked.privileged is None and d.privileged:
        needs += [("isolation", "privileged"), ("privileged", "privileged")]
    if d.devices:
        needs.append(("devices", "devices"))
    if d.cgroup_conf:
        needs.append(("resource_limits", "cgroup_conf"))
    if d.cgroups == "disabled":
        needs.append(("no_cgroups", "cgroups"))
    return needs
