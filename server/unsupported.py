"""The fields of Docker's container-create body that ocimux cannot honour, and their defaults.

`refuse_unsupported(body)` raises InvalidArgumentError (HTTP 400) naming every field of
`UNSUPPORTED` that holds something other than its default, with the reason, e.g.
`ocimux does not support HostConfig.PortBindings: it has no network stack`. A field at its
default passes: clients send most of these on every create. What the docker CLI 28.2 and
docker-py 7.2 send when nothing was asked for (captured from their requests, API 1.43):

- docker CLI: every Config and HostConfig field, zero-valued: `""`, `0`, `false`, `null`,
  `[]`, `{}` (`ExposedPorts` absent, `Volumes {}`, `PortBindings {}`, `Dns []`, `Ulimits []`,
  `Devices []`, `BlkioWeightDevice []`...), and besides: `RestartPolicy {"Name": "no",
  "MaximumRetryCount": 0}`, `MemorySwappiness -1`, `ConsoleSize [0, 0]`, `LogConfig {"Type":
  "", "Config": {}}`, `NetworkMode "default"` (`"bridge"` for `--network bridge`), and
  `NetworkingConfig.EndpointsConfig` `{}` or `{"default": {every field zero}}`.
- docker-py: only what was asked for, plus `NetworkDisabled false` and `HostConfig.NetworkMode
  "default"`; with `volumes=` it lists each bind's destination in `Volumes` too.

`Config.Volumes` is checked by hostconfig.py: a destination no mount covers would be an
anonymous volume, which needs a volume store.

The fields ocimux maps (hostconfig.py) and those that only concern the client (`AttachStdin`,
`ContainerIDFile`, which the docker CLI writes itself, ...) are listed in `MAPPED` and
`CLIENT_SIDE`; a key Docker does not define is ignored, as Docker ignores it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from ocimux.base.errors import InvalidArgumentError

__all__ = ["CLIENT_SIDE", "MAPPED", "UNSUPPORTED", "is_empty", "refuse_unsupported"]

_NO_NET: Final = "it has no network stack"
_NO_VOLUMES: Final = "it has no volume store (bind a host directory with Binds or Mounts)"
_WINDOWS: Final = "it is a Windows option"
_NO_OPTION: Final = "its container model has no such option"


def is_empty(value: Any) -> bool:
    """Docker's zero value: absent, null, false, 0, "", [] or {}."""
    return value is None or value is False or value == 0 or value in ("", [], {})


def _one_of(*allowed: str) -> Callable[[Any], bool]:
    return lambda value: value is None or value in allowed


def _no_restart(value: Any) -> bool:
    return value is None or (
        isinstance(value, dict)
        and value.get("Name") in (None, "", "no")
        and is_empty(value.get("MaximumRetryCount"))
    )


def _no_healthcheck(value: Any) -> bool:
    # {"Test": ["NONE"]} is --no-healthcheck: nothing to run, which ocimux honours
    return value is None or (isinstance(value, dict) and value.get("Test") in (None, [], ["NONE"]))


def _default_swappiness(value: Any) -> bool:
    return value is None or value == -1


