"""ProcessRuntime on its own: a tiny subclass whose "sandbox" is a Python script on the host.

The script speaks the self-gating protocol bwrap speaks (`Command.gate_fd`, `Command.pid_fd`):
it forks, its child reports its pid on fd 4, waits reading fd 3 (the start gate), then execs
the container's command; the parent waits and passes the exit status on, forwarding no signal.
So these tests see that create returns only once the sandbox waits at its gate, that the
reported process (not the one the monitor started) is the one signalled and reported, that
setup errors are create's errors, and that exec enters the container's process's root with the
spec's capabilities. The mock's tests cover the rest of ProcessRuntime (monitor-held gate).
"""

from __future__ import annotations

import ctypes
import dataclasses
import io
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ocimux import Capabilities, Capability
from ocimux.base.errors import RuntimeCommandError, RuntimeTimeoutError
from ocimux.engine.execs import _run_attached
from ocimux.interface.options import CreateRequest, ExecOptions, StdStreams
from ocimux.interface.runtime import RuntimeContext
from ocimux.interface.specview import SpecView
from ocimux.io._procfs import STATE_FILE, MonitorState, load_state, proc_stat
from ocimux.oci._monitorctl import terminate
from ocimux.oci.processruntime import Command, ProcessRuntime

SANDBOX = """
import os, sys
setup = os.environ.get("SANDBOX_SETUP", "")
if setup == "fail":
    sys.stderr.write("sandbox: cannot mount /data: no such directory\\n")
    sys.exit(1)
pid = os.fork()
if pid:
    os.close(3); os.close(4)
    status = os.waitpid(pid, 0)[1]
    sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
os.write(4, b"%d\\n" % os.getpid()); os.close(4)
if setup == "hang":
    import time; time.sleep(60)
os.read(3, 1); os.close(3)
os.execvp(sys.argv[1], sys.argv[1:])
"""


class HostSandbox(ProcessRuntime):
    api_version = 1
    binary = None
    capabilities = Capabilities(
        exec=Capability(True, "declared", "enters the process's root (the host's here)"),
        terminal=Capability(True, "declared", "a pty from the monitor"),
        pause=Capability(True, "declared", "SIGSTOP"),
    )

    def command(self, spec: SpecView) -> Command:
        argv = (os.environ.get("SANDBOX_BINARY", sys.executable), "-c", SANDBOX, *spec.args)
        env = (*spec.env, f"SANDBOX_SETUP={os.environ.get('SANDBOX_SETUP', '')}")
        return Command(argv, env, cwd=str(spec.root_path), gate_fd=3, pid_fd=4)


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[HostSandbox]:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: the monitors are reaped here
    context = RuntimeContext(
        name="host-sandbox",
        path=None,
        state_dir=tmp_path / "state",
        containers_dir=tmp_path / "containers",
        command_timeout=5.0,
    )
    try:
        yield HostSandbox(context)
    finally:
        for state in (tmp_path / "containers").rglob(STATE_FILE):
            assert terminate(state.parent, 5.0)
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG) == (0, 0):
                    break
            except ChildProcessError:
                break
        libc.prctl(36, 0, 0, 0, 0)


def create(rt: HostSandbox, cid: str, args: list[str], **kw: object) -> tuple[int, int]:
    bundle = rt.context.containers_dir / cid
    bundle.mkdir(parents=True)
    (bundle / "rootfs").mkdir()
    process = {"args": args, "env": ["PATH=/usr/bin:/bin"], "cwd": "/", "terminal": False}
    process.update(kw)
    doc = {"ociVersion": "1.0.2", "process": process, "root": {"path": "rootfs"}}
    (bundle / "config.json").write_text(json.dumps(doc))
    io = rt.layout.io(cid, terminal=bool(kw.get("terminal")))
    result = rt.create(CreateRequest(cid=cid, name=cid, bundle=bundle, io=io))
    assert result.monitor_pid
    return result.pid, result.monitor_pid


def wait_stopped(rt: HostSandbox, cid: str) -> int | None:
    deadline = time.monotonic() + 10
    while (state := rt.state(cid)).status != "stopped":
        assert time.monotonic() < deadline, state
        time.sleep(0.01)
    return state.exit_code


