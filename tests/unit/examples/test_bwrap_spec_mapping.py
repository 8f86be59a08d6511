"""The bwrap example plugin turns a spec into one bwrap command line, or refuses the field it
cannot honour, before anything runs (no process is started here: `command` only reads files)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ocimux.base.errors import InvalidArgumentError
from ocimux.interface.runtime import RuntimeContext
from ocimux.interface.specview import SpecView
from ocimux.oci.spec import default_spec

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "examples" / "ocimux-bwrap"))

from ocimux_bwrap import BwrapRuntime  # noqa: E402

BWRAP = "/usr/bin/bwrap"


@pytest.fixture
def runtime(tmp_path: Path) -> BwrapRuntime:
    context = RuntimeContext(
        name="bwrap", path=BWRAP, state_dir=tmp_path / "state", containers_dir=tmp_path
    )
    return BwrapRuntime(context)


def spec_of(
    tmp_path: Path, change: Callable[[dict[str, Any]], object] = lambda d: None
) -> SpecView:
    (tmp_path / "rootfs").mkdir(exist_ok=True)
    doc = default_spec(rootfs=tmp_path / "rootfs", args=["sh", "-c", "x"], hostname="box")
    doc["linux"]["maskedPaths"] = doc["linux"]["readonlyPaths"] = []
    doc["process"]["user"]["umask"] = 0o022
    change(doc)
    (tmp_path / "config.json").write_text(json.dumps(doc))
    return SpecView.load(tmp_path)


def test_the_default_spec_is_one_bwrap_command(runtime: BwrapRuntime, tmp_path: Path) -> None:
    command = runtime.command(spec_of(tmp_path))
    caps = [
        "--cap-add",
        "CAP_AUDIT_WRITE",
        "--cap-add",
        "CAP_KILL",
        "--cap-add",
        "CAP_NET_BIND_SERVICE",
    ]
    assert list(command.argv) == [
        BWRAP, "--die-with-parent", "--block-fd", "3", "--info-fd", "4",
        "--bind", str(tmp_path / "rootfs"), "/",
        "--unshare-ipc", "--unshare-net", "--unshare-pid", "--unshare-uts", "--as-pid-1",
        "--new-session", "--hostname", "box",
        "--proc", "/proc", "--dev", "/dev",
        "--perms", "1777", "--size", str(65536 << 10), "--tmpfs", "/dev/shm",
        "--mqueue", "/dev/mqueue", "--ro-bind", "/sys", "/sys",
        "--cap-drop", "ALL", *caps, "--chdir", "/", "--", "sh", "-c", "x",
    ]  # fmt: skip
    assert (command.gate_fd, command.pid_fd, command.umask) == (3, 4, 0o022)
    assert command.env == spec_of(tmp_path).env and command.rlimits[0].type == "RLIMIT_NOFILE"
    assert command.enter == 0 and command.capabilities is None  # bwrap applies them itself


def test_read_only_root_masks_terminal_and_binds(runtime: BwrapRuntime, tmp_path: Path) -> None:
    (tmp_path / "masked-dir").mkdir()
    (tmp_path / "masked-file").write_text("x")
    (tmp_path / "hosts").write_text("127.0.0.1 localhost\n")  # mode 0644: nobody executes it

    def change(doc: dict[str, Any]) -> None:
        doc["root"]["readonly"] = True
        doc["process"]["terminal"] = True
        doc["mounts"] = [
            {"destination": "/data", "type": "bind", "source": str(tmp_path), "options": ["rbind", "ro"]},
            {"destination": "/etc/hosts", "type": "bind", "source": str(tmp_path / "hosts"),
             "options": ["bind", "rprivate", "ro", "nosuid", "noexec", "nodev"]},
            {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
             "options": ["rw", "exec", "nosuid", "nodev", "size=1m", "mode=700"]},
        ]  # fmt: skip
        doc["linux"]["maskedPaths"] = [
            str(tmp_path / n) for n in ("masked-dir", "masked-file", "gone")
        ]
        doc["linux"]["readonlyPaths"] = [str(tmp_path / "masked-dir"), str(tmp_path / "gone")]

    argv = list(runtime.command(spec_of(tmp_path, change)).argv)
    assert "--new-session" not in argv  # a terminal stays the controlling terminal
    start = argv.index("box") + 1
    assert argv[start : argv.index("--cap-drop")] == [
        "--ro-bind", str(tmp_path), "/data",
        "--ro-bind", str(tmp_path / "hosts"), "/etc/hosts",
        "--perms", "700", "--size", str(1 << 20), "--tmpfs", "/scratch",
        "--tmpfs", str(tmp_path / "masked-dir"), "--remount-ro", str(tmp_path / "masked-dir"),
        "--ro-bind", "/dev/null", str(tmp_path / "masked-file"),
        "--ro-bind", str(tmp_path / "masked-dir"), str(tmp_path / "masked-dir"),
        "--remount-ro", "/",
    ]  # fmt: skip


def _mount(dest: str, kind: str, options: list[str], source: str = "tmpfs") -> Callable[..., None]:
    return lambda d: d["mounts"].append(
        {"destination": dest, "type": kind, "source": source, "options": options}
    )


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = doc
        for key in parents:
            target = target.setdefault(key, {})
        target[last] = value

    return change


def _drop_ns(kind: str) -> Callable[[dict[str, Any]], None]:
    return lambda d: d["linux"].update(
        namespaces=[n for n in d["linux"]["namespaces"] if n["type"] != kind]
    )


REFUSED = {
    "process.user": _set("process.user", {"uid": 1000, "gid": 1000}),
    "process.user ": _set("process.user.additionalGids", [5]),
    "the spec.hooks": _set("hooks", {"prestart": []}),
    "process.apparmorProfile": _set("process.apparmorProfile", "unconfined"),
    "linux.seccomp": _set("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW"}),
    "linux.resources": _set("linux.resources.memory", {"limit": 1 << 30}),
    "linux.namespaces": _set("linux.namespaces", [{"type": "mount"}, {"type": "user"}]),
    "linux.namespaces ": _set("linux.namespaces", [{"type": "mount"}, {"type": "net", "path": "/x"}]),
    "linux.namespaces  ": _drop_ns("mount"),
    "hostname": _drop_ns("uts"),
    "process.capabilities": _set("process.capabilities.permitted", []),
    "mounts /scratch": _mount("/scratch", "tmpfs", ["rw", "noexec", "nosuid", "nodev"]),
    "mounts /bin/tool": _mount("/bin/tool", "bind", ["bind", "noexec"], source="/bin/sh"),
    "mounts /sys": lambda d: d["mounts"][5]["options"].remove("ro"),
    "mounts /merged": _mount("/merged", "overlay", []),
    "linux.sysctl kernel.panic": _set("linux.sysctl", {"kernel.panic": "1"}),
    "linux.sysctl net.ipv4.ip_forward": lambda d: (
        _drop_ns("network")(d), _set("linux.sysctl", {"net.ipv4.ip_forward": "1"})(d)
    ),
}  # fmt: skip


@pytest.mark.parametrize("field", REFUSED, ids=[f.strip() for f in REFUSED])
def test_a_field_bwrap_cannot_honour_is_refused_by_name(
    runtime: BwrapRuntime, tmp_path: Path, field: str
) -> None:
    spec = spec_of(tmp_path, REFUSED[field])
    with pytest.raises(InvalidArgumentError) as info:
        runtime.command(spec)
    assert info.value.detail.startswith(f"cannot honour {field.strip()}: "), info.value
    assert (info.value.runtime, info.value.verb) == ("bwrap", "create")


def test_namespaced_sysctls_are_accepted_for_prepare(runtime: BwrapRuntime, tmp_path: Path) -> None:
    sysctls = {
        "net.ipv4.ping_group_range": "0 0",
        "kernel.shmmax": "1000",
        "fs.mqueue.msg_max": "9",
    }
    runtime.command(spec_of(tmp_path, _set("linux.sysctl", sysctls)))  # nothing refused


def test_bwrap_needs_root(runtime: BwrapRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 0)
    assert runtime.unavailable_reason() is None  # its context names the binary
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert runtime.unavailable_reason() == "the bwrap plugin runs bwrap as root: run ocimux as root"
