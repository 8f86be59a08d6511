"""containers.conf `[containers]` defaults proven from inside real containers, or refused.

Each applied key is set in the test's containers.conf and checked where the kernel shows it, on
runc and crun under conmon: a write to / that fails, PID 1's command line, /proc/self/
oom_score_adj, the size of /dev/shm, CapEff, a device node, a bind's content, the namespace
links of /proc/self/ns against the host's, the environment, /etc/hosts and the hostname, the
bundle's config.json for annotations and the init binary. A run flag given overrides each.
A value ocimux cannot honour fails `run` (CLI and docker CLI through `ocimux serve`) with exit
125 and one line naming file, line, key, value and the opt-out, leaving nothing behind; the
mock, which isolates nothing, refuses a configured `read_only = true` as it refuses the flag.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.api_server import ApiServer, api_server_fixture  # noqa: F401 - the fixture
from tests.integration.conftest import Oci, Runner, one_line, runtime_params

#: podman's 11 default capabilities as a CapEff mask
PODMAN_CAPEFF = "00000000800405fb"

#: `key=value` lines about the container's own view (each test adds its own)
PROBE = r"""
echo "pid1=$(tr '\0' ' ' < /proc/1/cmdline)"
echo "oom=$(cat /proc/self/oom_score_adj)"
echo "shm=$(df -k /dev/shm | awk 'NR == 2 {print $2}')"
touch /ocx-written 2>/dev/null && echo "root=writable" || echo "root=readonly"
echo "capeff=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status)"
"""


def set_containers(oci: Oci, text: str) -> None:
    """Give the test's containers.conf a `[containers]` table (it has [ocimux] and [engine])."""
    conf = oci.conf.read_text()
    head, _, _ = conf.partition("\n[containers]\n")
    oci.conf.write_text(f"{head.rstrip()}\n[containers]\n{text}")


def probe(oci: Oci, script: str = "", *flags: str, env: dict[str, str] | None = None) -> dict:
    """`run --rm FLAGS -- sh -c PROBE+SCRIPT`: its `key=value` lines as a dict."""
    argv = oci.new("run", "sh", "-c", PROBE + script, flags=["--rm", *flags])
    done = oci(*argv, env=env)
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


def check(got: dict[str, str], expected: dict[str, str]) -> None:
    wrong = {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}
    assert not wrong, f"(got, expected) per key: {wrong}"


def logged(oci: Oci, cid: str) -> dict[str, str]:
    """The `key=value` lines a stopped container printed (its k8s-file log: TIME STREAM TAG text)."""
    oci.wait_status(cid, "stopped", timeout=15)
    texts = [
        line.split(" ", 3)[3] for line in oci.log_text(cid).splitlines() if line.count(" ") >= 3
    ]
    return dict(text.split("=", 1) for text in texts if "=" in text)


def bundle_spec(oci: Oci, cid: str) -> dict[str, Any]:
    return json.loads((oci.containers_dir / cid / "config.json").read_text())


def host_ns(kind: str) -> str:
    return os.readlink(f"/proc/self/ns/{kind}")


def own_capbnd() -> str:
    with open("/proc/self/status", encoding="ascii") as fh:
        line = next(line for line in fh if line.startswith("CapBnd:"))
    return line.split()[1]


def assert_nothing_left(oci: Oci) -> None:
    assert oci.ps() == []
    assert not oci.containers_dir.exists() or list(oci.containers_dir.iterdir()) == []


# --- applied, and overridden by the run flag -------------------------------------------------


def test_read_only_init_oom_score_adj_shm_size(oci: Oci) -> None:
    set_containers(oci, 'read_only = true\ninit = true\noom_score_adj = 300\nshm_size = "32m"\n')
    got = probe(oci, 'touch /tmp/x && echo "tmp=writable"\n')
    assert got["pid1"].startswith("/run/podman-init -- sh -c"), got
    check(got, {"root": "readonly", "tmp": "writable", "oom": "300", "shm": "32768"})
    # each run flag wins over its key
    flags = ("--read-only=false", "--init=false", "--oom-score-adj", "500", "--shm-size", "8m")
    got = probe(oci, "", *flags)
    assert got["pid1"].startswith("sh -c"), got
    check(got, {"root": "writable", "oom": "500", "shm": "8192"})


