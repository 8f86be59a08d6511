"""`ContainerConfig`: how a container is configured, beyond its command — one model for every front.

The CLI's flags (podman's names, parsed by `flagvalues.py`), the Python API and the Docker API's
`Config`/`HostConfig` all map into this one frozen value; `specbuilder.apply_config` turns it into
the runtime-spec document. Every field is applied or the create fails before anything runs
(`specbuilder.required_capabilities` names what a runtime must be able to do for it).

Values here are already validated and normalised (sizes in bytes, signals as numbers, absolute
paths); build them with the parsers in `flagvalues.py`, which raise InvalidArgumentError naming
the option. `to_dict`/`from_dict` round-trip through JSON (the container's record keeps it, so
`inspect` shows what was applied and a restart re-creates the same container).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Final, Literal

__all__ = [
    "NETWORK_MODES",
    "ContainerConfig",
    "Device",
    "Limits",
    "Mount",
    "Ulimit",
]

#: the network modes ocimux can honour: it has no network stack of its own
NETWORK_MODES: Final = ("none", "host")


@dataclass(frozen=True, slots=True)
class Mount:
    """A bind mount of a host path, or a tmpfs, at `destination` inside the container.

    `options` are runtime-spec mount options (`ro`, `nosuid`, `rprivate`, `size=65536k`, ...);
    a bind always carries `rbind` or `bind`.
    """

    type: Literal["bind", "tmpfs"]
    destination: str
    source: str = ""
    options: tuple[str, ...] = ()

    @property
    def readonly(self) -> bool:
        return "ro" in self.options


@dataclass(frozen=True, slots=True)
class Ulimit:
    """A resource limit by podman's name (`nofile`, `nproc`, ...); -1 means unlimited."""

    name: str
    soft: int
    hard: int


@dataclass(frozen=True, slots=True)
class Device:
    """A host device node made available at `container_path` with `permissions` (r, w, m)."""

    host_path: str
    container_path: str
    permissions: str = "rwm"


@dataclass(frozen=True, slots=True)
class Limits:
    """cgroup limits at create; None leaves a limit unset. Sizes in bytes, CPU in microseconds.

    `memory_swap` is memory plus swap (-1: unlimited swap), as podman and docker mean it.
    `pids_limit` -1 means unlimited (podman's spelling), which overrides the configured default.
    """

    memory: int | None = None
    memory_swap: int | None = None
    memory_reservation: int | None = None
    cpu_quota: int | None = None
    cpu_period: int | None = None
    cpu_shares: int | None = None
    cpuset_cpus: str | None = None
    cpuset_mems: str | None = None
    pids_limit: int | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))


@dataclass(frozen=True, slots=True)
class ContainerConfig:
    """Everything about a container besides its command, user, env and working directory.

    Defaults mean "as configured" (containers.conf `[containers]`, else podman's defaults);
    see `specbuilder.py` for how each field becomes part of the runtime spec.
    """

    #: bind mounts and tmpfs mounts (`-v`, `--mount`, `--tmpfs`, Docker's Binds/Mounts/Tmpfs)
    mounts: tuple[Mount, ...] = ()
    #: mount the root filesystem read-only (`--read-only`); None: containers.conf `read_only`
    read_only: bool | None = None
    #: with `read_only`, tmpfs on /dev, /dev/shm, /run, /tmp and /var/tmp (podman's default)
    read_only_tmpfs: bool = True
    limits: Limits = field(default_factory=Limits)
    #: capability names, CAP_ prefixed, or "ALL"
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    #: None: containers.conf `privileged` (default false)
    privileged: bool | None = None
    no_new_privileges: bool = False
    #: None: the configured default profile; "unconfined": none; else an absolute file path
    seccomp: str | None = None
    #: extra paths to mask, and paths (or "ALL") to unmask (`--security-opt mask=/unmask=`)
    mask: tuple[str, ...] = ()
    unmask: tuple[str, ...] = ()
    #: None: the container's short id (podman's default)
    hostname: str | None = None
    domainname: str | None = None
    #: supplementary groups, names (looked up in the rootfs) or numbers
    group_add: tuple[str, ...] = ()
    #: run an init (catatonit) as PID 1 that reaps zombies and forwards signals;
    #: None: containers.conf `init` (default false)
    init: bool | None = None
    init_path: str | None = None
    ulimits: tuple[Ulimit, ...] = ()
    sysctls: tuple[tuple[str, str], ...] = ()
    devices: tuple[Device, ...] = ()
    #: None: the image's or SIGTERM
    stop_signal: int | None = None
    #: "none" or "host"; None: containers.conf `netns` (podman's default "private" is "none":
    #: ocimux has no network stack, so a private namespace has only loopback)
    network: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    #: the file mode creation mask of the container's processes, e.g. "0022" (None: configured)
    umask: str | None = None
    #: "local" (the host's), an IANA zone name, or None (configured; default: the image's)
    tz: str | None = None
    #: don't generate /etc/hosts (containers.conf `no_hosts`); None: configured
    no_hosts: bool | None = None
    #: give the container its own copy-on-write layer over the rootfs (`--rootfs DIR:O`, images)
    rootfs_overlay: bool = False
    #: write the container's pid here once it has started (`--pidfile`)
    pidfile: str | None = None
    #: the log's cap in bytes, -1 none (`--log-opt max-size`, LogConfig max-size; logsize.py);
    #: None: containers.conf `[containers] log_size_max`
    log_size_max: int | None = None
    #: the size of /dev/shm in bytes (`--shm-size`); None: containers.conf `shm_size`
    shm_size: int | None = None
    #: the process's OOM score adjustment, -1000 to 1000 (`--oom-score-adj`); None:
    #: containers.conf `oom_score_adj` (unset: inherited)
    oom_score_adj: int | None = None
    #: pass every host environment variable (`--env-host`); None: containers.conf `env_host`
    env_host: bool | None = None
    #: pass the host's proxy variables (`--http-proxy`); None: containers.conf `http_proxy`
    http_proxy: bool | None = None

    def is_default(self) -> bool:
        """Whether nothing was asked for (a container built from configured defaults only)."""
        return self == ContainerConfig()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of the fields that differ from the defaults."""
        out: dict[str, Any] = {}
        default = ContainerConfig()
        for f in fields(self):
            value = getattr(self, f.name)
            if value == getattr(default, f.name):
                continue
            if f.name in ("labels", "sysctls"):
                out[f.name] = dict(value)
            elif f.name == "limits":
                out[f.name] = {k: v for k, v in _jsonable(value).items() if v is not None}
            else:
                out[f.name] = _jsonable(value)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ContainerConfig:
        """Rebuild from `to_dict()` output; unknown keys are ignored (a newer record)."""
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                continue
            if key == "mounts":
                value = tuple(
                    Mount(m["type"], m["destination"], m.get("source", ""), tuple(m["options"]))
                    for m in value
                )
            elif key == "ulimits":
                value = tuple(Ulimit(u["name"], u["soft"], u["hard"]) for u in value)
            elif key == "devices":
                value = tuple(
                    Device(d["host_path"], d["container_path"], d["permissions"]) for d in value
                )
            elif key == "limits":
                value = Limits(**value)
            elif key in ("sysctls", "labels"):
                pairs = value.items() if isinstance(value, dict) else value
                value = tuple((str(k), str(v)) for k, v in pairs)
            elif isinstance(value, list):
                value = tuple(value)
            kwargs[key] = value
        return cls(**kwargs)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mount | Ulimit | Device | Limits):
        return {f.name: _jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value
