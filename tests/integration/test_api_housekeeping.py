"""Issue 17 (part A) through real clients: the docker CLI (28.x), docker-py and ocimux's CLI.

Image names as given, an unknown image's message, /info's Debug/Swarm/LoggingDriver, the
`/v1.xx` range, `docker container prune`, `docker rename`, `docker top`; and `ocimux rename`,
`ocimux top`, `ocimux container prune`. Each test starts its own server
(tests/integration/api_server.py) with `busybox` registered.
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.integration.api_server import ApiServer, api_server_fixture  # noqa: F401 - the fixture
from tests.integration.conftest import wait_until

pytestmark = [
    pytest.mark.requires_root,
    pytest.mark.skipif(shutil.which("docker") is None, reason="the docker CLI is not on PATH"),
    pytest.mark.skipif(shutil.which("conmon") is None, reason="conmon not on PATH"),
]

CRUN = pytest.mark.requires_runtime("crun")
REAL = [
    pytest.param("crun", marks=CRUN),
    pytest.param("runc-shim", marks=pytest.mark.requires_runtime("containerd-shim-runc-v2")),
]


def _sleeper(server: ApiServer, name: str, runtime: str = "crun", image: str = "busybox") -> str:
    return server.docker_ok(
        "run", "-d", "--name", name, "--runtime", runtime, image, "sleep", "300"
    ).strip()


def _exited(server: ApiServer, name: str) -> str:
    out = server.docker_ok("run", "--name", name, "--runtime", "crun", "busybox", "true")
    assert out == ""
    return server.docker_ok("inspect", "-f", "{{.Id}}", name).strip()


# --- image names, unknown images, /info, versions ----------------------------------------------


@CRUN
def test_docker_shows_the_image_as_given(api_server: ApiServer) -> None:
    _sleeper(api_server, "plain")
    _sleeper(api_server, "tagged", image="busybox:latest")
    assert api_server.docker_ok("inspect", "-f", "{{.Config.Image}}", "plain") == "busybox\n"
    assert (
        api_server.docker_ok("inspect", "-f", "{{.Config.Image}}", "tagged") == "busybox:latest\n"
    )
    listed = api_server.docker_ok("ps", "--format", "{{.Names}} {{.Image}}").splitlines()
    assert sorted(listed) == ["plain busybox", "tagged busybox:latest"]


def test_docker_run_of_an_unknown_image_says_no_such_image(api_server: ApiServer) -> None:
    done = api_server.docker("run", "--rm", "ocx-nosuch", "true")
    assert done.returncode == 125, done
    assert "No such image: ocx-nosuch:latest (ocimux image add / docker load)" in done.stderr
    assert "page not found" not in done.stderr


def test_docker_info_shows_debug_swarm_and_logging_driver(api_server: ApiServer) -> None:
    doc = json.loads(api_server.docker_ok("info", "--format", "{{json .}}"))
    assert doc["Debug"] is False
    assert doc["Swarm"]["LocalNodeState"] == "inactive"
    assert doc["LoggingDriver"] == "json-file"
    text = api_server.docker_ok("info")
    assert "Swarm: inactive" in text and "Logging Driver: json-file" in text


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("1.12", "client version 1.12 is too old. Minimum supported API version is 1.24, "
                 "please upgrade your client to a newer version"),
        ("1.99", "client version 1.99 is too new. Maximum supported API version is 1.43"),
    ],
)  # fmt: skip
def test_docker_with_an_unsupported_api_version_gets_mobys_message(
    api_server: ApiServer, version: str, message: str
) -> None:
    env = {**api_server.docker_env, "DOCKER_API_VERSION": version}
    saved, api_server.docker_env = api_server.docker_env, env
    try:
        done = api_server.docker("ps")
    finally:
        api_server.docker_env = saved
    assert done.returncode != 0, done
    assert message in done.stderr, done.stderr
    assert api_server.docker_ok("ps", "-q") == ""  # negotiated: fine


# --- prune --------------------------------------------------------------------------------------


@CRUN
def test_docker_container_prune_removes_what_is_not_running(api_server: ApiServer) -> None:
    running = _sleeper(api_server, "keep")
    exited = _exited(api_server, "gone")
    created = api_server.docker_ok("create", "--runtime", "crun", "busybox", "true").strip()
    out = api_server.docker_ok("container", "prune", "-f")
    lines = out.splitlines()
    assert lines[0] == "Deleted Containers:", out
    assert sorted(lines[1:3]) == sorted([exited, created]), out
    assert "Total reclaimed space: " in out
    assert api_server.docker_ok("ps", "-a", "-q", "--no-trunc").split() == [running]
    assert api_server.docker_ok("container", "prune", "-f").strip() == "Total reclaimed space: 0B"


@CRUN
def test_docker_container_prune_filters(api_server: ApiServer) -> None:
    api_server.docker_ok("create", "--name", "a", "-l", "tier=a", "--runtime", "crun", "busybox")
    b = api_server.docker_ok(
        "create", "--name", "b", "-l", "tier=b", "--runtime", "crun", "busybox"
    )
    out = api_server.docker_ok("container", "prune", "-f", "--filter", "label=tier=b")
    assert b.strip() in out.split()
    assert api_server.docker_ok("ps", "-a", "--format", "{{.Names}}").split() == ["a"]
    done = api_server.docker("container", "prune", "-f", "--filter", "status=exited")
    assert done.returncode != 0 and "invalid filter 'status'" in done.stderr, done
    assert api_server.docker_ok("ps", "-a", "--format", "{{.Names}}").split() == ["a"]


# --- rename -------------------------------------------------------------------------------------


@CRUN
def test_docker_rename(api_server: ApiServer) -> None:
    cid = _sleeper(api_server, "old")
    _sleeper(api_server, "other")
    api_server.docker_ok("rename", "old", "new")
    assert api_server.docker_ok("inspect", "-f", "{{.Id}} {{.Name}}", "new").split() == [
        cid,
        "/new",
    ]
    assert api_server.docker("inspect", "old").returncode != 0
    done = api_server.docker("rename", "new", "other")
    assert done.returncode != 0 and "already used" in done.stderr, done
    done = api_server.docker("rename", "ocx-ghost", "x")
    assert done.returncode != 0 and "ocx-ghost" in done.stderr, done
    # the running container is unaffected: exec still reaches it under the new name
    assert api_server.docker_ok("exec", "new", "echo", "hi") == "hi\n"


def test_ocimux_rename(api_server: ApiServer) -> None:
    api_server.docker_ok("create", "--name", "one", "busybox", "true")
    api_server.docker_ok("create", "--name", "two", "busybox", "true")
    assert api_server.ocimux("rename", "one", "uno").returncode == 0
    names = sorted(c["name"] for c in api_server.ocimux_ps())
    assert names == ["two", "uno"]
    taken = api_server.ocimux("rename", "uno", "two")
    assert taken.returncode == 125 and "already used" in taken.stderr, taken
    bad = api_server.ocimux("rename", "uno", "no/slash")
    assert bad.returncode == 125 and "invalid container name" in bad.stderr, bad
    assert sorted(c["name"] for c in api_server.ocimux_ps()) == ["two", "uno"]


# --- top ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("runtime", REAL)
def test_docker_top_lists_the_containers_processes(api_server: ApiServer, runtime: str) -> None:
    _sleeper(api_server, "web", runtime)
    api_server.docker_ok("exec", "-d", "web", "sleep", "301")

    def rows() -> list[str]:
        return api_server.docker_ok("top", "web").splitlines()

    wait_until(lambda: len(rows()) == 3, 10, "the exec'd sleep to show", poll=0.1)
    header, *procs = rows()
    assert header.split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    commands = sorted(" ".join(line.split()[7:]) for line in procs)
    assert commands == ["sleep 300", "sleep 301"]
    # ps options as docker passes them, and a bad one is the client's error
    out = api_server.docker_ok("top", "web", "-o", "pid,comm").splitlines()
    assert out[0].split() == ["PID", "COMMAND"] and len(out) == 3
    done = api_server.docker("top", "web", "-o", "comm")
    assert done.returncode != 0 and "Couldn't find PID field" in done.stderr, done


@CRUN
def test_docker_top_of_a_stopped_container_is_refused(api_server: ApiServer) -> None:
    _exited(api_server, "done")
    done = api_server.docker("top", "done")
    assert done.returncode != 0 and "is not running" in done.stderr, done


@CRUN
def test_docker_py_top_rename_prune_and_image(api_server: ApiServer) -> None:
    docker = pytest.importorskip("docker")
    client = docker.DockerClient(base_url=api_server.url, timeout=30)
    try:
        c = client.containers.run("busybox", ["sleep", "300"], detach=True, runtime="crun")
        assert c.attrs["Config"]["Image"] == "busybox"
        top = c.top()
        assert top["Titles"] == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
        assert [p[-1] for p in top["Processes"]] == ["sleep 300"]
        top = c.top(ps_args="waux")  # BSD options, as docker-py's own test_top_with_psargs
        assert top["Titles"][:2] == ["USER", "PID"] and top["Titles"][-1] == "COMMAND"
        assert [p[10] for p in top["Processes"]] == ["sleep 300"]
        c.rename("renamed")
        c.reload()
        assert c.name == "renamed"
        with pytest.raises(docker.errors.NotFound, match="No such image"):
            client.containers.create("ocx-nosuch")
        # what a container wrote into its layer is the space its removal reclaims
        wrote = client.containers.run(
            "busybox", ["sh", "-c", "head -c 100000 /dev/zero > /big"], detach=True, runtime="crun"
        )
        assert wrote.wait()["StatusCode"] == 0
        result = client.containers.prune()
        assert result["ContainersDeleted"] == [wrote.id]
        assert 100000 <= result["SpaceReclaimed"] < 200000, result
        assert [x.name for x in client.containers.list(all=True)] == ["renamed"]
    finally:
        client.close()


@CRUN
def test_ocimux_top_and_container_prune(api_server: ApiServer) -> None:
    _sleeper(api_server, "web")
    exited = _exited(api_server, "gone")
    top = api_server.ocimux("top", "web")
    assert top.returncode == 0, top
    header, *procs = top.stdout.splitlines()
    assert header.split()[:2] == ["UID", "PID"]
    assert [line.split()[-2:] for line in procs] == [["sleep", "300"]]
    custom = api_server.ocimux("top", "web", "-o", "pid,args")
    assert custom.stdout.splitlines()[0].split() == ["PID", "COMMAND"], custom
    stopped = api_server.ocimux("top", "gone")
    assert stopped.returncode == 125, stopped
    assert stopped.stderr == "Error: cannot top gone on crun: container is stopped\n"
    # without -f the question is asked; no answer (stdin /dev/null) keeps everything
    kept = api_server.ocimux("container", "prune")
    assert kept.returncode == 0 and "Are you sure" in kept.stderr and kept.stdout == ""
    assert sorted(c["name"] for c in api_server.ocimux_ps()) == ["gone", "web"]
    yes = api_server.ocimux("container", "prune", input="y\n")
    assert (yes.returncode, yes.stdout) == (0, f"{exited}\n"), yes
    assert [c["name"] for c in api_server.ocimux_ps()] == ["web"]
    again = _exited(api_server, "again")
    pruned = api_server.ocimux("container", "prune", "-f")
    assert (pruned.returncode, pruned.stdout, pruned.stderr) == (0, f"{again}\n", ""), pruned
    assert [c["name"] for c in api_server.ocimux_ps()] == ["web"]
