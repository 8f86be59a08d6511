"""The shim v2 backend (`runc-shim`, and `kata` through a stand-in binary) on the real
`containerd-shim-runc-v2`, through the `ocimux` CLI.

ocimux talks ttrpc to one shim daemon per container; the shim runs runc. What each test
checks is what a user sees (output, exit codes, `ps -a`, `inspect`) and what is left on the
host: records, shim daemons (their command line names `-address
<run_dir>/runtimes/<name>/containerd.sock`), I/O monitors (`-m ocimux.plugins.shimv2.monitor
--dir <container dir>`), runc state and container directories.

The event sink (`-m ocimux.plugins.shimv2.events`, one per runtime state directory) lingers
by design for up to 10 s after its last shim; teardown ends it by pid and does not count it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (
    Oci,
    Runner,
    alive,
    host_cgroup_file,
    one_line,
    wait_until,
)

SHIM = "containerd-shim-runc-v2"
RUNTIME = "runc-shim"

pytestmark = [
    pytest.mark.requires_root,
    pytest.mark.requires_runtime(SHIM),
    pytest.mark.requires_runtime("runc"),  # what the runc shim runs (and `runc list` checks)
]

MONITOR_MODULE = "ocimux.plugins.shimv2.monitor"
SINK_MODULE = "ocimux.plugins.shimv2.events"


# --- processes ----------------------------------------------------------------------------


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def procs(needle: str) -> list[int]:
    """Live (non-zombie) processes whose command line contains `needle`, not this one."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid() and needle in _cmdline(int(entry)):
            if alive(int(entry)):
                out.append(int(entry))
    return out


def shim_procs(state: Path, name: str = RUNTIME) -> list[int]:
    """Shim daemons of runtime `name` in this test's state directory."""
    return procs(f"-address {state}/run/runtimes/{name}/containerd.sock")


def monitor_procs(directory: Path) -> list[int]:
    """I/O monitors of a container (or of everything under `directory`)."""
    return procs(f"-m {MONITOR_MODULE} --dir {directory}")


def sink_procs(state: Path) -> list[int]:
    return procs(f"-m {SINK_MODULE} --dir {state}")


def own_processes(state: Path) -> list[int]:
    """Everything naming this test's state directory except the event sinks."""
    sinks = set(sink_procs(state))
    return [pid for pid in procs(str(state)) if pid not in sinks]


# --- the fixture --------------------------------------------------------------------------


def runc_list(state: Path, name: str = RUNTIME) -> list[dict[str, Any]]:
    """What runc itself knows under the runc shim's root (`<state_dir>/runc/<namespace>`)."""
    return _runc_list(state / "run" / "runtimes" / name / "runc" / "ocimux")


