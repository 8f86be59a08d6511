"""The docker CLI and docker-py against `ocimux serve`: exec framing, detach keys, the logs
window, `docker start -a` of an exited container (issue 17's stream items).

Each test starts its own server (tests/integration/api_server.py) with `busybox` registered.
"""

from __future__ import annotations

import datetime
import re
import shutil
import socket
import time
from collections.abc import Iterator

import pytest

from tests.integration.api_server import ApiServer, api_server_fixture  # noqa: F401 - the fixture
from tests.integration.conftest import wait_until
from tests.ptydriver import Pty

docker = pytest.importorskip("docker")

pytestmark = [
    pytest.mark.requires_root,
    pytest.mark.skipif(shutil.which("conmon") is None, reason="conmon not on PATH"),
]

RUNC = pytest.mark.requires_runtime("runc")
CRUN = pytest.mark.requires_runtime("crun")
SHIM = pytest.mark.requires_runtime("containerd-shim-runc-v2")
DOCKER_CLI = pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI on PATH")
STAMPED = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (.*)$")


@pytest.fixture
def client(api_server: ApiServer) -> Iterator[docker.DockerClient]:
    c = docker.DockerClient(base_url=api_server.url, timeout=30)
    try:
        yield c
    finally:
        c.close()


def _processes(api_server: ApiServer, name: str) -> str:
    return api_server.docker_ok("exec", name, "ps")


# --- exec framing (docker-py) ---------------------------------------------------------------


@RUNC
def test_exec_start_without_tty_of_a_tty_exec_is_multiplexed(client: docker.DockerClient) -> None:
    container = client.containers.run("busybox", ["sleep", "300"], detach=True, runtime="runc")
    exec_id = client.api.exec_create(container.id, ["echo", "framed"], tty=True)["Id"]
    # docker-py reads the 8-byte frames when the start says tty=False ("104 is not a valid
    # stream" when the server sent raw bytes because the create said tty=True)
    out = client.api.exec_start(exec_id, tty=False)
    assert out.replace(b"\r\n", b"\n") == b"framed\n"
    assert client.api.exec_inspect(exec_id)["ExitCode"] == 0
    raw = client.api.exec_create(container.id, ["sh", "-c", "echo o; echo e >&2"])["Id"]
    assert sorted(client.api.exec_start(raw, tty=True).splitlines()) == [b"e", b"o"]


# --- detach keys ----------------------------------------------------------------------------


def _detached_by(sock: socket.socket, keys: list[bytes]) -> None:
    """As docker-py's own tests check a detach: the stream ends, a later write is no error."""
    for key in keys:
        sock.sendall(key)
        time.sleep(0.5)
    sock.sendall(b"make sure the socket is closed\n")
    sock.settimeout(10)
    assert sock.recv(128) == b""


@RUNC
@pytest.mark.parametrize(
    ("config", "arg", "keys"),
    [
        (None, None, [b"\x10", b"\x11"]),
        ("ctrl-p", None, [b"\x10"]),
        (None, "ctrl-x", [b"\x18"]),
    ],
    ids=["default", "config-file", "argument"],
)
def test_docker_py_attach_and_exec_detach(
    client: docker.DockerClient, config: str | None, arg: str | None, keys: list[bytes]
) -> None:
    if config is not None:
        client.api._general_configs["detachKeys"] = config  # docker-py's config.json key
    container = client.containers.run(
        "busybox", ["cat"], detach=True, tty=True, stdin_open=True, runtime="runc"
    )
    params = {"stdin": True, "stream": True, **({"detachKeys": arg} if arg else {})}
    sock = client.api.attach_socket(container.id, params)
    try:
        _detached_by(sock._sock, keys)
    finally:
        sock.close()
    container.reload()
    assert container.status == "running"

    created = client.api.exec_create(container.id, ["cat"], stdin=True, tty=True, detach_keys=arg)
    exec_id = created["Id"]
    sock = client.api.exec_start(exec_id, tty=True, socket=True)
    try:
        _detached_by(sock._sock, keys)
    finally:
        sock.close()
    assert client.api.exec_inspect(exec_id)["Running"] is True


