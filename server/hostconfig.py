"""Docker's container-create body (`Config`, `HostConfig`) as ocimux's `ContainerConfig`.

`container_config(body, seccomp_dir=...)` maps every field ocimux can honour, with the
parsers the CLI uses (`flagvalues.py`), so `Binds: ["/a:/b:ro"]` means what `-v /a:/b:ro`
means. A bad value raises InvalidArgumentError naming the field (HTTP 400, nothing created);
fields ocimux cannot honour at all are refused before this by `unsupported.py`. What the
chosen runtime cannot do is the Dispatcher's question (CapabilityError, also 400);
`docker_option` names the Docker field in its message. jsonfields.py reads the JSON,
dockercommand.py handles Entrypoint and Cmd.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Final

from ocimux.base.errors import CapabilityError
from ocimux.base.files import private_dir
from ocimux.base.signals import parse_signal
from ocimux.oci.containerconfig import NETWORK_MODES, ContainerConfig, Device, Limits, Mount, Ulimit
from ocimux.oci.flagvalues import (
    SecurityOpts,
    parse_capabilities,
    parse_cpus,
    parse_device,
    parse_mount,
    parse_pids_limit,
    parse_security_opt,
    parse_size,
    parse_sysctl,
    parse_tmpfs,
    parse_ulimit,
    parse_volume,
)
from ocimux.oci.logsize import parse_log_size

from .jsonfields import (
    as_object,
    as_str_map,
    as_strings,
    bad,
    each_item,
    get_bool,
    get_int,
    get_str,
    prefixed,
    refuse,
)
from .unsupported import is_empty

__all__ = ["DEFAULT_NETWORKS", "container_config", "docker_option"]

#: NetworkMode values meaning "Docker's default network": docker CLI 28 sends "default"
#: ("bridge" for an explicit `--network bridge`, which older clients and compose also send
#: for the default), docker-py "default", raw clients "". ocimux has no bridge: "" and
#: "default" take containers.conf's `netns` (podman's compat API does the same; unset, a
#: private network namespace with only loopback, `none`), "bridge" is `none`.
DEFAULT_NETWORKS: Final = ("", "default", "bridge")
#: Docker's --shm-size tmpfs on /dev/shm (moby `daemon/oci_linux.go`)
_SHM_OPTIONS: Final = ("rw", "noexec", "nosuid", "nodev", "mode=1777")
_LOG_TYPES: Final = ("", "json-file", "k8s-file")
#: a seccomp SecurityOpt, in Docker's current and older spellings
_SECCOMP_PREFIXES: Final = ("seccomp=", "seccomp:")
#: the option names the Dispatcher's CapabilityError uses (specbuilder.required_capabilities)
#: -> the Docker fields they come from
_DOCKER_FIELDS: Final = {
    "--volume/--mount/--tmpfs": "HostConfig.Binds/Mounts/Tmpfs/ShmSize",
    "--read-only": "HostConfig.ReadonlyRootfs",
    "--cap-add/--cap-drop": "HostConfig.CapAdd/CapDrop",
    "--security-opt seccomp": "HostConfig.SecurityOpt seccomp",
    "--security-opt no-new-privileges": "HostConfig.SecurityOpt no-new-privileges",
    "--security-opt mask/unmask": "HostConfig.SecurityOpt mask/unmask or MaskedPaths",
    "--hostname": "Config.Hostname",
    "--domainname": "Config.Domainname",
    "--group-add": "HostConfig.GroupAdd",
    "--init": "HostConfig.Init",
    "--ulimit": "HostConfig.Ulimits",
    "--sysctl": "HostConfig.Sysctls",
    "--user": "Config.User",
    "--memory/--cpus/--pids-limit": "HostConfig.Memory/NanoCpus/CpuQuota/PidsLimit...",
    "--network host": "HostConfig.NetworkMode host",
    "--device": "HostConfig.Devices",
    "--privileged": "HostConfig.Privileged",
}


# --- the mapping -----------------------------------------------------------------------------


def container_config(body: dict[str, Any], *, seccomp_dir: Path) -> ContainerConfig:
    """Map a create body (Config fields at the top, `HostConfig`, `NetworkingConfig`).

    Every container gets its own copy-on-write layer over the image (`rootfs_overlay`), so
    nothing it writes reaches the image. `ReadonlyRootfs` means Docker's read-only root: no
    tmpfs on /run, /tmp, /var/tmp unless asked for (podman adds them). A seccomp profile sent
    inline (`SecurityOpt: ["seccomp=<JSON>"]`, as the docker CLI sends a profile file's
    contents) is written to `seccomp_dir` under its SHA-256 and used from there.
    Raises InvalidArgumentError naming the field for a value that is malformed or refused.
    """
    host = as_object(body.get("HostConfig"), "HostConfig")
    network = _network(body, host)
    log_size_max = _log_config(host)
    security = _security_opts(host, seccomp_dir)
    stop_signal = get_str(body, "StopSignal", "Config")
    with prefixed("Config.StopSignal"):
        signal = parse_signal(stop_signal) if stop_signal else None
    sysctls = as_str_map(host.get("Sysctls"), "HostConfig.Sysctls")
    read_only = _given_bool(host, "ReadonlyRootfs")
    mounts = _mounts(host)
    _volumes(body, mounts)
    return ContainerConfig(
        mounts=mounts,
        read_only=read_only,
        read_only_tmpfs=not read_only,  # Docker's read-only root has no tmpfs of its own
        limits=_limits(host),
        cap_add=_capabilities(host, "CapAdd"),
        cap_drop=_capabilities(host, "CapDrop"),
        privileged=_given_bool(host, "Privileged"),
        no_new_privileges=security.no_new_privileges,
        seccomp=security.seccomp,
        mask=tuple(security.mask),
        unmask=(*security.unmask, *_system_paths(host)),
        hostname=get_str(body, "Hostname", "Config") or None,
        domainname=get_str(body, "Domainname", "Config") or None,
        group_add=tuple(as_strings(host.get("GroupAdd"), "HostConfig.GroupAdd")),
        init=_given_bool(host, "Init"),
        ulimits=tuple(each_item(host, "Ulimits", _ulimit)),
        sysctls=tuple(_sysctl(k, v, network or "none") for k, v in sysctls.items()),
        devices=tuple(each_item(host, "Devices", _device)),
        stop_signal=signal,
        network=network,
        labels=tuple(as_str_map(body.get("Labels"), "Config.Labels").items()),
        rootfs_overlay=True,
        log_size_max=log_size_max,
    )


def _given_bool(host: dict[str, Any], key: str) -> bool | None:
    """A HostConfig flag as given; absent or null: None, containers.conf's default (the docker
    CLI sends ReadonlyRootfs and Privileged always, so there they decide, as in podman)."""
    return None if host.get(key) is None else get_bool(host, key, "HostConfig")


def _mounts(host: dict[str, Any]) -> tuple[Mount, ...]:
    """Binds, then Mounts, then Tmpfs, then ShmSize's /dev/shm (`docker_notes` counts them)."""
    binds = as_strings(host.get("Binds"), "HostConfig.Binds")
    tmpfs = as_str_map(host.get("Tmpfs"), "HostConfig.Tmpfs")
    shm = get_int(host, "ShmSize", "HostConfig")
    if shm < 0:
        raise bad("HostConfig.ShmSize", "it must not be negative")
    return (
        *each_item({"Binds": binds}, "Binds", _bind),
        *each_item(host, "Mounts", _mount),
        *(_tmpfs(dst, opts) for dst, opts in tmpfs.items()),
        *([Mount("tmpfs", "/dev/shm", "shm", (*_SHM_OPTIONS, f"size={shm}"))] if shm else []),
    )


