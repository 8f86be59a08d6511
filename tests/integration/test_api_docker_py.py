"""docker-py (the `docker` package) against `ocimux serve`: containers, exec, attach, images.

Every test starts its own server (tests/integration/api_server.py) with `busybox` registered
and talks to it with `docker.DockerClient(base_url="unix://<socket>")`. The default runtime
of the test configuration is `mock`; real containers are asked for with `runtime=`.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Iterator

import pytest

from tests.integration.api_server import ApiServer, api_server_fixture  # noqa: F401 - the fixture
from tests.integration.conftest import wait_until

docker = pytest.importorskip("docker")

pytestmark = [
    pytest.mark.requires_root,
    pytest.mark.skipif(shutil.which("conmon") is None, reason="conmon not on PATH"),
]

RUNC = pytest.mark.requires_runtime("runc")
CRUN = pytest.mark.requires_runtime("crun")


@pytest.fixture
def client(api_server: ApiServer) -> Iterator[docker.DockerClient]:
    c = docker.DockerClient(base_url=api_server.url, timeout=30)
    try:
        yield c
    finally:
        c.close()


@CRUN
def test_run_returns_stdout_and_a_failure_raises_container_error(
    client: docker.DockerClient, api_server: ApiServer
) -> None:
    out = client.containers.run(
        "busybox", ["sh", "-c", "echo hi; echo err >&2"], remove=True, runtime="crun"
    )
    assert out == b"hi\n"
    with pytest.raises(docker.errors.ContainerError) as info:
        client.containers.run(
            "busybox", ["sh", "-c", "echo oops >&2; exit 3"], remove=True, runtime="crun"
        )
    assert info.value.exit_status == 3
    assert info.value.stderr == b"oops\n"
    assert client.containers.list(all=True) == []
    assert api_server.ocimux_ps() == []


@RUNC
def test_detached_container_exec_pause_stop_remove(client: docker.DockerClient) -> None:
    container = client.containers.run(
        "busybox", ["sleep", "300"], detach=True, name="dpy", runtime="runc"
    )
    assert re.fullmatch(r"[0-9a-f]{64}", container.id)
    assert [c.id for c in client.containers.list()] == [container.id]
    listed = client.containers.list()[0]
    assert listed.name == "dpy" and listed.status == "running"
    assert listed.attrs["HostConfig"]["Runtime"] == "runc"

    result = container.exec_run(["sh", "-c", "echo $((6*7)); echo e >&2; exit 3"], demux=True)
    assert result.exit_code == 3
    assert result.output == (b"42\n", b"e\n")

    # a streamed exec yields its output as it comes, not all at the end
    stream = container.exec_run(["sh", "-c", "echo first; sleep 0.6; echo second"], stream=True)
    assert stream.exit_code is None  # docker-py does not know it while streaming
    arrivals = [(time.monotonic(), chunk) for chunk in stream.output]
    assert b"".join(chunk for _, chunk in arrivals) == b"first\nsecond\n"
    assert arrivals[0][1].startswith(b"first")
    assert arrivals[-1][0] - arrivals[0][0] > 0.3, arrivals

    container.pause()
    container.reload()
    assert container.status == "paused"
    assert container.attrs["State"]["Paused"] is True
    container.unpause()
    container.reload()
    assert container.status == "running"

    started = time.monotonic()
    container.stop(timeout=1)  # sleep as pid 1 ignores SIGTERM: SIGKILL after 1 s
    took = time.monotonic() - started
    assert 0.8 <= took < 5, took
    container.reload()
    assert container.status == "exited"
    assert container.attrs["State"]["ExitCode"] == 137
    assert client.containers.list() == []
    assert [c.id for c in client.containers.list(all=True)] == [container.id]

    container.remove()
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(container.id)
    assert client.containers.list(all=True) == []


@RUNC
def test_attach_before_start_gets_every_line_in_order(client: docker.DockerClient) -> None:
    script = "for i in 1 2 3 4 5; do echo line$i; done; echo bad >&2; exit 7"
    container = client.containers.create("busybox", ["sh", "-c", script], runtime="runc")
    assert container.status == "created"
    stream = container.attach(stream=True, stdout=True, stderr=True)
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(stream), daemon=True)
    reader.start()
    container.start()
    result = container.wait(timeout=20)
    assert result["StatusCode"] == 7
    reader.join(10)
    assert not reader.is_alive(), "the attach stream did not end when the container exited"
    output = b"".join(chunks)
    lines = output.splitlines()
    assert [x for x in lines if x.startswith(b"line")] == [b"line%d" % i for i in range(1, 6)]
    assert b"bad" in lines
    assert len(lines) == 6, output
    container.reload()
    assert container.status == "exited"
    container.remove()


@RUNC
def test_logs_images_and_errors(client: docker.DockerClient) -> None:
    container = client.containers.run(
        "busybox", ["sh", "-c", "echo to-out; echo to-err >&2"], detach=True, runtime="runc"
    )
    assert container.wait(timeout=20)["StatusCode"] == 0
    wait_until(lambda: b"to-err" in container.logs(), 5, "both lines in the log", poll=0.05)
    assert container.logs(stdout=True, stderr=False) == b"to-out\n"
    assert container.logs(stdout=False, stderr=True) == b"to-err\n"
    assert sorted(container.logs().splitlines()) == [b"to-err", b"to-out"]
    container.remove()

    assert [image.tags for image in client.images.list()] == [["busybox:latest"]]
    image = client.images.get("busybox")
    assert image.tags == ["busybox:latest"]
    assert image.id.startswith("sha256:")
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("nope")

    with pytest.raises(docker.errors.APIError) as info:
        client.containers.create("busybox", ["true"], runtime="nosuchruntime")
    assert info.value.status_code == 400
    assert "nosuchruntime" in info.value.explanation
    assert client.containers.list(all=True) == []

    with pytest.raises(docker.errors.NotFound) as missing:
        client.containers.get("0123456789ab")
    assert missing.value.status_code == 404


def test_image_names_with_a_namespace_or_registry(client: docker.DockerClient) -> None:
    image = client.images.get("busybox")
    # create resolves these names (the body carries them, not the path)
    out = client.containers.run("docker.io/library/busybox:latest", ["echo", "ok"], remove=True)
    assert out == b"ok\n"
    for name in ("library/busybox", "docker.io/library/busybox:latest"):
        assert client.images.get(name).id == image.id


def test_info_version_and_ping(client: docker.DockerClient) -> None:
    assert client.ping() is True
    info = client.info()
    for name, binary in (("runc", "runc"), ("crun", "crun")):
        if shutil.which(binary):
            assert name in info["Runtimes"], info["Runtimes"]
    assert info["DefaultRuntime"] == "mock"
    assert info["Images"] == 1
    version = client.version()
    assert version["ApiVersion"] == "1.43"
    assert client.api.api_version == "1.43"
