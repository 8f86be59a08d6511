"""Turning a `ContainerConfig` and the configured defaults into the runtime-spec document.

`apply_config` takes a document from `spec.default_spec` (or a user's bundle) and applies, in
podman's way and with podman's defaults (containers.conf `[containers]`):

- process: capabilities (defaults, `--cap-add/--cap-drop`, ALL, `--privileged`), rlimits,
  noNewPrivileges, umask, supplementary groups, env (`env_host`, `http_proxy`, `env`, HOSTNAME),
  oomScoreAdj, the init wrapper;
- root: read-only; mounts: podman's defaults (/dev/shm of `shm_size`), then binds and tmpfs
  (the container's, then containers.conf's `volumes` and `mounts`), generated /etc/hostname and
  /etc/hosts (and the host's resolv.conf with `--network host`), read-only tmpfs, timezone;
- linux: seccomp (converted from the Docker-format profile), masked and read-only paths,
  sysctls, resources (and `cgroup_conf`), devices (containers.conf's and the container's), the
  namespaces (`specnamespaces.py`); annotations (containers.conf's under the container's).

A field the container leaves None takes containers.conf's value (`containerdefaults.resolve`).
What a runtime must be able to do for a config is `required_capabilities` (and, for the
configured values, `containerkeys.default_needs`); the Dispatcher checks both before anything
runs. podman's own defaults the runtime cannot honour are left out (no default pids limit
without cgroups, no default seccomp profile where the runtime would ignore it); `inspect` shows
what was applied.
"""

from __future__ import annotations

import os
import re
import resource
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Final

from ocimux.base.errors import InvalidArgumentError
from ocimux.base.linuxcaps import (
    ALL_CAPABILITIES,
    bounding_set,
    effective_has,
    normalize_capability,
)
from ocimux.base.signals import STOP_SIGNAL_ANNOTATION

from . import devices, seccomp
from .containerconfig import ContainerConfig, Mount, Ulimit
from .containerdefaults import (
    DEFAULT_SHM_SIZE,
    PODMAN_CAPABILITIES,
    ContainerDefaults,
    check_umask,
    defaults_from_table,
    resolve,
)
from .flagvalues import parse_sysctl, parse_ulimit
from .spec import merge_env, read_db
from .specmounts import mounts_of, spec_mount
from .specnamespaces import apply_namespaces, check_sysctls, host_env

__all__ = [
    "INIT_CANDIDATES",
    "INIT_PATH_IN_CONTAINER",
    "PODMAN_CAPABILITIES",
    "ContainerDefaults",
    "apply_config",
    "defaults_from_table",
    "required_capabilities",
]

#: podman 4's masked and read-only paths (what `podman create` writes, measured with 4.3.1)
MASKED_PATHS: Final = (
    "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/fs/selinux",
    "/sys/dev/block",
)  # fmt: skip
READONLY_PATHS: Final = (
    "/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
)  # fmt: skip
#: where podman puts its init inside the container, and where catatonit is looked for
INIT_PATH_IN_CONTAINER: Final = "/run/podman-init"
INIT_CANDIDATES: Final = (
    "/usr/libexec/podman/catatonit",
    "/usr/bin/catatonit",
    "/usr/libexec/catatonit/catatonit",
)
_RLIMIT_DEFAULT: Final = 1048576  # podman's nofile and nproc default (define.RLimitDefaultValue)
_MIN_MEMORY: Final = 6 << 20  # podman: "minimum memory limit allowed is 6MB"
_CPUSET: Final = re.compile(r"\d+(-\d+)?(,\d+(-\d+)?)*")


@dataclass(slots=True)
class Applied:
    """What `apply_config` did, for the record and `inspect`: files to write and notes."""

    #: bundle-relative name -> content of generated files (hostname, hosts, resolv.conf)
    files: dict[str, str] = field(default_factory=dict)
    hostname: str = ""
    seccomp: str = ""
    capabilities: list[str] = field(default_factory=list)
    #: the container's config with containers.conf's defaults resolved (what the record keeps)
    config: ContainerConfig | None = None
    #: containers.conf `cgroups = "disabled"`: create it as `--no-cgroups` would
    no_cgroups: bool = False

    def record(self, asked: ContainerConfig) -> dict[str, Any]:
        """The container's config as its record keeps it (`ContainerConfig.to_dict`): what it
        asked for, plus each value containers.conf gave it that differs from podman's default,
        so `inspect` shows it and a re-create keeps it."""
        if self.config is None:
            return asked.to_dict()
        podman = resolve(ContainerConfig(), ContainerDefaults(), "")
        given = {
            f.name: getattr(self.config, f.name)
            for f in fields(ContainerConfig)
            if getattr(asked, f.name) is None
            and getattr(self.config, f.name) != getattr(podman, f.name)
        }
        return replace(asked, **given).to_dict()

    def summary(self) -> dict[str, Any]:
        """What the record keeps of it (shown by `inspect`)."""
        return {
            "hostname": self.hostname,
            "seccomp": self.seccomp,
            "capabilities": self.capabilities,
        }


