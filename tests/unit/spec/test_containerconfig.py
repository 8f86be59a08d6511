"""ContainerConfig's JSON round trip, and the CLI's container flags (`_runflags`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ocimux.base.errors import InvalidArgumentError
from ocimux.cli import build_parser
from ocimux.cli._runflags import container_config, entrypoint, env_files, split_rootfs
from ocimux.oci.containerconfig import ContainerConfig, Device, Limits, Mount, Ulimit

MIB = 2**20

FULL = ContainerConfig(
    mounts=(
        Mount("bind", "/data", "/tmp", ("rbind", "ro", "rprivate")),
        Mount("tmpfs", "/scratch", "tmpfs", ("rw", "noexec", "size=1024", "rprivate")),
    ),
    read_only=True,
    read_only_tmpfs=False,
    limits=Limits(
        memory=64 * MIB,
        memory_swap=-1,
        memory_reservation=32 * MIB,
        cpu_quota=50_000,
        cpu_period=100_000,
        cpu_shares=512,
        cpuset_cpus="0-1",
        cpuset_mems="0",
        pids_limit=-1,
    ),
    cap_add=("CAP_NET_ADMIN", "CAP_SYS_TIME"),
    cap_drop=("ALL",),
    privileged=True,
    no_new_privileges=True,
    seccomp="/etc/seccomp.json",
    mask=("/proc/extra",),
    unmask=("ALL",),
    hostname="web",
    domainname="example.org",
    group_add=("wheel", "50"),
    init=True,
    init_path="/usr/bin/catatonit",
    ulimits=(Ulimit("nofile", 10, 20), Ulimit("core", -1, -1)),
    sysctls=(("net.ipv4.ip_forward", "1"), ("kernel.shmmax", "1000")),
    devices=(Device("/dev/null", "/dev/nothing", "rw"),),
    stop_signal=2,
    network="host",
    labels=(("a", "1"), ("b", "")),
    umask="0077",
    tz="Europe/Paris",
    no_hosts=True,
    rootfs_overlay=True,
    pidfile="/run/web.pid",
    log_size_max=100_000,
    shm_size=128 * MIB,
    oom_score_adj=-500,
    env_host=True,
    http_proxy=False,
)


def roundtrip(cfg: ContainerConfig) -> ContainerConfig:
    return ContainerConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))


def test_default_to_dict_is_empty() -> None:
    assert ContainerConfig().to_dict() == {}
    assert ContainerConfig().is_default()
    assert ContainerConfig.from_dict({}) == ContainerConfig()


def test_every_field_round_trips() -> None:
    data = FULL.to_dict()
    assert set(data) == {f for f in ContainerConfig.__dataclass_fields__}
    assert roundtrip(FULL) == FULL
    assert not FULL.is_default()


def test_to_dict_shapes() -> None:
    data = json.loads(json.dumps(FULL.to_dict()))
    assert data["mounts"][0] == {
        "type": "bind",
        "destination": "/data",
        "source": "/tmp",
        "options": ["rbind", "ro", "rprivate"],
    }
    assert data["ulimits"][0] == {"name": "nofile", "soft": 10, "hard": 20}
    assert data["devices"] == [
        {"host_path": "/dev/null", "container_path": "/dev/nothing", "permissions": "rw"}
    ]
    assert data["cap_add"] == ["CAP_NET_ADMIN", "CAP_SYS_TIME"]


def test_only_changed_fields_and_limits_kept() -> None:
    cfg = ContainerConfig(limits=Limits(memory=64 * MIB), read_only_tmpfs=False)
    data = cfg.to_dict()
    assert set(data) == {"limits", "read_only_tmpfs"}
    assert data["read_only_tmpfs"] is False
    assert roundtrip(cfg) == cfg


def test_from_dict_ignores_unknown_keys_and_accepts_pair_lists() -> None:
    data = {"future_field": 1, "labels": [["a", "1"]], "sysctls": [["kernel.sem", "1"]]}
    cfg = ContainerConfig.from_dict(data)
    assert cfg == ContainerConfig(labels=(("a", "1"),), sysctls=(("kernel.sem", "1"),))


_name = st.text(alphabet="abcdefghij_./-", min_size=1, max_size=8)
_path = _name.map(lambda s: "/" + s)
_opts = st.lists(st.sampled_from(["ro", "rw", "nosuid", "rprivate", "size=1k"]), max_size=3)
_maybe_int = st.none() | st.integers(-1, 2**62)
_pairs = st.dictionaries(_name, st.text(max_size=5), max_size=3).map(lambda d: tuple(d.items()))

configs = st.builds(
    ContainerConfig,
    mounts=st.lists(
        st.builds(
            Mount,
            st.sampled_from(["bind", "tmpfs"]),
            _path,
            _path,
            _opts.map(tuple),
        ),
        max_size=3,
    ).map(tuple),
    read_only=st.none() | st.booleans(),
    read_only_tmpfs=st.booleans(),
    limits=st.builds(
        Limits,
        memory=_maybe_int,
        memory_swap=_maybe_int,
        memory_reservation=_maybe_int,
        cpu_quota=_maybe_int,
        cpu_period=_maybe_int,
        cpu_shares=_maybe_int,
        cpuset_cpus=st.none() | st.sampled_from(["0", "0-1,3"]),
        cpuset_mems=st.none() | st.just("0"),
        pids_limit=_maybe_int,
    ),
    cap_add=st.lists(st.sampled_from(["ALL", "CAP_KILL", "CAP_CHOWN"]), max_size=2).map(tuple),
    cap_drop=st.lists(st.sampled_from(["ALL", "CAP_KILL"]), max_size=2).map(tuple),
    privileged=st.none() | st.booleans(),
    no_new_privileges=st.booleans(),
    seccomp=st.none() | st.just("unconfined") | _path,
    mask=st.lists(_path, max_size=2).map(tuple),
    unmask=st.lists(_path | st.just("ALL"), max_size=2).map(tuple),
    hostname=st.none() | _name,
    domainname=st.none() | _name,
    group_add=st.lists(_name, max_size=2).map(tuple),
    init=st.none() | st.booleans(),
    init_path=st.none() | _path,
    ulimits=st.lists(
        st.builds(Ulimit, st.sampled_from(["nofile", "core"]), _maybe_int, _maybe_int).filter(
            lambda u: u.soft is not None and u.hard is not None
        ),
        max_size=2,
    ).map(tuple),
    sysctls=_pairs,
    devices=st.lists(
        st.builds(Device, _path, _path, st.sampled_from(["r", "rw", "rwm"])), max_size=2
    ).map(tuple),
    stop_signal=st.none() | st.integers(1, 64),
    network=st.none() | st.sampled_from(["none", "host"]),
    labels=_pairs,
    umask=st.none() | st.sampled_from(["0022", "0077"]),
    tz=st.none() | st.sampled_from(["local", "Europe/Paris", ""]),
    no_hosts=st.none() | st.booleans(),
    rootfs_overlay=st.booleans(),
    pidfile=st.none() | _path,
    shm_size=st.none() | st.integers(1, 2**40),
    oom_score_adj=st.none() | st.integers(-1000, 1000),
    env_host=st.none() | st.booleans(),
    http_proxy=st.none() | st.booleans(),
)


@given(configs)
def test_any_config_round_trips_through_json(cfg: ContainerConfig) -> None:
    assert roundtrip(cfg) == cfg


# --- _runflags -------------------------------------------------------------------------------


def test_entrypoint_forms() -> None:
    assert entrypoint(None) == ()
    assert entrypoint("") == ()
    assert entrypoint("/bin/sh -c") == ("/bin/sh -c",)
    assert entrypoint('["/bin/sh", "-c"]') == ("/bin/sh", "-c")
    assert entrypoint('  ["tini"]') == ("tini",)
    assert entrypoint("[]") == ()


@pytest.mark.parametrize(
    ("value", "fragment"),
    [('["sh", ', "Expecting"), ('["sh", 1]', "array of strings"), ("[{}]", "array of strings")],
)
def test_entrypoint_bad_json(value: str, fragment: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        entrypoint(value)
    text = str(info.value)
    assert text.startswith(f"invalid --entrypoint {value!r}: ")
    assert fragment in text


def test_split_rootfs() -> None:
    assert split_rootfs("d:O") == ("d", True)
    assert split_rootfs("/srv/rootfs:O") == ("/srv/rootfs", True)
    assert split_rootfs("/srv/rootfs") == ("/srv/rootfs", False)
    assert split_rootfs("/srv/a:o") == ("/srv/a:o", False)


def test_env_files_in_order(tmp_path: Path) -> None:
    a = tmp_path / "a.env"
    a.write_text("A=1\nB=2\n")
    b = tmp_path / "b.env"
    b.write_text("B=3\nHOME\n")
    assert env_files([str(a), str(b)], {"HOME": "/root"}) == ["A=1", "B=2", "B=3", "HOME=/root"]
    assert env_files([], {}) == []


def parse(*flags: str) -> ContainerConfig:
    args = build_parser().parse_args(["run", *flags, "--rootfs", "/r", "sh"])
    return container_config(args)


def test_no_flags_is_the_default_config() -> None:
    assert parse() == ContainerConfig()


def test_every_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    profile = tmp_path / "seccomp.json"
    profile.write_text('{"defaultAction": "SCMP_ACT_ALLOW"}')
    monkeypatch.chdir(tmp_path)
    cfg = parse(
        "-v", "/tmp:/data:ro",
        "--mount", "type=tmpfs,destination=/scratch",
        "--tmpfs", "/run/x",
        "--read-only",
        "--read-only-tmpfs", "false",
        "-m", "64m",
        "--memory-swap", "-1",
        "--memory-reservation", "32m",
        "--cpus", "1.5",
        "-c", "512",
        "--cpuset-cpus", "0-1",
        "--cpuset-mems", "0",
        "--pids-limit", "0",
        "--cap-add", "net_admin,sys_time",
        "--cap-drop", "all",
        "--security-opt", "no-new-privileges",
        "--security-opt", f"seccomp={profile}",
        "--security-opt", "mask=/proc/extra",
        "--security-opt", "unmask=ALL",
        "-h", "web",
        "--domainname", "example.org",
        "--group-add", "wheel",
        "--init-path", "/usr/bin/catatonit",
        "--ulimit", "nofile=10:20",
        "--sysctl", "kernel.shmmax=1000",
        "--device", "/dev/null:/dev/nothing:rw",
        "--stop-signal", "SIGINT",
        "--label", "a=1",
        "--umask", "0077",
        "--tz", "local",
        "--no-hosts",
        "--pidfile", "web.pid",
    )  # fmt: skip
    assert cfg == ContainerConfig(
        mounts=(
            Mount("bind", "/data", "/tmp", ("rbind", "ro", "rprivate")),
            Mount("tmpfs", "/scratch", "tmpfs", ("rw", "noexec", "nosuid", "nodev", "rprivate")),
            Mount("tmpfs", "/run/x", "tmpfs", ("rw", "noexec", "nosuid", "nodev", "rprivate")),
        ),
        read_only=True,
        read_only_tmpfs=False,
        limits=Limits(
            memory=64 * MIB,
            memory_swap=-1,
            memory_reservation=32 * MIB,
            cpu_quota=150_000,
            cpu_period=100_000,
            cpu_shares=512,
            cpuset_cpus="0-1",
            cpuset_mems="0",
            pids_limit=-1,
        ),
        cap_add=("CAP_NET_ADMIN", "CAP_SYS_TIME"),
        cap_drop=("ALL",),
        no_new_privileges=True,
        seccomp=str(profile),
        mask=("/proc/extra",),
        unmask=("ALL",),
        hostname="web",
        domainname="example.org",
        group_add=("wheel",),
        init=True,
        init_path="/usr/bin/catatonit",
        ulimits=(Ulimit("nofile", 10, 20),),
        sysctls=(("kernel.shmmax", "1000"),),
        devices=(Device("/dev/null", "/dev/nothing", "rw"),),
        stop_signal=2,
        labels=(("a", "1"),),
        umask="0077",
        tz="local",
        no_hosts=True,
        pidfile=str(tmp_path / "web.pid"),
    )


def test_overlay_and_privileged_and_network() -> None:
    args = build_parser().parse_args(["run", "--privileged", "--net", "host", "--rootfs", "/r"])
    cfg = container_config(args, overlay=True)
    assert cfg == ContainerConfig(privileged=True, network="host", rootfs_overlay=True)


def test_memory_swap_size() -> None:
    assert parse("-m", "64m", "--memory-swap", "1g").limits == Limits(
        memory=64 * MIB, memory_swap=2**30
    )


@pytest.mark.parametrize(
    ("flags", "fragments"),
    [
        (("--network", "bridge"), ("--network", "'bridge'")),
        (("-m", "12parsecs"), ("--memory", "'12parsecs'")),
        (("--memory-swap", "lots"), ("--memory-swap", "'lots'")),
        (("--memory-reservation", "x"), ("--memory-reservation", "'x'")),
        (("--cpus", "0"), ("--cpus", "'0'")),
        (("--pids-limit", "-5"), ("--pids-limit", "'-5'")),
        (("--cap-add", "flying"), ("--cap-add", "'flying'")),
        (("--cap-drop", "swimming"), ("--cap-drop", "'swimming'")),
        (("--security-opt", "label=type:x"), ("--security-opt", "label=type:x")),
        (("--security-opt", "seccomp=/nonexistent/p.json"), ("seccomp=/nonexistent/p.json",)),
        (("--ulimit", "nofile=2:1"), ("--ulimit", "nofile=2:1")),
        (("--sysctl", "kernel.panic=1"), ("--sysctl", "kernel.panic=1")),
        (("--net", "host", "--sysctl", "net.core.somaxconn=1"), ("--sysctl", "--network host")),
        (("--device", "/etc/passwd"), ("--device", "/etc/passwd")),
        (("--stop-signal", "SIGNOPE"), ("SIGNOPE",)),
        (("--label", "=x"), ("--label", "'=x'")),
        (("-v", "vol:/data"), ("--volume", "vol:/data")),
        (("--mount", "type=volume,dst=/d"), ("--mount", "type=volume")),
        (("--tmpfs", "rel"), ("--tmpfs", "'rel'")),
    ],
)
def test_bad_flags_refused(flags: tuple[str, ...], fragments: tuple[str, ...]) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        parse(*flags)
    text = str(info.value)
    for fragment in fragments:
        assert fragment in text
