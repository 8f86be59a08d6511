"""Terminals on the shim v2 backend: `run -it`, `attach` and `exec -it` with the real runc shim.

As tests/integration/test_terminals.py does for runc and crun under conmon: the `ocimux` CLI
runs on the slave side of a pty (tests/ptydriver.py), the test types into it, reads the
screen, resizes it (SIGWINCH → the CLI → ResizePty to the shim) and
detaches with ctrl-p ctrl-q. Runtime `runc-shim` (containerd-shim-runc-v2 driving runc); no
conmon is involved, so this module brings its own `oci` fixture, whose teardown also ends the
event sink the runtime starts (it would otherwise idle for 30 s) and checks that no shim or
monitor of the test outlives `rm -f`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Oci, Runner, alive, pids_matching
from tests.ptydriver import Pty

RUNTIME = "runc-shim"
DETACH = b"\x10\x11"  # ctrl-p ctrl-q

pytestmark = [
    pytest.mark.requires_root,
    pytest.mark.requires_runtime("containerd-shim-runc-v2"),
    pytest.mark.requires_runtime("runc"),
]


@pytest.fixture
def oci(ocimux: Runner, ocimux_env: dict[str, str], busybox_rootfs: Path) -> Iterator[Oci]:
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
    _clean(helper)


def _sinks(oci: Oci) -> list[int]:
    """The event sink(s) of this test's state directory."""
    return pids_matching(f"shimv2.events --dir {oci.state}")


def _clean(oci: Oci) -> None:
    """Remove what the test left, end its event sink, then check nothing else of it lives."""
    try:
        left = json.loads(oci.run("ps", "-a", "--format", "json").stdout or "[]")
    except ValueError:
        left = []
    if left:
        oci.run("rm", "-f", "-t", "0", *(rec["id"] for rec in left), timeout=120)
    for pid in _sinks(oci):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 3
    while oci.own_processes() and time.monotonic() < deadline:
        time.sleep(0.05)
    stray = [pid for pid in oci.own_processes() if alive(pid)]
    described = []
    for pid in stray:
        with contextlib.suppress(OSError):
            described.append(Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " "))
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not stray, f"processes of this test outlived rm -f: {described}"


def _cli(oci: Oci, *args: str, rows: int = 24, cols: int = 80) -> Pty:
    return Pty([sys.executable, "-m", "ocimux.cli", *args], oci.env, rows=rows, cols=cols)


def _cooked(pty: Pty) -> bool:
    lflag = termios.tcgetattr(pty.fd)[3]
    return bool(lflag & termios.ICANON and lflag & termios.ECHO)


def test_run_it_gives_a_prompt_that_follows_resizes_and_exits_with_its_code(oci: Oci) -> None:
    pty = _cli(oci, *oci.new("run", "sh", flags=["-it", "--rm"]), rows=30, cols=90)
    try:
        pty.read_until(r"# ")
        pty.send("echo hi-$((6*7))\r")
        pty.read_until(r"hi-42")
        pty.send("stty size\r")
        pty.read_until(r"30 90")
        pty.resize(41, 123)
        pty.send("stty size\r")
        pty.read_until(r"41 123")
        pty.send("exit 3\r")
        assert pty.wait() == 3
        assert _cooked(pty), "the local terminal must be back in cooked mode"
    finally:
        pty.close()
    assert oci.ps() == []


def test_detach_keys_leave_the_container_running_and_attach_comes_back(oci: Oci) -> None:
    first = _cli(oci, *oci.new("run", "sh", name="tty1", flags=["-it"]))
    try:
        first.read_until(r"# ")
        first.send("echo before-$((1+1))\r")
        first.read_until(r"before-2")
        first.send(DETACH)
        assert first.wait() == 0
        assert b"detached from tty1" in first.output
        assert not first.is_raw()
    finally:
        first.close()
    assert oci.record("tty1")["status"] == "running"

    again = _cli(oci, "attach", "tty1", rows=25, cols=70)
    try:
        again.wait_raw()
        again.send("echo back-$((6*7))\r")
        again.read_until(r"back-42")
        again.send("stty size\r")
        again.read_until(r"25 70")
        again.send("exit 4\r")
        assert again.wait() == 4
        assert _cooked(again)
    finally:
        again.close()
    assert oci.wait_status("tty1", "stopped")["exit_code"] == 4


def test_exec_it_prompt_resize_and_exit_code(oci: Oci) -> None:
    oci.detach("box", "sleep", "100")
    pty = _cli(oci, "exec", "-it", "box", "sh", rows=33, cols=77)
    try:
        pty.read_until(r"# ")
        pty.send("echo in-$((2*3)); tty\r")
        pty.read_until(r"in-6\s+/dev/pts/\d+")
        pty.resize(44, 99)
        pty.send("stty size\r")
        pty.read_until(r"44 99")
        pty.resize(20, 60)
        pty.send("stty size\r")
        pty.read_until(r"20 60")
        pty.send("exit 6\r")
        assert pty.wait() == 6
        assert _cooked(pty)
    finally:
        pty.close()
    assert json.loads(oci.ok("exec", "--list", "box", "--format", "json")) == []
    assert oci.record("box")["status"] == "running"


def test_exec_it_starts_with_the_callers_terminal_size(oci: Oci) -> None:
    oci.detach("box", "sleep", "100")
    pty = _cli(oci, "exec", "-it", "box", "sh", rows=33, cols=77)
    try:
        pty.read_until(r"# ")
        pty.send("stty size\r")
        pty.read_until(r"33 77", timeout=3)
        pty.send("exit\r")
        assert pty.wait() == 0
    finally:
        pty.close()


def test_exec_it_reads_input_and_detaches(oci: Oci) -> None:
    oci.detach("box", "sleep", "100")
    pty = _cli(oci, "exec", "-it", "box", "sh", "-c", "read x; echo got:$x; exit 5")
    try:
        pty.wait_raw()
        pty.send("hello\r")
        pty.read_until(r"got:hello")
        assert pty.wait() == 5
        assert not pty.is_raw()
    finally:
        pty.close()

    pty = _cli(oci, "exec", "-it", "box", "sh")
    try:
        pty.read_until(r"# ")
        pty.send(DETACH)
        assert pty.wait() == 0
    finally:
        pty.close()
    (session,) = json.loads(oci.ok("exec", "--list", "box", "--format", "json"))
    assert session["status"] == "running" and session["process"]["args"] == ["sh"]
    stopped = oci.ok("exec", "--stop", session["id"][:12], "--time", "1").strip()
    assert stopped == session["id"]
    (session,) = json.loads(oci.ok("exec", "--list", "box", "--format", "json"))
    assert session["status"] == "stopped"
    assert oci.record("box")["status"] == "running"


def test_empty_detach_keys_pass_ctrl_p_ctrl_q_to_the_container(oci: Oci) -> None:
    # -ixon: the container's own terminal would otherwise eat ctrl-q as XON
    cmd = ("sh", "-c", "stty -ixon; echo ready; cat -v")
    pty = _cli(oci, *oci.new("run", *cmd, flags=["-it", "--rm", "--detach-keys", ""]))
    try:
        pty.read_until(r"ready")
        pty.send(DETACH + b"x\r")
        pty.read_until(r"\^P\^Qx")
        pty.send(b"\x04")  # ctrl-d: end of input for cat
        assert pty.wait() == 0
    finally:
        pty.close()
    assert oci.ps() == []
