"""`[engine] cgroup_manager`: the host check, the systemd cgroupsPath, and the argv handed to
conmon, runc, crun and the runc shim, checked without starting a process (conmon's `launch`
and `prepare_exec` are replaced by recorders)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from ocimux.base.errors import ConfigError, InvalidArgumentError
from ocimux.interface.options import CreateRequest, ExecOptions
from ocimux.interface.runtime import Layout, RuntimeContext
from ocimux.oci import cgroupmanager, conmon
from ocimux.oci.cgroupmanager import (
    is_systemd_path,
    require_systemd,
    systemd_cgroups_path,
    systemd_running,
    use_systemd_cgroups_path,
)
from ocimux.oci.cli import OciCli
from ocimux.plugins.crun import CrunRuntime
from ocimux.plugins.runc import RuncRuntime
from ocimux.plugins.shimv2 import ShimV2Runtime
from ocimux.plugins.shimv2 import messages as m

CID = "c" * 64


def _fake_root(tmp_path: Path, *, systemd: bool) -> Path:
    root = tmp_path / "host"
    (root / "run").mkdir(parents=True)
    if systemd:
        (root / "run/systemd/system").mkdir(parents=True)
    return root


# --- the host check -------------------------------------------------------------------------


def test_systemd_runs_only_where_run_systemd_system_is_a_directory(tmp_path: Path) -> None:
    assert systemd_running(_fake_root(tmp_path / "a", systemd=True))
    assert not systemd_running(_fake_root(tmp_path / "b", systemd=False))
    odd = _fake_root(tmp_path / "c", systemd=False)
    (odd / "run/systemd").mkdir()
    (odd / "run/systemd/system").write_text("")  # a file is not sd_booted's directory
    assert not systemd_running(odd)


def test_the_default_root_is_the_host_and_a_test_can_move_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert systemd_running() == os.path.isdir("/run/systemd/system")
    monkeypatch.setattr(cgroupmanager, "HOST_ROOT", _fake_root(tmp_path, systemd=True))
    assert systemd_running()


def test_refusal_is_one_line_naming_container_runtime_check_and_fix(tmp_path: Path) -> None:
    root = _fake_root(tmp_path, systemd=False)
    with pytest.raises(ConfigError) as info:
        require_systemd("web", "runc", root=root)
    line = str(info.value)
    assert "\n" not in line and info.value.exit_code == 125
    assert line.startswith("create web on runc: ")
    assert f"{root}/run/systemd/system is not a directory" in line
    assert "systemd is not running" in line
    assert line.endswith('set cgroup_manager = "cgroupfs" in [engine]')
    require_systemd("web", "runc", root=_fake_root(tmp_path / "ok", systemd=True))  # no raise


# --- the systemd cgroupsPath ----------------------------------------------------------------


def test_systemd_path_is_podmans_form_with_our_prefix() -> None:
    assert systemd_cgroups_path(CID, rootless=False) == f"machine.slice:ocimux:{CID}"
    assert systemd_cgroups_path(CID, rootless=True) == f"user.slice:ocimux:{CID}"
    assert is_systemd_path(systemd_cgroups_path(CID))
    for path in ("/ocimux/x", "machine.slice:x", "machine:ocimux:x", "a.slice::x", None, 3):
        assert not is_systemd_path(path), path


def _bundle(tmp_path: Path, linux: dict[str, Any] | None = None) -> Path:
    bundle = tmp_path / "bundle"
    bundle.mkdir(parents=True)
    spec: dict[str, Any] = {"ociVersion": "1.0.2", "process": {"args": ["true"]}}
    if linux is not None:
        spec["linux"] = linux
    (bundle / "config.json").write_text(json.dumps(spec))
    return bundle


def _cgroups_path(bundle: Path) -> Any:
    return json.loads((bundle / "config.json").read_text()).get("linux", {}).get("cgroupsPath")


def test_bundle_gets_the_systemd_path_privately(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, linux={"namespaces": [{"type": "pid"}]})
    assert use_systemd_cgroups_path(bundle, CID) == systemd_cgroups_path(CID)
    spec = json.loads((bundle / "config.json").read_text())
    assert spec["linux"] == {
        "namespaces": [{"type": "pid"}],
        "cgroupsPath": systemd_cgroups_path(CID),
    }
    assert stat.S_IMODE((bundle / "config.json").stat().st_mode) == 0o600


def test_a_given_systemd_path_is_kept_and_a_cgroupfs_path_refused(tmp_path: Path) -> None:
    kept = _bundle(tmp_path / "k", linux={"cgroupsPath": "system.slice:mine:x"})
    assert use_systemd_cgroups_path(kept, CID) == "system.slice:mine:x"
    refused = _bundle(tmp_path / "r", linux={"cgroupsPath": "/mine/x"})
    with pytest.raises(InvalidArgumentError, match=r"'/mine/x' is a cgroupfs path"):
        use_systemd_cgroups_path(refused, CID)
    assert _cgroups_path(refused) == "/mine/x"


# --- runc and crun under conmon -------------------------------------------------------------


class Recorder:
    """Stands in for conmon.launch / prepare_exec: keeps what they were given."""

    def __init__(self) -> None:
        self.launches: list[tuple[conmon.ConmonLaunch, dict[str, str]]] = []

    def launch(self, spec: conmon.ConmonLaunch, *, env: Any, timeout: float) -> Any:
        self.launches.append((spec, dict(env)))
        return conmon.SyncMessage(4242), 4243

    def prepare_exec(self, spec: conmon.ConmonLaunch, *, env: Any, timeout: float) -> int:
        self.launches.append((spec, dict(env)))
        return 4244


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    rec = Recorder()
    monkeypatch.setattr(conmon, "launch", rec.launch)
    monkeypatch.setattr(conmon, "prepare_exec", rec.prepare_exec)
    return rec


def _runtime(cls: type, tmp_path: Path, manager: str, binary: str) -> Any:
    context = RuntimeContext(
        name=binary,
        path=f"/usr/sbin/{binary}",
        state_dir=tmp_path / "run/runtimes" / binary,
        containers_dir=tmp_path / "lib/containers",
        conmon_path="/usr/bin/conmon",
        run_dir=tmp_path / "run",
        cgroup_manager=manager,
    )
    return cls(context)


def _request(runtime: Any, tmp_path: Path, *, no_cgroups: bool = False) -> CreateRequest:
    bundle = runtime.container_dir(CID)
    bundle.mkdir(parents=True)
    spec = {
        "ociVersion": "1.0.2",
        "root": {"path": str(tmp_path / "rootfs")},
        "process": {"args": ["sh"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}},
        "linux": {},
    }
    (bundle / "config.json").write_text(json.dumps(spec))
    return CreateRequest(
        cid=CID,
        name="web",
        bundle=bundle,
        io=Layout(runtime.context.containers_dir, tmp_path / "run").io(CID),
        no_cgroups=no_cgroups,
    )


PLUGINS = [
    pytest.param(RuncRuntime, "runc", id="runc"),
    pytest.param(CrunRuntime, "crun", id="crun"),
]


@pytest.mark.parametrize(("cls", "binary"), PLUGINS)
def test_systemd_reaches_conmon_the_runtime_and_the_spec(
    cls: type, binary: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recorder: Recorder
) -> None:
    monkeypatch.setattr(cgroupmanager, "HOST_ROOT", _fake_root(tmp_path, systemd=True))
    runtime = _runtime(cls, tmp_path, "systemd", binary)
    request = _request(runtime, tmp_path)
    result = runtime.create(request)
    assert (result.pid, result.monitor_pid) == (4242, 4243)
    ((spec, _env),) = recorder.launches
    argv = spec.argv()
    # conmon -s: conmon then runs `<runtime> --systemd-cgroup <runtime args> create ...`
    assert argv.count("--systemd-cgroup") == 1
    assert "--systemd-cgroup" not in spec.runtime_args  # so the runtime gets it once
    assert spec.runtime_args[:2] == ("--root", str(runtime.context.state_dir))
    assert _cgroups_path(request.bundle) == f"machine.slice:ocimux:{CID}"
    # the verbs ocimux runs itself carry it before the verb, as go-runc does
    for verb in ("start", "kill", "delete", "state", "pause", "update"):
        cmd = runtime.cli().argv(verb, CID)
        assert cmd[:2] == [f"/usr/sbin/{binary}", "--systemd-cgroup"], cmd


@pytest.mark.parametrize(("cls", "binary"), PLUGINS)
def test_cgroupfs_passes_no_systemd_flag_and_no_path(
    cls: type, binary: str, tmp_path: Path, recorder: Recorder
) -> None:
    runtime = _runtime(cls, tmp_path, "cgroupfs", binary)
    request = _request(runtime, tmp_path)
    runtime.create(request)
    ((spec, _env),) = recorder.launches
    assert "--systemd-cgroup" not in spec.argv()
    assert "--systemd-cgroup" not in runtime.cli().argv("kill", CID, "9")
    assert _cgroups_path(request.bundle) is None


def test_without_systemd_create_fails_before_conmon_and_leaves_the_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recorder: Recorder
) -> None:
    monkeypatch.setattr(cgroupmanager, "HOST_ROOT", _fake_root(tmp_path, systemd=False))
    runtime = _runtime(RuncRuntime, tmp_path, "systemd", "runc")
    request = _request(runtime, tmp_path)
    before = (request.bundle / "config.json").read_bytes()
    with pytest.raises(ConfigError, match="systemd is not running"):
        runtime.create(request)
    assert recorder.launches == []
    assert (request.bundle / "config.json").read_bytes() == before
    assert not runtime.context.state_dir.exists()  # nothing made for the runtime either


def test_no_cgroups_gets_nothing_of_systemd_as_in_podman(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recorder: Recorder
) -> None:
    monkeypatch.setattr(cgroupmanager, "HOST_ROOT", _fake_root(tmp_path, systemd=False))
    runtime = _runtime(CrunRuntime, tmp_path, "systemd", "crun")
    request = _request(runtime, tmp_path, no_cgroups=True)
    runtime.create(request)  # no host check: no cgroup to ask systemd for
    ((spec, _env),) = recorder.launches
    assert "--systemd-cgroup" not in spec.argv()
    assert spec.runtime_args[-1] == "--cgroup-manager=disabled"
    assert _cgroups_path(request.bundle) is None


def test_an_exec_session_passes_the_flag_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recorder: Recorder
) -> None:
    """conmon adds --systemd-cgroup for create and restore only, so exec's runtime args carry it."""
    monkeypatch.setattr(cgroupmanager, "HOST_ROOT", _fake_root(tmp_path, systemd=True))
    runtime = _runtime(RuncRuntime, tmp_path, "systemd", "runc")
    _request(runtime, tmp_path)
    io = runtime.layout.io(CID, "e1")
    runtime.exec(CID, "e1", ExecOptions(args=("true",)), io)
    ((spec, _env),) = recorder.launches
    assert spec.exec_spec is not None and not spec.systemd_cgroup
    assert spec.runtime_args[0] == "--systemd-cgroup"