def _volumes(body: dict[str, Any], mounts: tuple[Mount, ...]) -> None:
    """Config.Volumes: each destination must be one of the mounts (docker-py lists its binds
    there); any other would be an anonymous volume, which needs a volume store."""
    taken = {m.destination for m in mounts}
    for dst in as_object(body.get("Volumes"), "Config.Volumes"):
        if not isinstance(dst, str) or os.path.normpath(dst) not in taken:
            raise refuse(
                f"Config.Volumes {dst!r}",
                "an anonymous volume needs a volume store, which ocimux does not have "
                "(bind a host directory with Binds or Mounts)",
            )


def _capabilities(host: dict[str, Any], key: str) -> tuple[str, ...]:
    field = f"HostConfig.{key}"
    return parse_capabilities(as_strings(host.get(key), field), field)


def _network(body: dict[str, Any], host: dict[str, Any]) -> str | None:
    mode = get_str(host, "NetworkMode", "HostConfig")
    network: str | None
    if mode in ("", "default"):
        network = None  # containers.conf's netns, as podman's compat API does
    elif mode == "bridge":
        network = "none"
    elif mode in NETWORK_MODES:
        network = mode
    else:
        raise refuse(
            f"HostConfig.NetworkMode {mode!r}", "it has no network stack (only none and host)"
        )
    if get_bool(body, "NetworkDisabled", "Config"):
        if network == "host":
            raise bad("Config.NetworkDisabled", "it contradicts HostConfig.NetworkMode host")
        network = "none"  # never the host's through containers.conf's netns
    net = as_object(body.get("NetworkingConfig"), "NetworkingConfig")
    endpoints = as_object(net.get("EndpointsConfig"), "NetworkingConfig.EndpointsConfig")
    for name, endpoint in endpoints.items():
        where = f"NetworkingConfig.EndpointsConfig.{name}"
        if name not in (*DEFAULT_NETWORKS, *NETWORK_MODES, mode):
            raise refuse(where, "it has no networks to connect to")
        given = sorted(k for k, v in as_object(endpoint, where).items() if not is_empty(v))
        if given:
            raise refuse(f"{where}.{given[0]}", "it has no network stack")
    return network