def required_capabilities(cfg: ContainerConfig, user: str | None = None) -> list[tuple[str, str]]:
    """The (capability, option) pairs a runtime needs to honour `cfg` as asked.

    Only what was asked for counts; what containers.conf's values need is
    `containerkeys.default_needs`.
    """
    needs: list[tuple[str, str]] = []
    iso = [
        (bool(cfg.mounts), "--volume/--mount/--tmpfs"), (cfg.read_only, "--read-only"),
        (bool(cfg.cap_add or cfg.cap_drop), "--cap-add/--cap-drop"),
        (cfg.seccomp is not None, "--security-opt seccomp"),
        (cfg.no_new_privileges, "--security-opt no-new-privileges"),
        (bool(cfg.mask or cfg.unmask), "--security-opt mask/unmask"),
        (cfg.hostname is not None, "--hostname"),
        (bool(cfg.group_add), "--group-add"), (cfg.init, "--init"),
        (bool(cfg.ulimits), "--ulimit"), (bool(cfg.sysctls), "--sysctl"),
        (cfg.tz is not None, "--tz"), (user is not None, "--user"),
        (cfg.shm_size not in (None, DEFAULT_SHM_SIZE), "--shm-size"),
        (bool(cfg.oom_score_adj), "--oom-score-adj"),
    ]  # fmt: skip
    needs += [("isolation", option) for asked, option in iso if asked]
    if not cfg.limits.is_empty():
        needs.append(("resource_limits", "--memory/--cpus/--pids-limit"))
    if cfg.network == "host":
        needs += [("isolation", "--network host"), ("host_network", "--network host")]
    if cfg.domainname is not None:
        needs += [("isolation", "--domainname"), ("domainname", "--domainname")]
    if cfg.umask is not None:
        needs += [("isolation", "--umask"), ("umask", "--umask")]
    if cfg.devices:
        needs.append(("devices", "--device"))
    if cfg.privileged:
        needs += [("isolation", "--privileged"), ("privileged", "--privileged")]
    if cfg.seccomp not in (None, "unconfined"):
        needs.append(("seccomp", "--security-opt seccomp"))
    return needs


