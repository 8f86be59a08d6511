"""Small reliability fixes of issue 13 (item 6) on the real runtimes, checked from outside.

- `exec` into a container whose bundle lost its `config.json`: one line, exit 125, no session
  left (runc, crun, runc-shim, mock);
- on runc-shim, a container is reported stopped (so `wait` returns) only after its I/O
  monitor has logged the last output (a monitor held with SIGSTOP, and 100 short containers);
- `kill` of a paused container delivers the signal (resumed, as Docker does) on crun and runc;
- `kill` (SIGKILL) returns once the container has exited: `ps` right after shows Exited (137)
  (crun, runc, runc-shim, mock).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Oci, Runner, alive, one_line, pids_matching

SHIM = "containerd-shim-runc-v2"
SINK_MODULE = "ocimux.plugins.shimv2.events"
MONITOR_MODULE = "ocimux.plugins.shimv2.monitor"


def _param(name: str) -> Any:
    """`runtime` values: OCI runtimes need root and their binary (and conmon), the shim its
    binary and runc, the mock nothing."""
    marks: list[Any] = []
    if name == "runc-shim":
        needs = [SHIM, "runc"]
    elif name == "mock":
        needs = []
    else:
        needs = [name, "conmon"]
    if needs:
        marks.append(pytest.mark.requires_root)
    marks += [pytest.mark.requires_runtime(binary) for binary in needs]
    return pytest.param(name, id=name, marks=marks)


ALL = [_param(n) for n in ("runc", "crun", "runc-shim", "mock")]
PAUSABLE = [_param(n) for n in ("crun", "runc")]


@pytest.fixture
def rt(
    request: pytest.FixtureRequest,
    ocimux: Runner,
    ocimux_env: dict[str, str],
    busybox_rootfs: Path,
) -> Iterator[Oci]:
    """The CLI bound to `request.param`; teardown removes everything and checks for strays."""
    conf = Path(ocimux_env["CONTAINERS_CONF"])
    helper = Oci(
        run=ocimux,
        runtime=str(request.param),
        rootfs=busybox_rootfs,
        conf=conf,
        state=conf.parent / "state",
        env=ocimux_env,
    )
    yield helper
    left = json.loads(helper.run("ps", "-a", "--format", "json").stdout or "[]")
    for rec in left:
        if rec["status"] == "paused":
            helper.run("unpause", rec["id"])
    if left:
        helper.run("rm", "-f", "-t", "0", *(rec["id"] for rec in left), timeout=120)
    sinks = set(pids_matching(f"-m {SINK_MODULE} --dir {helper.state}"))  # lingers by design

    def strays() -> list[int]:
        return [p for p in pids_matching(str(helper.state)) if p not in sinks]

    deadline = time.monotonic() + 3
    while strays() and time.monotonic() < deadline:
        time.sleep(0.05)
    stray = strays()
    for pid in [*stray, *sinks]:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not stray, f"processes of this test outlived rm -f: {stray}"


def _status(rt: Oci, ref: str) -> tuple[str, int | None]:
    rec = rt.record(ref)
    return rec["status"], rec["exit_code"]


# --- exec without config.json ---------------------------------------------------------------


@pytest.mark.parametrize("rt", ALL, indirect=True)
def test_exec_into_a_container_whose_config_json_is_gone_fails_in_one_line(rt: Oci) -> None:
    cid = rt.detach("bare", "sleep", "100")
    config = rt.containers_dir / cid / "config.json"
    assert config.is_file()
    config.unlink()
    for detach in ([], ["-d"]):
        done = rt("exec", *detach, "bare", "echo", "hi")
        assert done.returncode == 125, done.stderr
        assert "Traceback" not in done.stderr
        line = one_line(done.stderr)
        assert "bare" in line and rt.runtime in line, line  # which container, on what
        assert "config.json" in line, line  # what is missing
        assert "ocimux rm -f" in line, line  # what to do
        assert done.stdout == ""
    assert rt.ok("exec", "--list", "bare").splitlines()[1:] == []  # no session left behind
    assert not (rt.containers_dir / cid / "exec").exists() or not list(
        (rt.containers_dir / cid / "exec").iterdir()
    )
    assert _status(rt, "bare")[0] == "running"
    rt.ok("rm", "-f", "-t", "0", "bare")
    assert rt.ps() == []


# --- runc-shim: stopped only once the output is in the log ----------------------------------


@pytest.mark.parametrize("rt", [_param("runc-shim")], indirect=True)
def test_shim_container_is_stopped_only_after_its_monitor_logged_the_output(rt: Oci) -> None:
    """Deterministic: the I/O monitor is frozen while the container prints and exits."""
    cid = rt.ok(*rt.new("create", "sh", "-c", "echo last", name="held")).strip()
    monitors = pids_matching(f"-m {MONITOR_MODULE} --dir {rt.containers_dir / cid}")
    assert len(monitors) == 1, monitors
    os.kill(monitors[0], signal.SIGSTOP)
    thaw = threading.Timer(1.5, os.kill, (monitors[0], signal.SIGCONT))
    try:
        rt.ok("start", "held")
        thaw.start()
        # the shim has reaped the process long before the monitor can drain its FIFO
        rec = rt.wait_status("held", "stopped", timeout=15)
        assert rec["exit_code"] == 0
        assert rt.ok("logs", "held") == "last\n"
    finally:
        thaw.cancel()
        with suppress(ProcessLookupError):
            os.kill(monitors[0], signal.SIGCONT)


@pytest.mark.parametrize("rt", [_param("runc-shim")], indirect=True)
def test_wait_then_logs_never_misses_the_last_line_on_runc_shim(rt: Oci) -> None:
    """100 short containers through the Python API: wait (as the server's /wait does), logs."""
    import ocimux
    from ocimux.io.logs import follow_log

    d = ocimux.open_dispatcher()
    missing = []
    for i in range(100):
        new = ocimux.NewContainer(
            rootfs=rt.rootfs, args=("sh", "-c", "echo last"), runtime=rt.runtime
        )
        rec = d.create(new)
        d.start(rec.id)
        deadline = time.monotonic() + 20
        while (rec := d.inspect(rec.id)).status != "stopped":
            assert time.monotonic() < deadline, f"run {i}: still {rec.status}"
            time.sleep(0.005)
        runtime = d.runtime_of(rec)
        out = b"".join(
            data for _stream, data in follow_log(runtime.layout.log(rec.id), follow=False)
        )
        if out != b"last\n":
            missing.append((i, out))
        d.delete(rec.id, force=True)
    assert missing == [], f"{len(missing)} of 100 logs incomplete right after wait: {missing[:5]}"


# --- kill of a paused container -------------------------------------------------------------


@pytest.mark.parametrize("rt", PAUSABLE, indirect=True)
def test_kill_of_a_paused_container_kills_it(rt: Oci) -> None:
    rt.detach("frozen", "sleep", "100")
    rt.ok("pause", "frozen")
    assert _status(rt, "frozen") == ("paused", None)
    done = rt("kill", "frozen", timeout=30)
    assert done.returncode == 0, done.stderr
    assert _status(rt, "frozen") == ("stopped", 137)  # at once: no poll needed
    assert rt.runtime_list() == [] or [c["status"] for c in rt.runtime_list()] == ["stopped"]


@pytest.mark.parametrize("rt", PAUSABLE, indirect=True)
def test_kill_with_the_stop_signal_resumes_a_paused_container_to_deliver_it(rt: Oci) -> None:
    # SIGTERM with no stop signal configured: Docker resumes the container after sending it
    rt.detach("trapper", "sh", "-c", "trap 'exit 3' TERM; while :; do sleep 0.1; done")
    rt.ok("pause", "trapper")
    rt.ok("kill", "-s", "TERM", "trapper")
    rec = rt.wait_status("trapper", "stopped", timeout=10)
    assert rec["exit_code"] == 3  # the trap ran: the signal was delivered, not left pending


@pytest.mark.parametrize("rt", PAUSABLE, indirect=True)
def test_kill_with_another_signal_leaves_a_container_with_a_stop_signal_paused(rt: Oci) -> None:
    # Docker's rule: with a configured stop signal, only it (or SIGKILL) resumes the container
    loop = "trap 'exit 3' TERM; trap 'exit 4' USR2; while :; do sleep 0.1; done"
    rt.ok(*rt.new("run", "sh", "-c", loop, name="picky", flags=["-d", "--stop-signal", "USR2"]))
    rt.ok("pause", "picky")
    rt.ok("kill", "-s", "TERM", "picky")
    assert _status(rt, "picky") == ("paused", None)
    rt.ok("kill", "-s", "USR2", "picky")  # the stop signal: resumed; TERM (pending) or USR2 ends it
    rec = rt.wait_status("picky", "stopped", timeout=10)
    assert rec["exit_code"] in (3, 4)


# --- kill -s KILL waits for the exit ---------------------------------------------------------


@pytest.mark.parametrize("rt", ALL, indirect=True)
def test_kill_returns_once_the_container_has_exited(rt: Oci) -> None:
    import ocimux

    d = ocimux.open_dispatcher()
    for i in range(3):
        name = f"victim{i}"
        rt.detach(name, "sleep", "100")
        pid = d.inspect(name).pid
        assert alive(pid)
        rec = d.kill(name)  # SIGKILL, as `ocimux kill` sends by default
        assert not alive(pid), "kill returned while the container's process still ran"
        assert (rec.status, rec.exit_code) == ("stopped", 137)
        stored = d.store.get_container(rec.id)  # recorded, not only reported
        assert (stored.status, stored.exit_code) == ("stopped", 137)
    rt.detach("cli", "sleep", "100")
    rt.ok("kill", "-s", "KILL", "cli", timeout=30)
    line = [r for r in rt.ok("ps", "-a").splitlines() if " cli " in r]
    assert len(line) == 1 and "Exited (137)" in line[0], line