def test_an_oom_score_adj_below_ours_needs_cap_sys_resource(oci: Oci) -> None:
    set_containers(oci, "oom_score_adj = -100\n")
    with open("/proc/self/status", encoding="ascii") as fh:
        eff = int(next(line for line in fh if line.startswith("CapEff:")).split()[1], 16)
    with open("/proc/self/oom_score_adj", encoding="ascii") as fh:
        ours = int(fh.read())
    done = oci(*oci.new("run", "cat", "/proc/self/oom_score_adj", flags=["--rm"]))
    if eff >> 24 & 1 or ours <= -100:  # CAP_SYS_RESOURCE (24): the kernel lets it lower
        assert (done.returncode, done.stdout) == (0, "-100\n"), done
        return
    assert done.returncode == 125, done
    line = one_line(done.stderr)
    assert "containers.conf [containers]" in line and "oom_score_adj to -100" in line
    assert "CAP_SYS_RESOURCE" in line
    assert_nothing_left(oci)


def test_privileged(oci: Oci) -> None:
    set_containers(oci, "privileged = true\n")
    assert probe(oci)["capeff"] == own_capbnd()
    assert probe(oci, "", "--privileged=false")["capeff"] == PODMAN_CAPEFF


def test_devices_volumes_mounts_annotations(oci: Oci, tmp_path: Path) -> None:
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "f").write_text("from the config")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "f").write_text("from the flag")
    set_containers(
        oci,
        'devices = ["/dev/zero:/dev/ocx-zero:rw"]\n'
        f'volumes = ["{vol}:/ocx-vol:ro", "{vol}:/ocx-other"]\n'
        'mounts = ["type=tmpfs,destination=/ocx-scratch"]\n'
        'annotations = ["org.example.ocx=conf", "org.example.both=conf"]\n',
    )
    script = r"""
[ -c /dev/ocx-zero ] && echo "zero=$(head -c 3 /dev/ocx-zero | od -An -tx1 | tr -d ' ')"
echo "vol=$(cat /ocx-vol/f)"
touch /ocx-vol/new 2>/dev/null && echo "volwrite=yes" || echo "volwrite=no"
echo "other=$(cat /ocx-other/f)"
echo "scratch=$(awk '$2 == "/ocx-scratch" {print $3}' /proc/mounts)"
"""
    flags = ["--annotation", "org.example.both=mine", "-v", f"{mine}:/ocx-other"]
    cid = oci.ok(*oci.new("run", "sh", "-c", script, name="dev", flags=["-d", *flags])).strip()
    check(
        logged(oci, cid),
        {
            "zero": "000000",
            "vol": "from the config",
            "volwrite": "no",
            "other": "from the flag",  # the container's own -v at that destination wins
            "scratch": "tmpfs",
        },
    )
    annotations = bundle_spec(oci, cid)["annotations"]
    assert annotations["org.example.ocx"] == "conf"
    assert annotations["org.example.both"] == "mine"  # the container's own wins
    assert sorted(p.name for p in vol.iterdir()) == ["f"]
    oci.ok("rm", cid)


def test_env_host_and_http_proxy(oci: Oci) -> None:
    env = {"http_proxy": "http://proxy.invalid:3128", "OCX_HOST_ONLY": "yes"}
    script = 'echo "proxy=$http_proxy"; echo "hostonly=$OCX_HOST_ONLY"\n'
    # podman's default http_proxy = true passes the proxy variables, and nothing else
    check(probe(oci, script, env=env), {"proxy": env["http_proxy"], "hostonly": ""})
    set_containers(oci, "env_host = true\n")
    check(probe(oci, script, env=env), {"proxy": env["http_proxy"], "hostonly": "yes"})
    flags = ("--env-host=false", "--http-proxy=false")
    check(probe(oci, script, *flags, env=env), {"proxy": "", "hostonly": ""})
    set_containers(oci, "http_proxy = false\n")
    check(probe(oci, script, env=env), {"proxy": "", "hostonly": ""})


def test_host_namespaces(oci: Oci) -> None:
    set_containers(oci, 'netns = "host"\npidns = "host"\nipcns = "host"\nutsns = "host"\n')
    script = 'for k in net pid ipc uts; do echo "$k=$(readlink /proc/self/ns/$k)"; done\n'
    script += 'echo "hostname=$(hostname)"\n'
    got = probe(oci, script)
    check(got, {k: host_ns(k) for k in ("net", "pid", "ipc", "uts")})
    assert got["hostname"] == socket.gethostname()
    # the run flag decides the network namespace
    assert probe(oci, script, "--network", "none")["net"] != host_ns("net")