def _runc_list(root: Path) -> list[dict[str, Any]]:
    runc = shutil.which("runc")
    assert runc is not None
    done = subprocess.run(
        [runc, "--root", str(root), "list", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) or []


@pytest.fixture
def shim(ocimux: Runner, ocimux_env: dict[str, str], busybox_rootfs: Path) -> Iterator[Oci]:
    """The CLI bound to `--runtime runc-shim` and the busybox rootfs; teardown checks leftovers."""
    conf = Path(ocimux_env["CONTAINERS_CONF"])
    helper = Oci(
        run=ocimux,
        runtime=RUNTIME,
        rootfs=busybox_rootfs,
        conf=conf,
        state=conf.parent / "state",
        env=ocimux_env,
    )
    yield helper
    state = helper.state
    try:
        left = json.loads(helper.run("ps", "-a", "--format", "json").stdout or "[]")
    except ValueError:
        left = []
    for rec in left:
        if rec["status"] == "paused":
            helper.run("unpause", rec["id"])
    if left:
        helper.run("rm", "-f", "-t", "0", *(rec["id"] for rec in left), timeout=120)
    deadline = time.monotonic() + 3
    while own_processes(state) and time.monotonic() < deadline:
        time.sleep(0.05)
    stray = own_processes(state)
    for pid in [*stray, *sink_procs(state)]:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not stray, f"processes of this test outlived rm -f: {[_cmdline(p) for p in stray]}"


def _assert_nothing_left(shim: Oci, name: str = RUNTIME) -> None:
    assert shim.ps() == []
    assert runc_list(shim.state, name) == []
    assert shim_procs(shim.state, name) == [], "a shim daemon outlived its container"
    assert monitor_procs(shim.state) == [], "an I/O monitor outlived its container"
    # a container's exit command (`ocimux container cleanup`, run by its monitor) may still be
    # finishing when the CLI has returned: a few seconds to go, then anything left is a leak
    deadline = time.monotonic() + 5
    while own_processes(shim.state) and time.monotonic() < deadline:
        time.sleep(0.05)
    stray = own_processes(shim.state)
    assert stray == [], f"processes outlived the container: {[_cmdline(p) for p in stray]}"
    assert not shim.containers_dir.exists() or list(shim.containers_dir.iterdir()) == []


def _edit_conf(shim: Oci, text: str, *, timeout: int | None = None) -> None:
    def edit(conf: str) -> str:
        if timeout is not None:
            conf, n = re.subn(r"(?m)^command_timeout = \d+$", f"command_timeout = {timeout}", conf)
            assert n == 1, conf
        return conf + text

    shim.edit_conf(edit)


# --- run --rm: streams, exit code, nothing left -------------------------------------------


def test_run_rm_streams_exit_code_and_nothing_left(shim: Oci) -> None:
    done = shim(*shim.new("run", "sh", "-c", "echo hi; echo err >&2; exit 4", flags=["--rm"]))
    assert done.returncode == 4, done.stderr
    assert done.stdout == "hi\n"
    assert "err" in done.stderr
    assert shim.ps() == []
    assert shim_procs(shim.state) == []
    assert monitor_procs(shim.containers_dir) == []
    assert list(shim.containers_dir.iterdir()) == []
    assert runc_list(shim.state) == []


AUDITED_CLI = r"""
import json, sys
calls = []

def hook(event, args):
    if event == "subprocess.Popen":  # (executable, args, cwd, env)
        argv = args[1]
        argv = list(argv) if isinstance(argv, (list, tuple)) else [argv]
        calls.append([str(args[0]), *map(str, argv)])
    elif event in ("os.exec", "os.posix_spawn"):  # (path, argv, env)
        calls.append([str(args[0]), *map(str, args[1])])
    elif event == "os.system":
        calls.append(["/bin/sh", "/bin/sh", "-c", str(args[0])])

sys.addaudithook(hook)
from ocimux.cli import main
try:
    rc = main(json.loads(sys.argv[2]))
finally:
    with open(sys.argv[1], "w") as fh:
        json.dump(calls, fh)
sys.stdout.flush()
sys.exit(rc)
"""


def test_ocimux_never_runs_runc_itself_the_shim_does(shim: Oci, tmp_path: Path) -> None:
    from ocimux.plugins.shimv2.events import read_events

    out = tmp_path / "calls.json"
    argv = shim.new("run", "sh", "-c", "echo audited; exit 4", name="audited", flags=["--rm"])
    done = subprocess.run(
        [sys.executable, "-c", AUDITED_CLI, str(out), json.dumps(argv)],
        capture_output=True,
        text=True,
        env=shim.env,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (4, "audited\n"), done.stderr
    calls = json.loads(out.read_text())
    assert calls, "the audit hook saw no process start at all"
    # each call: [executable (or "None"), argv...]
    names = {os.path.basename(c[1]) for c in calls} | {
        os.path.basename(c[0]) for c in calls if c[0] != "None"
    }
    assert not names & {"runc", "crun", "conmon"}, calls
    starts = [c for c in calls if os.path.basename(c[1]) == SHIM and c[-1] == "start"]
    assert len(starts) == 1, calls
    assert f"{shim.state}/run/runtimes/{RUNTIME}/containerd.sock" in starts[0]

    # the shim ran runc: its exit event (published to ocimux's sink) carries sh's status
    sink_dir = shim.state / "run" / "runtimes" / RUNTIME

    def exit_events() -> list[dict[str, Any]]:
        return [e for e in read_events(sink_dir) if e.get("topic") == "/tasks/exit"]

    [event] = wait_until(exit_events, 5, "the /tasks/exit event")
    cids = {e.get("container_id") for e in read_events(sink_dir)}
    assert cids == {event["container_id"]}
    assert re.fullmatch(r"[0-9a-f]{64}", event["container_id"])
    assert (event["exec_id"], event["exit_status"]) == ("", 4)
    assert event["pid"] > 0
    assert shim.ps() == []


# --- a detached container across CLI processes ---------------------------------------------


def _session(shim: Oci, ref: str) -> list[dict[str, Any]]:
    return json.loads(shim.ok("exec", "--list", ref, "--format", "json"))


def test_detached_container_survives_and_is_driven_by_later_processes(shim: Oci) -> None:
    cid = shim.detach("web", "sleep", "300")
    cdir = shim.containers_dir / cid
    rec = shim.record("web")
    assert (rec["status"], rec["runtime"]) == ("running", RUNTIME)
    # the `run -d` process is gone; the shim (the record's monitor) and the container live
    assert shim_procs(shim.state) == [rec["monitor_pid"]]
    assert int((cdir / "shim.pid").read_text()) == rec["monitor_pid"]
    assert alive(rec["pid"]) and alive(rec["monitor_pid"])
    [io_monitor] = monitor_procs(cdir)
    assert int((cdir / "monitor.pid").read_text()) == io_monitor
    address = (cdir / "address").read_text().strip()
    assert address.startswith("unix://")
    assert {c["id"]: c["status"] for c in runc_list(shim.state)} == {cid: "running"}

    done = shim("exec", "web", "sh", "-c", "echo $((6*7))")
    assert (done.returncode, done.stdout, done.stderr) == (0, "42\n", "")
    done = shim("exec", "web", "sh", "-c", "echo e >&2; exit 3")
    assert (done.returncode, done.stdout, done.stderr) == (3, "", "e\n")

    done = shim("pause", "web")
    assert (done.returncode, done.stdout) == (0, "web\n"), done.stderr
    assert shim.record("web")["status"] == "paused"
    assert [r["status"] for r in shim.ps()] == ["paused"]
    assert "Paused" in shim.ok("ps", "-a")
    assert {c["id"]: c["status"] for c in runc_list(shim.state)} == {cid: "paused"}
    done = shim("exec", "web", "true")
    assert (done.returncode, done.stdout) == (125, "")
    assert "paused" in one_line(done.stderr)
    done = shim("unpause", "web")
    assert (done.returncode, done.stdout) == (0, "web\n"), done.stderr
    assert shim.record("web")["status"] == "running"

    sid = shim.ok("exec", "-d", "web", "sleep", "100").strip()
    assert re.fullmatch(r"[0-9a-f]{64}", sid), sid
    [session] = _session(shim, "web")
    assert (session["id"], session["status"]) == (sid, "running")
    assert session["process"]["args"] == ["sleep", "100"]
    assert alive(session["pid"])
    assert len(monitor_procs(cdir)) == 2  # the container's and the session's
    assert shim.ok("exec", "--stop", sid[:12], "--time", "1").strip() == sid
    [session] = _session(shim, "web")
    # not pid 1: SIGTERM's default action ends sleep at once
    assert (session["status"], session["exit_code"]) == ("stopped", 143)
    assert not alive(session["pid"])
    wait_until(lambda: monitor_procs(cdir) == [io_monitor], 3, "the session's monitor to end")

    # pid 1 of its pid namespace ignores SIGTERM: SIGKILL after the 1 s timeout
    start = time.monotonic()
    done = shim("stop", "-t", "1", "web")
    took = time.monotonic() - start
    assert (done.returncode, done.stdout) == (0, "web\n"), done.stderr
    assert 0.9 <= took < 5, f"stop -t 1 of `sleep 300` took {took:.2f}s"
    rec = shim.record("web")
    assert (rec["status"], rec["exit_code"]) == ("stopped", 137)
    assert not alive(rec["pid"])

    done = shim("rm", "web")
    assert (done.returncode, done.stdout) == (0, "web\n"), done.stderr
    assert not cdir.exists()
    assert not Path(address.removeprefix("unix://")).exists(), "the shim's socket is left"
    _assert_nothing_left(shim)


def test_exec_stop_ends_when_the_process_dies_though_a_child_keeps_its_output(
    shim: Oci,
) -> None:
    """The SIGKILL'd shell leaves `sleep` holding the session's stdout, so its I/O monitor lives
    on; the shim says the exec'd process stopped, and that is what `exec --stop` waits for."""
    shim.detach("web", "sleep", "100")
    sid = shim.ok("exec", "-d", "web", "sh", "-c", 'trap "" TERM; sleep 60 & wait').strip()
    start = time.monotonic()
    done = shim("exec", "--stop", sid[:12], "--time", "0")
    took = time.monotonic() - start
    assert (done.returncode, done.stdout.strip()) == (0, sid), done.stderr
    assert took < 4, f"exec --stop waited {took:.2f}s for the orphan's output to end"
    shim.ok("rm", "-f", "-t", "0", "web")
    _assert_nothing_left(shim)


# --- stdin --------------------------------------------------------------------------------


def test_exec_interactive_stdin_eof_reaches_the_process(shim: Oci) -> None:
    shim.detach("web", "sleep", "100")
    start = time.monotonic()
    done = shim("exec", "-i", "web", "cat", input="hello\n", timeout=20)
    took = time.monotonic() - start
    assert (done.returncode, done.stdout, done.stderr) == (0, "hello\n", "")
    assert took < 5, f"cat saw stdin's EOF only after {took:.2f}s"
    assert _session(shim, "web") == []


def test_run_interactive_stdin_reaches_cat(shim: Oci) -> None:
    start = time.monotonic()
    done = shim(*shim.new("run", "cat", flags=["-i", "--rm"]), input="hello\n", timeout=20)
    took = time.monotonic() - start
    assert (done.returncode, done.stdout, done.stderr) == (0, "hello\n", "")
    assert took < 5, f"run -i took {took:.2f}s"
    assert shim.ps() == []


def test_run_interactive_large_input_round_trips(shim: Oci) -> None:
    payload = "".join(f"{i:07d} the quick brown fox jumps over the lazy dog\n" for i in range(4000))
    assert len(payload) > 200_000
    done = shim(*shim.new("run", "cat", flags=["-i", "--rm"]), input=payload, timeout=60)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout) == len(payload)
    assert done.stdout == payload
    assert shim.ps() == []


# --- logs, attach -------------------------------------------------------------------------


def test_logs_keep_stdout_and_stderr_apart(shim: Oci) -> None:
    cid = shim.detach("talker", "sh", "-c", "echo out1; echo err1 >&2; echo out2; sleep 100")
    wait_until(
        lambda: all(w in shim.log_text(cid) for w in ("out1", "err1", "out2")),
        5,
        "three lines in the log",
    )
    done = shim("logs", "talker")
    assert (done.returncode, done.stdout, done.stderr) == (0, "out1\nout2\n", "err1\n")


def test_attach_relays_output_and_returns_the_exit_code(shim: Oci) -> None:
    # deterministic: the container waits for the line attach forwards from stdin
    script = "read x; echo got:$x; echo bye >&2; exit 3"
    shim.ok(*shim.new("run", "sh", "-c", script, name="talk", flags=["-d", "-i"]))
    done = shim("attach", "talk", input="hi\n", timeout=20)
    assert (done.returncode, done.stdout, done.stderr) == (3, "got:hi\n", "bye\n")
    assert shim.record("talk")["exit_code"] == 3

    # no stdin: output that starts after attach connected, then the exit code
    shim.detach("late", "sh", "-c", "sleep 2; echo a1; echo a2 >&2; exit 5")
    done = shim("attach", "late", timeout=20)
    assert (done.returncode, done.stdout, done.stderr) == (5, "a1\n", "a2\n")
    rec = shim.record("late")
    assert (rec["status"], rec["exit_code"]) == ("stopped", 5)


# --- update -------------------------------------------------------------------------------


def test_update_memory_changes_the_host_cgroup(shim: Oci) -> None:
    cid = shim.detach("web", "sleep", "100")
    path = host_cgroup_file(shim.record("web")["pid"], "memory", "memory.limit_in_bytes")
    assert cid in str(path), path  # the container's own cgroup, named by its id
    assert path.read_text().strip() != "67108864"
    done = shim("update", "--memory", "64m", "web")
    assert (done.returncode, done.stdout, done.stderr) == (0, "web\n", "")
    assert path.read_text().strip() == "67108864"


# --- reconnect / reconciliation -----------------------------------------------------------


@pytest.fixture
def dead_sockets() -> Iterator[list[Path]]:
    """Sockets of shims a test SIGKILLed: removed afterwards if nothing listens there."""
    paths: list[Path] = []
    yield paths
    for path in paths:
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink(missing_ok=True)
        finally:
            probe.close()


def _kill_shim(shim: Oci, ref: str, dead: list[Path]) -> tuple[dict[str, Any], Path]:
    """SIGKILL the container's shim daemon; its socket goes on `dead` for cleanup."""
    rec = shim.record(ref)
    cdir = shim.containers_dir / rec["id"]
    address = (cdir / "address").read_text().strip()
    assert address.startswith("unix://"), address
    dead.append(Path(address.removeprefix("unix://")))
    pid = int((cdir / "shim.pid").read_text())
    assert pid == rec["monitor_pid"] and alive(pid)
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not alive(pid), 3, "the shim to die")
    return rec, cdir


