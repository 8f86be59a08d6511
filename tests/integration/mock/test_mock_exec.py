"""Exec in the mock runtime: every session runs under a monitor of its own; attached ones are
relayed through its attach socket (conmon's `--exec-attach`), detached ones write only their log.

Sessions are run as the engine runs them (`Harness.exec`: exec, connect, start, relay;
`Harness.exec_detached`: exec, start) and stopped with the engine's `stopping.stop_exec`."""

from __future__ import annotations

import io
import os
import signal
import stat
import time
from typing import TYPE_CHECKING

import pytest
from ocimux.base.errors import CommandNotFoundError, CommandNotInvocableError, RuntimeCommandError
from ocimux.engine import stopping
from ocimux.interface.options import ExecOptions, StdStreams
from ocimux.io._procfs import MonitorState, is_live, pids_in_groups, proc_stat

if TYPE_CHECKING:
    from conftest import Harness


def streams(stdin: bytes | None = None) -> StdStreams:
    return StdStreams(io.BytesIO(), io.BytesIO(), io.BytesIO(stdin) if stdin is not None else None)


def output(s: StdStreams) -> tuple[bytes, bytes]:
    return s.stdout.getvalue(), s.stderr.getvalue()  # type: ignore[attr-defined]


@pytest.fixture
def running(mock: Harness) -> Harness:
    (mock.rootfs / "work").mkdir()
    # outlives any test (a loaded host runs 100 execs in over 30 s); teardown kills it
    mock.run("c1", ["sleep", "3600"], env=[*mock.ENV, "FOO=1"])
    return mock


def test_exec_attached_separates_streams_and_returns_the_exit_code(running: Harness) -> None:
    s = streams()
    args = ("sh", "-c", "echo out; echo err >&2; exit 5")
    assert running.exec("c1", "e1", ExecOptions(args=args), s) == 5
    assert output(s) == (b"out\n", b"err\n")


def test_exec_attached_reads_both_pipes_together(running: Harness) -> None:
    # 200 kB on each pipe: reading one pipe to its end first would deadlock.
    script = "head -c 200000 /dev/zero >&2; head -c 200000 /dev/zero; echo end >&2"
    s = streams()
    assert running.exec("c1", "e1", ExecOptions(args=("sh", "-c", script)), s) == 0
    out, err = output(s)
    assert (len(out), len(err)) == (200000, 200004)


def test_exec_attached_env_cwd_and_stdin(running: Harness) -> None:
    s = streams(b"from-stdin")
    options = ExecOptions(
        args=("sh", "-c", 'echo "$FOO:$BAR:$(pwd)"; cat'), env=("BAR=2",), cwd="/work", stdin=True
    )
    assert running.exec("c1", "e1", options, s) == 0
    assert output(s) == (f"1:2:{running.rootfs / 'work'}\nfrom-stdin".encode(), b"")


