"""Docker's Config/HostConfig refused by the server on the mock runtime, before anything runs.

The mock declares isolation, resource_limits, devices, privileged, seccomp and host_network
false: any option needing one is refused with 400 naming the Docker field, the runtime and
the capability, and nothing is created. Fields ocimux cannot honour at all are 400 on any
runtime. What is accepted (containers that run) is tested in
tests/integration/server/test_server_container_config_run.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.server.apiclient import Server, assert_error
from tests.unit.server.docker_bodies import docker_cli


@pytest.mark.parametrize(
    ("config", "host", "field", "capability"),
    [
        ({}, {"Binds": ["{tmp}:/data:ro"]}, "HostConfig.Binds/Mounts/Tmpfs/ShmSize", "isolation"),
        ({}, {"Tmpfs": {"/run": ""}}, "HostConfig.Binds/Mounts/Tmpfs/ShmSize", "isolation"),
        ({}, {"ShmSize": 1 << 20}, "HostConfig.Binds/Mounts/Tmpfs/ShmSize", "isolation"),
        ({}, {"ReadonlyRootfs": True}, "HostConfig.ReadonlyRootfs", "isolation"),
        ({}, {"CapDrop": ["ALL"]}, "HostConfig.CapAdd/CapDrop", "isolation"),
        ({}, {"Memory": 64 << 20}, "HostConfig.Memory", "resource_limits"),
        ({}, {"NanoCpus": 10**8}, "NanoCpus", "resource_limits"),
        ({}, {"PidsLimit": 10}, "PidsLimit", "resource_limits"),
        ({}, {"Devices": [{"PathOnHost": "/dev/null"}]}, "HostConfig.Devices", "devices"),
        ({}, {"Privileged": True}, "HostConfig.Privileged", "isolation"),
        ({}, {"SecurityOpt": ["seccomp={}"]}, "HostConfig.SecurityOpt seccomp", "isolation"),
        ({}, {"SecurityOpt": ["no-new-privileges"]}, "no-new-privileges", "isolation"),
        ({}, {"NetworkMode": "host"}, "HostConfig.NetworkMode host", "isolation"),
        ({}, {"Init": True}, "HostConfig.Init", "isolation"),
        ({}, {"Ulimits": [{"Name": "nofile", "Soft": 1, "Hard": 1}]}, "HostConfig.Ulimits", "isolation"),
        ({}, {"Sysctls": {"kernel.shmmax": "1"}}, "HostConfig.Sysctls", "isolation"),
        ({}, {"GroupAdd": ["10"]}, "HostConfig.GroupAdd", "isolation"),
        ({"Hostname": "box"}, {}, "Config.Hostname", "isolation"),
        ({"Domainname": "example.org"}, {}, "Config.Domainname", "isolation"),
    ],
)  # fmt: skip
def test_the_mock_refuses_what_it_cannot_honour(
    server: Server, tmp_path: Path, config: dict, host: dict, field: str, capability: str
) -> None:
    host = json.loads(json.dumps(host).replace("{tmp}", str(tmp_path)))
    body = docker_cli("img", Cmd=["/bin/true"], HostConfig=host, **config)
    reply = server.client.post("/containers/create?name=ocx-refused", body)
    message = assert_error(reply, 400, field, "on mock", f"capability {capability}")
    assert "HostConfig.Runtime" in message  # what to do about it
    assert server.dispatcher.list() == []
    assert server.client.get("/containers/ocx-refused/json").status == 404


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"ExposedPorts": {"80/tcp": {}},
             "HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "80"}]}}},
            "ocimux does not support HostConfig.PortBindings: it has no network stack; "
            "Config.ExposedPorts: it has no network stack",
        ),
        (
            {"HostConfig": {"RestartPolicy": {"Name": "always", "MaximumRetryCount": 0}}},
            "ocimux does not support HostConfig.RestartPolicy: ocimux has no daemon to restart containers",
        ),
        (
            {"HostConfig": {"NetworkMode": "container:web"}},
            "ocimux does not support HostConfig.NetworkMode 'container:web': it has no network "
            "stack (only none and host)",
        ),
        (
            {"HostConfig": {"LogConfig": {"Type": "none", "Config": {}}}},
            "ocimux does not support HostConfig.LogConfig.Type 'none': it always keeps the "
            "container's output in a k8s-file log, which /logs reads (use json-file, k8s-file "
            "or leave it empty)",
        ),
        ({"Volumes": {"/data": {}}}, "ocimux does not support Config.Volumes '/data': an anonymous volume"),
        ({"HostConfig": {"Binds": ["vol:/data"]}}, "HostConfig.Binds[0]: invalid --volume"),
        ({"HostConfig": {"Memory": "64m"}}, "invalid HostConfig.Memory: it must be an integer"),
    ],
)  # fmt: skip
def test_unsupported_fields_are_400_and_nothing_is_created(
    server: Server, changes: dict, message: str
) -> None:
    body = docker_cli("img", Cmd=["/bin/true"], **changes)
    text = assert_error(server.client.post("/containers/create?name=ocx-no", body), 400)
    assert text.startswith(message), text
    assert server.dispatcher.list() == []


def test_user_is_refused_on_the_mock_naming_field_and_runtime(server: Server) -> None:
    # the mock runs host processes as ocimux's own user: it cannot honour Config.User
    reply = server.client.post(
        "/containers/create", {"Image": "img", "Cmd": ["/bin/true"], "User": "0"}
    )
    assert_error(reply, 400, "Config.User", "mock", "isolation")
    assert server.dispatcher.list() == []