def test_killed_shim_shows_unknown_and_rm_force_cleans_up(
    shim: Oci, dead_sockets: list[Path]
) -> None:
    cid = shim.detach("web", "sleep", "100")
    rec, cdir = _kill_shim(shim, "web", dead_sockets)
    assert alive(rec["pid"])  # the container runs on without its shim

    [row] = shim.ps()
    assert row["status"] == "unknown", row
    assert "shim" in row["status_reason"] and str(rec["monitor_pid"]) in row["status_reason"]
    assert "Unknown" in shim.ok("ps", "-a")
    # the I/O monitor saw its FIFOs close and ended without an exit code
    wait_until(lambda: not monitor_procs(cdir), 3, "the I/O monitor to end")
    assert not (shim.state / "run" / "persist" / cid / "exit").exists()

    done = shim("rm", "-f", "-t", "1", "web")
    assert (done.returncode, done.stdout, done.stderr) == (0, "web\n", "")
    assert not (shim.containers_dir / cid).exists()
    wait_until(lambda: not alive(rec["pid"]), 3, "the container's init to die")
    _assert_nothing_left(shim)


def test_rm_force_after_a_killed_shim_removes_its_socket(
    shim: Oci, dead_sockets: list[Path]
) -> None:
    cid = shim.detach("web", "sleep", "100")
    address = (shim.containers_dir / cid / "address").read_text().strip()
    sock = Path(address.removeprefix("unix://"))
    assert sock.exists()
    _kill_shim(shim, "web", dead_sockets)
    shim.ok("rm", "-f", "-t", "1", "web")
    assert not sock.exists(), f"{sock} is left behind"