def apply_config(
    spec: dict[str, Any],
    cfg: ContainerConfig,
    *,
    cid: str,
    name: str,
    rootfs: Path,
    bundle_dir: Path,
    defaults: ContainerDefaults,
    can: Callable[[str], bool],
) -> Applied:
    """Apply `cfg` over `spec` in place and return what else the create must do (`Applied`).

    `bundle_dir` is where generated files will be written (the Dispatcher writes `files`
    there); `can(capability)` tells whether the runtime has a capability, to leave out defaults
    it could not honour. Raises InvalidArgumentError (naming the option) for anything that
    cannot be applied: a capability ocimux itself lacks, a limit above what this host allows,
    a missing seccomp profile or init binary, an unknown group.
    """
    applied = Applied()
    adj_source = (
        "--oom-score-adj" if cfg.oom_score_adj is not None else f"{defaults.source} oom_score_adj"
    )
    cfg = resolve(cfg, defaults, name)
    applied.config = cfg
    proc = spec.setdefault("process", {})
    linux = spec.setdefault("linux", {})
    if defaults.utsns == "host":
        if cfg.hostname or cfg.domainname:
            raise InvalidArgumentError(
                "--hostname and --domainname need a UTS namespace of the container's own, and "
                'containers.conf [containers] utsns = "host" shares the host\'s',
                hint="leave them out, or set utsns to private",
            )
        hostname = socket.gethostname()  # podman: the host's name, in /etc/hostname too
        spec.pop("hostname", None)
    else:
        hostname = cfg.hostname or spec.get("hostname") or cid[:12]
        spec["hostname"] = hostname
    applied.hostname = hostname
    if cfg.domainname:
        spec["domainname"] = cfg.domainname
        # runc before 1.2 ignores `domainname` (opencontainers/runc#3600); the UTS-namespaced
        # sysctl sets the same thing on every runtime
        linux.setdefault("sysctl", {})["kernel.domainname"] = cfg.domainname
    base_env = [*host_env(cfg), *defaults.env, f"HOSTNAME={hostname}"]
    proc["env"] = merge_env(base_env, proc.get("env") or [])
    umask = cfg.umask if cfg.umask is not None else defaults.umask
    proc.setdefault("user", {"uid": 0, "gid": 0})["umask"] = check_umask(umask)
    if cfg.group_add:
        _add_groups(proc["user"], cfg.group_add, rootfs)
    caps = _capabilities(cfg, defaults)
    applied.capabilities = caps
    proc["capabilities"] = {"bounding": caps, "effective": caps[:], "permitted": caps[:]}
    proc["noNewPrivileges"] = cfg.no_new_privileges
    proc["rlimits"] = _rlimits(cfg.ulimits, defaults)
    if cfg.oom_score_adj is not None:
        proc["oomScoreAdj"] = _oom_score_adj(cfg.oom_score_adj, adj_source)
    spec.setdefault("root", {})["readonly"] = bool(cfg.read_only)
    apply_namespaces(linux, cfg, defaults)
    linux["sysctl"] = _sysctls(cfg, defaults, linux.get("sysctl") or {})
    check_sysctls(linux["sysctl"], defaults)
    if not linux["sysctl"]:
        del linux["sysctl"]
    _paths(linux, cfg)
    spec["mounts"] = mounts_of(
        spec.get("mounts") or [], cfg, defaults, hostname, applied.files, bundle_dir, name,
        generate=can("isolation"), rootfs=rootfs,
    )  # fmt: skip
    _resources(linux, cfg, defaults, can)
    _devices(linux, cfg, defaults)
    applied.seccomp = _seccomp(linux, cfg, defaults, caps, can)
    if cfg.init:
        _init(spec, cfg, defaults)
    if defaults.annotations:  # the container's own win, as podman's
        spec["annotations"] = {**dict(defaults.annotations), **(spec.get("annotations") or {})}
    if cfg.stop_signal is not None:
        spec.setdefault("annotations", {})[STOP_SIGNAL_ANNOTATION] = str(cfg.stop_signal)
    applied.no_cgroups = defaults.cgroups == "disabled"
    return applied


# --- process ---------------------------------------------------------------------------------


def _add_groups(user: dict[str, Any], groups: Sequence[str], rootfs: Path) -> None:
    table = read_db(rootfs, "/etc/group")
    extra = list(user.get("additionalGids") or [])
    for group in groups:
        if re.fullmatch(r"\d{1,10}", group) and int(group) < 2**32 - 1:
            gid = int(group)
        else:
            found = next((g for g in table if len(g) > 2 and g[0] == group), None)
            if found is None or not found[2].isdigit():
                raise InvalidArgumentError(
                    f"invalid --group-add {group!r}: no such group in {rootfs}/etc/group",
                    hint="use a numeric gid or a group the image defines",
                )
            gid = int(found[2])
        if gid not in extra:
            extra.append(gid)
    user["additionalGids"] = extra


def _capabilities(cfg: ContainerConfig, defaults: ContainerDefaults) -> list[str]:
    have = bounding_set()
    if cfg.privileged:
        return list(have)
    named_add = [c for c in cfg.cap_add if c != "ALL"]
    named_drop = [c for c in cfg.cap_drop if c != "ALL"]
    for cap in named_add:
        if cap not in have:
            raise InvalidArgumentError(
                f"cannot --cap-add {cap}: ocimux itself does not have it on this host "
                "(not in its bounding set)",
                hint="run ocimux with that capability, or leave it out",
            )
    if "ALL" in cfg.cap_add:
        base = list(have)
    elif "ALL" in cfg.cap_drop:
        base = []
    else:
        base = []
        for item in defaults.capabilities:
            cap = normalize_capability(item)
            if cap is None or cap == "ALL":
                raise InvalidArgumentError(
                    f"invalid capability {item!r} in {defaults.source} default_capabilities"
                )
            if cap in have and cap not in base:
                base.append(cap)
    caps = [c for c in base if c not in named_drop]
    caps += [c for c in named_add if c not in caps and c not in named_drop]
    order = {c: i for i, c in enumerate(ALL_CAPABILITIES)}
    return sorted(caps, key=order.__getitem__)


def _has_sys_resource() -> bool:
    """Whether ocimux may raise limits above its own (unknown: assume so, as before)."""
    return effective_has("CAP_SYS_RESOURCE") is not False


