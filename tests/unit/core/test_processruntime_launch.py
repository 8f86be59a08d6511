"""ProcessRuntime's pure parts: the Command a subclass returns, the Launch its monitor reads,
the pid a sandbox reports, and the states read from a monitor's files (no process started)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ocimux.interface.runtime import Runtime
from ocimux.interface.specview import CapabilitySets, ProcessUser, Rlimit
from ocimux.io._launch import Launch
from ocimux.io._procfs import MonitorState, container_state, exec_status, proc_stat
from ocimux.io.processmonitor import _parse_pid, _sleeps_reading
from ocimux.oci.processruntime import Command, ProcessRuntime


def test_a_command_needs_an_argv() -> None:
    with pytest.raises(ValueError, match="needs argv"):
        Command(())


@pytest.mark.parametrize(
    ("gate_fd", "pid_fd"), [(2, None), (None, 0), (3, 3), (64, None), (None, -1)]
)
def test_gate_and_pid_fds_are_distinct_and_above_stdio(
    gate_fd: int | None, pid_fd: int | None
) -> None:
    with pytest.raises(ValueError, match="distinct, from 3 to 63"):
        Command(("sandbox",), gate_fd=gate_fd, pid_fd=pid_fd)


def test_a_launch_survives_its_json_whole() -> None:
    command = Command(
        argv=("bwrap", "--", "sh", "-c", "echo 'a b'"),
        env=("PATH=/bin", "X=a=b"),
        cwd="/work",
        umask=0o022,
        rlimits=(Rlimit("RLIMIT_NOFILE", 100, 200),),
        no_new_privileges=True,
        capabilities=CapabilitySets(bounding=("CAP_KILL",), effective=("CAP_KILL",)),
        user=ProcessUser(1000, 1001, (5, 6)),
        enter=4242,
        gate_fd=3,
        pid_fd=4,
    )
    job = Launch(
        command, log="ctr.log", exit_file="/run/x/exit", stdin=True, terminal=True,
        size=(24, 80), log_size_max=1 << 20, exit_command=("ocimux", "cleanup"),
    )  # fmt: skip
    assert Launch.from_json(job.to_json()) == job
    plain = Launch(Command(("true",)), log="exec.log", exit_file="exit")
    assert Launch.from_json(plain.to_json()) == plain


def test_a_damaged_launch_is_refused() -> None:
    with pytest.raises((ValueError, KeyError)):
        Launch.from_json(b'{"command": {"argv": []}}')


@pytest.mark.parametrize(
    ("data", "pid"),
    [
        (b'{\n    "child-pid": 4242,\n    "mnt-namespace": 4026532174\n}\n', 4242),  # bwrap 0.8
        (b"17\n", 17),
        (b'{\n    "child-pid": 42', None),  # still being written
        (b"17", None),  # a number is complete only with its newline (or EOF)
        (b"0\n", None),
        (b"-5\n", None),
        (b'{"pid": 3}\n', None),
        (b"garbage\n", None),
        (b"\n", None),
    ],
)
def test_the_pid_a_sandbox_reports(data: bytes, pid: int | None) -> None:
    assert _parse_pid(data) == pid


def test_a_running_process_sleeps_reading_no_gate() -> None:
    # this process runs (its /proc syscall says "running"); a pid that is gone reads nothing
    assert not _sleeps_reading(os.getpid(), "0x3")
    assert not _sleeps_reading(2**22 + 1, "0x3")


def test_a_subclass_writes_only_command() -> None:
    assert ProcessRuntime.__abstractmethods__ == {"command"}
    for verb in ("create", "start", "kill", "delete", "state", "exec", "pause", "resume", "info"):
        assert getattr(ProcessRuntime, verb) is not getattr(Runtime, verb), verb


def _me() -> MonitorState:
    stat = proc_stat(os.getpid())
    assert stat is not None
    return MonitorState(os.getpid(), stat.starttime, os.getpid(), stat.starttime)


def test_states_from_the_monitors_files(tmp_path: Path) -> None:
    exit_file = tmp_path / "exit"
    state = container_state(tmp_path, "c1", exit_file)
    assert (state.status, state.pid) == ("unknown", 0) and "never created" in state.reason
    _me().save(tmp_path)  # a live monitor whose process is this one
    (tmp_path / "start").touch()
    assert container_state(tmp_path, "c1", exit_file).status == "created"
    (tmp_path / "start").unlink()
    assert container_state(tmp_path, "c1", exit_file).status == "running"
    exit_file.write_text("137")
    state = container_state(tmp_path, "c1", exit_file)
    assert (state.status, state.exit_code) == ("stopped", 137)


def test_a_dead_or_recycled_monitor_reads_unknown(tmp_path: Path) -> None:
    me = _me()
    MonitorState(me.monitor_pid, me.monitor_start + 1, me.pid, me.pid_start).save(tmp_path)
    state = container_state(tmp_path, "c1", tmp_path / "exit")
    assert state.status == "unknown"
    assert state.reason == f"its monitor (pid {os.getpid()}) died without recording an exit code"
    (tmp_path / "monitor.json").write_text("{not json")
    state = container_state(tmp_path, "c1", tmp_path / "exit")
    assert state.status == "unknown" and "monitor.json is corrupt" in state.reason


def test_exec_session_states(tmp_path: Path) -> None:
    exit_file = tmp_path / "exit"
    assert exec_status(tmp_path, exit_file) is None
    _me().save(tmp_path)
    (tmp_path / "start").touch()
    assert exec_status(tmp_path, exit_file).status == "created"  # type: ignore[union-attr]
    (tmp_path / "start").unlink()
    assert exec_status(tmp_path, exit_file).status == "running"  # type: ignore[union-attr]
    exit_file.write_text("4")
    done = exec_status(tmp_path, exit_file)
    assert done is not None and (done.status, done.exit_code) == ("stopped", 4)