def test_stop_of_a_container_whose_shim_died_is_a_clear_answer(
    shim: Oci, dead_sockets: list[Path]
) -> None:
    shim.detach("web", "sleep", "100")
    _kill_shim(shim, "web", dead_sockets)
    assert shim.record("web")["status"] == "unknown"
    done = shim("stop", "-t", "1", "web")
    assert "Traceback" not in done.stderr, done.stderr
    if done.returncode != 0:  # refusing is as good as stopping, if it says why in one line
        assert done.returncode == 125
        line = one_line(done.stderr)
        assert line.startswith("Error: ") and "unknown" in line, line


def test_exit_while_no_ocimux_ran_is_seen_later(shim: Oci) -> None:
    cid = shim.detach("e7", "sh", "-c", "exit 7")
    cdir = shim.containers_dir / cid
    exit_file = shim.state / "run" / "persist" / cid / "exit"  # on the run dir, not cdir
    # no ocimux process runs meanwhile: the I/O monitor records the status and ends
    wait_until(exit_file.exists, 5, "the monitor's exit file")
    wait_until(lambda: not monitor_procs(cdir), 3, "the I/O monitor to end")
    assert exit_file.read_text().strip() == "7"
    assert not (cdir / "exit").exists()
    assert "Exited (7)" in shim.ok("ps", "-a")
    rec = shim.record("e7")
    assert (rec["status"], rec["exit_code"]) == ("stopped", 7)
    done = shim("rm", "e7")
    assert (done.returncode, done.stdout) == (0, "e7\n"), done.stderr
    _assert_nothing_left(shim)