def _log_config(host: dict[str, Any]) -> int | None:
    """json-file, k8s-file or empty: ocimux keeps a k8s-file log (reported as json-file).

    Returns the cap `Config["max-size"]` asks for (decimal units, as dockerd reads it; -1:
    none), or None for the configured `log_size_max`; any other option is refused.
    """
    log = as_object(host.get("LogConfig"), "HostConfig.LogConfig")
    kind = get_str(log, "Type", "HostConfig.LogConfig")
    if kind not in _LOG_TYPES:
        raise refuse(
            f"HostConfig.LogConfig.Type {kind!r}",
            "it always keeps the container's output in a k8s-file log, which /logs reads "
            "(use json-file, k8s-file or leave it empty)",
        )
    options = as_str_map(log.get("Config"), "HostConfig.LogConfig.Config")
    for key in options:
        if key != "max-size":
            raise refuse(
                f"HostConfig.LogConfig.Config {key!r}",
                "its k8s-file log takes only max-size (the log's cap)",
            )
    if "max-size" not in options:
        return None
    with prefixed("HostConfig.LogConfig.Config"):
        return parse_log_size(options["max-size"], "max-size")


def _mount(item: Any, where: str) -> Mount:
    """One of Docker's structured Mounts (bind or tmpfs) through the `--mount` parser."""
    m = as_object(item, where)
    kind = get_str(m, "Type", where)
    if kind not in ("bind", "tmpfs"):
        raise refuse(f"{where}.Type {kind!r}", "it has no volume store (use bind or tmpfs)")
    source, target = get_str(m, "Source", where), get_str(m, "Target", where)
    if not target:
        raise bad(f"{where}.Target", "a mount needs a Target")
    if any("," in p for p in (source, target)):
        raise bad(where, "ocimux cannot mount a path that contains ','")
    items = [f"type={kind}", f"destination={target}"]
    if get_bool(m, "ReadOnly", where):
        items.append("readonly=true")
    if as_object(m.get("VolumeOptions"), f"{where}.VolumeOptions"):
        raise bad(f"{where}.VolumeOptions", "it applies to volumes only")
    bind = as_object(m.get("BindOptions"), f"{where}.BindOptions")
    tmpfs = as_object(m.get("TmpfsOptions"), f"{where}.TmpfsOptions")
    if kind == "bind":
        if tmpfs:
            raise bad(f"{where}.TmpfsOptions", "it applies to tmpfs mounts only")
        items.append(f"source={source}")
        propagation = get_str(bind, "Propagation", f"{where}.BindOptions")
        if propagation:
            items.append(f"bind-propagation={propagation}")
        if get_bool(bind, "NonRecursive", f"{where}.BindOptions"):
            items.append("bind-nonrecursive")
        for key in ("CreateMountpoint", "ReadOnlyNonRecursive", "ReadOnlyForceRecursive"):
            if get_bool(bind, key, f"{where}.BindOptions"):
                raise refuse(f"{where}.BindOptions.{key}", "it binds existing host paths only")
    else:
        if source:
            raise bad(f"{where}.Source", "a tmpfs has no Source")
        if bind:
            raise bad(f"{where}.BindOptions", "it applies to bind mounts only")
        size = get_int(tmpfs, "SizeBytes", f"{where}.TmpfsOptions")
        if size:
            items.append(f"tmpfs-size={size}")
        mode = get_int(tmpfs, "Mode", f"{where}.TmpfsOptions")
        if not 0 <= mode <= 0o7777:
            raise bad(f"{where}.TmpfsOptions.Mode", "use permission bits (0 to 0o7777)")
        if mode:
            items.append(f"tmpfs-mode={mode:o}")
        if tmpfs.get("Options"):
            raise refuse(f"{where}.TmpfsOptions.Options", "give size and mode only")
    with prefixed(where):
        return parse_mount(",".join(items))