def _rlimits(asked: Sequence[Ulimit], defaults: ContainerDefaults) -> list[dict[str, Any]]:
    """podman's nofile/nproc defaults (clamped to what this host allows), configured, asked."""
    can_raise = _has_sys_resource()
    limits: dict[str, tuple[int, int, str]] = {}
    for name in ("nofile", "nproc"):
        value = _RLIMIT_DEFAULT
        own = _own_hard(name) if not can_raise else -1
        if own != -1:  # -1: the host's hard limit is unlimited, podman's default fits
            value = min(value, own)
        limits[name] = (value, value, "")
    for text in defaults.ulimits:
        try:
            u = parse_ulimit(text)
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(f"{defaults.source} default_ulimits: {exc.detail}") from None
        limits[u.name] = (u.soft, u.hard, f"{defaults.source} default_ulimits")
    for u in asked:
        limits[u.name] = (u.soft, u.hard, "--ulimit")
    out = []
    for name, (soft, hard, source) in limits.items():
        own = _own_hard(name)
        if source and not can_raise and own != -1 and (hard == -1 or hard > own):
            shown = "unlimited" if hard == -1 else hard
            raise InvalidArgumentError(
                f"cannot set {source} {name} to {shown}: this host allows at most {own} "
                "(ocimux lacks CAP_SYS_RESOURCE)",
                hint=f"use {name}={own}:{own} or less",
            )
        unlimited = 2**64 - 1
        out.append({
            "type": f"RLIMIT_{name.upper()}",
            "hard": unlimited if hard == -1 else hard,
            "soft": unlimited if soft == -1 else soft,
        })  # fmt: skip
    return out


def _oom_score_adj(value: int, source: str) -> int:
    """`value`, if this host lets ocimux give it: lowering a score below its own needs
    CAP_SYS_RESOURCE (proc(5)), else the runtime's create fails with EACCES."""
    if value < _own_oom_score_adj() and not _has_sys_resource():
        raise InvalidArgumentError(
            f"cannot set {source} to {value}: below ocimux's own ({_own_oom_score_adj()}), "
            "which needs CAP_SYS_RESOURCE, and ocimux lacks it",
            hint=f"use {_own_oom_score_adj()} or more",
        )
    return value


def _own_oom_score_adj() -> int:
    try:
        with open("/proc/self/oom_score_adj", encoding="ascii") as fh:
            return int(fh.read().strip() or 0)
    except (OSError, ValueError):
        return -1000  # unknown: let the runtime decide


def _own_hard(name: str) -> int:
    number = getattr(resource, f"RLIMIT_{name.upper()}", None)
    if number is None:
        return -1
    hard = resource.getrlimit(number)[1]
    return -1 if hard == resource.RLIM_INFINITY else hard


def _sysctls(
    cfg: ContainerConfig, defaults: ContainerDefaults, current: Mapping[str, str]
) -> dict[str, str]:
    out = dict(current)
    for text in defaults.sysctls:
        if cfg.network == "host" and text.startswith("net."):
            continue  # podman leaves the default net.* sysctls out with the host's network
        try:
            key, value = parse_sysctl(text, cfg.network)
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(f"{defaults.source} default_sysctls: {exc.detail}") from None
        out[key] = value
    for key, value in cfg.sysctls:
        parse_sysctl(f"{key}={value}", cfg.network)
        out[key] = value
    return out


def _paths(linux: dict[str, Any], cfg: ContainerConfig) -> None:
    if cfg.privileged or "ALL" in cfg.unmask:
        masked: list[str] = []
        readonly: list[str] = []
    else:
        masked = [p for p in MASKED_PATHS if p not in cfg.unmask]
        readonly = [p for p in READONLY_PATHS if p not in cfg.unmask]
    masked += [p for p in cfg.mask if p not in masked]
    linux["maskedPaths"] = masked
    linux["readonlyPaths"] = readonly


# --- linux: resources, devices, seccomp, init ------------------------------------------------