def test_exit_code_survives_a_shim_killed_after_the_exit(
    shim: Oci, dead_sockets: list[Path]
) -> None:
    cid = shim.detach("e9", "sh", "-c", "exit 9")
    exit_file = shim.state / "run" / "persist" / cid / "exit"
    wait_until(exit_file.exists, 5, "the monitor's exit file")
    _kill_shim(shim, "e9", dead_sockets)
    rec = shim.record("e9")
    assert (rec["status"], rec["exit_code"]) == ("stopped", 9), rec
    done = shim("rm", "e9")
    assert (done.returncode, done.stdout) == (0, "e9\n"), done.stderr
    _assert_nothing_left(shim)


# --- failures -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "status", "words"),
    [
        pytest.param("/nonexistent", 127, ("/nonexistent",), id="missing"),
        pytest.param("/etc/passwd", 126, ("/etc/passwd", "permission denied"), id="not-executable"),
    ],
)
def test_create_failure_is_one_line_and_leaves_nothing(
    shim: Oci, command: str, status: int, words: tuple[str, ...]
) -> None:
    done = shim(*shim.new("run", command, name="bad", flags=["--rm"]))
    assert (done.returncode, done.stdout) == (status, "")
    line = one_line(done.stderr)
    assert line.startswith("Error: ") and "bad" in line and RUNTIME in line, line
    for word in words:
        assert word in line.lower(), line
    _assert_nothing_left(shim)


