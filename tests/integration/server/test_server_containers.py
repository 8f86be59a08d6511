"""Container and exec lifecycles through the API, on the mock runtime (host processes)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ocimux.server.shapes import MUX, RAW, ZERO_TIME

from tests.unit.server.apiclient import ApiClient, Server, assert_error, by_stream, frames

HEX64 = re.compile(r"[0-9a-f]{64}")


def gated(gate: Path, before: str = "") -> list[str]:
    """A command that prints `before`, then runs until `gate` exists, then exits 3."""
    return ["/bin/sh", "-c", f"{before}while [ ! -e {gate} ]; do sleep 0.02; done; exit 3"]


def poll(predicate: Callable[[], Any], what: str, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def inspect(api: ApiClient, ref: str) -> dict[str, Any]:
    reply = api.get(f"/containers/{ref}/json")
    assert reply.status == 200, reply
    return reply.json()


def listed(api: ApiClient, query: str = "all=1") -> dict[str, dict[str, Any]]:
    reply = api.get(f"/containers/json?{query}")
    assert reply.status == 200, reply
    return {c["Id"]: c for c in reply.json()}


def test_create_start_wait_logs_remove(server: Server, tmp_path: Path) -> None:
    api = server.client
    gate = tmp_path / "go"
    cmd = gated(gate, "echo out; echo err >&2; ")
    reply = api.post(
        "/containers/create?name=ocx-life",
        {"Image": "img", "Cmd": cmd, "Labels": {"ocx": "life"}, "Env": ["OCX=1"]},
    )
    assert reply.status == 201, reply
    body = reply.json()
    cid = body["Id"]
    assert HEX64.fullmatch(cid) and body["Warnings"] == []

    assert cid not in listed(api, "all=0")
    summary = listed(api)[cid]
    assert summary["State"] == "created" and summary["Status"] == "Created"
    assert summary["Names"] == ["/ocx-life"]
    assert summary["Image"] == "img"  # as the client named it, as Docker shows it
    assert summary["ImageID"].startswith("sha256:")
    assert summary["Labels"] == {"ocx": "life"}
    assert summary["Command"] == " ".join(cmd)
    assert cid in listed(api, "all=1&filters=%7B%22status%22%3A%5B%22created%22%5D%7D")
    assert cid not in listed(api, "all=1&filters=%7B%22status%22%3A%5B%22running%22%5D%7D")
    assert cid in listed(api, "all=1&filters=%7B%22label%22%3A%5B%22ocx%3Dlife%22%5D%7D")
    assert cid in listed(api, "all=1&filters=%7B%22name%22%3A%7B%22ocx-life%22%3Atrue%7D%7D")
    assert cid not in listed(api, "all=1&filters=%7B%22id%22%3A%5B%22zzz%22%5D%7D")

    doc = inspect(api, "ocx-life")
    assert doc["Id"] == cid and doc["Name"] == "/ocx-life"
    assert doc["State"]["Status"] == "created" and doc["State"]["Running"] is False
    assert doc["State"]["StartedAt"] == ZERO_TIME
    assert doc["Path"] == "/bin/sh" and doc["Args"] == cmd[1:]
    assert doc["Config"]["Image"] == "img"
    assert doc["HostConfig"]["Runtime"] == "mock"
    assert doc["GraphDriver"]["Data"]["RootFS"] == str(server.rootfs)

    started = api.post(f"/containers/{cid}/start")
    assert started.status == 204 and started.body == b"", started
    again = api.post(f"/containers/{cid[:12]}/start")
    assert again.status == 304 and again.body == b"", again

    state = inspect(api, cid)["State"]
    assert state["Status"] == "running" and state["Running"] is True
    assert state["Pid"] > 0 and state["StartedAt"] != ZERO_TIME
    running = listed(api, "all=0")[cid]
    assert running["State"] == "running" and running["Status"].startswith("Up ")
    assert_error(api.delete(f"/containers/{cid}"), 409, "force")  # running: not without force

    gate.touch()
    waited = api.post(f"/containers/{cid}/wait?condition=not-running")
    assert waited.status == 200 and waited.content_type == "application/json", waited
    assert waited.json() == {"StatusCode": 3, "Error": None}

    state = inspect(api, cid)["State"]
    assert state["Status"] == "exited" and state["Running"] is False
    assert state["ExitCode"] == 3 and state["Pid"] == 0
    assert state["FinishedAt"] != ZERO_TIME
    assert listed(api)[cid]["Status"].startswith("Exited (3)")
    assert api.post(f"/containers/{cid}/wait").json()["StatusCode"] == 3  # already exited

    logs = api.get(f"/containers/{cid}/logs?stdout=1&stderr=1")
    assert logs.status == 200 and logs.content_type == MUX, logs
    assert by_stream(logs.body) == {1: b"out\n", 2: b"err\n"}
    both = api.get(f"/containers/{cid}/logs?stdout=true&stderr=false")  # explicit: only stdout
    assert [stream for stream, _ in frames(both.body)] == [1]
    assert api.get(f"/containers/{cid}/logs?stdout=1&stderr=1&tail=0").body == b""
    assert api.get(f"/containers/{cid}/logs?stdout=1&stderr=1&tail=1").body != b""
    followed = api.get(f"/containers/{cid}/logs?stdout=1&stderr=1&follow=1")
    assert by_stream(followed.body) == {1: b"out\n", 2: b"err\n"}  # ends: the container has

    removed = api.delete(f"/containers/{cid}")
    assert removed.status == 204 and removed.body == b"", removed
    assert_error(api.get(f"/containers/{cid}/json"), 404, cid)
    assert_error(api.post(f"/containers/{cid}/wait"), 404)
    assert cid not in listed(api)


@pytest.mark.parametrize(("query", "want"), [("stdout=1", 1), ("stderr=1", 2)])
def test_logs_return_only_the_streams_asked_for(server: Server, query: str, want: int) -> None:
    api = server.client
    cid = server.run(["/bin/sh", "-c", "echo out; echo err >&2"])
    assert api.post(f"/containers/{cid}/wait").json()["StatusCode"] == 0
    reply = api.get(f"/containers/{cid}/logs?{query}")
    assert reply.status == 200
    assert {stream for stream, _ in frames(reply.body)} == {want}, frames(reply.body)


def test_stop_kill_restart_keep_the_id(server: Server, tmp_path: Path) -> None:
    api = server.client
    cid = server.run(gated(tmp_path / "never"), name="ocx-restart")
    first_pid = inspect(api, cid)["State"]["Pid"]

    restarted = api.post(f"/containers/{cid}/restart?t=1")
    assert restarted.status == 204, restarted
    doc = inspect(api, "ocx-restart")
    assert doc["Id"] == cid and doc["Name"] == "/ocx-restart"
    assert doc["State"]["Running"] is True
    assert doc["State"]["Pid"] not in (0, first_pid)

    stopped = api.post(f"/containers/{cid}/stop?t=1")
    assert stopped.status == 204, stopped
    assert inspect(api, cid)["State"]["Status"] == "exited"
    assert api.post(f"/containers/{cid}/stop").status == 304

    assert api.post(f"/containers/{cid}/restart").status == 204  # an exited one starts again
    assert inspect(api, cid)["State"]["Running"] is True
    assert api.post(f"/containers/{cid}/kill?signal=SIGKILL").status == 204
    code = api.post(f"/containers/{cid}/wait").json()["StatusCode"]
    assert code == 137, code
    assert_error(api.post(f"/containers/{cid}/kill"), 409, "not running")
    assert api.delete(f"/containers/{cid}").status == 204


def test_restart_keeps_the_env(server: Server) -> None:
    api = server.client
    cid = server.run(["/bin/sh", "-c", 'echo "env=$OCX"'], Env=["OCX=hello"])
    assert api.post(f"/containers/{cid}/wait").json()["StatusCode"] == 0
    first = api.get(f"/containers/{cid}/logs?stdout=1")
    assert b"env=hello\n" in by_stream(first.body)[1]
    assert api.post(f"/containers/{cid}/restart").status == 204
    assert api.post(f"/containers/{cid}/wait").json()["StatusCode"] == 0
    logs = by_stream(api.get(f"/containers/{cid}/logs?stdout=1").body)[1]
    assert logs.endswith(b"env=hello\n"), logs


def test_inspect_shows_env_and_workdir(server: Server) -> None:
    cid = server.create(["/bin/true"], Env=["OCX=1"], WorkingDir="/tmp")
    config = inspect(server.client, cid)["Config"]
    assert "OCX=1" in config["Env"]
    assert config["WorkingDir"] == "/tmp"
    assert config["User"] == ""


def test_pause_unpause(server: Server, tmp_path: Path) -> None:
    api = server.client
    gate = tmp_path / "go"
    cid = server.run(gated(gate))
    paused = api.post(f"/containers/{cid}/pause")
    if paused.status == 400:
        pytest.skip(f"the mock cannot pause here: {paused.json()['message']}")
    assert paused.status == 204, paused
    state = inspect(api, cid)["State"]
    assert state["Status"] == "paused" and state["Paused"] is True and state["Running"] is True
    assert listed(api, "all=0")[cid]["Status"].endswith("(Paused)")
    assert_error(api.post(f"/containers/{cid}/exec", {"Cmd": ["/bin/true"]}), 409, "paused")
    assert_error(api.delete(f"/containers/{cid}"), 409)
    assert api.post(f"/containers/{cid}/unpause").status == 204
    assert inspect(api, cid)["State"]["Status"] == "running"
    gate.touch()
    assert api.post(f"/containers/{cid}/wait").json()["StatusCode"] == 3


def test_force_remove_of_a_running_container(server: Server, tmp_path: Path) -> None:
    api = server.client
    cid = server.run(gated(tmp_path / "never"))
    assert api.delete(f"/containers/{cid}?force=1").status == 204
    assert_error(api.get(f"/containers/{cid}/json"), 404)


def _run_removed(server: Server, cmd: list[str], pause: float = 0.0) -> tuple[str, dict[str, Any]]:
    """`docker run --rm` as the docker CLI does it: wait?condition=removed first, then start.

    Returns the id and the wait's JSON body; `pause` is slept between the two.
    """
    import json
    import socket

    api = server.client
    cid = server.create(cmd, HostConfig={"AutoRemove": True})
    assert inspect(api, cid)["HostConfig"]["AutoRemove"] is True
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(20)
    try:
        sock.connect(server.socket_path)
        sock.sendall(
            f"POST /containers/{cid}/wait?condition=removed HTTP/1.1\r\nHost: d\r\n\r\n".encode()
        )
        data = b""
        while b"\r\n\r\n" not in data:  # the 200 and headers come before the waiting
            data += sock.recv(4096)
        assert data.startswith(b"HTTP/1.1 200"), data
        time.sleep(pause)
        assert api.post(f"/containers/{cid}/start").status == 204
        while chunk := sock.recv(4096):
            data += chunk
    finally:
        sock.close()
    return cid, json.loads(data.partition(b"\r\n\r\n")[2])


@pytest.mark.parametrize("pause", [0.0, 0.4], ids=["at-once", "after-backoff"])
def test_auto_remove_and_wait_removed(server: Server, pause: float) -> None:
    """The wait answers the exit code though AutoRemove removed the container first.

    With `pause` the wait's poll has backed off to 100 ms before the start, so the removal
    wins the race (it made the wait answer 0 before d542e0a kept the code).
    """
    cid, body = _run_removed(server, ["/bin/sh", "-c", "exit 5"], pause=pause)
    assert_error(server.client.get(f"/containers/{cid}/json"), 404)  # gone when the wait ends
    assert body == {"StatusCode": 5, "Error": None}, body


@pytest.mark.parametrize(
    "ref", ["img", "img:latest", "library/img", "docker.io/library/img:latest", "IMAGE-ID"]
)
def test_create_accepts_every_spelling_of_the_image(server: Server, ref: str) -> None:
    api = server.client
    if ref == "IMAGE-ID":
        ref = api.get("/images/json").json()[0]["Id"][:19]  # sha256: + 12 hex digits
    cid = server.create(["/bin/true"], Image=ref)
    doc = inspect(api, cid)
    assert doc["Config"]["Image"] == ref  # as given, as Docker shows it
    assert doc["Image"] == api.get("/images/json").json()[0]["Id"]  # the one image, however named


def test_image_default_command_and_env(server: Server) -> None:
    from ocimux.engine.images import ImageStore

    ImageStore(server.state_dir).add(
        "withcmd:1", server.rootfs, ["/bin/sh", "-c", 'echo "default $A $B"'], ["A=1"]
    )
    api = server.client
    reply = api.post("/containers/create", {"Image": "withcmd:1", "Env": ["B=2"]})
    assert reply.status == 201, reply
    cid = reply.json()["Id"]
    assert api.post(f"/containers/{cid}/start").status == 204
    assert api.post(f"/containers/{cid}/wait").json()["StatusCode"] == 0
    logs = api.get(f"/containers/{cid}/logs?stdout=1&stderr=1")
    assert by_stream(logs.body)[1] == b"default 1 2\n"


def exec_create(api: ApiClient, cid: str, body: dict[str, Any]) -> str:
    reply = api.post(f"/containers/{cid}/exec", body)
    assert reply.status == 201, reply
    exec_id = reply.json()["Id"]
    assert HEX64.fullmatch(exec_id), exec_id
    return str(exec_id)


def exec_inspect(api: ApiClient, exec_id: str) -> dict[str, Any]:
    reply = api.get(f"/exec/{exec_id}/json")
    assert reply.status == 200, reply
    return reply.json()


def test_exec_create_start_inspect(server: Server, tmp_path: Path) -> None:
    api = server.client
    gate = tmp_path / "go"
    cid = server.run(gated(gate))
    cmd = ["/bin/sh", "-c", "echo hi; echo oops >&2; exit 7"]
    exec_id = exec_create(api, cid, {"Cmd": cmd, "AttachStdout": True, "AttachStderr": True})
    before = exec_inspect(api, exec_id)
    assert before["Running"] is False and before["ExitCode"] is None
    assert before["ContainerID"] == cid
    assert before["ProcessConfig"]["entrypoint"] == "/bin/sh"
    assert before["ProcessConfig"]["arguments"] == cmd[1:]

    status, headers, stream = api.hijack(f"/exec/{exec_id}/start", {"Detach": False, "Tty": False})
    assert status == 101, (status, headers, stream)
    assert headers["content-type"] == MUX
    assert headers["upgrade"] == "tcp" and headers["connection"].lower() == "upgrade"
    assert by_stream(stream) == {1: b"hi\n", 2: b"oops\n"}

    after = exec_inspect(api, exec_id)
    assert after["ExitCode"] == 7 and after["Running"] is False
    assert_error(api.post(f"/exec/{exec_id}/start", {}), 409, "already")

    # a client that does not ask for the upgrade gets 200 and the same stream
    plain = exec_create(api, cid, {"Cmd": ["/bin/sh", "-c", "echo plain"], "AttachStdout": True})
    status, headers, stream = api.hijack(f"/exec/{plain}/start", {}, upgrade=False)
    assert status == 200 and headers["content-type"] == MUX
    assert by_stream(stream)[1] == b"plain\n"
    assert exec_inspect(api, plain)["ExitCode"] == 0

    # a detached exec answers at once; its exit code shows up in exec json
    detached = exec_create(api, cid, {"Cmd": ["/bin/sh", "-c", "exit 4"]})
    reply = api.post(f"/exec/{detached}/start", {"Detach": True})
    assert reply.status == 200, reply
    poll(lambda: exec_inspect(api, detached)["ExitCode"] == 4, "the detached exec's exit code")

    assert_error(api.post(f"/exec/{exec_id}/resize?h=10&w=10"), 409, "TTY")
    gate.touch()
    assert api.post(f"/containers/{cid}/wait").json()["StatusCode"] == 3


def test_exec_of_a_missing_command_is_reported(server: Server, tmp_path: Path) -> None:
    api = server.client
    gate = tmp_path / "go"
    cid = server.run(gated(gate))
    exec_id = exec_create(api, cid, {"Cmd": ["/ocx/no/such/binary"], "AttachStdout": True})
    status, _headers, stream = api.hijack(f"/exec/{exec_id}/start", {})
    assert status == 101
    assert exec_inspect(api, exec_id)["ExitCode"] in (126, 127), by_stream(stream)
    gate.touch()


def test_tty_container_resize_and_raw_logs(server: Server, tmp_path: Path) -> None:
    api = server.client
    gate = tmp_path / "go"
    cid = server.run(gated(gate, "echo tty-out; "), Tty=True)
    assert inspect(api, cid)["Config"]["Tty"] is True
    resized = api.post(f"/containers/{cid}/resize?h=30&w=100")
    assert resized.status == 200 and resized.content_type == "text/plain", resized
    assert_error(api.post(f"/containers/{cid}/resize?h=70000&w=1"), 400, "h")
    gate.touch()
    assert api.post(f"/containers/{cid}/wait").json()["StatusCode"] == 3
    logs = api.get(f"/containers/{cid}/logs?stdout=1&stderr=1")
    assert logs.status == 200 and logs.content_type == RAW, logs
    assert b"tty-out" in logs.body and not logs.body.startswith(b"\x01\x00\x00\x00")


def test_attach_to_logs_of_an_exited_container(server: Server) -> None:
    api = server.client
    cid = server.run(["/bin/sh", "-c", "echo attached; echo e >&2"])
    assert api.post(f"/containers/{cid}/wait").json()["StatusCode"] == 0
    status, headers, stream = api.hijack(
        f"/containers/{cid}/attach?logs=1&stream=0&stdout=1&stderr=1", {}
    )
    assert status == 101 and headers["content-type"] == MUX
    assert by_stream(stream) == {1: b"attached\n", 2: b"e\n"}
    # with stream=1 it waits for the next start, as Docker's (test_server_attach_logs.py)


def test_info_counts_containers(server: Server, tmp_path: Path) -> None:
    api = server.client
    gate = tmp_path / "go"
    server.run(gated(gate))
    server.create(["/bin/true"])
    info = api.get("/info").json()
    assert info["Containers"] == 2
    assert info["ContainersRunning"] == 1 and info["ContainersStopped"] == 1
    assert info["Images"] == 1
    gate.touch()


def _documented(method: str, template: str) -> dict[str, Any]:
    from ocimux.server.openapi import openapi

    return openapi()["paths"][template][method.lower()]["responses"]


@pytest.mark.parametrize(
    ("method", "template"),
    [
        ("GET", "/containers/{id}/json"),
        ("POST", "/containers/{id}/stop"),
        ("POST", "/containers/{id}/wait"),
        ("GET", "/containers/{id}/logs"),
    ],
)
def test_an_ambiguous_id_prefix_gets_a_documented_status(
    server: Server, method: str, template: str
) -> None:
    api = server.client
    seen: dict[str, str] = {}
    while True:  # at most 17 creates: 16 hex digits
        cid = server.create(["/bin/true"])
        if cid[0] in seen:
            break
        seen[cid[0]] = cid
    url = template.replace("{id}", cid[0]) + ("?stdout=1" if "logs" in template else "")
    reply = api.request(method, url)
    assert reply.status >= 400
    assert_error(reply, reply.status, "several containers")
    assert str(reply.status) in _documented(method, template), reply


def test_a_detached_exec_start_has_a_documented_content_type(
    server: Server, tmp_path: Path
) -> None:
    api = server.client
    gate = tmp_path / "go"
    cid = server.run(gated(gate))
    try:
        exec_id = exec_create(api, cid, {"Cmd": ["/bin/true"]})
        reply = api.post(f"/exec/{exec_id}/start", {"Detach": True})
        assert reply.status == 200, reply
        documented = _documented("POST", "/exec/{id}/start")["200"]["content"]
        assert reply.content_type in documented, (reply.content_type, list(documented))
    finally:
        gate.touch()


RESIZE_BUG = (
    "resizing the TTY of a container that has exited answers 500 'resize failed: cannot open "
    "control FIFO .../ctl: No such file or directory': DockerApi.resize calls Dispatcher.resize "
    "without checking that the container runs, and the runtime's RuntimeCommandError maps to 500 "
    "(found by schemathesis: POST /containers/{id}/resize?h=..&w=.. on an exited Tty "
    "container); Docker answers 409 'container is not running'"
)


def test_resize_of_an_exited_tty_container_is_a_client_error(server: Server) -> None:
    api = server.client
    cid = server.run(["/bin/true"], Tty=True)
    assert api.post(f"/containers/{cid}/wait").json()["StatusCode"] == 0
    reply = api.post(f"/containers/{cid}/resize?h=10&w=10")
    assert 400 <= reply.status < 500, reply
    assert_error(reply, reply.status)


def test_resize_of_an_ended_tty_exec_is_not_a_server_error(server: Server, tmp_path: Path) -> None:
    api = server.client
    gate = tmp_path / "go"
    cid = server.run(gated(gate))
    try:
        exec_id = exec_create(api, cid, {"Cmd": ["/bin/true"], "Tty": True})
        assert api.post(f"/exec/{exec_id}/start", {"Detach": True}).status == 200
        poll(lambda: exec_inspect(api, exec_id)["Running"] is False, "the exec to end")
        reply = api.post(f"/exec/{exec_id}/resize?h=10&w=10")
        assert reply.status < 500, reply
        assert str(reply.status) in _documented("POST", "/exec/{id}/resize"), reply
    finally:
        gate.touch()


def test_exec_resized_before_its_start_still_runs(server: Server, tmp_path: Path) -> None:
    """The size is kept until the session exists (docker clients resize right away)."""
    api = server.client
    gate = tmp_path / "go"
    cid = server.run(gated(gate))
    try:
        exec_id = exec_create(
            api, cid, {"Cmd": ["/bin/sh", "-c", "echo ran"], "Tty": True, "AttachStdout": True}
        )
        assert api.post(f"/exec/{exec_id}/resize?h=40&w=120").status == 200
        status, headers, stream = api.hijack(f"/exec/{exec_id}/start", {"Tty": True})
        assert status == 101 and headers["content-type"] == RAW
        assert b"ran" in stream, stream
        assert exec_inspect(api, exec_id)["ExitCode"] == 0
    finally:
        gate.touch()


def test_a_failing_on_start_leaves_no_session_that_blocks_removal(
    server: Server, tmp_path: Path
) -> None:
    import io

    from ocimux.interface.options import ExecOptions
    from ocimux.io.attach import MultiplexWriter

    d = server.dispatcher
    gate = tmp_path / "go"
    cid = server.run(gated(gate))

    def on_start(session: str) -> None:
        raise RuntimeError("the client went away")

    try:
        with pytest.raises(RuntimeError):
            d.exec(
                cid,
                ExecOptions(args=("/bin/true",)),
                MultiplexWriter(io.BytesIO()).streams(None),
                on_start,
            )
    finally:
        gate.touch()
    assert server.client.post(f"/containers/{cid}/wait").json()["StatusCode"] == 3
    d.delete(cid, force=True, timeout=0)
    assert_error(server.client.get(f"/containers/{cid}/json"), 404)
