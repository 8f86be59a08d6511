"""ocimux.interface.specview: a bundle's config.json as a typed, frozen view; a bad file is one error that
names the file and the field; the file is never written."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest
from ocimux.base.errors import InvalidArgumentError
from ocimux.interface.options import Resources
from ocimux.interface.specview import (
    CapabilitySets,
    ConsoleSize,
    Mount,
    Namespace,
    ProcessUser,
    Rlimit,
    SpecView,
)
from ocimux.oci.spec import default_spec


def _bundle(tmp_path: Path, doc: Any) -> Path:
    bundle = tmp_path / "bundle"
    bundle.mkdir(exist_ok=True)
    text = doc if isinstance(doc, str) else json.dumps(doc)
    (bundle / "config.json").write_text(text)
    return bundle


def _spec(tmp_path: Path, **kw: Any) -> dict[str, Any]:
    args = {
        "rootfs": tmp_path / "rootfs", "args": ["sh", "-c", "true"], "env": ["A=1"],
        "cwd": "/work", "user": (1000, 1000, (10, 20)), "terminal": True, "hostname": "box",
        "annotations": {"k": "v"}, "readonly_rootfs": True, **kw,
    }  # fmt: skip
    return default_spec(**args)


def test_a_spec_ocimux_writes_reads_back_typed(tmp_path: Path):
    view = SpecView.load(_bundle(tmp_path, _spec(tmp_path)))
    assert view.path == tmp_path / "bundle" / "config.json"
    assert view.bundle == tmp_path / "bundle"
    assert view.args == ("sh", "-c", "true")
    assert view.env[-1] == "A=1" and view.env[0].startswith("PATH=")
    assert view.environ["A"] == "1" and "TERM" in view.environ
    assert view.cwd == "/work"
    assert view.user == ProcessUser(1000, 1000, (10, 20), None)
    assert view.terminal is True
    assert view.console_size is None
    assert view.rlimits == (Rlimit("RLIMIT_NOFILE", 1024, 1024),)
    caps = ("CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE")
    assert view.capabilities == CapabilitySets(bounding=caps, effective=caps, permitted=caps)
    assert view.no_new_privileges is True
    assert view.root_path == tmp_path / "rootfs"
    assert view.root_readonly is True
    assert view.hostname == "box"
    assert view.mounts[0] == Mount("/proc", "proc", "proc", ())
    assert Mount(
        "/dev", "tmpfs", "tmpfs", ("nosuid", "strictatime", "mode=755", "size=65536k")
    ) in (view.mounts)
    assert [ns.type for ns in view.namespaces] == ["pid", "network", "ipc", "uts", "mount"]
    assert view.has_namespace("pid") and not view.has_namespace("user")
    assert view.resources == Resources()
    assert dict(view.annotations) == {"k": "v"}
    assert view.has_seccomp is False
    assert view.raw["process"]["args"] == ("sh", "-c", "true")


def test_optional_fields_absent_get_the_spec_defaults(tmp_path: Path):
    view = SpecView.load(_bundle(tmp_path, {"process": {"args": ["x"]}, "root": {"path": "r"}}))
    assert (view.env, view.cwd, view.terminal, view.no_new_privileges) == ((), "/", False, False)
    assert view.user == ProcessUser(0, 0, (), None)
    assert view.capabilities == CapabilitySets()
    assert (view.rlimits, view.mounts, view.namespaces) == ((), (), ())
    assert (view.hostname, view.console_size, view.root_readonly) == (None, None, False)
    assert view.resources == Resources() and dict(view.annotations) == {}


def test_a_relative_root_path_is_taken_against_the_bundle(tmp_path: Path):
    bundle = _bundle(tmp_path, {"process": {"args": ["x"]}, "root": {"path": "../rootfs"}})
    view = SpecView.load(bundle)
    assert view.root_path == tmp_path / "rootfs"
    assert view.root_path.is_absolute()


def test_the_less_common_fields(tmp_path: Path):
    doc = _spec(tmp_path)
    doc["process"]["consoleSize"] = {"height": 40, "width": 120}
    doc["process"]["user"]["umask"] = 18
    doc["process"]["capabilities"]["ambient"] = ["CAP_KILL"]
    doc["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": []}
    doc["linux"]["namespaces"].append({"type": "network", "path": "/proc/1/ns/net"})
    doc["linux"]["resources"].update(
        memory={"limit": 1 << 30, "swap": 2 << 30, "reservation": 1 << 20},
        cpu={"shares": 512, "quota": 50000, "period": 100000, "cpus": "0-1"},
        pids={"limit": 100},
    )
    doc["mounts"].append({"destination": "/data", "options": ["bind"]})
    view = SpecView.load(_bundle(tmp_path, doc))
    assert view.console_size == ConsoleSize(40, 120)
    assert view.user.umask == 18
    assert view.capabilities.ambient == ("CAP_KILL",)
    assert view.has_seccomp is True
    assert view.namespaces[-1] == Namespace("network", "/proc/1/ns/net")
    assert view.resources == Resources(
        memory=1 << 30, memory_swap=2 << 30, cpu_shares=512, cpu_quota=50000,
        cpu_period=100000, cpuset_cpus="0-1", pids_limit=100,
    )  # fmt: skip
    assert view.raw["linux"]["resources"]["memory"]["reservation"] == 1 << 20  # untyped: raw
    assert view.mounts[-1] == Mount("/data", None, None, ("bind",))


def test_the_view_is_frozen_and_its_collections_read_only(tmp_path: Path):
    view = SpecView.load(_bundle(tmp_path, _spec(tmp_path)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.args = ("other",)  # type: ignore[misc]
    with pytest.raises(TypeError):
        view.annotations["k"] = "w"  # type: ignore[index]
    with pytest.raises(TypeError):
        view.raw["process"]["cwd"] = "/"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.user.uid = 0  # type: ignore[misc]
    view.environ["A"] = "changed"
    assert view.environ["A"] == "1", "environ is a fresh copy"


def test_loading_never_writes(tmp_path: Path):
    bundle = _bundle(tmp_path, _spec(tmp_path))
    config = bundle / "config.json"
    os.utime(config, ns=(1_000_000_000, 1_000_000_000))
    before = config.read_bytes()
    SpecView.load(bundle)
    assert config.read_bytes() == before
    assert config.stat().st_mtime_ns == 1_000_000_000
    assert os.listdir(bundle) == ["config.json"]


def test_the_last_env_entry_of_a_key_wins(tmp_path: Path):
    doc = {"process": {"args": ["x"], "env": ["A=1", "B", "A=2", "=x"]}, "root": {"path": "/"}}
    assert SpecView.load(_bundle(tmp_path, doc)).environ == {"A": "2"}


def _error_of(tmp_path: Path, doc: Any) -> str:
    with pytest.raises(InvalidArgumentError) as info:
        SpecView.load(_bundle(tmp_path, doc))
    return str(info.value)


def _base() -> dict[str, Any]:
    return {"process": {"args": ["x"]}, "root": {"path": "/r"}}


def _with(path: str, value: Any) -> dict[str, Any]:
    doc = _base()
    *parents, last = path.split(".")
    node: Any = doc
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return doc


def test_a_missing_config_names_the_file(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidArgumentError, match=r"empty/config\.json does not exist"):
        SpecView.load(tmp_path / "empty")


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ("{not json", "config.json is not valid JSON"),
        ("[1, 2]", "config.json does not hold a JSON object"),
        ({"root": {"path": "/r"}}, "config.json: process is missing"),
        ({"process": {}, "root": {"path": "/r"}}, "process.args is missing"),
        ({"process": {"args": []}, "root": {"path": "/r"}}, "process.args must name a command"),
        ({"process": {"args": "sh"}, "root": {"path": "/r"}}, "process.args must be an array"),
        ({"process": {"args": ["sh", 1]}, "root": {"path": "/r"}}, "process.args[1] must be a string"),
        ({"process": {"args": ["x"]}}, "root is missing"),
        ({"process": {"args": ["x"]}, "root": {}}, "root.path is missing"),
        ({"process": {"args": ["x"]}, "root": {"path": ""}}, "root.path is empty"),
        (_with("process.cwd", "work"), "process.cwd must be absolute, not 'work'"),
        (_with("process.env", ["A=1", None]), "process.env[1] must be a string, not null"),
        (_with("process.terminal", "yes"), "process.terminal must be a boolean, not a string"),
        (_with("process.user", {"uid": True, "gid": 0}), "process.user.uid must be an integer, not a boolean"),
        (_with("process.user", {"uid": 0}), "process.user.gid is missing"),
        (_with("process.user", {"uid": 0, "gid": 0, "additionalGids": [1, "2"]}), "process.user.additionalGids[1] must be an integer"),
        (_with("process.consoleSize", {"height": 1.5, "width": 2}), "process.consoleSize.height must be an integer, not a number with a fraction"),
        (_with("process.rlimits", [{"type": "RLIMIT_NOFILE", "soft": 1}]), "process.rlimits[0].hard is missing"),
        (_with("process.capabilities", {"bounding": "CAP_KILL"}), "process.capabilities.bounding must be an array"),
        (_with("mounts", [{"destination": "/a"}, {"source": "/b"}]), "mounts[1].destination is missing"),
        (_with("mounts", ["/a"]), "mounts[0] must be an object, not a string"),
        (_with("linux.namespaces", [{"path": "/p"}]), "linux.namespaces[0].type is missing"),
        (_with("linux.resources", {"memory": {"limit": "1g"}}), "linux.resources.memory.limit must be an integer"),
        (_with("linux.resources", {"pids": []}), "linux.resources.pids must be an object, not an array"),
        (_with("annotations", {"a": 1}), "annotations.a must be a string, not an integer"),
        (_with("hostname", 5), "hostname must be a string"),
    ],
)  # fmt: skip
def test_a_bad_document_is_one_error_naming_file_and_field(tmp_path: Path, doc: Any, expected: str):
    message = _error_of(tmp_path, doc)
    assert str(tmp_path / "bundle" / "config.json") in message
    assert expected in message
    assert "\n" not in message