def _bind(item: str, where: str) -> Mount:
    with prefixed(where):
        return parse_volume(item)


def _tmpfs(dst: str, opts: str) -> Mount:
    with prefixed("HostConfig.Tmpfs"):
        return parse_tmpfs(f"{dst}:{opts}" if opts else dst)


def _ulimit(item: Any, where: str) -> Ulimit:
    u = as_object(item, where)
    name = get_str(u, "Name", where)
    soft, hard = get_int(u, "Soft", where), get_int(u, "Hard", where)
    with prefixed(where):
        return parse_ulimit(f"{name}={soft}:{hard}")


def _sysctl(key: str, value: str, network: str) -> tuple[str, str]:
    with prefixed("HostConfig.Sysctls"):
        return parse_sysctl(f"{key}={value}", network)


def _device(item: Any, where: str) -> Device:
    d = as_object(item, where)
    host = get_str(d, "PathOnHost", where)
    inside = get_str(d, "PathInContainer", where) or host
    perms = get_str(d, "CgroupPermissions", where) or "rwm"
    with prefixed(where):
        return parse_device(f"{host}:{inside}:{perms}")


def _limits(host: dict[str, Any]) -> Limits:
    def size(key: str) -> int | None:
        value = get_int(host, key, "HostConfig")
        return parse_size(value, f"HostConfig.{key}") if value else None

    nano = get_int(host, "NanoCpus", "HostConfig")
    quota = get_int(host, "CpuQuota", "HostConfig") or None
    period = get_int(host, "CpuPeriod", "HostConfig") or None
    if nano:
        if quota or period:
            raise bad("HostConfig.NanoCpus", "give NanoCpus or CpuQuota/CpuPeriod, not both")
        with prefixed("HostConfig.NanoCpus"):
            quota, period = parse_cpus(nano / 1e9)  # period 100000 µs, as Docker's
    for key, value in (("CpuQuota", quota), ("CpuPeriod", period)):
        if value is not None and value < 0:
            raise bad(f"HostConfig.{key}", "it must not be negative")
    swap = get_int(host, "MemorySwap", "HostConfig")
    shares = get_int(host, "CpuShares", "HostConfig")
    if shares < 0:
        raise bad("HostConfig.CpuShares", "it must not be negative")
    pids = get_int(host, "PidsLimit", "HostConfig")
    with prefixed("HostConfig.PidsLimit"):
        pids_limit = parse_pids_limit(pids) if pids else None  # 0/null: the configured default
    return Limits(
        memory=size("Memory"),
        memory_swap=-1 if swap == -1 else size("MemorySwap"),
        memory_reservation=size("MemoryReservation"),
        cpu_quota=quota,
        cpu_period=period,
        cpu_shares=shares or None,
        cpuset_cpus=get_str(host, "CpusetCpus", "HostConfig") or None,
        cpuset_mems=get_str(host, "CpusetMems", "HostConfig") or None,
        pids_limit=pids_limit,
    )