def test_private_namespaces_and_a_cgroup_namespace(oci: Oci) -> None:
    script = 'for k in net pid ipc uts cgroup; do echo "$k=$(readlink /proc/self/ns/$k)"; done\n'
    assert probe(oci, script)["cgroup"] == host_ns("cgroup")  # unset: none, as before
    set_containers(oci, 'netns = "private"\npidns = "private"\ncgroupns = "private"\n')
    got = probe(oci, script)
    for kind in ("net", "pid", "ipc", "uts", "cgroup"):
        assert got[kind] != host_ns(kind), kind


def test_hosts_file_and_hostname(oci: Oci, tmp_path: Path) -> None:
    base = tmp_path / "hosts.base"
    base.write_text("192.0.2.7 ocx-base\n")
    set_containers(
        oci,
        f'base_hosts_file = "{base}"\ncontainer_name_as_hostname = true\n'
        'host_containers_internal_ip = "192.0.2.10"\n',
    )
    argv = oci.new("run", "sh", "-c", "hostname; cat /etc/hosts", name="ocx_named", flags=["--rm"])
    out = oci.ok(*argv)
    lines = out.splitlines()
    assert lines[0] == "ocxnamed"  # the name without '_', as podman's
    assert "192.0.2.7 ocx-base" in lines
    assert "192.0.2.10\thost.containers.internal host.docker.internal" in lines
    assert any(line.startswith("127.0.0.1") and "localhost" in line for line in lines)


def test_engine_init_path(oci: Oci, tmp_path: Path) -> None:
    found = shutil.which("catatonit") or "/usr/libexec/podman/catatonit"
    if not os.path.isfile(found):
        pytest.skip("catatonit is not installed")
    init = tmp_path / "my-init"
    shutil.copy2(found, init)
    oci.edit_conf(lambda text: text.replace("[engine]\n", f'[engine]\ninit_path = "{init}"\n', 1))
    set_containers(oci, "init = true\n")
    cid = oci.detach("initpath", "sh", "-c", PROBE)
    [mount] = [m for m in bundle_spec(oci, cid)["mounts"] if m["destination"] == "/run/podman-init"]
    assert mount["source"] == str(init)  # [engine] init_path, podman's current key
    assert logged(oci, cid)["pid1"].startswith("/run/podman-init -- sh -c")
    oci.ok("rm", cid)


# --- refused ---------------------------------------------------------------------------------


@pytest.mark.parametrize("runtime", runtime_params(("crun",)), indirect=True)
def test_a_value_ocimux_cannot_honour_fails_before_anything_runs(oci: Oci) -> None:
    set_containers(oci, 'read_only = true\nuserns = "auto"\n')
    done = oci(*oci.new("run", "true", flags=["--rm"]))
    assert done.returncode == 125, done
    line = one_line(done.stderr)
    assert f'{oci.conf}:10: [containers] userns: "auto" cannot be honoured: ' in line, line
    assert "[ocimux] ignore_container_defaults" in line
    assert_nothing_left(oci)
    info = oci.ok("info")
    assert '[containers] userns: "auto" cannot be honoured' in info
    # the explicit opt-out: run without it, and `info` says so
    oci.edit_conf(
        lambda text: text.replace(
            "[ocimux]\n", '[ocimux]\nignore_container_defaults = ["userns"]\n', 1
        )
    )
    assert probe(oci)["root"] == "readonly"  # the other keys still apply
    info = oci.ok("info")
    assert f'[containers] userns = "auto" ({oci.conf}:11) is not applied' in info


@pytest.mark.parametrize("runtime", runtime_params(("crun",)), indirect=True)
def test_cgroup_conf_applies_on_cgroup_v2_and_is_refused_on_v1(oci: Oci) -> None:
    set_containers(oci, 'cgroup_conf = ["memory.high=104857600"]\ncgroupns = "private"\n')
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        script = 'echo "high=$(cat /sys/fs/cgroup/memory.high)"\n'
        assert probe(oci, script)["high"] == "104857600"
        return
    done = oci(*oci.new("run", "true", flags=["--rm"]))
    assert done.returncode == 125, done
    assert "[containers] cgroup_conf: " in one_line(done.stderr)
    assert "this host has cgroup v1" in done.stderr
    assert_nothing_left(oci)


