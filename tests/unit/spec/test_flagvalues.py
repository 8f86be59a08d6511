"""flagvalues: podman's option values parsed into containerconfig values, bad ones refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from ocimux.base.errors import InvalidArgumentError
from ocimux.oci.containerconfig import Device, Mount, Ulimit
from ocimux.oci.flagvalues import (
    parse_capabilities,
    parse_cpus,
    parse_device,
    parse_env_file,
    parse_labels,
    parse_mount,
    parse_network,
    parse_pids_limit,
    parse_security_opt,
    parse_size,
    parse_sysctl,
    parse_tmpfs,
    parse_ulimit,
    parse_volume,
)

MIB = 2**20


def refused(call, option: str, value: str, *fragments: str) -> str:
    """Call; assert an InvalidArgumentError whose one line names option, value and fragments."""
    with pytest.raises(InvalidArgumentError) as info:
        call()
    text = str(info.value)
    assert "\n" not in text
    assert option in text
    assert value in text
    for fragment in fragments:
        assert fragment in text
    return text


# --- sizes and numbers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("512", 512),
        ("0", 0),
        ("64b", 64),
        ("64k", 64 << 10),
        ("64K", 64 << 10),
        ("64m", 64 * MIB),
        ("64M", 64 * MIB),
        ("64mb", 64 * MIB),
        ("64MiB", 64 * MIB),
        ("64 m", 64 * MIB),
        (" 64m ", 64 * MIB),
        ("1g", 2**30),
        ("1.5g", 3 * 2**29),
        ("1.5G", 3 * 2**29),
        ("2t", 2 << 40),
        ("1p", 1 << 50),
        (4096, 4096),
    ],
)
def test_parse_size_accepted(value: str | int, expected: int) -> None:
    assert parse_size(value) == expected


@pytest.mark.parametrize("value", ["12parsecs", "", "m", "-1", "1..5g", "64x", "0x10", "1e3"])
def test_parse_size_refused(value: str) -> None:
    refused(lambda: parse_size(value), "--memory", repr(value))


def test_parse_size_names_the_option_given() -> None:
    refused(lambda: parse_size("12parsecs", "--memory-swap"), "--memory-swap", "12parsecs")


def test_parse_size_out_of_range_and_bool() -> None:
    refused(lambda: parse_size(-5), "--memory", "-5", "out of range")
    refused(lambda: parse_size("9000000p"), "--memory", "9000000p", "out of range")
    refused(lambda: parse_size(True), "--memory", "True")  # type: ignore[arg-type]


def test_parse_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    assert parse_cpus("0.5") == (50_000, 100_000)
    assert parse_cpus("2") == (200_000, 100_000)
    assert parse_cpus(4) == (400_000, 100_000)
    assert parse_cpus("0.001") == (1000, 100_000)  # the kernel's minimum quota


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "-inf", "two", ""])
def test_parse_cpus_refused(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    refused(lambda: parse_cpus(value), "--cpus", repr(value))


def test_parse_cpus_more_than_the_host_has(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    refused(lambda: parse_cpus("2.5"), "--cpus", "2.5", "only 2 CPUs")
    monkeypatch.setattr("os.cpu_count", lambda: None)  # unknown: one
    refused(lambda: parse_cpus("1.5"), "--cpus", "1.5", "only 1 CPUs")


@pytest.mark.parametrize(
    ("value", "expected"), [("100", 100), (7, 7), ("-1", -1), ("0", -1), (0, -1)]
)
def test_parse_pids_limit(value: str | int, expected: int) -> None:
    assert parse_pids_limit(value) == expected


@pytest.mark.parametrize("value", ["-2", "many", "1.5", ""])
def test_parse_pids_limit_refused(value: str) -> None:
    refused(lambda: parse_pids_limit(value), "--pids-limit", repr(value))


# --- volumes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/tmp:/data", Mount("bind", "/data", "/tmp", ("rbind", "rw", "rprivate"))),
        (
            "/tmp:/data:ro,nosuid",
            Mount("bind", "/data", "/tmp", ("rbind", "ro", "nosuid", "rprivate")),
        ),
        ("/tmp:/data:rw", Mount("bind", "/data", "/tmp", ("rbind", "rw", "rprivate"))),
        ("/tmp:/data:z", Mount("bind", "/data", "/tmp", ("rbind", "rw", "rprivate"))),
        ("/tmp:/data:Z,ro", Mount("bind", "/data", "/tmp", ("rbind", "ro", "rprivate"))),
        ("/tmp:/data:nocopy", Mount("bind", "/data", "/tmp", ("rbind", "rw", "rprivate"))),
        ("/tmp:/data:bind", Mount("bind", "/data", "/tmp", ("bind", "rw", "rprivate"))),
        ("/tmp:/data:rshared", Mount("bind", "/data", "/tmp", ("rbind", "rw", "rshared"))),
        (
            "/tmp:/data:noexec,nodev,suid,ro",
            Mount("bind", "/data", "/tmp", ("rbind", "ro", "noexec", "nodev", "suid", "rprivate")),
        ),
        ("/tmp/./:/data/x/../y/", Mount("bind", "/data/y", "/tmp", ("rbind", "rw", "rprivate"))),
    ],
)
def test_parse_volume(value: str, expected: Mount) -> None:
    assert parse_volume(value) == expected


def test_parse_volume_readonly_property() -> None:
    assert parse_volume("/tmp:/data:ro").readonly
    assert not parse_volume("/tmp:/data").readonly


def test_parse_volume_source_missing(tmp_path: Path) -> None:
    value = f"{tmp_path}/gone:/data"
    refused(lambda: parse_volume(value), "--volume", value, "does not exist")


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("/tmp:data", "absolute"),
        ("/tmp:/data:ro,rw", "both ro and rw"),
        ("/tmp:/data:rw,ro", "both ro and rw"),
        ("myvol:/data", "named volumes"),
        ("./rel:/data", "named volumes"),
        ("/data", "anonymous volumes"),
        ("/tmp:/data:O", "'O'"),
        ("/tmp:/data:U", "'U'"),
        ("/tmp:/data:idmap", "'idmap'"),
        ("/tmp:/data:ro:x", "too many"),
        ("/tmp:/", "root"),
        ("/tmp:/data:shared,private", "two propagations"),
        ("/tmp:/data:nosuid,suid", "both"),
        ("/tmp:/data:size=1m", "unknown mount option"),
        ("/tmp:/data:bogus", "'bogus'"),
        ("", "SRC:DST"),
    ],
)
def test_parse_volume_refused(value: str, fragment: str) -> None:
    refused(lambda: parse_volume(value), "--volume", repr(value), fragment)


# --- tmpfs and --mount -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "options"),
    [
        ("/scratch", ("rw", "noexec", "nosuid", "nodev", "rprivate")),
        ("/scratch:ro", ("ro", "noexec", "nosuid", "nodev", "rprivate")),
        ("/scratch:exec", ("rw", "exec", "nosuid", "nodev", "rprivate")),
        (
            "/scratch:size=64m,mode=1777",
            ("rw", "noexec", "nosuid", "nodev", "size=64m", "mode=1777", "rprivate"),
        ),
        ("/scratch:nr_inodes=1k", ("rw", "noexec", "nosuid", "nodev", "nr_inodes=1k", "rprivate")),
    ],
)
def test_parse_tmpfs(value: str, options: tuple[str, ...]) -> None:
    assert parse_tmpfs(value) == Mount("tmpfs", "/scratch", "tmpfs", options)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("scratch", "absolute"),
        ("/", "root"),
        ("/scratch:rbind", "unknown mount option"),
        ("/scratch:exec,noexec", "both"),
        ("/scratch:O", "'O'"),
        ("", "DST"),
    ],
)
def test_parse_tmpfs_refused(value: str, fragment: str) -> None:
    refused(lambda: parse_tmpfs(value), "--tmpfs", repr(value), fragment)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "type=bind,source=/tmp,destination=/data",
            Mount("bind", "/data", "/tmp", ("rbind", "rw", "rprivate")),
        ),
        (
            "type=bind,src=/tmp,dst=/data,ro",
            Mount("bind", "/data", "/tmp", ("rbind", "ro", "rprivate")),
        ),
        (
            "type=bind,src=/tmp,target=/data,readonly=true",
            Mount("bind", "/data", "/tmp", ("rbind", "ro", "rprivate")),
        ),
        (
            "type=bind,src=/tmp,target=/data,ro=false",
            Mount("bind", "/data", "/tmp", ("rbind", "rw", "rprivate")),
        ),
        (
            "type=bind,src=/tmp,dst=/data,bind-propagation=rshared,relabel=private,z",
            Mount("bind", "/data", "/tmp", ("rbind", "rw", "rshared")),
        ),
        (
            "type=bind,src=/tmp,dst=/data,bind-nonrecursive,nosuid",
            Mount("bind", "/data", "/tmp", ("bind", "rw", "nosuid", "rprivate")),
        ),
        (
            "type=tmpfs,destination=/scratch",
            Mount("tmpfs", "/scratch", "tmpfs", ("rw", "noexec", "nosuid", "nodev", "rprivate")),
        ),
        (
            "type=tmpfs,dst=/scratch,tmpfs-size=64m,tmpfs-mode=1777",
            Mount(
                "tmpfs",
                "/scratch",
                "tmpfs",
                ("rw", "noexec", "nosuid", "nodev", "size=67108864", "mode=1777", "rprivate"),
            ),
        ),
        (
            "type=tmpfs,dst=/scratch,tmpfs-mode=0755,exec,ro",
            Mount(
                "tmpfs",
                "/scratch",
                "tmpfs",
                ("ro", "exec", "nosuid", "nodev", "mode=755", "rprivate"),
            ),
        ),
    ],
)
def test_parse_mount(value: str, expected: Mount) -> None:
    assert parse_mount(value) == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("source=/tmp,destination=/data", "type=bind"),
        ("type=volume,source=v,destination=/data", "type=volume"),
        ("type=image,source=i,destination=/data", "type=image"),
        ("type=bind,source=/tmp", "destination"),
        ("type=bind,destination=/data", "source"),
        ("type=bind,source=/tmp,destination=data", "absolute"),
        ("type=bind,source=/tmp,destination=/data,readonly=maybe", "readonly"),
        ("type=bind,source=/tmp,destination=/data,size=1", "'size'"),
        ("type=bind,source=/tmp,destination=/data,wat", "'wat'"),
        ("type=bind,source=/tmp,source=/var,destination=/data", "twice"),
        ("type=bind,source=/tmp,destination=/data,O", "unknown option"),
        ("type=tmpfs,destination=/scratch,tmpfs-mode=999", "tmpfs-mode"),
        ("type=tmpfs,destination=/scratch,source=/tmp", "'source'"),
        ("type=tmpfs,destination=scratch", "absolute"),
        ("type=tmpfs,destination=/", "root"),
    ],
)
def test_parse_mount_refused(value: str, fragment: str) -> None:
    refused(lambda: parse_mount(value), "--mount", repr(value), fragment)


def test_parse_mount_bad_tmpfs_size_names_the_key() -> None:
    value = "type=tmpfs,destination=/scratch,tmpfs-size=12parsecs"
    refused(lambda: parse_mount(value), "tmpfs-size", "12parsecs")


def test_parse_mount_missing_source(tmp_path: Path) -> None:
    value = f"type=bind,source={tmp_path}/gone,destination=/data"
    refused(lambda: parse_mount(value), "--mount", value, "does not exist")


# --- ulimits, sysctls, devices, network ------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("nofile=1024", Ulimit("nofile", 1024, 1024)),
        ("nofile=1024:2048", Ulimit("nofile", 1024, 2048)),
        ("NOFILE=1:2", Ulimit("nofile", 1, 2)),
        ("rlimit_nproc=5", Ulimit("nproc", 5, 5)),
        ("core=-1", Ulimit("core", -1, -1)),
        ("core=unlimited", Ulimit("core", -1, -1)),
        ("core=0:unlimited", Ulimit("core", 0, -1)),
        ("memlock=-1:-1", Ulimit("memlock", -1, -1)),
    ],
)
def test_parse_ulimit(value: str, expected: Ulimit) -> None:
    assert parse_ulimit(value) == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("bogus=1", "unknown limit 'bogus'"),
        ("nofile=2048:1024", "soft limit 2048 is above the hard limit 1024"),
        ("core=unlimited:5", "soft limit -1 is above the hard limit 5"),
        ("nofile", "NAME=SOFT"),
        ("nofile=", "NAME=SOFT"),
        ("nofile=lots", "'lots'"),
        ("nofile=1.5", "'1.5'"),
    ],
)
def test_parse_ulimit_refused(value: str, fragment: str) -> None:
    refused(lambda: parse_ulimit(value), "--ulimit", repr(value), fragment)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("net.ipv4.ip_forward=1", ("net.ipv4.ip_forward", "1")),
        ("net/ipv4/ping_group_range=0 0", ("net.ipv4.ping_group_range", "0 0")),
        ("kernel.shmmax=1000", ("kernel.shmmax", "1000")),
        ("kernel.sem=250 32000 32 128", ("kernel.sem", "250 32000 32 128")),
        ("fs.mqueue.msg_max=20", ("fs.mqueue.msg_max", "20")),
    ],
)
def test_parse_sysctl(value: str, expected: tuple[str, str]) -> None:
    assert parse_sysctl(value) == expected


def test_parse_sysctl_refused() -> None:
    refused(lambda: parse_sysctl("kernel.panic=1"), "--sysctl", "kernel.panic=1", "namespaced")
    refused(lambda: parse_sysctl("vm.swappiness=1"), "--sysctl", "vm.swappiness", "namespaced")
    refused(
        lambda: parse_sysctl("net.ipv4.ip_forward=1", "host"),
        "--sysctl",
        "net.ipv4.ip_forward=1",
        "--network host",
    )
    refused(lambda: parse_sysctl("net.ipv4.ip_forward"), "--sysctl", "ip_forward", "NAME=VALUE")
    # IPC sysctls stay allowed with the host's network
    assert parse_sysctl("kernel.msgmax=1", "host") == ("kernel.msgmax", "1")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/dev/null", Device("/dev/null", "/dev/null", "rwm")),
        ("/dev/null:/dev/nothing", Device("/dev/null", "/dev/nothing", "rwm")),
        ("/dev/null:rw", Device("/dev/null", "/dev/null", "rw")),
        ("/dev/null:/dev/nothing:r", Device("/dev/null", "/dev/nothing", "r")),
    ],
)
def test_parse_device(value: str, expected: Device) -> None:
    assert parse_device(value) == expected


def test_parse_device_refused(tmp_path: Path) -> None:
    refused(lambda: parse_device("/etc/passwd"), "--device", "/etc/passwd", "not a device node")
    gone = f"{tmp_path}/gone"
    refused(lambda: parse_device(gone), "--device", gone, "No such file")
    refused(lambda: parse_device("/dev/null:/x:rwx"), "--device", "/dev/null:/x:rwx", "'rwx'")
    refused(lambda: parse_device("/dev/null:/x:rr"), "--device", "/dev/null:/x:rr", "'rr'")
    refused(lambda: parse_device("/dev/null:x"), "--device", "/dev/null:x", "absolute")
    refused(lambda: parse_device("null"), "--device", "null", "absolute")
    refused(lambda: parse_device("/a:/b:r:w"), "--device", "/a:/b:r:w", "too many")


def test_parse_network() -> None:
    assert parse_network("none") == "none"
    assert parse_network("host") == "host"
    for value in ("bridge", "slirp4netns", "container:x", ""):
        refused(lambda value=value: parse_network(value), "--network", repr(value), "none")


# --- capabilities, labels, security options --------------------------------------------------


def test_parse_capabilities() -> None:
    got = parse_capabilities(["net_admin,SYS_TIME", "cap_kill", "CAP_NET_ADMIN", " "], "--cap-add")
    assert got == ("CAP_NET_ADMIN", "CAP_SYS_TIME", "CAP_KILL")
    assert parse_capabilities(["all"], "--cap-drop") == ("ALL",)
    assert parse_capabilities([], "--cap-drop") == ()


def test_parse_capabilities_unknown() -> None:
    refused(
        lambda: parse_capabilities(["chown,cap_flying"], "--cap-drop"),
        "--cap-drop",
        "'cap_flying'",
        "unknown capability",
    )


def test_parse_labels() -> None:
    got = parse_labels(["a=1", "b", "c=x=y", "a=2"])
    assert got == (("a", "2"), ("b", ""), ("c", "x=y"))
    refused(lambda: parse_labels(["=v"]), "--label", "'=v'")
    refused(lambda: parse_labels(["k=v\x00"], "--annotation"), "--annotation", "k=v")


def test_parse_security_opt_accepted() -> None:
    assert parse_security_opt([]).seccomp is None
    opts = parse_security_opt(
        [
            "no-new-privileges",
            "seccomp=/etc/profile.json",
            "mask=/proc/a:/proc/b",
            "unmask=ALL",
            "unmask=/sys/x",
            "label=disable",
            "apparmor=unconfined",
        ]
    )
    assert opts.no_new_privileges is True
    assert opts.seccomp == "/etc/profile.json"
    assert opts.mask == ["/proc/a", "/proc/b"]
    assert opts.unmask == ["ALL", "/sys/x"]
    assert parse_security_opt(["no-new-privileges=false"]).no_new_privileges is False
    assert parse_security_opt(["no_new_privileges=true"]).no_new_privileges is True
    assert parse_security_opt(["seccomp=unconfined"]).seccomp == "unconfined"
    assert parse_security_opt(["seccomp:unconfined"]).seccomp == "unconfined"  # Docker's
    assert parse_security_opt(["label:disable"]).seccomp is None


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("label=type:x", "SELinux"),
        ("apparmor=myprofile", "AppArmor"),
        ("bogus", "not supported"),
        ("seccomp=profile.json", "absolute"),
        ("seccomp=", "not supported"),
        ("mask=relative", "absolute"),
        ("unmask=rel", "absolute"),
        ("no-new-privileges=yes", "true|false"),
    ],
)
def test_parse_security_opt_refused(value: str, fragment: str) -> None:
    refused(lambda: parse_security_opt([value]), "--security-opt", repr(value), fragment)


# --- env files -------------------------------------------------------------------------------


def test_parse_env_file(tmp_path: Path) -> None:
    path = tmp_path / "env"
    path.write_text(
        "# a comment\n"
        "\n"
        "A=1\n"
        "  B=two words \n"
        "   # indented comment\n"
        "C=\n"
        "D=x=y\n"
        "FROM_ENV\n"
        "UNSET\n"
        "WIN=crlf\r\n"
        "FF=a\x0cb\n",
        encoding="utf-8",
    )
    got = parse_env_file(str(path), {"FROM_ENV": "copied", "OTHER": "x"})
    assert got == [
        "A=1",
        "B=two words ",
        "C=",
        "D=x=y",
        "FROM_ENV=copied",
        "WIN=crlf",
        "FF=a\x0cb",
    ]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("A=1\nMY KEY=1\n", 2),
        ("\n\nKEY =1\n", 3),
        ("=value\n", 1),
        ("A=1\nB\x01=2\n", 2),
    ],
)
def test_parse_env_file_bad_key(tmp_path: Path, text: str, line: int) -> None:
    path = tmp_path / "env.list"
    path.write_text(text, encoding="utf-8")
    refused(
        lambda: parse_env_file(str(path), {}), "--env-file", str(path), f"line {line} ", "KEY=VALUE"
    )


def test_parse_env_file_unreadable(tmp_path: Path) -> None:
    gone = str(tmp_path / "gone")
    refused(lambda: parse_env_file(gone, {}), "--env-file", gone, "No such file")
    binary = tmp_path / "bin"
    binary.write_bytes(b"A=\xff\n")
    refused(lambda: parse_env_file(str(binary), {}), "--env-file", str(binary), "UTF-8")
    big = tmp_path / "big"
    big.write_bytes(b"A=" + b"x" * (1 << 20) + b"\n")
    refused(lambda: parse_env_file(str(big), {}), "--env-file", str(big), "1 MiB")