def test_oci_cli_puts_the_flag_first_only_when_asked() -> None:
    cli = OciCli(path="/rt", root=Path("/r"), name="rt", flags=("--x",), systemd_cgroup=True)
    assert cli.global_args() == ["--systemd-cgroup", "--root", "/r", "--x"]
    assert OciCli(path="/rt", root=Path("/r"), name="rt").global_args() == ["--root", "/r"]


# --- the runc shim (shim v2) ----------------------------------------------------------------


def _shim(tmp_path: Path, manager: str) -> ShimV2Runtime:
    context = RuntimeContext(
        name="runc-shim",
        path="/usr/bin/containerd-shim-runc-v2",
        state_dir=tmp_path / "run/runtimes/runc-shim",
        containers_dir=tmp_path / "lib/containers",
        run_dir=tmp_path / "run",
        cgroup_manager=manager,
    )
    return ShimV2Runtime(context)


def test_runc_shim_options_carry_systemd_cgroup(tmp_path: Path) -> None:
    on = _shim(tmp_path, "systemd").create_options()
    off = _shim(tmp_path, "cgroupfs").create_options()
    assert on is not None and off is not None
    assert m.RUNC_OPTIONS.decode(on["value"]).get("systemd_cgroup") is True
    assert not m.RUNC_OPTIONS.decode(off["value"]).get("systemd_cgroup")


def test_runc_shim_refuses_before_any_shim_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cgroupmanager, "HOST_ROOT", _fake_root(tmp_path, systemd=False))
    runtime = _shim(tmp_path, "systemd")
    request = _request(runtime, tmp_path)
    with pytest.raises(ConfigError, match="create .* on runc-shim: .*systemd is not running"):
        runtime.create(request)  # the process guard fails the test if a shim was started
    assert _cgroups_path(request.bundle) is None
