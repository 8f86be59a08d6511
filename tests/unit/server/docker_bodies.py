"""Create bodies as real Docker clients send them (captured from docker CLI 28.2.2 and
docker-py 7.2.0 against a logging unix-socket server, API 1.43), for the server's tests."""

from __future__ import annotations

import copy
from typing import Any

_ENDPOINT_DEFAULTS: dict[str, Any] = {
    "Aliases": None, "DNSNames": None, "DriverOpts": None, "EndpointID": "", "Gateway": "",
    "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "GwPriority": 0, "IPAMConfig": None,
    "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "Links": None, "MacAddress": "",
    "NetworkID": "",
}  # fmt: skip

#: `docker create busybox` (docker CLI 28.2.2): every field, at its zero value
DOCKER_CLI_CREATE: dict[str, Any] = {
    "AttachStderr": True, "AttachStdin": False, "AttachStdout": True, "Cmd": None,
    "Domainname": "", "Entrypoint": None, "Env": None,
    "HostConfig": {
        "AutoRemove": False, "Binds": None, "BlkioDeviceReadBps": [], "BlkioDeviceReadIOps": [],
        "BlkioDeviceWriteBps": [], "BlkioDeviceWriteIOps": [], "BlkioWeight": 0,
        "BlkioWeightDevice": [], "CapAdd": None, "CapDrop": None, "Cgroup": "", "CgroupParent": "",
        "CgroupnsMode": "", "ConsoleSize": [0, 0], "ContainerIDFile": "", "CpuCount": 0,
        "CpuPercent": 0, "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0,
        "CpuRealtimeRuntime": 0, "CpuShares": 0, "CpusetCpus": "", "CpusetMems": "",
        "DeviceCgroupRules": None, "DeviceRequests": None, "Devices": [], "Dns": [],
        "DnsOptions": [], "DnsSearch": [], "ExtraHosts": None, "GroupAdd": None,
        "IOMaximumBandwidth": 0, "IOMaximumIOps": 0, "IpcMode": "", "Isolation": "", "Links": None,
        "LogConfig": {"Config": {}, "Type": ""}, "MaskedPaths": None, "Memory": 0,
        "MemoryReservation": 0, "MemorySwap": 0, "MemorySwappiness": -1, "NanoCpus": 0,
        "NetworkMode": "default", "OomKillDisable": False, "OomScoreAdj": 0, "PidMode": "",
        "PidsLimit": 0, "PortBindings": {}, "Privileged": False, "PublishAllPorts": False,
        "ReadonlyPaths": None, "ReadonlyRootfs": False,
        "RestartPolicy": {"MaximumRetryCount": 0, "Name": "no"}, "SecurityOpt": None,
        "ShmSize": 0, "UTSMode": "", "Ulimits": [], "UsernsMode": "", "VolumeDriver": "",
        "VolumesFrom": None,
    },
    "Hostname": "", "Image": "busybox", "Labels": {},
    "NetworkingConfig": {"EndpointsConfig": {"default": _ENDPOINT_DEFAULTS}},
    "OnBuild": None, "OpenStdin": False, "StdinOnce": False, "Tty": False, "User": "",
    "Volumes": {}, "WorkingDir": "",
}  # fmt: skip

#: `client.containers.run("busybox", "true")` (docker-py 7.2.0)
DOCKER_PY_RUN: dict[str, Any] = {
    "AttachStderr": True, "AttachStdin": False, "AttachStdout": True, "Cmd": ["true"],
    "HostConfig": {"NetworkMode": "default"}, "Image": "busybox", "NetworkDisabled": False,
    "OpenStdin": False, "StdinOnce": False, "Tty": False,
}  # fmt: skip


def docker_cli(image: str = "busybox", **changes: Any) -> dict[str, Any]:
    """The docker CLI's body for `image`, with top-level fields and `HostConfig` keys changed
    (`HostConfig={...}` is merged into the defaults, not replacing them)."""
    body = copy.deepcopy(DOCKER_CLI_CREATE)
    body["Image"] = image
    host = changes.pop("HostConfig", {})
    body.update(changes)
    body["HostConfig"].update(host)
    return body
