"""The CLI's container flags (`run`, `create`) as a `ContainerConfig`, plus env files and entrypoint."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping

from ocimux.base.errors import InvalidArgumentError
from ocimux.base.signals import parse_signal
from ocimux.oci.containerconfig import ContainerConfig, Limits
from ocimux.oci.flagvalues import (
    parse_capabilities,
    parse_cpus,
    parse_device,
    parse_env_file,
    parse_labels,
    parse_mount,
    parse_network,
    parse_pids_limit,
    parse_security_opt,
    parse_size,
    parse_sysctl,
    parse_tmpfs,
    parse_ulimit,
    parse_volume,
)
from ocimux.oci.logsize import parse_log_opts
from ocimux.oci.seccomp import load_profile

__all__ = ["container_config", "entrypoint", "env_files", "split_rootfs"]


def container_config(args: argparse.Namespace, *, overlay: bool = False) -> ContainerConfig:
    """Parse every container flag of `args`; raises InvalidArgumentError naming a bad one."""
    network = parse_network(args.network) if args.network is not None else None
    security = parse_security_opt(args.security_opt)
    quota = period = None
    if args.cpus is not None:
        quota, period = parse_cpus(args.cpus)
    limits = Limits(
        memory=parse_size(args.memory, "--memory") if args.memory else None,
        memory_swap=_swap(args.memory_swap),
        memory_reservation=parse_size(args.memory_reservation, "--memory-reservation")
        if args.memory_reservation
        else None,
        cpu_quota=quota,
        cpu_period=period,
        cpu_shares=args.cpu_shares,
        cpuset_cpus=args.cpuset_cpus,
        cpuset_mems=args.cpuset_mems,
        pids_limit=parse_pids_limit(args.pids_limit) if args.pids_limit is not None else None,
    )
    mounts = (
        *(parse_volume(v) for v in args.volume),
        *(parse_mount(v) for v in args.mount),
        *(parse_tmpfs(v) for v in args.tmpfs),
    )
    return ContainerConfig(
        mounts=mounts,
        read_only=args.read_only,
        read_only_tmpfs=args.read_only_tmpfs,
        limits=limits,
        cap_add=parse_capabilities(args.cap_add, "--cap-add"),
        cap_drop=parse_capabilities(args.cap_drop, "--cap-drop"),
        privileged=args.privileged,
        no_new_privileges=security.no_new_privileges,
        seccomp=_seccomp_file(security.seccomp),
        mask=tuple(security.mask),
        unmask=tuple(security.unmask),
        hostname=args.hostname,
        domainname=args.domainname,
        group_add=tuple(args.group_add),
        init=True if args.init_path and args.init is None else args.init,
        init_path=args.init_path,
        ulimits=tuple(parse_ulimit(u) for u in args.ulimit),
        sysctls=tuple(parse_sysctl(s, network or "none") for s in args.sysctl),
        devices=tuple(parse_device(d) for d in args.device),
        stop_signal=parse_signal(args.stop_signal) if args.stop_signal else None,
        network=network,
        labels=parse_labels(args.label),
        umask=args.umask,
        tz=args.tz,
        no_hosts=args.no_hosts,
        rootfs_overlay=overlay,
        pidfile=os.path.abspath(args.pidfile) if args.pidfile else None,
        log_size_max=parse_log_opts(args.log_opt),
        shm_size=_shm_size(args.shm_size),
        oom_score_adj=_oom_score_adj(args.oom_score_adj),
        env_host=args.env_host,
        http_proxy=args.http_proxy,
    )


def _shm_size(value: str | None) -> int | None:
    if value is None:
        return None
    size = parse_size(value, "--shm-size")
    if size <= 0:
        raise InvalidArgumentError(f"invalid --shm-size {value!r}: it must be greater than 0")
    return size


def _oom_score_adj(value: int | None) -> int | None:
    if value is not None and not -1000 <= value <= 1000:
        raise InvalidArgumentError(f"invalid --oom-score-adj {value}: use -1000 to 1000")
    return value


def _swap(value: str | None) -> int | None:
    if value is None:
        return None
    if value.strip() == "-1":
        return -1
    return parse_size(value, "--memory-swap")


def _seccomp_file(path: str | None) -> str | None:
    if path is None or path == "unconfined":
        return path
    if not os.path.isfile(path):
        raise InvalidArgumentError(
            f"invalid --security-opt seccomp={path}: no such file",
            hint="give a Docker-format seccomp profile (JSON), or seccomp=unconfined",
        )
    try:
        load_profile(path)  # a bad profile is a bad flag value, on every runtime
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(
            f"invalid --security-opt seccomp={path}: {exc.detail}", hint=exc.hint
        ) from None
    return path


def env_files(paths: list[str], environ: Mapping[str, str]) -> list[str]:
    """The entries of every `--env-file`, in order (before `-e`, which overrides them)."""
    out: list[str] = []
    for path in paths:
        out += parse_env_file(path, environ)
    return out


def entrypoint(value: str | None) -> tuple[str, ...]:
    """`--entrypoint`: a JSON array of strings, else one program (podman's two forms)."""
    if not value:
        return ()
    if value.lstrip().startswith("["):
        try:
            items = json.loads(value)
        except json.JSONDecodeError as exc:
            raise InvalidArgumentError(f"invalid --entrypoint {value!r}: {exc.msg}") from None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise InvalidArgumentError(f"invalid --entrypoint {value!r}: a JSON array of strings")
        return tuple(items)
    return (value,)


def split_rootfs(value: str) -> tuple[str, bool]:
    """`--rootfs DIR[:O]` -> (DIR, overlay?): `:O` gives the container its own writable layer."""
    if value.endswith(":O"):
        return value[:-2], True
    return value, False