def test_exec_env_is_exactly_the_containers_plus_the_execs(
    running: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OCIMUX_LEAK_CHECK", "leaked")  # ocimux's own env must not leak in
    s = streams()
    options = ExecOptions(args=("env",), env=("BAR=2", "FOO=override"))
    assert running.exec("c1", "e1", options, s) == 0
    assert sorted(s.stdout.getvalue().split()) == [  # type: ignore[attr-defined]
        b"BAR=2",
        b"FOO=override",
        b"PATH=/usr/bin:/bin",
    ]


def test_exec_attached_leaves_its_session_files_and_no_monitor(running: Harness) -> None:
    rt = running.runtime
    assert running.exec("c1", "e1", ExecOptions(args=("sh", "-c", "echo hi")), streams()) == 0
    session = rt.layout.exec_dir("c1", "e1")
    monitor = MonitorState.load(session)
    assert monitor is not None and monitor.pid > 0
    running.wait_for(lambda: not monitor.monitor_live(), timeout=5)  # it leaves by itself
    assert rt.layout.exit_file("c1", "e1").read_text() == "0"
    assert rt.state("c1", "e1").pid == monitor.pid
    assert b"stdout F hi" in (session / "exec.log").read_bytes()
    for name in ("attach", "ctl", "start"):  # the monitor removed its socket and FIFOs
        assert not (session / name).exists(), name


def test_exec_attached_killed_by_a_signal(running: Harness) -> None:
    s = streams()
    assert running.exec("c1", "e1", ExecOptions(args=("sh", "-c", "kill -9 $$")), s) == 137


def test_exec_command_not_found(running: Harness) -> None:
    with pytest.raises(CommandNotFoundError, match="no-such-command-xyz") as info:
        running.exec("c1", "e1", ExecOptions(args=("no-such-command-xyz",)), streams())
    err = info.value
    assert (err.exit_code, err.container, err.runtime, err.verb) == (127, "c1", "mock", "exec")


def test_exec_command_not_executable(running: Harness) -> None:
    script = running.rootfs / "script.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o644)
    with pytest.raises(CommandNotInvocableError, match="ermission denied") as info:
        running.exec("c1", "e1", ExecOptions(args=(str(script),)), streams())
    assert (info.value.exit_code, info.value.container) == (126, "c1")


def test_exec_command_not_found_starts_nothing(running: Harness) -> None:
    with pytest.raises(CommandNotFoundError, match="no such file or directory"):
        running.exec("c1", "e1", ExecOptions(args=("/no/such/binary",)), streams())
    session = running.runtime.layout.exec_dir("c1", "e1")
    assert sorted(p.name for p in session.iterdir()) == ["config.json"]  # its spec, no monitor


def test_exec_command_resolves_through_the_execs_path(running: Harness) -> None:
    tool = running.rootfs / "tools" / "hello"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\necho hello-tool\n")
    tool.chmod(0o755)
    s = streams()
    options = ExecOptions(args=("hello",), env=(f"PATH={tool.parent}:/usr/bin:/bin",))
    assert running.exec("c1", "e1", options, s) == 0
    assert output(s) == (b"hello-tool\n", b"")
    with pytest.raises(CommandNotFoundError, match=r"executable file not found in \$PATH"):
        running.exec("c1", "e2", ExecOptions(args=("hello",)), streams())


def test_exec_detach_keys_leave_the_session_running(running: Harness) -> None:
    rt = running.runtime
    r, w = os.pipe()
    os.write(w, b"hello\n\x10\x11")
    s = StdStreams(io.BytesIO(), io.BytesIO(), os.fdopen(r, "rb", buffering=0))
    options = ExecOptions(args=("cat",), terminal=True, stdin=True, detach_keys=b"\x10\x11")
    try:
        assert running.exec("c1", "e1", options, s) is None
    finally:
        s.stdin.close()  # type: ignore[union-attr]
        os.close(w)
    status = rt.state("c1", "e1")
    assert status.status == "running" and status.pid
    assert status.pid in running.processes("c1")
    log = rt.layout.log("c1", "e1")
    running.wait_for(lambda: log.read_bytes().count(b"hello") == 2)  # the echo, then cat
    stopping.stop_exec(rt, "c1", "e1", 5)
    status = rt.state("c1", "e1")
    assert (status.status, status.exit_code) == ("stopped", 143)
    assert rt.state("c1").status == "running"


def test_exec_detach_from_a_pipe_closes_its_stdin(running: Harness) -> None:
    """As with conmon: without a terminal, a leaving client closes the process's stdin."""
    rt = running.runtime
    r, w = os.pipe()
    os.write(w, b"\x10\x11")
    s = StdStreams(io.BytesIO(), io.BytesIO(), os.fdopen(r, "rb", buffering=0))
    args = ("sh", "-c", "cat; echo stdin-closed; sleep 30")
    options = ExecOptions(args=args, stdin=True, detach_keys=b"\x10\x11")
    try:
        assert running.exec("c1", "e1", options, s) is None
    finally:
        s.stdin.close()  # type: ignore[union-attr]
        os.close(w)
    log = rt.layout.log("c1", "e1")
    running.wait_for(lambda: b"stdin-closed" in log.read_bytes())
    assert rt.state("c1", "e1").status == "running"
    stopping.stop_exec(rt, "c1", "e1", 5)
    assert rt.state("c1", "e1").exit_code == 143


def test_an_interrupted_attached_exec_is_killed_by_delete(running: Harness) -> None:
    """The engine deletes a session whose relay failed: delete(cid, exec_id) kills it."""

    class Broken(io.BytesIO):
        def write(self, data: bytes) -> int:  # type: ignore[override]
            raise BrokenPipeError("stdout went away")

    rt = running.runtime
    s = StdStreams(Broken(), io.BytesIO())
    with pytest.raises(BrokenPipeError):
        running.exec("c1", "e1", ExecOptions(args=("sh", "-c", "echo x; sleep 30")), s)
    status = rt.state("c1", "e1")
    assert status.status == "running" and status.pid  # the client went; the process did not
    rt.delete("c1", "e1")
    assert not running.alive(status.pid)
    status = rt.state("c1", "e1")
    assert (status.status, status.exit_code) == ("stopped", 137)
    assert rt.state("c1").status == "running"


def test_a_hundred_attached_execs_leave_no_monitor_behind(running: Harness) -> None:
    rt = running.runtime
    monitors: list[MonitorState] = []
    for i in range(100):
        assert running.exec("c1", f"e{i}", ExecOptions(args=("true",)), streams()) == 0
        monitor = MonitorState.load(rt.layout.exec_dir("c1", f"e{i}"))
        assert monitor is not None
        monitors.append(monitor)
    # each monitor leaves by itself once it has written the exit code (the last may still be)
    live = lambda: [m for m in monitors if is_live(m.monitor_pid, m.monitor_start)]  # noqa: E731
    running.wait_for(lambda: not live(), 5)
    assert not pids_in_groups(m.pid for m in monitors)
    init = rt.state("c1").pid
    assert running.processes("c1") == [init]


def test_exec_needs_a_running_container(mock: Harness) -> None:
    mock.run("c1", ["true"])
    mock.wait_state("c1", "stopped")
    with pytest.raises(RuntimeCommandError, match="container is stopped"):
        mock.exec("c1", "e1", ExecOptions(args=("true",)), streams())
    with pytest.raises(RuntimeCommandError, match="container is stopped"):
        mock.exec_detached("c1", "e1", ExecOptions(args=("true",)))
    assert not mock.runtime.layout.exec_dir("c1", "e1").exists()


def wait_exec_done(mock: Harness, session: str, timeout: float = 10.0) -> int | None:
    state = mock.exec_state("c1", session, timeout)
    assert state.status == "stopped", state
    return state.exit_code


def test_exec_detached_records_exit_code_and_output(running: Harness) -> None:
    rt = running.runtime
    script = "echo detached-out; while [ ! -e go ]; do sleep 0.01; done; exit 4"
    pid = running.exec_detached("c1", "e1", ExecOptions(args=("sh", "-c", script)))
    status = rt.state("c1", "e1")
    assert (status.status, status.pid, status.exit_code) == ("running", pid, None)
    (running.rootfs / "go").touch()
    assert wait_exec_done(running, "e1") == 4
    session = rt.layout.exec_dir("c1", "e1")
    exit_file = rt.layout.exit_file("c1", "e1")
    assert exit_file.read_text() == "4"
    assert stat.S_IMODE(session.stat().st_mode) == stat.S_IMODE(session.parent.stat().st_mode)
    assert stat.S_IMODE(session.stat().st_mode) == 0o700
    for path in (
        exit_file,
        *(session / n for n in ("exec.log", "config.json", "monitor.json")),
    ):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert b"stdout F detached-out" in rt.layout.log("c1", "e1").read_bytes()
    assert rt.state("c1").status == "running"


def test_stop_exec_stops_a_detached_exec(running: Harness) -> None:
    rt = running.runtime
    pid = running.exec_detached("c1", "e1", ExecOptions(args=("sleep", "30")))
    assert pid in running.processes("c1")
    stopping.stop_exec(rt, "c1", "e1", 2)
    status = rt.state("c1", "e1")
    assert (status.status, status.exit_code) == ("stopped", 143)
    assert rt.state("c1").status == "running"


def test_stop_exec_escalates_to_sigkill(running: Harness) -> None:
    rt = running.runtime
    args = ("sh", "-c", "trap '' TERM; echo ready; sleep 30; :")
    running.exec_detached("c1", "e1", ExecOptions(args=args))
    log = rt.layout.log("c1", "e1")
    running.wait_for(lambda: b"ready" in log.read_bytes())
    started = time.monotonic()
    stopping.stop_exec(rt, "c1", "e1", 0.5)
    assert 0.5 <= time.monotonic() - started < 3.5
    assert rt.state("c1", "e1").exit_code == 137


def test_kill_reaches_the_exec_process_alone(running: Harness) -> None:
    rt = running.runtime
    running.exec_detached("c1", "e1", ExecOptions(args=("sleep", "30")))
    rt.kill("c1", signal.SIGUSR1, exec_id="e1")
    assert wait_exec_done(running, "e1") == 128 + signal.SIGUSR1
    assert rt.state("c1").status == "running"
    rt.kill("c1", signal.SIGTERM, exec_id="e1")  # it has exited: no error


def test_exec_detached_command_not_found(running: Harness) -> None:
    with pytest.raises(CommandNotFoundError, match="no-such-command-xyz") as info:
        running.exec_detached("c1", "e1", ExecOptions(args=("no-such-command-xyz",)))
    assert (info.value.container, info.value.runtime, info.value.verb) == ("c1", "mock", "exec")
    session = running.runtime.layout.exec_dir("c1", "e1")
    assert sorted(p.name for p in session.iterdir()) == ["config.json"]  # its spec, no monitor


def test_exec_session_unknown(running: Harness) -> None:
    state = running.runtime.state("c1", "nope")
    assert (state.status, state.pid, state.exit_code) == ("unknown", 0, None)
    assert state.reason == "no exec session nope"
    running.runtime.delete("c1", "nope")  # deleting what the runtime does not know: no error


def test_pause_and_delete_reach_detached_execs(running: Harness) -> None:
    rt = running.runtime
    pid = running.exec_detached("c1", "e1", ExecOptions(args=("sleep", "30")))
    monitor = MonitorState.load(rt.layout.exec_dir("c1", "e1"))
    assert monitor is not None
    rt.pause("c1")
    running.wait_for(lambda: proc_stat(pid).state == "T")
    rt.resume("c1")
    running.wait_for(lambda: proc_stat(pid).state != "T")
    rt.kill("c1", signal.SIGKILL, all_procs=True)
    assert running.wait_state("c1", "stopped").exit_code == 137
    assert wait_exec_done(running, "e1") == 137
    rt.delete("c1")
    assert not running.alive(pid) and not running.alive(monitor.monitor_pid)
    assert not (rt.layout.exec_dir("c1", "e1") / "monitor.json").exists()


def test_exec_session_id_reuse(running: Harness) -> None:
    rt = running.runtime
    running.exec_detached("c1", "e1", ExecOptions(args=("sleep", "30")))
    with pytest.raises(RuntimeCommandError, match="exec session e1 is already running"):
        running.exec_detached("c1", "e1", ExecOptions(args=("true",)))
    stopping.stop_exec(rt, "c1", "e1", 5)
    assert rt.state("c1", "e1").exit_code == 143
    running.exec_detached("c1", "e1", ExecOptions(args=("sh", "-c", "exit 9")))
    assert wait_exec_done(running, "e1") == 9