def _fake_shim(directory: Path, name: str, body: str) -> Path:
    directory.mkdir(exist_ok=True)
    path = directory / f"containerd-shim-{name}-v2"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def test_a_hanging_shim_times_out_with_one_line_and_leaves_nothing(
    shim: Oci, tmp_path: Path
) -> None:
    marker = f"1000.{os.getpid()}"  # a sleep no other test (or concurrent run) starts
    binary = _fake_shim(tmp_path / "bin", "hang", f"sleep {marker}")
    _edit_conf(shim, f'[engine.runtimes]\nhang-shim = ["{binary}"]\n', timeout=3)
    start = time.monotonic()
    done = shim("run", "--rm", "--name", "hung", "--runtime", "hang-shim", "--rootfs",
                str(shim.rootfs), "--", "true", timeout=30)  # fmt: skip
    took = time.monotonic() - start
    assert took < 10, f"a hanging shim held `run` for {took:.1f}s"
    assert (done.returncode, done.stdout) == (125, "")
    line = one_line(done.stderr)
    assert str(binary) in line and "3s" in line, line
    assert procs(str(binary)) == [] and procs(f"sleep {marker}") == []
    _assert_nothing_left(shim, "hang-shim")


def test_a_failing_shim_reports_its_message(shim: Oci, tmp_path: Path) -> None:
    message = "shim exploded: no such widget"
    binary = _fake_shim(tmp_path / "bin", "fail", f'echo "{message}" >&2\nexit 1')
    _edit_conf(shim, f'[engine.runtimes]\nfail-shim = ["{binary}"]\n')
    done = shim("run", "--rm", "--name", "boom", "--runtime", "fail-shim", "--rootfs",
                str(shim.rootfs), "--", "true")  # fmt: skip
    assert (done.returncode, done.stdout) == (125, "")
    line = one_line(done.stderr)
    assert message in line and "boom" in line, line
    _assert_nothing_left(shim, "fail-shim")


