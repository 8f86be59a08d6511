"""The mock runtime's container lifecycle, with real host processes under the real monitor."""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
import textwrap
import time
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from ocimux.base.errors import (
    CapabilityError,
    InvalidArgumentError,
    RuntimeCommandError,
    RuntimeTimeoutError,
)
from ocimux.engine import stopping
from ocimux.interface.options import Resources
from ocimux.io._launch import Command, Launch
from ocimux.io._procfs import MonitorState, pids_in_groups, proc_stat
from ocimux.oci._monitorctl import MONITOR_MODULE, launch
from ocimux.plugins.mock import MockRuntime

if TYPE_CHECKING:
    from conftest import Harness


def _monitors_for(directory: Path) -> list[int]:
    """Live monitor processes serving `directory` (their working directory)."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                cmdline = Path(f"/proc/{entry.name}/cmdline").read_bytes().split(b"\0")
                cwd = os.readlink(f"/proc/{entry.name}/cwd")
            except OSError:
                continue
            if MONITOR_MODULE.encode() in cmdline and cwd == str(directory):
                st = proc_stat(int(entry.name))
                if st is not None and st.state != "Z":
                    found.append(int(entry.name))
    return found


def test_entry_point_and_capabilities() -> None:
    (ep,) = [ep for ep in entry_points(group="ocimux.runtimes") if ep.name == "mock"]
    assert ep.load() is MockRuntime
    caps = MockRuntime.capabilities
    assert caps.pause and caps.exec and caps.no_cgroups
    assert (
        not caps.isolation
        and caps.isolation.reason == "processes run on the host without namespaces"
    )
    assert not caps.checkpoint and not caps.update_resources
    assert caps.terminal and caps.terminal.reason == (
        "pseudo-terminals from its monitor, resized through the ctl FIFO"
    )
    assert MockRuntime.binary is None


def test_create_start_exit_code(mock: Harness) -> None:
    rt = mock.runtime
    result = mock.create("c1", ["sh", "-c", "read x < /dev/null; sleep 0.3; exit 3"])
    directory = mock.containers / "c1"
    state = rt.state("c1")
    assert (state.status, state.pid) == ("created", result.pid)
    assert result.monitor_pid and result.monitor_pid != result.pid
    assert mock.monitor_live("c1")
    for name in ("monitor.json", "ctr.log", "attach", "start"):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600, name
    assert stat.S_ISFIFO((directory / "start").stat().st_mode)
    assert stat.S_ISSOCK((directory / "attach").stat().st_mode)

    rt.start("c1")
    assert rt.state("c1").status == "running"
    assert not (directory / "start").exists()
    state = mock.wait_state("c1", "stopped")
    assert state.exit_code == 3
    exit_file = rt.layout.exit_file("c1")
    assert exit_file.read_text() == "3"
    assert stat.S_IMODE(exit_file.stat().st_mode) == 0o600
    mock.wait_for(lambda: not mock.monitor_live("c1"))
    assert not (directory / "attach").exists()


def test_state_of_unknown_container(mock: Harness) -> None:
    state = mock.runtime.state("never")
    assert state.status == "unknown"
    assert "never created" in state.reason
    assert (state.pid, state.exit_code) == (0, None)


def test_start_requires_created(mock: Harness) -> None:
    mock.run("c1", ["sleep", "30"])
    with pytest.raises(RuntimeCommandError, match="container is running") as info:
        mock.runtime.start("c1")
    assert (info.value.verb, info.value.container, info.value.runtime) == ("start", "c1", "mock")
    with pytest.raises(RuntimeCommandError, match="never created"):
        mock.runtime.start("ghost")


@pytest.mark.parametrize(
    ("started", "sig", "code"),
    [
        (True, signal.SIGTERM, 143),
        (True, signal.SIGKILL, 137),
        (False, signal.SIGTERM, 143),
        (False, signal.SIGKILL, 137),
    ],
)
def test_kill(mock: Harness, started: bool, sig: int, code: int) -> None:
    mock.create("c1", ["sleep", "30"])
    if started:
        mock.runtime.start("c1")
    mock.runtime.kill("c1", sig)
    assert mock.wait_state("c1", "stopped").exit_code == code


def test_kill_stopped_container_fails(mock: Harness) -> None:
    mock.run("c1", ["true"])
    mock.wait_state("c1", "stopped")
    with pytest.raises(RuntimeCommandError, match="container is not running") as info:
        mock.runtime.kill("c1", signal.SIGTERM)
    assert info.value.verb == "kill"


def test_kill_all_reaches_the_whole_group(mock: Harness) -> None:
    mock.run("c1", ["sh", "-c", "trap '' TERM; sleep 30 & sleep 30; :"])
    mock.wait_for(lambda: len(mock.processes("c1")) == 3)
    pids = mock.processes("c1")
    mock.runtime.kill("c1", signal.SIGUSR1, all_procs=True)  # sh ignores only TERM
    assert mock.wait_state("c1", "stopped").exit_code == 128 + signal.SIGUSR1
    mock.wait_for(lambda: not any(mock.alive(p) for p in pids))


def test_exit_of_init_kills_the_rest_of_its_group(mock: Harness) -> None:
    mock.run("c1", ["sh", "-c", "sleep 30 & sleep 30; :"])
    mock.wait_for(lambda: len(mock.processes("c1")) == 3)
    pids = mock.processes("c1")
    state = mock.runtime.state("c1")
    assert state.pid in pids
    mock.runtime.kill("c1", signal.SIGKILL)  # init only
    assert mock.wait_state("c1", "stopped").exit_code == 137
    assert mock.processes("c1") == []
    mock.wait_for(lambda: not any(mock.alive(p) for p in pids))


def test_stop_escalates_to_sigkill(mock: Harness) -> None:
    mock.run("c1", ["sh", "-c", "trap '' TERM; sleep 30; :"])
    mock.wait_for(lambda: len(mock.processes("c1")) == 2)
    started = time.monotonic()
    stopping.stop(mock.runtime, "c1", 0.5)
    elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 0.5 + 3.0
    assert mock.runtime.state("c1").exit_code == 137


def test_stop_with_cooperative_process(mock: Harness) -> None:
    mock.run("c1", ["sleep", "30"])
    started = time.monotonic()
    stopping.stop(mock.runtime, "c1", 10)
    assert time.monotonic() - started < 3.0
    assert mock.runtime.state("c1").exit_code == 143
    stopping.stop(mock.runtime, "c1", 1)  # already stopped: nothing to do, no error
    assert mock.runtime.state("c1").exit_code == 143


def test_pause_unpause(mock: Harness) -> None:
    rt = mock.runtime
    mock.run("c1", ["sh", "-c", "sleep 30 & sleep 30; :"])
    mock.wait_for(lambda: len(mock.processes("c1")) == 3)
    pids = mock.processes("c1")
    rt.pause("c1")
    assert rt.state("c1").status == "paused"
    assert mock.processes("c1") == pids
    mock.wait_for(lambda: all(proc_stat(p).state == "T" for p in pids))
    with pytest.raises(RuntimeCommandError, match="container is paused"):
        rt.pause("c1")
    rt.resume("c1")
    assert rt.state("c1").status == "running"
    assert all(proc_stat(p).state != "T" for p in pids)
    with pytest.raises(RuntimeCommandError, match="container is running"):
        rt.resume("c1")


def test_update_is_refused_for_lack_of_capability(mock: Harness) -> None:
    mock.run("c1", ["sleep", "30"])
    with pytest.raises(CapabilityError, match="no cgroups") as info:
        mock.runtime.update("c1", Resources(memory=1 << 20))
    assert info.value.capability == "update_resources"


def test_delete_running_container(mock: Harness) -> None:
    rt = mock.runtime
    result = mock.run("c1", ["sh", "-c", "sleep 30 & sleep 30; :"])
    mock.wait_for(lambda: len(mock.processes("c1")) == 3)
    pids = mock.processes("c1")
    rt.delete("c1")
    assert not any(mock.alive(p) for p in [*pids, result.monitor_pid or 0])
    directory = mock.containers / "c1"
    assert sorted(os.listdir(directory)) == ["config.json", "ctr.log", "exit"]
    assert rt.state("c1").exit_code == 137
    assert not mock.monitor_live("c1")


def test_delete_created_container(mock: Harness) -> None:
    result = mock.create("c1", ["sleep", "30"])
    mock.runtime.delete("c1")
    assert not mock.alive(result.pid) and not mock.alive(result.monitor_pid or 0)
    assert not (mock.containers / "c1" / "start").exists()
    assert not (mock.containers / "c1" / "monitor.json").exists()


def test_delete_unknown_container_is_not_an_error(mock: Harness) -> None:
    mock.runtime.delete("ghost")
    assert mock.runtime.state("ghost").status == "unknown"


def test_monitor_death_makes_state_unknown(mock: Harness) -> None:
    """A dead monitor shows as state "unknown" with the reason (v1: no check_conmon_running)."""
    rt = mock.runtime
    result = mock.run("c1", ["sleep", "30"])
    assert rt.state("c1").status == "running"
    os.kill(result.monitor_pid or 0, signal.SIGKILL)
    mock.wait_for(lambda: rt.state("c1").status == "unknown")
    state = rt.state("c1")
    assert state.reason == (
        f"its monitor (pid {result.monitor_pid}) died without recording an exit code"
    )
    assert mock.alive(result.pid)  # the container outlives its monitor, as with conmon
    rt.delete("c1")
    assert not mock.alive(result.pid)


def test_state_guards_against_monitor_pid_reuse(mock: Harness) -> None:
    directory = mock.bundle("c1", ["true"])
    me = proc_stat(os.getpid())
    assert me is not None
    MonitorState(os.getpid(), me.starttime + 1).save(directory)  # our pid, another start time
    state = mock.runtime.state("c1")
    assert state.status == "unknown"
    assert state.reason == (f"its monitor (pid {os.getpid()}) died without recording an exit code")
    MonitorState(os.getpid(), me.starttime).save(directory)  # a live monitor, no process yet
    assert mock.runtime.state("c1").status == "creating"
    (directory / "monitor.json").unlink()


def test_container_survives_the_creating_process(mock: Harness) -> None:
    import subprocess

    mock.bundle("c1", ["sh", "-c", "echo survived; exit 7"])
    script = textwrap.dedent(
        f"""
        import json, pathlib
        from ocimux.interface.options import CreateRequest
        from ocimux.plugins.mock import MockRuntime
        from ocimux.interface.runtime import RuntimeContext
        ctx = RuntimeContext(name="mock", path=None, state_dir=pathlib.Path({str(mock.tmp)!r}),
                             containers_dir=pathlib.Path({str(mock.containers)!r}))
        bundle = ctx.containers_dir / "c1"
        request = CreateRequest(cid="c1", name="c1", bundle=bundle, io=ctx.layout.io("c1"))
        r = MockRuntime(ctx).create(request)
        print(json.dumps([r.pid, r.monitor_pid]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, timeout=30, check=True
    )
    pid, monitor = json.loads(done.stdout)
    mock.remember(pid, monitor)
    assert mock.runtime.state("c1").status == "created"
    assert mock.monitor_live("c1")
    mock.runtime.start("c1")
    assert mock.wait_state("c1", "stopped").exit_code == 7
    assert b"stdout F survived" in (mock.containers / "c1" / "ctr.log").read_bytes()


def test_missing_rootfs_fails_create_and_leaves_nothing(mock: Harness) -> None:
    bundle = mock.bundle("c1", ["true"], rootfs=mock.tmp / "nope")
    with pytest.raises(RuntimeCommandError, match="rootfs .*nope does not exist") as info:
        mock.runtime.create(mock.request("c1", bundle))
    assert (info.value.verb, info.value.container, info.value.runtime) == ("create", "c1", "mock")
    assert os.listdir(bundle) == ["config.json"]
    assert _monitors_for(bundle) == []


def test_a_monitor_that_never_reports_is_killed(mock: Harness) -> None:
    directory = mock.bundle("c1", ["true"])
    os.mkfifo(directory / "stuck.log")  # the monitor blocks opening its log: it never reports
    job = Launch(Command(("true",)), log="stuck.log", exit_file=str(directory / "exit"))
    context = {"container": "c1", "runtime": "mock", "verb": "create"}
    started = time.monotonic()
    with pytest.raises(RuntimeTimeoutError, match="hung for 0.5s") as info:
        launch(directory, job, context=context, timeout=0.5)
    assert time.monotonic() - started < 0.5 + 3.0
    assert info.value.argv is not None and MONITOR_MODULE in info.value.argv
    assert (info.value.container, info.value.verb) == ("c1", "create")
    assert os.listdir(directory) == ["config.json"]  # its (empty) log goes with the rest
    assert _monitors_for(directory) == []


def test_invalid_spec_fails_create(mock: Harness) -> None:
    bundle = mock.bundle("c1", [])
    with pytest.raises(InvalidArgumentError, match=r"process\.args"):
        mock.runtime.create(mock.request("c1", bundle))
    assert os.listdir(bundle) == ["config.json"]


def test_command_not_found_exits_127(mock: Harness) -> None:
    mock.run("c1", ["no-such-command-xyz"])
    assert mock.wait_state("c1", "stopped").exit_code == 127
    log = (mock.containers / "c1" / "ctr.log").read_text()
    assert 'stderr F ocimux: exec: "no-such-command-xyz": executable file not found in $PATH' in log


def test_command_not_executable_exits_126(mock: Harness) -> None:
    script = mock.rootfs / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    mock.run("c1", [str(script)])
    assert mock.wait_state("c1", "stopped").exit_code == 126
    assert "permission denied" in (mock.containers / "c1" / "ctr.log").read_text()


def test_env_is_exact_and_cwd_resolves_in_rootfs(mock: Harness) -> None:
    (mock.rootfs / "work").mkdir()
    mock.run("c1", ["env"], env=[*mock.ENV, "FOO=bar"], cwd="/work")
    mock.run("c2", ["pwd"], cwd="/missing")
    mock.run("c3", ["pwd"], cwd="/work")
    for cid in ("c1", "c2", "c3"):
        assert mock.wait_state(cid, "stopped").exit_code == 0

    def out(cid: str) -> list[str]:
        lines = (mock.containers / cid / "ctr.log").read_text().splitlines()
        return [line.split(" ", 3)[3] for line in lines]

    assert sorted(out("c1")) == ["FOO=bar", "PATH=/usr/bin:/bin"]
    assert out("c2") == [str(mock.rootfs)]
    assert out("c3") == [str(mock.rootfs / "work")]


def test_runtime_info(mock: Harness) -> None:
    info = mock.runtime.info()
    assert (info.name, info.path, info.monitor) == ("mock", None, "ocimux process monitor (mock)")
    assert info.version


def test_a_stopped_container_leaves_no_process(mock: Harness) -> None:
    result = mock.run("c1", ["sh", "-c", "sleep 30 & exit 0"])
    state = mock.wait_state("c1", "stopped")
    assert (state.pid, state.exit_code) == (0, 0)
    mock.wait_for(lambda: not mock.alive(result.pid))
    assert pids_in_groups([result.pid]) == []  # the background sleep died with init
    assert mock.processes("c1") == []
