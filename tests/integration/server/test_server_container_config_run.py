"""Docker's Config/HostConfig through the server on the mock runtime, with containers that run:
what clients send by default, the container's own layer, fields reported back after a restart,
an entrypoint replacing the image's command. (The refusals, which run nothing, are unit tests.)
"""

from __future__ import annotations

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
    # the docker CLI sends ReadonlyRootfs and Privileged false: they override containers.conf
    explicit = {"read_only": False, "privileged": False} if client == "docker-cli" else {}
    assert rec.config["container"] == {"rootfs_overlay": True, **explicit}
    assert rec.config["layer"] is True


def test_a_container_writes_into_its_own_layer_not_the_image(server: Server) -> None:
    # the mock runs the command in the rootfs directory it was given: the overlay's
    cid = create(server, {"Image": "img", "Cmd": ["/bin/sh", "-c", "echo x > ocx-written"]})
    server.client.post(f"/containers/{cid}/start")
    assert wait(server, cid) == 0
    assert not (server.rootfs / "ocx-written").exists()


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
    from ocimux.engine.images import ImageStore

    ImageStore(server.state_dir).add("withcmd", server.rootfs, cmd=["/bin/echo", "image"])
    cid = create(server, {"Image": "withcmd", "Entrypoint": ["/bin/echo"]})
    server.client.post(f"/containers/{cid}/start")
    assert wait(server, cid) == 0
    assert by_stream(server.client.get(f"/containers/{cid}/logs?stdout=1").body)[1] == b"\n"
    reply = server.client.post("/containers/create", {"Image": "withcmd", "Entrypoint": [""]})
    assert_error(reply, 400, "no command specified")
