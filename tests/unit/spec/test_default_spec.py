"""default_spec: the exact document, env merging, and each bad argument."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ocimux.base.errors import InvalidArgumentError
from ocimux.oci.spec import DEFAULT_CAPABILITIES, OCI_VERSION, default_spec

PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def test_process_fields() -> None:
    spec = default_spec(rootfs=Path("/r"), args=["sh", "-c", "true"])
    assert spec["ociVersion"] == OCI_VERSION
    proc = spec["process"]
    assert proc["terminal"] is False
    assert proc["user"] == {"uid": 0, "gid": 0}
    assert proc["args"] == ["sh", "-c", "true"]
    assert proc["env"] == [PATH, "TERM=xterm"]
    assert proc["cwd"] == "/"
    caps = list(DEFAULT_CAPABILITIES)
    assert caps == ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    assert proc["capabilities"] == {"bounding": caps, "effective": caps, "permitted": caps}
    assert proc["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]
    assert proc["noNewPrivileges"] is True


def test_root_mounts_and_linux() -> None:
    spec = default_spec(rootfs=Path("/srv/r"), args=["sh"])
    assert spec["root"] == {"path": "/srv/r", "readonly": False}
    assert "hostname" not in spec
    assert "annotations" not in spec
    assert [(m["destination"], m["type"]) for m in spec["mounts"]] == [
        ("/proc", "proc"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
        ("/dev/mqueue", "mqueue"),
        ("/sys", "sysfs"),
        ("/sys/fs/cgroup", "cgroup"),
    ]
    assert "ro" in spec["mounts"][5]["options"]
    assert "ro" in spec["mounts"][6]["options"]
    assert "options" not in spec["mounts"][0]
    linux = spec["linux"]
    assert linux["resources"] == {"devices": [{"allow": False, "access": "rwm"}]}
    assert [n["type"] for n in linux["namespaces"]] == ["pid", "network", "ipc", "uts", "mount"]
    assert "/proc/kcore" in linux["maskedPaths"]
    assert "/sys/firmware" in linux["maskedPaths"]
    assert "/proc/sys" in linux["readonlyPaths"]


def test_options_are_applied() -> None:
    spec = default_spec(
        rootfs=Path("/r"),
        args=["app"],
        cwd="/work",
        user=(1000, 100, (10, 20)),
        terminal=True,
        hostname="web-1",
        annotations={"a": "b"},
        readonly_rootfs=True,
    )
    assert spec["process"]["cwd"] == "/work"
    assert spec["process"]["user"] == {"uid": 1000, "gid": 100, "additionalGids": [10, 20]}
    assert spec["process"]["terminal"] is True
    assert spec["hostname"] == "web-1"
    assert spec["annotations"] == {"a": "b"}
    assert spec["root"]["readonly"] is True


def test_relative_rootfs_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    spec = default_spec(rootfs=Path("rootfs"), args=["sh"])
    assert spec["root"]["path"] == str(tmp_path / "rootfs")


def test_result_is_json_and_fresh() -> None:
    args = ["sh"]
    a = default_spec(rootfs=Path("/r"), args=args)
    b = default_spec(rootfs=Path("/r"), args=args)
    assert json.loads(json.dumps(a)) == a
    a["mounts"][1]["options"].append("x")
    a["process"]["capabilities"]["bounding"].append("CAP_SYS_ADMIN")
    a["process"]["args"].append("-x")
    assert b == default_spec(rootfs=Path("/r"), args=["sh"])
    assert args == ["sh"]
    assert a["process"]["capabilities"]["effective"] == list(DEFAULT_CAPABILITIES)


def test_env_merged_over_defaults_by_key() -> None:
    spec = default_spec(
        rootfs=Path("/r"), args=["sh"], env=["FOO=1", "PATH=/bin", "BAR=a=b", "FOO=2", "E="]
    )
    assert spec["process"]["env"] == ["PATH=/bin", "TERM=xterm", "FOO=2", "BAR=a=b", "E="]


def test_empty_args() -> None:
    with pytest.raises(InvalidArgumentError, match="a container needs a command"):
        default_spec(rootfs=Path("/r"), args=[])
    with pytest.raises(InvalidArgumentError, match="a container needs a command"):
        default_spec(rootfs=Path("/r"), args=[""])


@pytest.mark.parametrize("args", ["sh -c true", ["sh", 1], ["sh", "a\x00b"]])
def test_bad_args(args: object) -> None:
    with pytest.raises(InvalidArgumentError):
        default_spec(rootfs=Path("/r"), args=args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "entry", ["FOO", "=value", "A B=1", "A\tB=1", "X=a\x00b", "\x01=1", 5, b"A=1"]
)
def test_bad_env(entry: object) -> None:
    with pytest.raises(InvalidArgumentError, match="env"):
        default_spec(rootfs=Path("/r"), args=["sh"], env=[entry])  # type: ignore[list-item]


def test_env_must_be_a_list() -> None:
    with pytest.raises(InvalidArgumentError, match="list"):
        default_spec(rootfs=Path("/r"), args=["sh"], env="A=1")


@pytest.mark.parametrize("cwd", ["", "work", "./x", "/a\x00b"])
def test_bad_cwd(cwd: str) -> None:
    with pytest.raises(InvalidArgumentError, match="working directory"):
        default_spec(rootfs=Path("/r"), args=["sh"], cwd=cwd)


@pytest.mark.parametrize(
    "user", [(-1, 0, ()), (0, 2**32 - 1, ()), (0, 0, (-5,)), (True, 0, ()), ("0", 0, ()), (0, 0)]
)
def test_bad_user_tuple(user: object) -> None:
    with pytest.raises(InvalidArgumentError, match="user"):
        default_spec(rootfs=Path("/r"), args=["sh"], user=user)  # type: ignore[arg-type]


@pytest.mark.parametrize("hostname", ["", "a b", "-x", "a/b", "x" * 65])
def test_bad_hostname(hostname: str) -> None:
    with pytest.raises(InvalidArgumentError, match="hostname"):
        default_spec(rootfs=Path("/r"), args=["sh"], hostname=hostname)


def test_bad_annotations_and_flags() -> None:
    with pytest.raises(InvalidArgumentError, match="annotation"):
        default_spec(rootfs=Path("/r"), args=["sh"], annotations={"": "x"})
    with pytest.raises(InvalidArgumentError, match="annotation"):
        default_spec(rootfs=Path("/r"), args=["sh"], annotations={"k": 1})  # type: ignore[dict-item]
    with pytest.raises(InvalidArgumentError, match="terminal"):
        default_spec(rootfs=Path("/r"), args=["sh"], terminal="yes")  # type: ignore[arg-type]
