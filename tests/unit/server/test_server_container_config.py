"""Docker's Config/HostConfig through the server, on the mock runtime (host processes).

The mock declares isolation, resource_limits, devices, privileged, seccomp and host_network
false: any option needing one is refused with 400 naming the Docker field, the runtime and
the capability, and nothing is created. Fields ocimux cannot honour at all are 400 on any
runtime; what clients send by default is accepted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.unit.server.apiclient import Server, assert_error, by_stream
from tests.unit.server.docker_bodies import DOCKER_PY_RUN, docker_cli


def inspect(server: Server, cid: str) -> dict[str, Any]:
    reply = server.client.get(f"/containers/{cid}/json")
    assert reply.status == 200, reply
    return reply.json()


def create(server: Server, body: dict[str, Any]) -> str:
    reply = server.client.post("/containers/create", body)
    assert reply.status == 201, reply
    return str(reply.json()["Id"])


def wait(server: Server, cid: str) -> int:
    return int(server.client.post(f"/containers/{cid}/wait").json()["StatusCode"])


@pytest.mark.parametrize("client", ["docker-cli", "docker-py"])
def test_what_clients_send_by_default_is_accepted(server: Server, client: str) -> None:
    if client == "docker-cli":
        body = docker_cli("img", Cmd=["/bin/sh", "-c", "echo hi"])
    else:
        body = {**DOCKER_PY_RUN, "Image": "img", "Cmd": ["/bin/sh", "-c", "echo hi"]}
    cid = create(server, body)
    assert server.client.post(f"/containers/{cid}/start").status == 204
    assert wait(server, cid) == 0
    logs = server.client.get(f"/containers/{cid}/logs?stdout=1")
    assert by_stream(logs.body)[1] == b"hi\n"
    doc = inspect(server, cid)
    assert doc["HostConfig"]["NetworkMode"] == "none"
    assert doc["HostConfig"]["LogConfig"] == {"Type": "json-file", "Config": {}}
    assert doc["Config"]["Hostname"] == cid[:12]
    assert doc["Mounts"] == []
    rec = server.dispatcher.inspect(cid)
    assert rec.config["container"] == {"rootfs_overlay": True}
    assert rec.config["layer"] is True


def test_a_container_writes_into_its_own_layer_not_the_image(server: Server) -> None:
    # the mock runs the command in the rootfs directory it was given: the overlay's
    cid = create(server, {"Image": "img", "Cmd": ["/bin/sh", "-c", "echo x > ocx-written"]})
    server.client.post(f"/containers/{cid}/start")
    assert wait(server, cid) == 0
    assert not (server.rootfs / "ocx-written").exists()


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


def test_config_fields_the_mock_honours_are_reported_back(server: Server) -> None:
    body = docker_cli(
        "img", Labels={"ocx": "conf"}, StopSignal="SIGINT", Entrypoint=["/bin/sh", "-c"],
        Cmd=["echo $0", "arg"], HostConfig={"LogConfig": {"Type": "k8s-file", "Config": {}},
                                            "Annotations": {"example.com/x": "1"}},
    )  # fmt: skip
    cid = create(server, body)
    doc = inspect(server, cid)
    assert doc["Config"]["Labels"] == {"ocx": "conf"}
    assert doc["Config"]["StopSignal"] == "SIGINT"
    assert doc["Config"]["Entrypoint"] == ["/bin/sh", "-c"]
    assert doc["Config"]["Cmd"] == ["echo $0", "arg"]
    assert (doc["Path"], doc["Args"]) == ("/bin/sh", ["-c", "echo $0", "arg"])
    summary = {c["Id"]: c for c in server.client.get("/containers/json?all=1").json()}[cid]
    assert summary["Labels"] == {"ocx": "conf"} and summary["Command"] == "/bin/sh -c echo $0 arg"
    rec = server.dispatcher.inspect(cid)
    assert rec.config["annotations"]["example.com/x"] == "1"
    assert rec.config["stop_signal"] == 2

    # a restart re-creates it with the same configuration
    assert server.client.post(f"/containers/{cid}/start").status == 204
    assert wait(server, cid) == 0
    assert server.client.post(f"/containers/{cid}/restart").status == 204
    assert wait(server, cid) == 0
    logs = by_stream(server.client.get(f"/containers/{cid}/logs?stdout=1").body)[1]
    assert logs == b"arg\narg\n"
    again = server.dispatcher.inspect(cid)
    assert again.config["container"] == rec.config["container"]
    assert inspect(server, cid)["Config"] == doc["Config"]


def test_an_entrypoint_drops_the_images_command(server: Server) -> None:
    # image `img` has no command of its own here: give it one through the store
    from ocimux.server.images import ImageStore

    ImageStore(server.state_dir).add("withcmd", server.rootfs, cmd=["/bin/echo", "image"])
    cid = create(server, {"Image": "withcmd", "Entrypoint": ["/bin/echo"]})
    server.client.post(f"/containers/{cid}/start")
    assert wait(server, cid) == 0
    assert by_stream(server.client.get(f"/containers/{cid}/logs?stdout=1").body)[1] == b"\n"
    reply = server.client.post("/containers/create", {"Image": "withcmd", "Entrypoint": [""]})
    assert_error(reply, 400, "no command specified")