#: (field, is it at its default?, why ocimux refuses anything else); "Config.X" is the
#: body's own field X, "HostConfig.X" is X of body["HostConfig"]
UNSUPPORTED: Final[tuple[tuple[str, Callable[[Any], bool], str], ...]] = (
    ("HostConfig.PortBindings", is_empty, _NO_NET),
    ("HostConfig.PublishAllPorts", is_empty, _NO_NET),
    ("Config.ExposedPorts", is_empty, _NO_NET),
    ("Config.MacAddress", is_empty, _NO_NET),
    ("HostConfig.Links", is_empty, _NO_NET),
    ("HostConfig.Dns", is_empty, f"{_NO_NET} (no resolv.conf of its own)"),
    ("HostConfig.DnsOptions", is_empty, f"{_NO_NET} (no resolv.conf of its own)"),
    ("HostConfig.DnsSearch", is_empty, f"{_NO_NET} (no resolv.conf of its own)"),
    ("HostConfig.ExtraHosts", is_empty, f"{_NO_NET}; {_NO_OPTION} for /etc/hosts entries"),
    ("HostConfig.RestartPolicy", _no_restart, "ocimux has no daemon to restart containers"),
    ("Config.Healthcheck", _no_healthcheck, "ocimux has no daemon to run health checks"),
    ("HostConfig.VolumeDriver", is_empty, _NO_VOLUMES),
    ("HostConfig.VolumesFrom", is_empty, _NO_VOLUMES),
    ("HostConfig.StorageOpt", is_empty, "an image is a directory, not a storage driver's layers"),
    ("HostConfig.IpcMode", _one_of("", "private"), "every container has its own IPC namespace"),
    ("HostConfig.PidMode", _one_of(""), "every container has its own PID namespace"),
    ("HostConfig.UTSMode", _one_of(""), "every container has its own UTS namespace"),
    ("HostConfig.UsernsMode", _one_of("", "host"), "it runs containers without a user namespace"),
    ("HostConfig.CgroupnsMode", _one_of("", "host"), "it gives containers no cgroup namespace"),
    ("HostConfig.Cgroup", is_empty, "a container cannot join another one's cgroup"),
    ("HostConfig.CgroupParent", is_empty, "the runtime chooses the container's cgroup"),
    ("HostConfig.OomScoreAdj", is_empty, _NO_OPTION),
    ("HostConfig.OomKillDisable", is_empty, _NO_OPTION),
    ("HostConfig.MemorySwappiness", _default_swappiness, _NO_OPTION),
    ("HostConfig.KernelMemory", is_empty, "kernel memory limits are deprecated by Linux"),
    ("HostConfig.KernelMemoryTCP", is_empty, "kernel memory limits are deprecated by Linux"),
    ("HostConfig.BlkioWeight", is_empty, "it sets no block IO limits"),
    ("HostConfig.BlkioWeightDevice", is_empty, "it sets no block IO limits"),
    ("HostConfig.BlkioDeviceReadBps", is_empty, "it sets no block IO limits"),
    ("HostConfig.BlkioDeviceWriteBps", is_empty, "it sets no block IO limits"),
    ("HostConfig.BlkioDeviceReadIOps", is_empty, "it sets no block IO limits"),
    ("HostConfig.BlkioDeviceWriteIOps", is_empty, "it sets no block IO limits"),
    ("HostConfig.CpuRealtimePeriod", is_empty, "it sets no realtime CPU limits"),
    ("HostConfig.CpuRealtimeRuntime", is_empty, "it sets no realtime CPU limits"),
    ("HostConfig.DeviceCgroupRules", is_empty, "give device nodes with Devices instead"),
    ("HostConfig.DeviceRequests", is_empty, "it has no device drivers (GPUs)"),
    ("HostConfig.CpuCount", is_empty, _WINDOWS),
    ("HostConfig.CpuPercent", is_empty, _WINDOWS),
    ("HostConfig.IOMaximumIOps", is_empty, _WINDOWS),
    ("HostConfig.IOMaximumBandwidth", is_empty, _WINDOWS),
    ("HostConfig.Isolation", _one_of("", "default"), _WINDOWS),
    ("Config.ArgsEscaped", is_empty, _WINDOWS),
    ("Config.OnBuild", is_empty, "ONBUILD triggers belong to image builds"),
    ("Config.Shell", is_empty, "SHELL belongs to image builds"),
)

#: fields hostconfig.py maps into the container's configuration (for the OpenAPI description)
MAPPED: Final = (
    "Config.Image", "Config.Cmd", "Config.Entrypoint", "Config.Env", "Config.WorkingDir",
    "Config.User", "Config.Tty", "Config.OpenStdin", "Config.Hostname", "Config.Domainname",
    "Config.Labels", "Config.StopSignal", "Config.StopTimeout", "Config.NetworkDisabled",
    "Config.Volumes",
    "HostConfig.Binds", "HostConfig.Mounts", "HostConfig.Tmpfs", "HostConfig.ShmSize",
    "HostConfig.ReadonlyRootfs", "HostConfig.CapAdd", "HostConfig.CapDrop",
    "HostConfig.Privileged", "HostConfig.SecurityOpt", "HostConfig.MaskedPaths",
    "HostConfig.ReadonlyPaths", "HostConfig.Memory", "HostConfig.MemorySwap",
    "HostConfig.MemoryReservation", "HostConfig.NanoCpus", "HostConfig.CpuQuota",
    "HostConfig.CpuPeriod", "HostConfig.CpuShares", "HostConfig.CpusetCpus",
    "HostConfig.CpusetMems", "HostConfig.PidsLimit", "HostConfig.Ulimits", "HostConfig.Sysctls",
    "HostConfig.Devices", "HostConfig.GroupAdd", "HostConfig.Init", "HostConfig.NetworkMode",
    "HostConfig.LogConfig", "HostConfig.Runtime", "HostConfig.AutoRemove",
    "HostConfig.Annotations", "HostConfig.ConsoleSize", "NetworkingConfig",
)  # fmt: skip

#: fields that only concern the client, accepted with any value
CLIENT_SIDE: Final = (
    "Config.AttachStdin", "Config.AttachStdout", "Config.AttachStderr", "Config.StdinOnce",
    "HostConfig.ContainerIDFile",
)  # fmt: skip


def _value(body: dict[str, Any], path: str) -> Any:
    section, _, key = path.partition(".")
    holder = body if section == "Config" else body.get(section)
    return holder.get(key) if isinstance(holder, dict) else None


def refuse_unsupported(body: dict[str, Any]) -> None:
    """Raise InvalidArgumentError naming each field of `UNSUPPORTED` not at its default.

    One line for all of them, so a client learns everything to remove at once.
    """
    refused = [
        f"{path}: {why}" for path, default, why in UNSUPPORTED if not default(_value(body, path))
    ]
    if refused:
        raise InvalidArgumentError(f"ocimux does not support {'; '.join(refused)}")