@RUNC
@DOCKER_CLI
def test_docker_exec_it_detaches_with_ctrl_p_ctrl_q(api_server: ApiServer) -> None:
    api_server.docker_ok("run", "-d", "--name", "web", "--runtime", "runc", "busybox", "sleep", "300")  # fmt: skip
    docker_cli = shutil.which("docker")
    assert docker_cli is not None
    pty = Pty([docker_cli, "exec", "-it", "web", "sh"], api_server.docker_env)
    try:
        pty.read_until(r"# ")
        pty.send("sleep 299\r")
        time.sleep(0.5)
        pty.send(b"\x10")
        time.sleep(0.2)
        pty.send(b"\x11")
        code = pty.wait()
        assert not pty.is_raw(), "docker left the terminal in raw mode"
    finally:
        pty.close()
    # the CLI's own word and status for a detached exec (its escape proxy caught the keys)
    assert code == 1 and b"read escape sequence" in pty.output, pty.output
    assert b"^P" not in pty.output and b"^Q" not in pty.output, pty.output
    # the exec's shell and its sleep run on; the container too
    assert "sleep 299" in _processes(api_server, "web")
    assert api_server.docker_ok("inspect", "-f", "{{.State.Status}}", "web") == "running\n"


# --- logs -----------------------------------------------------------------------------------


@RUNC
@DOCKER_CLI
def test_docker_logs_timestamps_since_until_tail(api_server: ApiServer) -> None:
    script = "echo one; sleep 1.2; echo two; sleep 1.2; echo three; exec sleep 300"
    api_server.docker_ok("run", "-d", "--name", "web", "--runtime", "runc", "busybox", "sh", "-c", script)  # fmt: skip
    wait_until(lambda: "three" in api_server.docker_ok("logs", "web"), 10, "three lines logged")
    lines = api_server.docker_ok("logs", "-t", "web").splitlines()
    matches = [STAMPED.match(line) for line in lines]
    assert all(matches), lines
    assert [m.group(2) for m in matches if m] == ["one", "two", "three"]
    second = matches[1].group(1) if matches[1] else ""
    assert api_server.docker_ok("logs", "--since", second, "web") == "two\nthree\n"
    assert api_server.docker_ok("logs", "--until", second, "web") == "one\ntwo\n"
    assert api_server.docker_ok("logs", "--since", "1h", "--tail", "1", "web") == "three\n"
    assert api_server.docker_ok("logs", "--since", "2099-01-01T00:00:00Z", "web") == ""
    # --tail with -f: the last line, then whatever comes; --until ends the follower
    until = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=2)).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ"
    )
    start = time.monotonic()
    out = api_server.docker_ok("logs", "-f", "--tail", "1", "--until", until, "web", timeout=15)
    assert out == "three\n" and time.monotonic() - start < 10


@RUNC
def test_docker_py_logs_window(client: docker.DockerClient) -> None:
    container = client.containers.run(
        "busybox", ["sh", "-c", "echo one; sleep 1.2; echo two"], detach=True, runtime="runc"
    )
    assert container.wait(timeout=20)["StatusCode"] == 0
    stamped = container.logs(timestamps=True).decode().splitlines()
    assert [STAMPED.match(line).group(2) for line in stamped] == ["one", "two"]  # type: ignore[union-attr]
    text = STAMPED.match(stamped[1]).group(1)  # type: ignore[union-attr]
    moment = datetime.datetime.strptime(text[:26], "%Y-%m-%dT%H:%M:%S.%f").replace(
        tzinfo=datetime.UTC
    )
    # docker-py sends a float as it is (a datetime only to the whole second)
    assert container.logs(since=moment.timestamp() - 0.001) == b"two\n"
    assert container.logs(until=moment.timestamp() - 0.001) == b"one\n"
    assert container.logs(tail=1) == b"two\n"


# --- docker start -a ------------------------------------------------------------------------


@DOCKER_CLI
@pytest.mark.parametrize(
    "runtime",
    [
        pytest.param("runc", marks=RUNC),
        pytest.param("crun", marks=CRUN),
        pytest.param("runc-shim", marks=[SHIM, RUNC]),
    ],
)
def test_docker_start_a_reruns_an_exited_container(api_server: ApiServer, runtime: str) -> None:
    # the container's own layer outlives a re-run: count the runs there
    script = "echo run >> /tmp/runs; echo out-$(grep -c run /tmp/runs); echo err >&2; exit 3"
    done = api_server.docker("run", "--name", "web", "--runtime", runtime, "busybox", "sh", "-c", script)  # fmt: skip
    assert done.returncode == 3, (done.stderr, api_server.server_log())
    assert (done.stdout, done.stderr) == ("out-1\n", "err\n")
    for run in (2, 3):
        again = api_server.docker("start", "-a", "web", timeout=30)
        assert again.returncode == 3, (again.stdout, again.stderr, api_server.server_log())
        assert (again.stdout, again.stderr) == (f"out-{run}\n", "err\n")
    state = api_server.docker_ok("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "web")
    assert state == "exited 3\n"
