"""What `GET /containers/{id}/json` reports of a container's configuration, in Docker's shapes.

Read back from the record: `rec.config["container"]` (the `ContainerConfig` asked for),
`rec.config["applied"]` (the hostname the container got) and the notes of
dockercommand.py (which Docker field each mount came from, Entrypoint and Cmd apart). A
container the CLI made has no notes: its bind mounts show as Binds, its tmpfs as Tmpfs.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

from ocimux.base.signals import signal_name
from ocimux.oci.containerconfig import ContainerConfig, Mount
from ocimux.oci.specbuilder import INIT_PATH_IN_CONTAINER

from .dockercommand import notes_of
from .shapes import labels_of

if TYPE_CHECKING:
    from ocimux.engine.store import ContainerRecord

__all__ = ["config_fields", "host_config", "mount_points", "network_mode", "user_command"]

_PROPAGATIONS: Final = (
    "shared", "rshared", "slave", "rslave", "private", "rprivate", "unbindable", "runbindable",
)  # fmt: skip
#: the size of /dev/shm when ShmSize is not given (core/oci/spec.py's 65536k)
_DEFAULT_SHM: Final = 64 << 20


def _config(rec: ContainerRecord) -> ContainerConfig:
    return ContainerConfig.from_dict(rec.config.get("container") or {})


def _log_options(size_max: int | None) -> dict[str, str]:
    """LogConfig.Config: the container's own cap on its log, as Docker shows max-size."""
    return {"max-size": str(size_max)} if size_max is not None and size_max > 0 else {}


def _notes(rec: ContainerRecord) -> dict[str, Any]:
    return notes_of(rec.config.get("annotations") or {})


def user_command(rec: ContainerRecord) -> tuple[list[str] | None, list[str]]:
    """(Entrypoint, Cmd) as the client gave them; (None, the whole command) without notes.

    The record's `command` is the process's argv, which `--init` prefixes with the init.
    """
    notes = _notes(rec)
    if "cmd" in notes:
        return notes.get("entrypoint"), list(notes.get("cmd") or [])
    argv = list(rec.config.get("command") or [])
    if _config(rec).init and argv[:2] == [INIT_PATH_IN_CONTAINER, "--"]:
        argv = argv[2:]
    return None, argv


def network_mode(rec: ContainerRecord) -> str:
    return _config(rec).network or "none"


def _split_mounts(rec: ContainerRecord, cfg: ContainerConfig) -> dict[str, list[Mount]]:
    """Mounts by the Docker field they came from: Binds, Mounts, Tmpfs, ShmSize."""
    counts = _notes(rec).get("mounts")
    mounts = list(cfg.mounts)
    out: dict[str, list[Mount]] = {"Binds": [], "Mounts": [], "Tmpfs": [], "ShmSize": []}
    if isinstance(counts, list) and len(counts) == 4 and sum(counts) == len(mounts):
        start = 0
        for key, count in zip(out, counts, strict=True):
            out[key] = mounts[start : start + count]
            start += count
        return out
    for m in mounts:
        out["Binds" if m.type == "bind" else "Tmpfs"].append(m)
    return out


def _propagation(m: Mount) -> str:
    return next(
        (o for o in m.options if o in _PROPAGATIONS), "rprivate" if m.type == "bind" else ""
    )


def _bind_text(m: Mount) -> str:
    """`SRC:DST[:OPTS]` as `-v` takes it: ro and what differs from the defaults."""
    opts = [o for o in m.options if o not in ("rbind", "rw", "rprivate")]
    return f"{m.source}:{m.destination}" + (f":{','.join(opts)}" if opts else "")


def _size(m: Mount) -> int:
    for o in m.options:
        match = re.fullmatch(r"size=(\d+)([kmg]?)", o)
        if match:
            return int(match.group(1)) << {"": 0, "k": 10, "m": 20, "g": 30}[match.group(2)]
    return 0


def _mode(m: Mount) -> int:
    return next((int(o[5:], 8) for o in m.options if re.fullmatch(r"mode=[0-7]+", o)), 0)


def _docker_mount(m: Mount) -> dict[str, Any]:
    """One entry of HostConfig.Mounts (the shape clients send)."""
    out: dict[str, Any] = {"Type": m.type, "Target": m.destination, "ReadOnly": m.readonly}
    if m.type == "bind":
        out["Source"] = m.source
        out["BindOptions"] = {"Propagation": _propagation(m)}
    else:
        out["TmpfsOptions"] = {"SizeBytes": _size(m), "Mode": _mode(m)}
    return out