def _security_opts(host: dict[str, Any], seccomp_dir: Path) -> SecurityOpts:
    items = []
    for item in as_strings(host.get("SecurityOpt"), "HostConfig.SecurityOpt"):
        if item.startswith(_SECCOMP_PREFIXES):
            profile = item[len("seccomp=") :]
            if profile != "unconfined":
                item = f"seccomp={_seccomp_file(profile, seccomp_dir)}"
        elif item.startswith("no-new-privileges:"):  # Docker's older spelling
            item = "no-new-privileges=" + item.partition(":")[2]
        items.append(item)
    with prefixed("HostConfig.SecurityOpt"):
        return parse_security_opt(items)


def _seccomp_file(profile: str, seccomp_dir: Path) -> str:
    """Write an inline seccomp profile (JSON) to `seccomp_dir`; return the file's path."""
    try:
        parsed = json.loads(profile)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise bad(
            "HostConfig.SecurityOpt seccomp",
            "give the profile's contents (a JSON object), as the docker CLI does, or unconfined",
        )
    data = profile.encode()
    path = seccomp_dir / f"{hashlib.sha256(data).hexdigest()}.json"
    if not path.exists():
        private_dir(seccomp_dir)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
        )
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    return str(path)


def _system_paths(host: dict[str, Any]) -> tuple[str, ...]:
    """MaskedPaths/ReadonlyPaths: both [] is the docker CLI's `systempaths=unconfined`."""
    masked, readonly = host.get("MaskedPaths"), host.get("ReadonlyPaths")
    if masked is None and readonly is None:
        return ()
    if masked == [] and readonly == []:
        return ("ALL",)
    raise refuse(
        "HostConfig.MaskedPaths/ReadonlyPaths other than both [] (systempaths=unconfined)",
        "use SecurityOpt mask=PATHS or unmask=PATHS",
    )


def docker_option(exc: CapabilityError) -> CapabilityError:
    """The same error, naming the Docker field beside the CLI option that needs the capability.

    Understands both ways the Dispatcher names the option: `exc.option`, or a verb of the
    form `create with OPTION`.
    """
    option = getattr(exc, "option", None)
    verb = exc.verb
    if option is None and verb and verb.startswith("create with "):
        option, verb = verb.removeprefix("create with "), "create"
    field = _DOCKER_FIELDS.get(option or "")
    if field is None:
        return exc
    out = CapabilityError(
        exc.capability, exc.reason, source=exc.source, container=exc.container,
        runtime=exc.runtime, verb=verb, option=f"{field} ({option})",
    )  # fmt: skip
    out.hint = "choose another HostConfig.Runtime (docker run --runtime; see `ocimux runtimes`)"
    return out