# --- configured names, kata -------------------------------------------------------------


def _runtimes(shim: Oci) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in json.loads(shim.ok("runtimes", "--format", "json"))}


def test_a_configured_shim_name_is_driven_by_runc_shim(shim: Oci) -> None:
    path = shutil.which(SHIM)
    _edit_conf(shim, f'[engine.runtimes]\nmyshim = ["{path}"]\n')
    report = _runtimes(shim)["myshim"]
    assert (report["plugin"], report["path"], report["status"]) == (RUNTIME, path, "ok")
    done = shim("run", "--rm", "--runtime", "myshim", "--rootfs", str(shim.rootfs), "--",
                "echo", "ok")  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (0, "ok\n", "")
    _assert_nothing_left(shim, "myshim")


def test_kata_plugin_drives_a_shim_named_like_kata(shim: Oci, tmp_path: Path) -> None:
    link = tmp_path / "bin" / "containerd-shim-kata-v2"
    link.parent.mkdir()
    link.symlink_to(shutil.which(SHIM) or SHIM)
    _edit_conf(shim, f'[engine.runtimes]\nkata = ["/usr/bin/kata-runtime", "{link}"]\n')
    report = _runtimes(shim)["kata"]
    assert (report["plugin"], report["path"], report["status"]) == ("kata", str(link), "ok")
    caps = report["capabilities"]
    assert (caps["kvm"]["value"], caps["kvm"]["source"]) == (True, "declared")
    assert caps["checkpoint"]["value"] is False

    done = shim("run", "--rm", "--name", "vk", "--runtime", "kata", "--rootfs", str(shim.rootfs),
                "--", "sh", "-c", "echo via-kata; exit 5")  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (5, "via-kata\n", "")
    _assert_nothing_left(shim, "kata")
    # kata passes no runc options: the runc shim kept its state in its default root
    default_root = Path("/run/containerd/runc/ocimux")
    assert not [c for c in _runc_list(default_root) if str(shim.state) in c.get("bundle", "")]


def test_kata_without_its_shim_is_listed_as_not_installed(shim: Oci) -> None:
    from ocimux.plugins.kata.runtime import DEFAULT_PATHS
    from ocimux.plugins.kata.runtime import SHIM as KATA_SHIM

    if shutil.which(KATA_SHIM) or any(Path(p).exists() for p in DEFAULT_PATHS):
        pytest.skip(f"{KATA_SHIM} is installed here")
    done = shim("runtimes")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert re.search(r"(?m)^kata\s+not installed\s+kata\s", text), text
    assert f"not installed: {KATA_SHIM} not found in" in text
    section = text.split("kata capabilities", 1)[1].split("\n\n", 1)[0]
    assert re.search(r"(?m)^\s+kvm\s+yes\b", section), section
    assert re.search(r"(?m)^\s+checkpoint\s+no\b", section), section