def mount_points(rec: ContainerRecord) -> list[dict[str, Any]]:
    """The top-level `Mounts` of inspect: every bind and tmpfs, as Docker lists them."""
    cfg = _config(rec)
    shm = _split_mounts(rec, cfg)["ShmSize"]
    return [
        {
            "Type": m.type,
            "Source": m.source if m.type == "bind" else "",
            "Destination": m.destination,
            "Mode": "ro" if m.readonly else "",
            "RW": not m.readonly,
            "Propagation": _propagation(m),
        }  # fmt: skip
        for m in cfg.mounts
        if m not in shm
    ]


def _security_opt(cfg: ContainerConfig) -> list[str]:
    out = []
    if cfg.no_new_privileges:
        out.append("no-new-privileges")
    if cfg.seccomp is not None:
        out.append(f"seccomp={cfg.seccomp}")
    if cfg.mask:
        out.append(f"mask={':'.join(cfg.mask)}")
    if cfg.unmask:
        out.append(f"unmask={':'.join(cfg.unmask)}")
    return out


def host_config(rec: ContainerRecord) -> dict[str, Any]:
    """`HostConfig` of inspect: what was asked for, in the fields Docker clients read."""
    cfg = _config(rec)
    lim = cfg.limits
    mounts = _split_mounts(rec, cfg)
    nano = _notes(rec).get("nano_cpus") or 0
    shm = mounts["ShmSize"]
    return {
        "Binds": [_bind_text(m) for m in mounts["Binds"]] or None,
        "Mounts": [_docker_mount(m) for m in mounts["Mounts"]],
        "Tmpfs": {m.destination: ",".join(m.options) for m in mounts["Tmpfs"]},
        "ShmSize": _size(shm[0]) if shm else _DEFAULT_SHM,
        "ReadonlyRootfs": bool(cfg.read_only),
        "CapAdd": list(cfg.cap_add) or None,
        "CapDrop": list(cfg.cap_drop) or None,
        "Privileged": bool(cfg.privileged),
        "SecurityOpt": _security_opt(cfg) or None,
        "Memory": lim.memory or 0,
        "MemorySwap": lim.memory_swap or 0,
        "MemoryReservation": lim.memory_reservation or 0,
        "NanoCpus": nano,
        "CpuShares": lim.cpu_shares or 0,
        "CpuQuota": 0 if nano else lim.cpu_quota or 0,
        "CpuPeriod": 0 if nano else lim.cpu_period or 0,
        "CpusetCpus": lim.cpuset_cpus or "",
        "CpusetMems": lim.cpuset_mems or "",
        "PidsLimit": lim.pids_limit,
        "Ulimits": [{"Name": u.name, "Soft": u.soft, "Hard": u.hard} for u in cfg.ulimits],
        "Sysctls": dict(cfg.sysctls),
        "Devices": [
            {
                "PathOnHost": d.host_path,
                "PathInContainer": d.container_path,
                "CgroupPermissions": d.permissions,
            }
            for d in cfg.devices
        ],  # fmt: skip
        "GroupAdd": list(cfg.group_add) or None,
        "Init": bool(cfg.init),
        "NetworkMode": cfg.network or "none",
        # "json-file": Docker clients read logs only from drivers they know can be read
        # back; ocimux's k8s-file log can, through /logs
        "LogConfig": {"Type": "json-file", "Config": _log_options(cfg.log_size_max)},
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
        "Runtime": rec.runtime,
        "AutoRemove": bool(rec.config.get("auto_remove")),
        "PortBindings": {},
        "Isolation": "",
    }


def config_fields(rec: ContainerRecord) -> dict[str, Any]:
    """The `Config` fields inspect takes from the configuration (the rest are the record's)."""
    cfg = _config(rec)
    entrypoint, cmd = user_command(rec)
    applied = rec.config.get("applied") or {}
    stop = rec.config.get("stop_signal")
    return {
        "Hostname": applied.get("hostname") or cfg.hostname or rec.id[:12],
        "Domainname": cfg.domainname or "",
        "Labels": labels_of(rec),
        "StopSignal": signal_name(int(stop)) if isinstance(stop, int) else "SIGTERM",
        "Entrypoint": entrypoint,
        "Cmd": cmd,
    }