def test_create_returns_once_the_sandbox_waits_at_its_gate(runtime: HostSandbox) -> None:
    pid, monitor = create(runtime, "c1", ["sh", "-c", "exit 7"])
    state = load_state(runtime.container_dir("c1"))
    assert state is not None and state.pid == pid and state.child not in (0, pid)
    stat = proc_stat(pid)
    assert stat is not None and stat.state == "S"  # asleep in read(3): the gate
    assert Path(f"/proc/{pid}/syscall").read_text().split()[1] == "0x3"
    assert (runtime.state("c1").status, runtime.state("c1").pid) == ("created", pid)
    runtime.start("c1")
    assert wait_stopped(runtime, "c1") == 7  # the started process's status, passed on


def test_the_reported_process_is_the_one_signalled(runtime: HostSandbox) -> None:
    pid, _ = create(
        runtime, "c1", ["sh", "-c", "trap 'exit 42' TERM; while :; do sleep 0.05; done"]
    )
    runtime.start("c1")
    time.sleep(0.3)  # the trap is set
    child = load_state(runtime.container_dir("c1")).child  # type: ignore[union-attr]
    runtime.kill("c1", signal.SIGTERM)
    assert wait_stopped(runtime, "c1") == 42
    assert proc_stat(child) is None or proc_stat(child).dead  # type: ignore[union-attr]
    assert runtime.processes("c1") == []


def test_a_setup_error_is_creates_error_and_leaves_nothing(
    runtime: HostSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANDBOX_SETUP", "fail")
    with pytest.raises(RuntimeCommandError) as info:
        create(runtime, "c1", ["true"])
    assert info.value.detail == "sandbox: cannot mount /data: no such directory"
    assert (info.value.container, info.value.verb) == ("c1", "create")
    assert sorted(os.listdir(runtime.container_dir("c1"))) == ["config.json", "rootfs"]


def test_a_missing_sandbox_binary_is_named(
    runtime: HostSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANDBOX_BINARY", "/nonexistent/sandbox")
    with pytest.raises(
        RuntimeCommandError, match=r'exec: "/nonexistent/sandbox": stat /nonexistent'
    ):
        create(runtime, "c1", ["true"])
    assert sorted(os.listdir(runtime.container_dir("c1"))) == ["config.json", "rootfs"]


def test_a_sandbox_that_never_reaches_its_gate_times_out(
    runtime: HostSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANDBOX_SETUP", "hang")
    runtime.context = dataclasses.replace(runtime.context, command_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(RuntimeTimeoutError):
        create(runtime, "c1", ["true"])
    assert time.monotonic() - started < 1.0 + 6.0
    assert sorted(os.listdir(runtime.container_dir("c1"))) == ["config.json", "rootfs"]
    assert sandboxes() == []  # the monitor recorded its child at once: it was killed


def sandboxes() -> list[int]:
    """Live processes running this file's sandbox script."""
    found = []
    for entry in os.scandir("/proc"):
        try:
            cmdline = Path(entry.path, "cmdline").read_bytes()
        except OSError:
            continue
        stat = proc_stat(int(entry.name)) if entry.name.isdigit() else None
        if b"SANDBOX_SETUP" in cmdline and stat is not None and not stat.dead:
            found.append(int(entry.name))
    return found


def test_a_resize_before_start_reaches_a_self_gated_sandbox(runtime: HostSandbox) -> None:
    create(runtime, "t1", ["stty", "size"], terminal=True)
    runtime.resize("t1", 33, 101)
    runtime.start("t1")
    assert wait_stopped(runtime, "t1") == 0
    assert b"stdout F 33 101" in runtime.layout.log("t1").read_bytes()


def test_exec_runs_in_the_process_root_with_the_specs_capabilities(runtime: HostSandbox) -> None:
    caps = {k: ["CAP_KILL"] for k in ("bounding", "effective", "permitted")}
    create(runtime, "c1", ["sleep", "30"], capabilities=caps, noNewPrivileges=True)
    runtime.start("c1")
    streams = StdStreams(io.BytesIO(), io.BytesIO())
    script = "grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status; pwd"
    code = _run_attached(runtime, "c1", "e1", ExecOptions(args=("sh", "-c", script)), streams)
    out = streams.stdout.getvalue().decode().split()  # type: ignore[attr-defined]
    assert code == 0, out
    assert out == [
        "CapEff:",
        "0000000000000020",
        "CapBnd:",
        "0000000000000020",
        "NoNewPrivs:",
        "1",
        "/",
    ]
    session = load_state(runtime.layout.exec_dir("c1", "e1"))
    assert isinstance(session, MonitorState) and session.pid == session.child