def test_cgroups_disabled_needs_a_runtime_without_cgroups(oci: Oci) -> None:
    set_containers(oci, 'cgroups = "disabled"\n')
    done = oci(*oci.new("run", "cat", "/proc/self/cgroup", flags=["--rm"]))
    if oci.runtime == "runc":  # runc cannot run without cgroups: refused as --no-cgroups is
        assert done.returncode == 125, done
        line = one_line(done.stderr)
        assert '[containers] cgroups = "disabled"' in line and "capability no_cgroups" in line
        assert_nothing_left(oci)
        return
    assert done.returncode == 0, done
    with open("/proc/self/cgroup", encoding="ascii") as fh:
        ours = fh.read()
    assert done.stdout == ours  # no cgroup of its own: it stays in ours


def test_the_mock_refuses_a_configured_value_as_it_refuses_the_flag(
    ocimux: Runner, ocimux_env: dict[str, str], rootfs: Path
) -> None:
    conf = Path(ocimux_env["CONTAINERS_CONF"])
    conf.write_text(conf.read_text() + "[containers]\nread_only = true\n")
    argv = ["run", "--rm", "--runtime", "mock", "--rootfs", str(rootfs), "--", "true"]
    done = ocimux(*argv)
    assert done.returncode == 125, done
    line = one_line(done.stderr)
    assert f"containers.conf [containers] read_only = true ({conf}:" in line
    assert "needs capability isolation" in line
    assert ocimux("ps", "-a", "-q").stdout == ""
    assert ocimux(*argv[:1], "--read-only=false", *argv[1:]).returncode == 0


# --- the Docker API ---------------------------------------------------------------------------


@pytest.fixture
def conf_then_server(
    request: pytest.FixtureRequest, ocimux_env: dict[str, str], tmp_path: Path
) -> Iterator[tuple[ApiServer, Path]]:
    """`ocimux serve` started after `request.param` became the `[containers]` table."""
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "f").write_text("served")
    conf = Path(ocimux_env["CONTAINERS_CONF"])
    text = str(request.param).replace("VOL", str(vol))
    conf.write_text(conf.read_text() + f"[containers]\n{text}")
    yield request.getfixturevalue("api_server"), conf


DOCKER_PROBE = r"""
echo "pid1=$(tr '\0' ' ' < /proc/1/cmdline)"
echo "oom=$(cat /proc/self/oom_score_adj)"
echo "vol=$(cat /ocx-vol/f)"
"""


@pytest.mark.requires_root
@pytest.mark.requires_runtime("crun")
@pytest.mark.skipif(shutil.which("docker") is None, reason="the docker CLI is not on PATH")
@pytest.mark.parametrize(
    "conf_then_server", ['init = true\noom_score_adj = 200\nvolumes = ["VOL:/ocx-vol"]\n'],
    indirect=True,
)  # fmt: skip
def test_docker_api_containers_get_the_defaults(conf_then_server: tuple[ApiServer, Path]) -> None:
    server, _ = conf_then_server
    done = server.docker("run", "--rm", "--runtime", "crun", "busybox", "sh", "-c", DOCKER_PROBE)
    assert done.returncode == 0, (done.stdout, done.stderr, server.server_log())
    got = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    assert got["pid1"].startswith("/run/podman-init -- sh -c"), got
    check(got, {"oom": "200", "vol": "served"})
    server.wait_no_containers()


@pytest.mark.requires_root
@pytest.mark.requires_runtime("crun")
@pytest.mark.skipif(shutil.which("docker") is None, reason="the docker CLI is not on PATH")
@pytest.mark.parametrize("conf_then_server", ['log_driver = "journald"\n'], indirect=True)
def test_docker_api_refuses_too(conf_then_server: tuple[ApiServer, Path]) -> None:
    server, conf = conf_then_server
    done = server.docker("run", "--rm", "--runtime", "crun", "busybox", "true")
    assert done.returncode == 125, (done.stdout, done.stderr)
    assert f"{conf}:" in done.stderr and '[containers] log_driver: "journald" cannot be' in (
        done.stderr
    )
    assert server.ocimux_ps() == []