def _resources(
    linux: dict[str, Any],
    cfg: ContainerConfig,
    defaults: ContainerDefaults,
    can: Callable[[str], bool],
) -> None:
    res = linux.setdefault("resources", {})
    lim = cfg.limits
    mem: dict[str, int] = {}
    if lim.memory is not None:
        if lim.memory < _MIN_MEMORY:
            raise InvalidArgumentError(
                f"invalid --memory {lim.memory}: the minimum is 6 MiB (podman's)"
            )
        mem["limit"] = lim.memory
    if lim.memory_swap is not None:
        if lim.memory is None:
            raise InvalidArgumentError("--memory-swap needs --memory (swap counts on top of it)")
        if lim.memory_swap != -1 and lim.memory_swap < lim.memory:
            raise InvalidArgumentError(
                f"invalid --memory-swap {lim.memory_swap}: it must be at least --memory "
                f"({lim.memory}), or -1 for unlimited swap"
            )
        mem["swap"] = lim.memory_swap
    if lim.memory_reservation is not None:
        if lim.memory is not None and lim.memory_reservation > lim.memory:
            raise InvalidArgumentError("--memory-reservation must not exceed --memory")
        mem["reservation"] = lim.memory_reservation
    if mem:
        res["memory"] = mem
    cpu: dict[str, Any] = {}
    for key, value in (
        ("quota", lim.cpu_quota),
        ("period", lim.cpu_period),
        ("shares", lim.cpu_shares),
    ):
        if value is not None:
            cpu[key] = value
    if lim.cpu_shares is not None and not 2 <= lim.cpu_shares <= 262144:
        raise InvalidArgumentError(f"invalid --cpu-shares {lim.cpu_shares}: use 2 to 262144")
    for key, value, option in (
        ("cpus", lim.cpuset_cpus, "--cpuset-cpus"),
        ("mems", lim.cpuset_mems, "--cpuset-mems"),
    ):
        if value is not None:
            _cpuset(value, option, key)
            cpu[key] = value
    if cpu:
        res["cpu"] = cpu
    if lim.pids_limit is not None:
        if lim.pids_limit > 0:
            res["pids"] = {"limit": lim.pids_limit}
        else:
            res.pop("pids", None)
    elif defaults.pids_limit > 0 and can("resource_limits") and "pids" not in res:
        res["pids"] = {"limit": defaults.pids_limit}
    if defaults.cgroup_conf:  # cgroup v2 files, under any the container writes itself
        unified = res.setdefault("unified", {})
        for key, value in defaults.cgroup_conf:
            unified.setdefault(key, value)


def _cpuset(value: str, option: str, kind: str) -> None:
    if not _CPUSET.fullmatch(value):
        raise InvalidArgumentError(f"invalid {option} {value!r}: use a list such as 0-1,3")
    if kind != "cpus":
        return
    count = os.cpu_count() or 1
    for part in value.split(","):
        low, _, high = part.partition("-")
        if int(high or low) >= count or int(low) > int(high or low):
            raise InvalidArgumentError(
                f"invalid {option} {value!r}: this host has CPUs 0-{count - 1}"
            )


def _devices(linux: dict[str, Any], cfg: ContainerConfig, defaults: ContainerDefaults) -> None:
    # containers.conf's devices come with every container's own (podman adds both)
    own = {d.container_path for d in cfg.devices}
    wanted = [d for d in defaults.devices if d.container_path not in own] + list(cfg.devices)
    if cfg.privileged:
        wanted = devices.host_devices() + wanted
    if not wanted:
        return
    entries, rules = devices.device_entries(wanted)
    res = linux.setdefault("resources", {})
    if cfg.privileged:
        rules = [{"allow": True, "access": "rwm"}]
    res["devices"] = [*res.get("devices", [{"allow": False, "access": "rwm"}]), *rules]
    linux["devices"] = entries


def _seccomp(
    linux: dict[str, Any],
    cfg: ContainerConfig,
    defaults: ContainerDefaults,
    caps: Sequence[str],
    can: Callable[[str], bool],
) -> str:
    linux.pop("seccomp", None)
    if cfg.privileged or cfg.seccomp == "unconfined":
        return "unconfined"
    if cfg.seccomp is not None:
        path = cfg.seccomp
    else:
        path = defaults.seccomp_profile
        if not path or not can("seccomp"):
            return "none (the runtime does not apply seccomp profiles)" if path else "none"
        if not os.path.exists(path):
            return f"none ({path} does not exist; install golang-github-containers-common)"
    linux["seccomp"] = seccomp.to_oci(seccomp.load_profile(path), capabilities=caps)
    return path


def _init(spec: dict[str, Any], cfg: ContainerConfig, defaults: ContainerDefaults) -> None:
    configured = (cfg.init_path, defaults.init_path, defaults.engine_init_path)
    candidates = [p for p in configured if p] or list(INIT_CANDIDATES)
    path = next((p for p in candidates if os.path.isfile(p) and os.access(p, os.X_OK)), None)
    if path is None:
        raise InvalidArgumentError(
            f"an init (--init, [containers] init) needs catatonit, not found at "
            f"{', '.join(candidates)}",
            hint="apt install catatonit, or set [containers] init_path",
        )
    spec["mounts"].append(
        spec_mount(
            Mount(
                "bind", INIT_PATH_IN_CONTAINER, os.path.realpath(path), ("bind", "ro", "rprivate")
            )
        )
    )
    proc = spec["process"]
    proc["args"] = [INIT_PATH_IN_CONTAINER, "--", *proc["args"]]
