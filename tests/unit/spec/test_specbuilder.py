"""specbuilder: apply_config over a default spec, required_capabilities, defaults_from_table.

The host is made deterministic: bounding set, CAP_SYS_RESOURCE, hard limits, CPU count and host
devices are monkeypatched; nothing here starts a process.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ocimux.base.errors import InvalidArgumentError
from ocimux.base.linuxcaps import ALL_CAPABILITIES
from ocimux.oci import devices as devices_module
from ocimux.oci import specbuilder, specmounts
from ocimux.oci.containerconfig import ContainerConfig, Device, Limits, Mount, Ulimit
from ocimux.oci.spec import default_spec
from ocimux.oci.specbuilder import (
    INIT_PATH_IN_CONTAINER,
    MASKED_PATHS,
    PODMAN_CAPABILITIES,
    READONLY_PATHS,
    Applied,
    ContainerDefaults,
    apply_config,
    defaults_from_table,
    required_capabilities,
)

CID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
MIB = 2**20
#: podman's 11 defaults, in capability-number order
PODMAN_SORTED = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_SETFCAP",
]  # fmt: skip
TINY_PROFILE = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}],
}


@pytest.fixture(autouse=True)
def host(monkeypatch: pytest.MonkeyPatch) -> None:
    """A host where ocimux has every capability, no hard limits and 4 CPUs."""
    monkeypatch.setattr(specbuilder, "bounding_set", lambda: ALL_CAPABILITIES)
    monkeypatch.setattr(specbuilder, "_has_sys_resource", lambda: True)
    monkeypatch.setattr(specbuilder, "_own_hard", lambda name: -1)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    monkeypatch.setattr(devices_module, "host_devices", lambda: [Device("/dev/null", "/dev/null")])


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "group").write_text(
        "root:x:0:\nwheel:x:10:\nstaff:x:50:alice\nbroken:x:abc:\n", encoding="utf-8"
    )
    return root


Apply = Callable[..., tuple[dict[str, Any], Applied]]


@pytest.fixture
def apply(tmp_path: Path, rootfs: Path) -> Apply:
    """apply_config on a fresh default spec; returns (spec, applied)."""

    def run(
        cfg: ContainerConfig | None = None,
        *,
        defaults: ContainerDefaults | None = None,
        can: Callable[[str], bool] = lambda capability: True,
        spec: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], Applied]:
        spec = spec if spec is not None else default_spec(rootfs=rootfs, args=["sh"])
        if defaults is None:  # podman's, but no seccomp profile from the host
            defaults = ContainerDefaults(seccomp_profile=str(tmp_path / "no-profile.json"))
        applied = apply_config(
            spec,
            cfg if cfg is not None else ContainerConfig(),
            cid=CID,
            name="web1",
            rootfs=rootfs,
            bundle_dir=tmp_path / "bundle",
            defaults=defaults,
            can=can,
        )
        return spec, applied

    return run


def refused(call: Callable[[], object], *fragments: str) -> str:
    with pytest.raises(InvalidArgumentError) as info:
        call()
    text = str(info.value)
    assert "\n" not in text
    for fragment in fragments:
        assert fragment in text
    return text


def mount_at(spec: dict[str, Any], destination: str) -> dict[str, Any] | None:
    found = [m for m in spec["mounts"] if m["destination"] == destination]
    assert len(found) <= 1
    return found[0] if found else None


def caps_of(spec: dict[str, Any]) -> list[str]:
    caps = spec["process"]["capabilities"]
    assert caps["bounding"] == caps["effective"] == caps["permitted"]
    return caps["bounding"]


# --- capabilities ----------------------------------------------------------------------------


def test_default_capabilities_are_podmans(apply: Apply) -> None:
    assert sorted(PODMAN_CAPABILITIES) == sorted(PODMAN_SORTED)
    spec, applied = apply()
    assert caps_of(spec) == PODMAN_SORTED
    assert applied.capabilities == PODMAN_SORTED
    assert spec["process"]["noNewPrivileges"] is False


def test_default_capabilities_limited_to_the_bounding_set(
    apply: Apply, monkeypatch: pytest.MonkeyPatch
) -> None:
    have = tuple(c for c in ALL_CAPABILITIES if c not in ("CAP_SETFCAP", "CAP_SYS_RESOURCE"))
    monkeypatch.setattr(specbuilder, "bounding_set", lambda: have)
    spec, _ = apply()
    assert caps_of(spec) == [c for c in PODMAN_SORTED if c != "CAP_SETFCAP"]
    spec, _ = apply(ContainerConfig(cap_add=("ALL",)))
    assert caps_of(spec) == list(have)


@pytest.mark.parametrize(
    ("add", "drop", "expected"),
    [
        (("CAP_NET_ADMIN",), (), sorted([*PODMAN_SORTED, "CAP_NET_ADMIN"], key=ALL_CAPABILITIES.index)),
        ((), ("CAP_CHOWN", "CAP_KILL"), [c for c in PODMAN_SORTED if c not in ("CAP_CHOWN", "CAP_KILL")]),
        (("ALL",), (), list(ALL_CAPABILITIES)),
        (("ALL",), ("CAP_SYS_ADMIN",), [c for c in ALL_CAPABILITIES if c != "CAP_SYS_ADMIN"]),
        ((), ("ALL",), []),
        (("CAP_NET_RAW", "CAP_CHOWN"), ("ALL",), ["CAP_CHOWN", "CAP_NET_RAW"]),
        (("CAP_SYS_TIME",), ("CAP_NET_BIND_SERVICE",), sorted(
            [*(c for c in PODMAN_SORTED if c != "CAP_NET_BIND_SERVICE"), "CAP_SYS_TIME"],
            key=ALL_CAPABILITIES.index,
        )),
    ],
)  # fmt: skip
def test_cap_add_and_drop(
    apply: Apply, add: tuple[str, ...], drop: tuple[str, ...], expected: list[str]
) -> None:
    spec, _ = apply(ContainerConfig(cap_add=add, cap_drop=drop))
    assert caps_of(spec) == expected


def test_cap_add_outside_the_bounding_set_is_refused(
    apply: Apply, monkeypatch: pytest.MonkeyPatch
) -> None:
    have = tuple(c for c in ALL_CAPABILITIES if c != "CAP_SYS_RESOURCE")
    monkeypatch.setattr(specbuilder, "bounding_set", lambda: have)
    refused(
        lambda: apply(ContainerConfig(cap_add=("CAP_SYS_RESOURCE",))),
        "--cap-add CAP_SYS_RESOURCE",
        "bounding set",
    )
    # dropping one ocimux lacks is fine
    spec, _ = apply(ContainerConfig(cap_drop=("CAP_SYS_RESOURCE",)))
    assert caps_of(spec) == PODMAN_SORTED


def test_bad_configured_capability_names_the_source(apply: Apply, tmp_path: Path) -> None:
    defaults = ContainerDefaults(capabilities=("CHOWN", "FLY"), seccomp_profile="")
    refused(lambda: apply(defaults=defaults), "'FLY'", "default_capabilities")
    spec, _ = apply(defaults=ContainerDefaults(capabilities=("chown", "cap_kill")))
    assert caps_of(spec) == ["CAP_CHOWN", "CAP_KILL"]


def test_privileged(apply: Apply, tmp_path: Path) -> None:
    profile = tmp_path / "seccomp.json"
    profile.write_text(json.dumps(TINY_PROFILE))
    spec, applied = apply(
        ContainerConfig(privileged=True, cap_drop=("CAP_CHOWN",)),
        defaults=ContainerDefaults(seccomp_profile=str(profile)),
    )
    linux = spec["linux"]
    assert caps_of(spec) == list(ALL_CAPABILITIES)
    assert "seccomp" not in linux
    assert applied.seccomp == "unconfined"
    assert linux["maskedPaths"] == []
    assert linux["readonlyPaths"] == []
    assert "ro" not in mount_at(spec, "/sys")["options"]
    assert "ro" not in mount_at(spec, "/sys/fs/cgroup")["options"]
    assert linux["resources"]["devices"][-1] == {"allow": True, "access": "rwm"}
    assert [d["path"] for d in linux["devices"]] == ["/dev/null"]


def test_not_privileged_keeps_paths_and_sys_readonly(apply: Apply) -> None:
    spec, _ = apply()
    linux = spec["linux"]
    assert linux["maskedPaths"] == list(MASKED_PATHS)
    assert linux["readonlyPaths"] == list(READONLY_PATHS)
    assert "ro" in mount_at(spec, "/sys")["options"]
    assert linux["resources"]["devices"] == [{"allow": False, "access": "rwm"}]
    assert "devices" not in linux


def test_mask_and_unmask(apply: Apply) -> None:
    spec, _ = apply(ContainerConfig(mask=("/proc/extra",), unmask=("/proc/kcore", "/proc/sys")))
    linux = spec["linux"]
    assert "/proc/kcore" not in linux["maskedPaths"]
    assert linux["maskedPaths"][-1] == "/proc/extra"
    assert "/proc/sys" not in linux["readonlyPaths"]
    spec, _ = apply(ContainerConfig(mask=("/proc/extra",), unmask=("ALL",)))
    assert spec["linux"]["maskedPaths"] == ["/proc/extra"]
    assert spec["linux"]["readonlyPaths"] == []


# --- mounts ----------------------------------------------------------------------------------


def test_read_only_with_tmpfs(apply: Apply) -> None:
    spec, _ = apply(ContainerConfig(read_only=True))
    assert spec["root"]["readonly"] is True
    for dest in ("/dev/shm", "/run", "/tmp", "/var/tmp"):
        assert mount_at(spec, dest)["type"] == "tmpfs", dest
    assert mount_at(spec, "/run")["options"] == ["rw", "nosuid", "nodev", "rprivate"]
    assert mount_at(spec, "/dev/shm")["source"] == "shm"  # the default one stays


def test_read_only_without_tmpfs(apply: Apply) -> None:
    spec, _ = apply(ContainerConfig(read_only=True, read_only_tmpfs=False))
    assert spec["root"]["readonly"] is True
    for dest in ("/run", "/tmp", "/var/tmp"):
        assert mount_at(spec, dest) is None
    spec, _ = apply(ContainerConfig())
    assert spec["root"]["readonly"] is False
    assert mount_at(spec, "/tmp") is None


def test_read_only_tmpfs_leaves_a_user_mount(apply: Apply) -> None:
    user = Mount("bind", "/tmp", "/var/tmp", ("rbind", "rw", "rprivate"))
    spec, _ = apply(ContainerConfig(read_only=True, mounts=(user,)))
    assert mount_at(spec, "/tmp")["type"] == "bind"


def test_default_proc_and_dev_options(apply: Apply) -> None:
    spec, _ = apply()
    assert mount_at(spec, "/proc")["options"] == ["nosuid", "noexec", "nodev"]
    assert mount_at(spec, "/dev")["options"] == [
        "nosuid",
        "noexec",
        "strictatime",
        "mode=755",
        "size=65536k",
    ]


def test_user_mount_replaces_a_default(apply: Apply) -> None:
    shm = Mount("tmpfs", "/dev/shm", "tmpfs", ("rw", "size=1m", "rprivate"))
    spec, _ = apply(ContainerConfig(mounts=(shm,)))
    assert mount_at(spec, "/dev/shm") == {
        "destination": "/dev/shm",
        "type": "tmpfs",
        "source": "tmpfs",
        "options": ["rw", "size=1m", "rprivate"],
    }


def test_user_mount_replaces_a_generated_file(apply: Apply) -> None:
    hosts = Mount("bind", "/etc/hosts", "/etc/hosts", ("rbind", "ro", "rprivate"))
    spec, applied = apply(ContainerConfig(mounts=(hosts,)))
    assert "hosts" not in applied.files
    assert mount_at(spec, "/etc/hosts")["source"] == "/etc/hosts"


def test_mounts_built_by_hand_are_checked(apply: Apply, tmp_path: Path) -> None:
    relative = Mount("tmpfs", "data", "tmpfs", ("rw",))
    refused(lambda: apply(ContainerConfig(mounts=(relative,))), "invalid mount", "'data'")
    gone = Mount("bind", "/data", str(tmp_path / "gone"), ("rbind", "rw"))
    refused(lambda: apply(ContainerConfig(mounts=(gone,))), "/data", "does not exist")


def test_duplicate_destinations_refused(apply: Apply) -> None:
    a = Mount("bind", "/data", "/tmp", ("rbind", "rw", "rprivate"))
    b = Mount("tmpfs", "/data", "tmpfs", ("rw", "rprivate"))
    refused(lambda: apply(ContainerConfig(mounts=(a, b))), "two mounts at /data")


def depth(destination: str) -> int:
    return len(Path(destination).parts)


def test_mounts_sorted_by_depth(apply: Apply) -> None:
    bind = ("rbind", "rw", "rprivate")
    user = tuple(Mount("bind", d, "/tmp", bind) for d in ("/a/b/c", "/a", "/a/b", "/etc"))
    spec, _ = apply(ContainerConfig(mounts=user, tz="UTC"))
    dests = [m["destination"] for m in spec["mounts"]]
    assert [d for d in dests if d.startswith("/a")] == ["/a", "/a/b", "/a/b/c"]
    # a parent is mounted before what goes inside it, generated files included
    assert dests.index("/etc") < dests.index("/etc/hostname")
    assert dests.index("/etc") < dests.index("/etc/hosts")
    assert dests.index("/etc") < dests.index("/etc/localtime")
    assert [depth(d) for d in dests] == sorted(depth(d) for d in dests)


# --- hostname and generated files ------------------------------------------------------------


def test_hostname_defaults_to_the_short_id(apply: Apply, tmp_path: Path) -> None:
    spec, applied = apply()
    assert spec["hostname"] == CID[:12] == applied.hostname
    assert f"HOSTNAME={CID[:12]}" in spec["process"]["env"]
    assert "domainname" not in spec
    assert applied.files["hostname"] == f"{CID[:12]}\n"
    hosts = applied.files["hosts"]
    assert hosts.startswith("127.0.0.1\tlocalhost")
    assert hosts.endswith(f"127.0.1.1\t{CID[:12]} web1\n")
    bundle = tmp_path / "bundle"
    for dest, filename in (("/etc/hostname", "hostname"), ("/etc/hosts", "hosts")):
        assert mount_at(spec, dest) == {
            "destination": dest,
            "type": "bind",
            "source": str(bundle / filename),
            "options": ["bind", "rprivate"],
        }
    assert "resolv.conf" not in applied.files
    assert mount_at(spec, "/etc/resolv.conf") is None
    assert applied.summary() == {
        "hostname": CID[:12],
        "seccomp": applied.seccomp,
        "capabilities": PODMAN_SORTED,
    }


def test_hostname_and_domainname_given(apply: Apply) -> None:
    spec, applied = apply(ContainerConfig(hostname="web", domainname="example.org"))
    assert spec["hostname"] == "web"
    assert spec["domainname"] == "example.org"
    assert "HOSTNAME=web" in spec["process"]["env"]
    assert applied.files["hosts"].endswith("127.0.1.1\tweb web1\n")


def test_hostname_from_the_spec_and_env_order(apply: Apply, rootfs: Path) -> None:
    spec = default_spec(rootfs=rootfs, args=["sh"], hostname="fromspec", env=["HOSTNAME=mine"])
    spec, applied = apply(spec=spec)
    assert spec["hostname"] == "fromspec" == applied.hostname
    env = spec["process"]["env"]
    assert env.count("HOSTNAME=mine") == 1  # the spec's env wins over the default
    assert env[0].startswith("PATH=")


def test_hostname_equal_to_name_listed_once(apply: Apply) -> None:
    _, applied = apply(ContainerConfig(hostname="web1"))
    assert applied.files["hosts"].endswith("127.0.1.1\tweb1\n")


def test_no_hosts(apply: Apply) -> None:
    spec, applied = apply(ContainerConfig(no_hosts=True))
    assert "hosts" not in applied.files
    assert mount_at(spec, "/etc/hosts") is None
    assert "hostname" in applied.files
    spec, applied = apply(defaults=ContainerDefaults(no_hosts=True, seccomp_profile=""))
    assert "hosts" not in applied.files
    spec, applied = apply(
        ContainerConfig(no_hosts=False), defaults=ContainerDefaults(no_hosts=True)
    )
    assert "hosts" in applied.files


def test_network_none(apply: Apply) -> None:
    spec, _ = apply()
    assert {"type": "network"} in spec["linux"]["namespaces"]
    assert spec["linux"]["sysctl"] == {"net.ipv4.ping_group_range": "0 0"}


def test_network_host(apply: Apply, monkeypatch: pytest.MonkeyPatch) -> None:
    hosts = "127.0.0.1 localhost\n"
    resolv = "nameserver 192.0.2.1\n"

    def fake_read_host(path: str) -> str:
        return {"/etc/hosts": hosts, "/etc/resolv.conf": resolv}[path]

    monkeypatch.setattr(specmounts, "_read_host", fake_read_host)
    spec, applied = apply(ContainerConfig(network="host"))
    linux = spec["linux"]
    assert "network" not in [n["type"] for n in linux["namespaces"]]
    assert "sysctl" not in linux  # the default net.* sysctls are left out
    assert applied.files["resolv.conf"] == resolv
    assert applied.files["hosts"] == f"{hosts}127.0.1.1\t{CID[:12]} web1\n"
    assert mount_at(spec, "/etc/resolv.conf")["source"].endswith("/bundle/resolv.conf")


def test_sysctls(apply: Apply) -> None:
    cfg = ContainerConfig(sysctls=(("kernel.shmmax", "1"), ("net.ipv4.ping_group_range", "1 2")))
    spec, _ = apply(cfg)
    assert spec["linux"]["sysctl"] == {"net.ipv4.ping_group_range": "1 2", "kernel.shmmax": "1"}
    cfg = ContainerConfig(network="host", sysctls=(("net.ipv4.ip_forward", "1"),))
    refused(lambda: apply(cfg), "--sysctl", "net.ipv4.ip_forward", "--network host")
    refused(
        lambda: apply(ContainerConfig(sysctls=(("kernel.panic", "1"),))), "--sysctl", "kernel.panic"
    )
    bad = ContainerDefaults(sysctls=("vm.swappiness=1",))
    refused(lambda: apply(defaults=bad), "default_sysctls", "vm.swappiness")
    spec, _ = apply(defaults=ContainerDefaults(sysctls=(), seccomp_profile=""))
    assert "sysctl" not in spec["linux"]


# --- rlimits ---------------------------------------------------------------------------------


def rlimits(spec: dict[str, Any]) -> dict[str, tuple[int, int]]:
    return {r["type"]: (r["soft"], r["hard"]) for r in spec["process"]["rlimits"]}


def test_rlimit_defaults(apply: Apply) -> None:
    spec, _ = apply()
    assert rlimits(spec) == {
        "RLIMIT_NOFILE": (1048576, 1048576),
        "RLIMIT_NPROC": (1048576, 1048576),
    }


def test_rlimit_defaults_clamped_without_sys_resource(
    apply: Apply, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(specbuilder, "_has_sys_resource", lambda: False)
    monkeypatch.setattr(specbuilder, "_own_hard", {"nofile": 4096, "nproc": -1}.get)
    spec, _ = apply()
    assert rlimits(spec) == {"RLIMIT_NOFILE": (4096, 4096), "RLIMIT_NPROC": (1048576, 1048576)}


def test_rlimit_asked_and_configured(apply: Apply) -> None:
    cfg = ContainerConfig(ulimits=(Ulimit("nofile", 10, 20), Ulimit("core", -1, -1)))
    spec, _ = apply(cfg, defaults=ContainerDefaults(ulimits=("nproc=50:60", "core=0")))
    assert rlimits(spec) == {
        "RLIMIT_NOFILE": (10, 20),
        "RLIMIT_NPROC": (50, 60),
        "RLIMIT_CORE": (2**64 - 1, 2**64 - 1),
    }


def test_rlimit_above_the_host_hard_limit_refused(
    apply: Apply, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(specbuilder, "_has_sys_resource", lambda: False)
    monkeypatch.setattr(specbuilder, "_own_hard", lambda name: 4096)
    refused(
        lambda: apply(ContainerConfig(ulimits=(Ulimit("nofile", 100, 8192),))),
        "--ulimit nofile to 8192",
        "at most 4096",
        "CAP_SYS_RESOURCE",
        "nofile=4096:4096",
    )
    refused(
        lambda: apply(ContainerConfig(ulimits=(Ulimit("core", -1, -1),))),
        "--ulimit core to unlimited",
    )
    refused(
        lambda: apply(defaults=ContainerDefaults(ulimits=("nproc=9999",))),
        "default_ulimits nproc to 9999",
    )
    spec, _ = apply(ContainerConfig(ulimits=(Ulimit("nofile", 100, 4096),)))
    assert rlimits(spec)["RLIMIT_NOFILE"] == (100, 4096)


def test_bad_configured_ulimit_names_the_source(apply: Apply) -> None:
    refused(
        lambda: apply(defaults=ContainerDefaults(ulimits=("bogus=1",))),
        "containers.conf [containers] default_ulimits",
        "bogus",
    )


# --- resources -------------------------------------------------------------------------------


def resources(apply: Apply, can: bool = True, **limits: Any) -> dict[str, Any]:
    spec, _ = apply(ContainerConfig(limits=Limits(**limits)), can=lambda c: can)
    return spec["linux"]["resources"]


def test_memory(apply: Apply) -> None:
    res = resources(apply, memory=64 * MIB, memory_swap=128 * MIB, memory_reservation=32 * MIB)
    assert res["memory"] == {"limit": 64 * MIB, "swap": 128 * MIB, "reservation": 32 * MIB}
    assert resources(apply, memory=6 * MIB, memory_swap=-1)["memory"] == {
        "limit": 6 * MIB,
        "swap": -1,
    }
    assert resources(apply, memory_reservation=MIB)["memory"] == {"reservation": MIB}
    assert "memory" not in resources(apply)


@pytest.mark.parametrize(
    ("limits", "fragment"),
    [
        ({"memory_swap": 128 * MIB}, "--memory-swap needs --memory"),
        ({"memory": 64 * MIB, "memory_swap": 32 * MIB}, "--memory-swap 33554432"),
        ({"memory": 6 * MIB - 1}, "--memory 6291455"),
        ({"memory": 64 * MIB, "memory_reservation": 65 * MIB}, "--memory-reservation"),
        ({"cpu_shares": 1}, "--cpu-shares 1"),
        ({"cpu_shares": 262145}, "--cpu-shares 262145"),
        ({"cpuset_cpus": "0-4"}, "--cpuset-cpus '0-4'"),
        ({"cpuset_cpus": "4"}, "CPUs 0-3"),
        ({"cpuset_cpus": "3-1"}, "--cpuset-cpus '3-1'"),
        ({"cpuset_cpus": "a"}, "--cpuset-cpus 'a'"),
        ({"cpuset_cpus": "0,"}, "--cpuset-cpus '0,'"),
        ({"cpuset_mems": "0-"}, "--cpuset-mems '0-'"),
    ],
)
def test_resources_refused(apply: Apply, limits: dict[str, Any], fragment: str) -> None:
    refused(lambda: resources(apply, **limits), fragment)


def test_cpu(apply: Apply) -> None:
    res = resources(
        apply,
        cpu_quota=50_000,
        cpu_period=100_000,
        cpu_shares=1024,
        cpuset_cpus="0-1,3",
        cpuset_mems="0",
    )
    assert res["cpu"] == {
        "quota": 50_000,
        "period": 100_000,
        "shares": 1024,
        "cpus": "0-1,3",
        "mems": "0",
    }
    assert resources(apply, cpu_shares=2)["cpu"] == {"shares": 2}
    assert resources(apply, cpu_shares=262144)["cpu"] == {"shares": 262144}
    assert "cpu" not in resources(apply)


def test_pids(apply: Apply, rootfs: Path) -> None:
    assert resources(apply)["pids"] == {"limit": 2048}
    assert "pids" not in resources(apply, can=False)
    assert resources(apply, pids_limit=100)["pids"] == {"limit": 100}
    assert "pids" not in resources(apply, pids_limit=-1)
    spec = default_spec(rootfs=rootfs, args=["sh"])
    spec["linux"]["resources"]["pids"] = {"limit": 7}
    spec, _ = apply(ContainerConfig(limits=Limits(pids_limit=-1)), spec=spec)
    assert "pids" not in spec["linux"]["resources"]
    spec, _ = apply(defaults=ContainerDefaults(pids_limit=0, seccomp_profile=""))
    assert "pids" not in spec["linux"]["resources"]


def test_devices(apply: Apply) -> None:
    st = os.stat("/dev/null")
    spec, _ = apply(ContainerConfig(devices=(Device("/dev/null", "/dev/nothing", "rw"),)))
    linux = spec["linux"]
    assert linux["devices"] == [
        {
            "path": "/dev/nothing",
            "type": "c",
            "major": os.major(st.st_rdev),
            "minor": os.minor(st.st_rdev),
            "fileMode": st.st_mode & 0o7777,
            "uid": st.st_uid,
            "gid": st.st_gid,
        }
    ]
    assert linux["resources"]["devices"] == [
        {"allow": False, "access": "rwm"},
        {
            "allow": True,
            "type": "c",
            "major": os.major(st.st_rdev),
            "minor": os.minor(st.st_rdev),
            "access": "rw",
        },
    ]


def test_device_gone_or_not_a_device(apply: Apply, tmp_path: Path) -> None:
    gone = str(tmp_path / "gone")
    refused(lambda: apply(ContainerConfig(devices=(Device(gone, "/dev/x"),))), "--device", gone)
    refused(
        lambda: apply(ContainerConfig(devices=(Device("/etc/passwd", "/dev/x"),))),
        "--device /etc/passwd",
        "not a device node",
    )


# --- seccomp ---------------------------------------------------------------------------------


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    path = tmp_path / "seccomp.json"
    path.write_text(json.dumps(TINY_PROFILE))
    return path


def test_seccomp_default_profile(apply: Apply, profile: Path) -> None:
    defaults = ContainerDefaults(seccomp_profile=str(profile))
    spec, applied = apply(defaults=defaults)
    assert spec["linux"]["seccomp"] == TINY_PROFILE
    assert applied.seccomp == str(profile)
    spec, applied = apply(defaults=defaults, can=lambda c: c != "seccomp")
    assert "seccomp" not in spec["linux"]
    assert applied.seccomp.startswith("none")


def test_seccomp_default_profile_missing_or_empty(apply: Apply, tmp_path: Path) -> None:
    spec, applied = apply()  # the fixture's default profile does not exist
    assert "seccomp" not in spec["linux"]
    assert applied.seccomp.startswith("none (")
    assert "does not exist" in applied.seccomp
    spec, applied = apply(defaults=ContainerDefaults(seccomp_profile=""))
    assert "seccomp" not in spec["linux"]
    assert applied.seccomp == "none"


def test_seccomp_unconfined_and_explicit(apply: Apply, profile: Path, rootfs: Path) -> None:
    spec = default_spec(rootfs=rootfs, args=["sh"])
    spec["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_KILL"}
    spec, applied = apply(
        ContainerConfig(seccomp="unconfined"),
        defaults=ContainerDefaults(seccomp_profile=str(profile)),
        spec=spec,
    )
    assert "seccomp" not in spec["linux"]
    assert applied.seccomp == "unconfined"
    spec, applied = apply(ContainerConfig(seccomp=str(profile)), can=lambda c: False)
    assert spec["linux"]["seccomp"] == TINY_PROFILE
    assert applied.seccomp == str(profile)


def test_seccomp_explicit_missing(apply: Apply, tmp_path: Path) -> None:
    gone = str(tmp_path / "gone.json")
    refused(lambda: apply(ContainerConfig(seccomp=gone)), gone, "does not exist")


# --- init, umask, groups, stop signal, timezone ----------------------------------------------


def test_init(apply: Apply, tmp_path: Path) -> None:
    init = tmp_path / "catatonit"
    init.write_text("")
    init.chmod(0o755)
    link = tmp_path / "init-link"
    link.symlink_to(init)
    spec, _ = apply(ContainerConfig(init=True, init_path=str(link)))
    assert spec["process"]["args"] == [INIT_PATH_IN_CONTAINER, "--", "sh"]
    assert mount_at(spec, INIT_PATH_IN_CONTAINER) == {
        "destination": INIT_PATH_IN_CONTAINER,
        "type": "bind",
        "source": str(init),
        "options": ["bind", "ro", "rprivate"],
    }
    spec, _ = apply(
        ContainerConfig(init=True), defaults=ContainerDefaults(init_path=str(init), tz="")
    )
    assert mount_at(spec, INIT_PATH_IN_CONTAINER)["source"] == str(init)
    spec, _ = apply(ContainerConfig(init_path=str(init)))  # no --init: nothing
    assert spec["process"]["args"] == ["sh"]


def test_init_missing_or_not_executable(apply: Apply, tmp_path: Path) -> None:
    gone = str(tmp_path / "nope")
    refused(lambda: apply(ContainerConfig(init=True, init_path=gone)), "--init", gone)
    plain = tmp_path / "plain"
    plain.write_text("")
    plain.chmod(0o644)
    if os.geteuid() != 0:
        refused(lambda: apply(ContainerConfig(init=True, init_path=str(plain))), str(plain))


@pytest.mark.parametrize(("umask", "expected"), [(None, 0o022), ("0077", 0o077), ("7", 7)])
def test_umask(apply: Apply, umask: str | None, expected: int) -> None:
    spec, _ = apply(ContainerConfig(umask=umask))
    assert spec["process"]["user"]["umask"] == expected


def test_umask_default_18_and_configured(apply: Apply) -> None:
    spec, _ = apply()
    assert spec["process"]["user"]["umask"] == 18
    spec, _ = apply(defaults=ContainerDefaults(umask="0027", seccomp_profile=""))
    assert spec["process"]["user"]["umask"] == 0o027


@pytest.mark.parametrize("umask", ["999", "0o22", "7777", "", "-1", "abc"])
def test_umask_refused(apply: Apply, umask: str) -> None:
    refused(lambda: apply(ContainerConfig(umask=umask)), "umask", repr(umask))


def test_group_add(apply: Apply, rootfs: Path) -> None:
    spec = default_spec(rootfs=rootfs, args=["sh"], user=(1000, 1000, (10,)))
    spec, _ = apply(ContainerConfig(group_add=("staff", "10", "4242", "wheel")), spec=spec)
    assert spec["process"]["user"]["additionalGids"] == [10, 50, 4242]
    spec, _ = apply(ContainerConfig(group_add=("0",)))
    assert spec["process"]["user"]["additionalGids"] == [0]


@pytest.mark.parametrize("group", ["nogroup", "broken", "99999999999"])
def test_group_add_unknown(apply: Apply, group: str) -> None:
    refused(lambda: apply(ContainerConfig(group_add=(group,))), "--group-add", repr(group))


def test_stop_signal(apply: Apply) -> None:
    spec, _ = apply(ContainerConfig(stop_signal=2))
    assert spec["annotations"]["org.opencontainers.image.stopSignal"] == "2"
    spec, _ = apply()
    assert "org.opencontainers.image.stopSignal" not in spec.get("annotations", {})


def test_tz(apply: Apply, monkeypatch: pytest.MonkeyPatch) -> None:
    real_isfile = os.path.isfile
    zones = {"/usr/share/zoneinfo/Europe/Paris", "/usr/share/zoneinfo/Etc/UTC"}
    monkeypatch.setattr(os.path, "isfile", lambda p: p in zones or real_isfile(p))
    monkeypatch.setattr(os.path, "realpath", lambda p: "/usr/share/zoneinfo/Etc/UTC")
    spec, _ = apply(ContainerConfig(tz="Europe/Paris"))
    assert mount_at(spec, "/etc/localtime") == {
        "destination": "/etc/localtime",
        "type": "bind",
        "source": "/usr/share/zoneinfo/Europe/Paris",
        "options": ["bind", "ro", "rprivate"],
    }
    spec, _ = apply(ContainerConfig(tz="local"))
    assert mount_at(spec, "/etc/localtime")["source"] == "/usr/share/zoneinfo/Etc/UTC"
    spec, _ = apply(defaults=ContainerDefaults(tz="Europe/Paris", seccomp_profile=""))
    assert mount_at(spec, "/etc/localtime")["source"] == "/usr/share/zoneinfo/Europe/Paris"
    spec, _ = apply()
    assert mount_at(spec, "/etc/localtime") is None


@pytest.mark.parametrize(
    ("tz", "fragment"),
    [("../../etc/passwd", "use local or a zone"), ("Mars/Olympus_Mons", "does not exist")],
)
def test_tz_refused(apply: Apply, tz: str, fragment: str) -> None:
    refused(lambda: apply(ContainerConfig(tz=tz)), "--tz", repr(tz), fragment)


# --- required_capabilities -------------------------------------------------------------------


def test_default_config_needs_nothing() -> None:
    assert required_capabilities(ContainerConfig()) == []
    assert required_capabilities(ContainerConfig(labels=(("a", "b"),))) == []
    assert required_capabilities(ContainerConfig(stop_signal=9, pidfile="/p")) == []


@pytest.mark.parametrize(
    ("cfg", "expected"),
    [
        (ContainerConfig(mounts=(Mount("tmpfs", "/t", "tmpfs"),)), [("isolation", "--volume/--mount/--tmpfs")]),
        (ContainerConfig(read_only=True), [("isolation", "--read-only")]),
        (ContainerConfig(cap_drop=("ALL",)), [("isolation", "--cap-add/--cap-drop")]),
        (ContainerConfig(seccomp="unconfined"), [("isolation", "--security-opt seccomp")]),
        (
            ContainerConfig(seccomp="/p.json"),
            [("isolation", "--security-opt seccomp"), ("seccomp", "--security-opt seccomp")],
        ),
        (ContainerConfig(no_new_privileges=True), [("isolation", "--security-opt no-new-privileges")]),
        (ContainerConfig(unmask=("ALL",)), [("isolation", "--security-opt mask/unmask")]),
        (ContainerConfig(hostname="h"), [("isolation", "--hostname")]),
        (ContainerConfig(domainname="d"), [("isolation", "--domainname"), ("domainname", "--domainname")]),
        (ContainerConfig(group_add=("10",)), [("isolation", "--group-add")]),
        (ContainerConfig(init=True), [("isolation", "--init")]),
        (ContainerConfig(ulimits=(Ulimit("nofile", 1, 1),)), [("isolation", "--ulimit")]),
        (ContainerConfig(sysctls=(("kernel.sem", "1"),)), [("isolation", "--sysctl")]),
        (ContainerConfig(umask="0022"), [("isolation", "--umask"), ("umask", "--umask")]),
        (ContainerConfig(tz="local"), [("isolation", "--tz")]),
        (ContainerConfig(limits=Limits(pids_limit=-1)), [("resource_limits", "--memory/--cpus/--pids-limit")]),
        (ContainerConfig(limits=Limits(memory=MIB << 6)), [("resource_limits", "--memory/--cpus/--pids-limit")]),
        (
            ContainerConfig(network="host"),
            [("isolation", "--network host"), ("host_network", "--network host")],
        ),
        (ContainerConfig(devices=(Device("/dev/null", "/dev/null"),)), [("devices", "--device")]),
        (
            ContainerConfig(privileged=True),
            [("isolation", "--privileged"), ("privileged", "--privileged")],
        ),
    ],
)  # fmt: skip
def test_required_capabilities(cfg: ContainerConfig, expected: list[tuple[str, str]]) -> None:
    assert required_capabilities(cfg) == expected


def test_required_capabilities_for_a_user() -> None:
    assert required_capabilities(ContainerConfig(), "1000") == [("isolation", "--user")]


# --- defaults_from_table ---------------------------------------------------------------------


def test_defaults_from_an_empty_table() -> None:
    assert defaults_from_table({}) == ContainerDefaults()


def test_defaults_from_table_every_key() -> None:
    table = {
        "default_capabilities": ["CHOWN", "KILL"],
        "default_sysctls": ["net.ipv4.ip_forward=1"],
        "default_ulimits": ["nofile=10:20"],
        "env": ["A=1"],
        "pids_limit": 100,
        "seccomp_profile": "/etc/seccomp.json",
        "init_path": "/usr/bin/tini",
        "no_hosts": True,
        "tz": "UTC",
        "umask": "0077",
        "unrelated": 5,  # keys ocimux does not apply are ignored
    }
    assert defaults_from_table(table) == ContainerDefaults(
        capabilities=("CHOWN", "KILL"),
        sysctls=("net.ipv4.ip_forward=1",),
        ulimits=("nofile=10:20",),
        env=("A=1",),
        pids_limit=100,
        seccomp_profile="/etc/seccomp.json",
        init_path="/usr/bin/tini",
        no_hosts=True,
        tz="UTC",
        umask="0077",
    )


def test_defaults_from_table_names_the_files() -> None:
    defaults = defaults_from_table({}, ["/etc/containers/containers.conf", "/home/u/c.conf"])
    assert defaults.source == (
        "containers.conf [containers] (/etc/containers/containers.conf, /home/u/c.conf)"
    )


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("default_capabilities", "CHOWN", "must be an array of strings"),
        ("default_sysctls", ["a=1", 2], "must be an array of strings"),
        ("default_ulimits", {"nofile": 1}, "must be an array of strings"),
        ("env", "A=1", "must be an array of strings"),
        ("pids_limit", "100", "must be a int"),
        ("pids_limit", True, "must be a int"),
        ("seccomp_profile", 1, "must be a str"),
        ("init_path", ["x"], "must be a str"),
        ("no_hosts", "yes", "must be a bool"),
        ("tz", 0, "must be a str"),
        ("umask", 18, "must be a str"),
    ],
)
def test_defaults_from_table_wrong_types(key: str, value: object, fragment: str) -> None:
    text = refused(lambda: defaults_from_table({key: value}, ["a.conf"]), key, fragment)
    assert text.startswith("containers.conf [containers] (a.conf): ")
