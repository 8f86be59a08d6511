"""The docker CLI's container options through `ocimux serve`, proven inside real containers.

`docker run --read-only --cap-drop ALL --memory 64m -v DIR:/data:ro --tmpfs /run --hostname
box` on crun and runc: each option is checked from inside the container, and `docker inspect`
shows it back. Options ocimux cannot honour (`-p 80:80`) fail with the server's 400 message
and create nothing. Every container gets its own copy-on-write layer: nothing it writes or
deletes reaches the image.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.integration.api_server import ApiServer, api_server_fixture  # noqa: F401 - the fixture

pytestmark = [
    pytest.mark.requires_root,
    pytest.mark.skipif(shutil.which("docker") is None, reason="the docker CLI is not on PATH"),
    pytest.mark.skipif(shutil.which("conmon") is None, reason="conmon not on PATH"),
]

RUNTIMES = [
    pytest.param("crun", marks=pytest.mark.requires_runtime("crun"), id="crun"),
    pytest.param("runc", marks=pytest.mark.requires_runtime("runc"), id="runc"),
]

#: each line `name=value`, read inside the container
PROBE = r"""
echo "capeff=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status)"
touch /x 2>/dev/null && echo "rootfs=writable" || echo "rootfs=readonly"
m=/sys/fs/cgroup/memory/memory.limit_in_bytes
[ -r "$m" ] || m=/sys/fs/cgroup/memory.max
echo "memory=$(cat $m)"
echo "data=$(cat /data/hello)"
touch /data/new 2>/dev/null && echo "datawrite=yes" || echo "datawrite=no"
echo "run=$(awk '$2 == "/run" {print $3}' /proc/mounts)"
echo hi > /run/x && echo "runwrite=$(cat /run/x)"
echo "hostname=$(hostname)"
"""


def _probe(output: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_options_are_applied_inside_the_container(
    api_server: ApiServer, runtime: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "hello").write_text("from the host")
    done = api_server.docker(
        "run", "--rm", "--read-only", "--cap-drop", "ALL", "--memory", "64m",
        "-v", f"{data}:/data:ro", "--tmpfs", "/run", "--hostname", "box",
        "--runtime", runtime, "busybox", "sh", "-c", PROBE,
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout, done.stderr, api_server.server_log())
    got = _probe(done.stdout)
    assert got == {
        "capeff": "0000000000000000",
        "rootfs": "readonly",
        "memory": str(64 << 20),
        "data": "from the host",
        "datawrite": "no",
        "run": "tmpfs",
        "runwrite": "hi",
        "hostname": "box",
    }, done.stdout
    assert sorted(p.name for p in data.iterdir()) == ["hello"]
    api_server.wait_no_containers()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_docker_inspect_shows_the_host_config_back(
    api_server: ApiServer, runtime: str, tmp_path: Path
) -> None:
    api_server.docker_ok(
        "create", "--name", "conf", "--read-only", "--cap-drop", "ALL", "--cap-add", "CHOWN",
        "--memory", "64m", "--cpus", "0.5", "--pids-limit", "50", "-v", f"{tmp_path}:/data:ro",
        "--tmpfs", "/run:size=1m", "--hostname", "box", "--ulimit", "nofile=100:200",
        "--security-opt", "no-new-privileges", "-l", "ocx=conf", "--stop-signal", "SIGINT",
        "--entrypoint", "/bin/sh", "--runtime", runtime, "busybox", "-c", "exit 0",
    )  # fmt: skip
    doc = json.loads(api_server.docker_ok("inspect", "conf"))[0]
    host = doc["HostConfig"]
    assert host["ReadonlyRootfs"] is True
    assert (host["CapDrop"], host["CapAdd"]) == (["ALL"], ["CAP_CHOWN"])
    assert host["Memory"] == 64 << 20
    assert host["NanoCpus"] == 500_000_000
    assert host["PidsLimit"] == 50
    assert host["Binds"] == [f"{tmp_path}:/data:ro"]
    assert host["Tmpfs"]["/run"].split(",")[0] == "rw" and "size=1m" in host["Tmpfs"]["/run"]
    assert host["Ulimits"] == [{"Name": "nofile", "Soft": 100, "Hard": 200}]
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["NetworkMode"] == "none" and host["Runtime"] == runtime
    assert doc["Mounts"][0] == {
        "Type": "bind", "Source": str(tmp_path), "Destination": "/data", "Mode": "ro",
        "RW": False, "Propagation": "rprivate",
    }  # fmt: skip
    config = doc["Config"]
    assert config["Hostname"] == "box" and config["Labels"] == {"ocx": "conf"}
    assert config["StopSignal"] == "SIGINT"
    assert (config["Entrypoint"], config["Cmd"]) == (["/bin/sh"], ["-c", "exit 0"])
    assert api_server.docker_ok("inspect", "-f", "{{.HostConfig.Memory}}", "conf") == "67108864\n"
    api_server.docker_ok("rm", "conf")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_container_cannot_damage_the_image(
    api_server: ApiServer, runtime: str, busybox_rootfs: Path
) -> None:
    done = api_server.docker(
        "run", "--rm", "--runtime", runtime, "busybox", "sh", "-c",
        "rm -rf /bin/ls /etc/passwd; echo x > /ocx-written; ls /ocx-written",
    )  # fmt: skip
    assert done.returncode == 0, (done.stderr, api_server.server_log())
    assert done.stdout == "/ocx-written\n"
    assert (busybox_rootfs / "bin" / "ls").exists()
    assert (busybox_rootfs / "etc" / "passwd").exists()
    assert not (busybox_rootfs / "ocx-written").exists()
    api_server.wait_no_containers()


def test_a_published_port_is_refused_and_nothing_is_created(api_server: ApiServer) -> None:
    done = api_server.docker("run", "-p", "80:80", "busybox", "true")
    assert done.returncode == 125, (done.stdout, done.stderr)
    assert (
        "ocimux does not support HostConfig.PortBindings: it has no network stack" in done.stderr
    ), done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert api_server.docker_ok("ps", "-a", "-q") == ""
    assert api_server.ocimux_ps() == []


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--restart", "always"], "HostConfig.RestartPolicy: ocimux has no daemon to restart"),
        (["--network", "container:web"], "HostConfig.NetworkMode 'container:web'"),
        (["--log-driver", "none"], "HostConfig.LogConfig.Type 'none'"),
        (["-v", "vol:/data"], "named volumes are not supported"),
        (["--dns", "1.1.1.1"], "HostConfig.Dns: it has no network stack"),
    ],
)
def test_other_options_ocimux_cannot_honour_are_refused(
    api_server: ApiServer, flags: list[str], fragment: str
) -> None:
    done = api_server.docker("run", *flags, "busybox", "true")
    assert done.returncode == 125 and fragment in done.stderr, done.stderr
    assert api_server.ocimux_ps() == []


@pytest.mark.requires_runtime("crun")
def test_a_capability_the_mock_lacks_is_refused_naming_it(api_server: ApiServer) -> None:
    done = api_server.docker("run", "--read-only", "busybox", "true")  # the default: mock
    assert done.returncode == 125
    assert "HostConfig.ReadonlyRootfs" in done.stderr and "on mock" in done.stderr, done.stderr
    assert api_server.ocimux_ps() == []
    ok = api_server.docker("run", "--rm", "--read-only", "--runtime", "crun", "busybox", "true")
    assert ok.returncode == 0, ok.stderr


@pytest.mark.requires_runtime("crun")
def test_an_inline_seccomp_profile_applies(api_server: ApiServer, tmp_path: Path) -> None:
    # the docker CLI reads the profile file and sends its contents in SecurityOpt
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
    }
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(profile))
    done = api_server.docker(
        "run", "--rm", "--security-opt", f"seccomp={path}", "--runtime", "crun", "busybox",
        "sh", "-c", "mkdir /tmp/d 2>/dev/null && echo made || echo refused",
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (0, "refused\n"), done.stderr


@pytest.mark.requires_runtime("runc")
def test_a_restart_keeps_what_the_container_wrote(api_server: ApiServer) -> None:
    api_server.docker_ok(
        "run", "--name", "keep", "--runtime", "runc", "busybox", "sh", "-c",
        "[ -e /kept ] && echo again || { echo first; touch /kept; }",
    )  # fmt: skip
    api_server.docker_ok("start", "keep")
    assert api_server.docker_ok("wait", "keep") == "0\n"
    assert api_server.docker_ok("logs", "keep") == "first\nagain\n"


@pytest.mark.requires_runtime("crun")
def test_docker_py_options_are_applied_and_refusals_raise(
    api_server: ApiServer, tmp_path: Path
) -> None:
    docker = pytest.importorskip("docker")
    (tmp_path / "hello").write_text("from the host")
    client = docker.DockerClient(base_url=api_server.url, timeout=30)
    try:
        out = client.containers.run(
            "busybox", ["sh", "-c", PROBE], remove=True, runtime="crun", read_only=True,
            cap_drop=["ALL"], mem_limit="64m", volumes={str(tmp_path): {"bind": "/data", "mode": "ro"}},
            tmpfs={"/run": ""}, hostname="box",
        )  # fmt: skip
        got = _probe(out.decode())
        assert (got["capeff"], got["rootfs"], got["memory"]) == (
            "0000000000000000", "readonly", str(64 << 20),
        )  # fmt: skip
        assert (got["data"], got["datawrite"], got["runwrite"], got["hostname"]) == (
            "from the host", "no", "hi", "box",
        )  # fmt: skip
        with pytest.raises(docker.errors.APIError) as info:
            client.containers.run("busybox", "true", ports={"80/tcp": 8080}, runtime="crun")
        assert info.value.status_code == 400
        assert "HostConfig.PortBindings: it has no network stack" in str(info.value.explanation)
        assert client.containers.list(all=True) == []
    finally:
        client.close()
