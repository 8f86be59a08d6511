"""Docker's create body → ContainerConfig, the refusal table, and the inspect shapes: pure tests."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from ocimux.base.errors import CapabilityError, InvalidArgumentError
from ocimux.engine.store import ContainerRecord
from ocimux.oci.containerconfig import ContainerConfig, Device, Limits, Mount, Ulimit
from ocimux.server.configshapes import config_fields, host_config, mount_points, user_command
from ocimux.server.dockercommand import (
    DOCKER_ANNOTATION,
    command,
    docker_annotations,
    docker_notes,
)
from ocimux.server.hostconfig import container_config, docker_option
from ocimux.server.shapes import IMAGE_ANNOTATION
from ocimux.server.unsupported import UNSUPPORTED, refuse_unsupported

from tests.unit.server.docker_bodies import DOCKER_CLI_CREATE, DOCKER_PY_RUN, docker_cli

IMAGE = {"name": "busybox:latest", "rootfs": "/x", "cmd": ["sh"]}
#: the docker CLI sends ReadonlyRootfs and Privileged on every create: they decide, as in
#: podman's compat API; docker-py leaves them out, and containers.conf decides
CLI_DEFAULT = ContainerConfig(rootfs_overlay=True, read_only=False, privileged=False)


def mapped(body: dict[str, Any], tmp_path: Path) -> ContainerConfig:
    refuse_unsupported(body)
    return container_config(body, seccomp_dir=tmp_path / "seccomp")


def refused(body: dict[str, Any], tmp_path: Path) -> str:
    with pytest.raises(InvalidArgumentError) as info:
        mapped(body, tmp_path)
    return str(info.value)


# --- what clients send by default ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (DOCKER_CLI_CREATE, CLI_DEFAULT),
        (DOCKER_PY_RUN, ContainerConfig(rootfs_overlay=True)),
        ({"Image": "busybox"}, ContainerConfig(rootfs_overlay=True)),
    ],
)
def test_a_default_body_maps_to_the_defaults_plus_a_layer(
    body: dict, expected: ContainerConfig, tmp_path: Path
) -> None:
    assert mapped(body, tmp_path) == expected


@pytest.mark.parametrize(
    ("mode", "network"), [("", None), ("default", None), ("bridge", "none"), ("none", "none")]
)
def test_docker_default_networks_mean_none(mode: str, network: str | None, tmp_path: Path) -> None:
    # "" and "default": containers.conf's netns (unset: none), as podman's compat API
    body = docker_cli(HostConfig={"NetworkMode": mode})
    body["NetworkingConfig"] = {"EndpointsConfig": {mode or "default": {}}}
    assert mapped(body, tmp_path).network == network


def test_network_disabled_never_takes_the_configured_netns(tmp_path: Path) -> None:
    body = docker_cli(NetworkDisabled=True, HostConfig={"NetworkMode": "default"})
    assert mapped(body, tmp_path).network == "none"


def test_the_hosts_network(tmp_path: Path) -> None:
    assert mapped(docker_cli(HostConfig={"NetworkMode": "host"}), tmp_path).network == "host"


# --- every mapped field ----------------------------------------------------------------------


def test_everything_the_docker_cli_sends_for_its_options_maps(tmp_path: Path) -> None:
    # docker run --rm --read-only --cap-drop ALL --cap-add net_raw --memory 64m
    #   --memory-swap 128m --memory-reservation 32m -v DIR:/data:ro --tmpfs /run:size=1m
    #   --mount type=bind,src=DIR,dst=/m,readonly,bind-propagation=rslave
    #   --mount type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770 --shm-size 8m --hostname box
    #   --domainname example.org --cpus 0.5 --cpu-shares 512 --cpuset-cpus 0 --cpuset-mems 0
    #   --pids-limit 100 --ulimit nofile=10:20 --sysctl net.ipv4.ip_forward=1
    #   --device /dev/null:/dev/nul2:rw --group-add 10 --init --stop-signal SIGINT
    #   --security-opt no-new-privileges -l a=b --entrypoint /bin/sh busybox -c true
    host = {
        "Binds": [f"{tmp_path}:/data:ro"], "AutoRemove": True, "CapAdd": ["CAP_NET_RAW"],
        "CapDrop": ["ALL"], "GroupAdd": ["10"], "ReadonlyRootfs": True,
        "SecurityOpt": ["no-new-privileges"], "Tmpfs": {"/run": "size=1m"},
        "Sysctls": {"net.ipv4.ip_forward": "1"}, "CpuShares": 512, "Memory": 67108864,
        "NanoCpus": 500000000, "CpusetCpus": "0", "CpusetMems": "0",
        "Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/nul2", "CgroupPermissions": "rw"}],
        "MemoryReservation": 33554432, "MemorySwap": 134217728, "PidsLimit": 100,
        "Ulimits": [{"Name": "nofile", "Hard": 20, "Soft": 10}], "ShmSize": 8388608,
        "Mounts": [
            {"Type": "bind", "Source": str(tmp_path), "Target": "/m", "ReadOnly": True,
             "BindOptions": {"Propagation": "rslave"}},
            {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1048576, "Mode": 1016}},
        ],
        "Init": True, "LogConfig": {"Type": "json-file", "Config": {}}, "NetworkMode": "none",
    }  # fmt: skip
    body = docker_cli(
        HostConfig=host, Hostname="box", Domainname="example.org", Labels={"a": "b"},
        StopSignal="SIGINT", Entrypoint=["/bin/sh"], Cmd=["-c", "true"],
    )  # fmt: skip
    body["NetworkingConfig"] = {"EndpointsConfig": {}}
    cfg = mapped(body, tmp_path)
    assert cfg.mounts == (
        Mount("bind", "/data", str(tmp_path), ("rbind", "ro", "rprivate")),
        Mount("bind", "/m", str(tmp_path), ("rbind", "ro", "rslave")),
        Mount("tmpfs", "/t", "tmpfs",
              ("rw", "noexec", "nosuid", "nodev", "size=1048576", "mode=1770", "rprivate")),
        Mount("tmpfs", "/run", "tmpfs", ("rw", "noexec", "nosuid", "nodev", "size=1m", "rprivate")),
        Mount("tmpfs", "/dev/shm", "shm",
              ("rw", "noexec", "nosuid", "nodev", "mode=1777", "size=8388608")),
    )  # fmt: skip
    assert cfg.limits == Limits(
        memory=64 << 20, memory_swap=128 << 20, memory_reservation=32 << 20, cpu_quota=50000,
        cpu_period=100000, cpu_shares=512, cpuset_cpus="0", cpuset_mems="0", pids_limit=100,
    )  # fmt: skip
    assert (cfg.read_only, cfg.read_only_tmpfs) == (True, False)  # Docker's: no tmpfs of its own
    assert (cfg.cap_add, cfg.cap_drop) == (("CAP_NET_RAW",), ("ALL",))
    assert cfg.no_new_privileges and cfg.seccomp is None and not cfg.privileged
    assert (cfg.hostname, cfg.domainname) == ("box", "example.org")
    assert cfg.group_add == ("10",) and cfg.init
    assert cfg.ulimits == (Ulimit("nofile", 10, 20),)
    assert cfg.sysctls == (("net.ipv4.ip_forward", "1"),)
    assert cfg.devices == (Device("/dev/null", "/dev/nul2", "rw"),)
    assert cfg.stop_signal == 2 and cfg.labels == (("a", "b"),)
    assert cfg.network == "none" and cfg.rootfs_overlay
    assert command(body, IMAGE) == (["/bin/sh"], ["-c", "true"])


def test_cpu_quota_and_period_map_as_given(tmp_path: Path) -> None:
    cfg = mapped(docker_cli(HostConfig={"CpuQuota": 20000, "CpuPeriod": 50000}), tmp_path)
    assert (cfg.limits.cpu_quota, cfg.limits.cpu_period) == (20000, 50000)


def test_nano_cpus_with_a_period_is_refused(tmp_path: Path) -> None:
    text = refused(docker_cli(HostConfig={"NanoCpus": 10**9, "CpuPeriod": 1000}), tmp_path)
    assert "HostConfig.NanoCpus" in text


@pytest.mark.parametrize(
    ("swap", "pids", "want"),
    [(-1, -1, (-1, -1)), (0, 0, (None, None)), (None, None, (None, None))],
)
def test_unlimited_swap_and_pids(swap: Any, pids: Any, want: tuple, tmp_path: Path) -> None:
    cfg = mapped(docker_cli(HostConfig={"Memory": 64 << 20, "MemorySwap": swap, "PidsLimit": pids}), tmp_path)  # fmt: skip
    assert (cfg.limits.memory_swap, cfg.limits.pids_limit) == want


def test_volumes_that_are_binds_are_accepted_others_are_anonymous(tmp_path: Path) -> None:
    # docker-py's volumes={DIR: {"bind": "/data", "mode": "ro"}}
    body = {"Image": "busybox", "Volumes": {"/data/": {}}, "HostConfig": {"Binds": [f"{tmp_path}:/data:ro"]}}  # fmt: skip
    assert mapped(body, tmp_path).mounts[0].destination == "/data"
    body = docker_cli(Volumes={"/data": {}, "/anon": {}}, HostConfig={"Binds": [f"{tmp_path}:/data"]})  # fmt: skip
    assert refused(body, tmp_path).startswith(
        "ocimux does not support Config.Volumes '/anon': an anonymous volume needs a volume store"
    )


def test_system_paths_unconfined(tmp_path: Path) -> None:
    body = docker_cli(HostConfig={"MaskedPaths": [], "ReadonlyPaths": []})
    assert mapped(body, tmp_path).unmask == ("ALL",)
    text = refused(docker_cli(HostConfig={"MaskedPaths": ["/proc/kcore"]}), tmp_path)
    assert "MaskedPaths" in text and "mask=" in text


# --- security options ------------------------------------------------------------------------


def test_an_inline_seccomp_profile_is_written_to_a_private_file(tmp_path: Path) -> None:
    profile = json.dumps({"defaultAction": "SCMP_ACT_ALLOW"})
    body = docker_cli(HostConfig={"SecurityOpt": [f"seccomp={profile}", "no-new-privileges:true"]})
    cfg = mapped(body, tmp_path)
    path = Path(cfg.seccomp or "")
    assert path.parent == tmp_path / "seccomp" and path.read_text() == profile
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert cfg.no_new_privileges
    assert mapped(body, tmp_path).seccomp == str(path)  # the same profile, the same file
    assert os.listdir(path.parent) == [path.name]


@pytest.mark.parametrize("opt", ["seccomp=unconfined", "seccomp:unconfined"])
def test_seccomp_unconfined(opt: str, tmp_path: Path) -> None:
    assert mapped(docker_cli(HostConfig={"SecurityOpt": [opt]}), tmp_path).seccomp == "unconfined"


@pytest.mark.parametrize("opt", ["seccomp=/etc/profile.json", "seccomp=[1]", "seccomp={bad"])
def test_a_seccomp_value_that_is_no_profile_is_refused(opt: str, tmp_path: Path) -> None:
    text = refused(docker_cli(HostConfig={"SecurityOpt": [opt]}), tmp_path)
    assert "HostConfig.SecurityOpt seccomp" in text and "JSON" in text
    assert not (tmp_path / "seccomp").exists()


def test_label_disable_and_apparmor_unconfined_have_nothing_to_disable(tmp_path: Path) -> None:
    body = docker_cli(HostConfig={"SecurityOpt": ["label=disable", "apparmor=unconfined"]})
    assert mapped(body, tmp_path) == CLI_DEFAULT
    text = refused(docker_cli(HostConfig={"SecurityOpt": ["apparmor=docker-default"]}), tmp_path)
    assert "HostConfig.SecurityOpt" in text


# --- malformed and refused values name the field ---------------------------------------------


@pytest.mark.parametrize(
    ("host", "fragment"),
    [
        ({"Memory": "64m"}, "HostConfig.Memory"),
        ({"Memory": True}, "HostConfig.Memory"),
        ({"Binds": "/a:/b"}, "HostConfig.Binds"),
        ({"Binds": ["vol:/data"]}, "HostConfig.Binds[0]"),
        ({"Binds": ["/ocx/missing:/data"]}, "does not exist"),
        ({"Mounts": [{"Type": "volume", "Target": "/v"}]}, "HostConfig.Mounts[0].Type 'volume'"),
        ({"Mounts": [{"Type": "bind", "Source": "/tmp"}]}, "HostConfig.Mounts[0].Target"),
        ({"Mounts": [{"Type": "tmpfs", "Target": "/t", "Source": "/x"}]}, "Mounts[0].Source"),
        ({"Mounts": [{"Type": "bind", "Source": "/tmp", "Target": "/a,b"}]}, "','"),
        ({"Mounts": [{"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"Mode": 99999}}]}, "Mode"),
        ({"Tmpfs": {"/t": "bogus"}}, "HostConfig.Tmpfs"),
        ({"Tmpfs": {"relative": ""}}, "HostConfig.Tmpfs"),
        ({"Ulimits": [{"Name": "nofiles", "Soft": 1, "Hard": 2}]}, "HostConfig.Ulimits[0]"),
        ({"Ulimits": [{"Name": "nofile", "Soft": 3, "Hard": 2}]}, "HostConfig.Ulimits[0]"),
        ({"Sysctls": {"kernel.hostname": "x"}}, "HostConfig.Sysctls"),
        ({"Sysctls": {"net.ipv4.ip_forward": "1"}, "NetworkMode": "host"}, "HostConfig.Sysctls"),
        ({"Devices": [{"PathOnHost": "/etc/passwd"}]}, "HostConfig.Devices[0]"),
        ({"CapAdd": ["CAP_NOPE"]}, "HostConfig.CapAdd"),
        ({"CapDrop": "ALL"}, "HostConfig.CapDrop"),
        ({"NanoCpus": 10**15}, "HostConfig.NanoCpus"),
        ({"CpuShares": -2}, "HostConfig.CpuShares"),
        ({"PidsLimit": -5}, "HostConfig.PidsLimit"),
        ({"ShmSize": -1}, "HostConfig.ShmSize"),
        ({"NetworkMode": "container:web"}, "HostConfig.NetworkMode 'container:web'"),
        ({"NetworkMode": "mynet"}, "no network stack"),
        ({"LogConfig": {"Type": "none"}}, "HostConfig.LogConfig.Type 'none'"),
        ({"LogConfig": {"Type": "syslog"}}, "k8s-file"),
        ({"LogConfig": {"Type": "json-file", "Config": {"max-file": "3"}}}, "LogConfig.Config"),
        ({"Privileged": "yes"}, "HostConfig.Privileged"),
    ],
)
def test_bad_host_config_values_name_the_field(host: dict, fragment: str, tmp_path: Path) -> None:
    assert fragment in refused(docker_cli(HostConfig=host), tmp_path)


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"Labels": ["a=b"]}, "Config.Labels"),
        ({"Labels": {"a": 1}}, "Config.Labels"),
        ({"StopSignal": "SIGNOPE"}, "Config.StopSignal"),
        ({"Hostname": 5}, "Config.Hostname"),
        ({"NetworkDisabled": True, "HostConfig": {"NetworkMode": "host"}}, "NetworkDisabled"),
        (
            {"NetworkingConfig": {"EndpointsConfig": {"default": {"IPAMConfig": {"IPv4Address": "172.17.0.5"}}}}},
            "NetworkingConfig.EndpointsConfig.default.IPAMConfig",
        ),
        ({"NetworkingConfig": {"EndpointsConfig": {"mynet": {}}}}, "EndpointsConfig.mynet"),
    ],
)  # fmt: skip
def test_bad_config_values_name_the_field(changes: dict, fragment: str, tmp_path: Path) -> None:
    assert fragment in refused(docker_cli(**changes), tmp_path)


# --- the refusal table -----------------------------------------------------------------------

#: a value the docker CLI sends for an option of each refused field (or a raw client would)
NON_DEFAULT: dict[str, Any] = {
    "HostConfig.PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "80"}]},
    "HostConfig.PublishAllPorts": True, "Config.ExposedPorts": {"80/tcp": {}},
    "Config.MacAddress": "02:42:ac:11:00:02", "HostConfig.Links": ["web"],
    "HostConfig.Dns": ["1.1.1.1"], "HostConfig.DnsOptions": ["ndots:2"],
    "HostConfig.DnsSearch": ["example.org"], "HostConfig.ExtraHosts": ["a:1.2.3.4"],
    "HostConfig.RestartPolicy": {"Name": "always", "MaximumRetryCount": 0},
    "Config.Healthcheck": {"Test": ["CMD-SHELL", "true"]},
    "HostConfig.VolumeDriver": "local", "HostConfig.VolumesFrom": ["web"],
    "HostConfig.StorageOpt": {"size": "1G"}, "HostConfig.IpcMode": "host",
    "HostConfig.PidMode": "host", "HostConfig.UTSMode": "host",
    "HostConfig.UsernsMode": "keep-id", "HostConfig.CgroupnsMode": "private",
    "HostConfig.Cgroup": "container:web", "HostConfig.CgroupParent": "mine",
    "HostConfig.OomScoreAdj": 5, "HostConfig.OomKillDisable": True,
    "HostConfig.MemorySwappiness": 0, "HostConfig.KernelMemory": 1 << 20,
    "HostConfig.KernelMemoryTCP": 1 << 20, "HostConfig.BlkioWeight": 100,
    "HostConfig.BlkioWeightDevice": [{"Path": "/dev/sda", "Weight": 10}],
    "HostConfig.BlkioDeviceReadBps": [{"Path": "/dev/sda", "Rate": 1}],
    "HostConfig.BlkioDeviceWriteBps": [{"Path": "/dev/sda", "Rate": 1}],
    "HostConfig.BlkioDeviceReadIOps": [{"Path": "/dev/sda", "Rate": 1}],
    "HostConfig.BlkioDeviceWriteIOps": [{"Path": "/dev/sda", "Rate": 1}],
    "HostConfig.CpuRealtimePeriod": 1000, "HostConfig.CpuRealtimeRuntime": 10,
    "HostConfig.DeviceCgroupRules": ["c 1:3 rwm"],
    "HostConfig.DeviceRequests": [{"Driver": "", "Count": -1, "Capabilities": [["gpu"]]}],
    "HostConfig.CpuCount": 2, "HostConfig.CpuPercent": 50, "HostConfig.IOMaximumIOps": 10,
    "HostConfig.IOMaximumBandwidth": 10, "HostConfig.Isolation": "hyperv",
    "Config.ArgsEscaped": True, "Config.OnBuild": ["RUN true"], "Config.Shell": ["/bin/bash"],
}  # fmt: skip


def _with(path: str, value: Any) -> dict[str, Any]:
    section, _, key = path.partition(".")
    return docker_cli(**({key: value} if section == "Config" else {"HostConfig": {key: value}}))


def test_every_refused_field_has_a_test_value() -> None:
    assert set(NON_DEFAULT) == {path for path, _, _ in UNSUPPORTED}


@pytest.mark.parametrize(("path", "default", "why"), UNSUPPORTED, ids=[u[0] for u in UNSUPPORTED])
def test_a_refused_field_names_itself_and_why(
    path: str, default: Any, why: str, tmp_path: Path
) -> None:
    assert default(_value_in(DOCKER_CLI_CREATE, path))  # what the docker CLI sends passes
    text = refused(_with(path, NON_DEFAULT[path]), tmp_path)
    assert text == f"ocimux does not support {path}: {why}"


def _value_in(body: dict[str, Any], path: str) -> Any:
    section, _, key = path.partition(".")
    return (body if section == "Config" else body[section]).get(key)


def test_port_bindings_say_there_is_no_network_stack(tmp_path: Path) -> None:
    # what `docker run -p 80:80` sends
    body = docker_cli(ExposedPorts={"80/tcp": {}}, HostConfig={"PortBindings": NON_DEFAULT["HostConfig.PortBindings"]})  # fmt: skip
    assert refused(body, tmp_path) == (
        "ocimux does not support HostConfig.PortBindings: it has no network stack; "
        "Config.ExposedPorts: it has no network stack"
    )


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("HostConfig.RestartPolicy", {"Name": "", "MaximumRetryCount": 0}),
        ("Config.Healthcheck", {"Test": ["NONE"]}),
        ("HostConfig.IpcMode", "private"),
        ("HostConfig.UsernsMode", "host"),
        ("HostConfig.CgroupnsMode", "host"),
        ("HostConfig.MemorySwappiness", None),
        ("HostConfig.Isolation", "default"),
        ("HostConfig.ContainerIDFile", "/tmp/cid"),  # the docker CLI writes it itself
        ("Config.StdinOnce", True),
        ("Config.OcxNotADockerField", 1),  # Docker ignores fields it does not know
    ],
)
def test_values_ocimux_honours_as_they_are(path: str, value: Any, tmp_path: Path) -> None:
    assert mapped(_with(path, value), tmp_path) == CLI_DEFAULT


# --- command ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entrypoint", "cmd", "want"),
    [
        (None, None, (None, ["sh"])),
        (None, [], (None, ["sh"])),
        (None, ["echo", "hi"], (None, ["echo", "hi"])),
        (["/bin/echo"], None, (["/bin/echo"], [])),  # the image's command is dropped
        (["/bin/echo"], ["hi"], (["/bin/echo"], ["hi"])),
        ("/bin/echo", "hi", (["/bin/echo"], ["hi"])),  # Docker's StrSlice takes a string
        ([""], None, ([], [])),  # --entrypoint "": no entrypoint, and no command either
        ([""], ["true"], ([], ["true"])),
        ([], None, ([], ["sh"])),
    ],
)
def test_entrypoint_and_cmd_follow_docker(entrypoint: Any, cmd: Any, want: tuple) -> None:
    assert command({"Entrypoint": entrypoint, "Cmd": cmd}, IMAGE) == want


# --- annotations and what inspect reports ----------------------------------------------------


def record(body: dict[str, Any], tmp_path: Path, applied: dict | None = None) -> ContainerRecord:
    """A record as the server's create leaves it (the Dispatcher's part stubbed)."""
    cfg = mapped(body, tmp_path)
    entrypoint, cmd = command(body, IMAGE)
    annotations = docker_annotations(body, IMAGE, cfg, entrypoint, cmd)
    argv = [*(entrypoint or []), *cmd]
    config = {
        "command": (["/run/podman-init", "--"] if cfg.init else []) + argv,
        "annotations": annotations, "container": cfg.to_dict(), "stop_signal": cfg.stop_signal or 15,
        "applied": applied or {"hostname": "abcdef012345", "seccomp": "", "capabilities": []},
        "auto_remove": True,
    }  # fmt: skip
    stored = json.loads(json.dumps(config))  # as the store gives it back: lists, not tuples
    return ContainerRecord(
        "abcdef012345" * 5 + "abcd", "web", "crun", "/b", "created", config=stored
    )


def test_annotations_keep_labels_and_add_ocimuxs_notes(tmp_path: Path) -> None:
    body = docker_cli(Labels={"a": "b"}, HostConfig={"Annotations": {"x/y": "1", "a": "c"}})
    cfg = mapped(body, tmp_path)
    got = docker_annotations(body, IMAGE, cfg, None, ["sh"])
    assert got["a"] == "c" and got["x/y"] == "1" and got[IMAGE_ANNOTATION] == "busybox:latest"
    assert json.loads(got[DOCKER_ANNOTATION]) == docker_notes(body, None, ["sh"])
    bad = docker_cli(HostConfig={"Annotations": {"io.ocimux.image": "evil"}})
    with pytest.raises(InvalidArgumentError, match="io.ocimux.image"):
        docker_annotations(bad, IMAGE, cfg, None, ["sh"])


def test_inspect_reports_the_host_config_back(tmp_path: Path) -> None:
    host = {
        "Binds": [f"{tmp_path}:/data:ro"], "Tmpfs": {"/run": ""}, "ShmSize": 8 << 20,
        "Mounts": [{"Type": "bind", "Source": str(tmp_path), "Target": "/m",
                    "BindOptions": {"Propagation": "rslave"}},
                   {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 4096, "Mode": 0o700}}],
        "ReadonlyRootfs": True, "CapAdd": ["NET_RAW"], "CapDrop": ["ALL"],
        "SecurityOpt": ["no-new-privileges", "seccomp=unconfined"], "Memory": 64 << 20,
        "MemorySwap": -1, "MemoryReservation": 32 << 20, "NanoCpus": 5 * 10**8,
        "CpuShares": 512, "CpusetCpus": "0", "CpusetMems": "0", "PidsLimit": 100,
        "Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 20}], "Sysctls": {"kernel.shmmax": "1"},
        "Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/nul2", "CgroupPermissions": "rw"}],
        "GroupAdd": ["10"], "Init": True, "NetworkMode": "host",
    }  # fmt: skip
    rec = record(docker_cli(HostConfig=host, Cmd=["true"]), tmp_path)
    got = host_config(rec)
    assert got["Binds"] == [f"{tmp_path}:/data:ro"]
    assert got["Mounts"] == [
        {"Type": "bind", "Source": str(tmp_path), "Target": "/m", "ReadOnly": False,
         "BindOptions": {"Propagation": "rslave"}},
        {"Type": "tmpfs", "Target": "/t", "ReadOnly": False,
         "TmpfsOptions": {"SizeBytes": 4096, "Mode": 0o700}},
    ]  # fmt: skip
    assert got["Tmpfs"] == {"/run": "rw,noexec,nosuid,nodev,rprivate"}
    assert got["ShmSize"] == 8 << 20
    assert got["ReadonlyRootfs"] is True and got["Privileged"] is False
    assert (got["CapAdd"], got["CapDrop"]) == (["CAP_NET_RAW"], ["ALL"])
    assert got["SecurityOpt"] == ["no-new-privileges", "seccomp=unconfined"]
    assert (got["Memory"], got["MemorySwap"], got["MemoryReservation"]) == (64 << 20, -1, 32 << 20)
    assert (got["NanoCpus"], got["CpuQuota"], got["CpuPeriod"]) == (5 * 10**8, 0, 0)
    assert (got["CpuShares"], got["CpusetCpus"], got["CpusetMems"]) == (512, "0", "0")
    assert got["PidsLimit"] == 100
    assert got["Ulimits"] == [{"Name": "nofile", "Soft": 10, "Hard": 20}]
    assert got["Sysctls"] == {"kernel.shmmax": "1"}
    assert got["Devices"] == host["Devices"]
    assert got["GroupAdd"] == ["10"] and got["Init"] is True
    assert got["NetworkMode"] == "host"
    assert got["LogConfig"] == {"Type": "json-file", "Config": {}}
    assert (got["Runtime"], got["AutoRemove"]) == ("crun", True)
    points = mount_points(rec)
    assert [p["Destination"] for p in points] == ["/data", "/m", "/t", "/run"]  # not /dev/shm
    assert points[0] == {"Type": "bind", "Source": str(tmp_path), "Destination": "/data",
                         "Mode": "ro", "RW": False, "Propagation": "rprivate"}  # fmt: skip
    assert points[2]["Type"] == "tmpfs" and points[2]["RW"] is True
    assert user_command(rec) == (None, ["true"])  # not the init's argv


def test_inspect_reports_quota_and_period_when_given_so(tmp_path: Path) -> None:
    got = host_config(
        record(docker_cli(HostConfig={"CpuQuota": 2000, "CpuPeriod": 5000}), tmp_path)
    )
    assert (got["NanoCpus"], got["CpuQuota"], got["CpuPeriod"]) == (0, 2000, 5000)


def test_inspect_config_fields(tmp_path: Path) -> None:
    body = docker_cli(Hostname="box", Domainname="example.org", Labels={"a": "b"},
                      StopSignal="SIGINT", Entrypoint=["/bin/sh"], Cmd=["-c", "true"])  # fmt: skip
    got = config_fields(record(body, tmp_path, {"hostname": "box"}))
    assert got == {
        "Hostname": "box", "Domainname": "example.org", "Labels": {"a": "b"},
        "StopSignal": "SIGINT", "Entrypoint": ["/bin/sh"], "Cmd": ["-c", "true"],
    }  # fmt: skip


def test_a_default_container_reports_docker_defaults(tmp_path: Path) -> None:
    rec = record(docker_cli(Cmd=["true"]), tmp_path)
    got = host_config(rec)
    assert got["Binds"] is None and got["Mounts"] == [] and got["Tmpfs"] == {}
    assert got["NetworkMode"] == "none" and got["PidsLimit"] is None
    assert got["ShmSize"] == 64 << 20 and got["Memory"] == 0
    assert config_fields(rec)["Hostname"] == "abcdef012345"
    assert config_fields(rec)["StopSignal"] == "SIGTERM"
    assert mount_points(rec) == []


@pytest.mark.parametrize(
    "how",
    [{"verb": "create", "option": "--read-only"}, {"verb": "create with --read-only"}],
    ids=["option", "verb"],
)
def test_a_capability_error_names_the_docker_field(how: dict[str, str]) -> None:
    exc = CapabilityError("isolation", "no namespaces", source="declared", runtime="mock", **how)
    text = str(docker_option(exc))
    assert "HostConfig.ReadonlyRootfs (--read-only)" in text and "on mock" in text
    assert "capability isolation" in text and "no namespaces" in text
    assert "HostConfig.Runtime" in text
    assert "create with" not in text


def test_a_capability_error_without_an_option_is_left_alone() -> None:
    exc = CapabilityError("checkpoint", "no CRIU", runtime="mock", verb="checkpoint")
    assert docker_option(exc) is exc


def test_every_option_a_docker_client_can_ask_for_names_its_docker_field(tmp_path: Path) -> None:
    from ocimux.oci.specbuilder import required_capabilities

    everything = ContainerConfig(
        mounts=(Mount("tmpfs", "/t", "tmpfs", ("rw",)),), read_only=True,
        limits=Limits(memory=64 << 20), cap_drop=("ALL",), privileged=True,
        no_new_privileges=True, seccomp="/p.json", mask=("/a",), hostname="h", domainname="d",
        group_add=("1",), init=True, ulimits=(Ulimit("nofile", 1, 1),),
        sysctls=(("kernel.shmmax", "1"),), devices=(Device("/dev/null", "/dev/null"),),
        network="host",
    )  # fmt: skip
    options = {option for _, option in required_capabilities(everything, "0")}
    assert len(options) >= 17
    for option in options:
        exc = CapabilityError("isolation", "r", runtime="mock", verb="create", option=option)
        assert f"({option})" in str(docker_option(exc)), option
