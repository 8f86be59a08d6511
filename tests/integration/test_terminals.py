"""Terminals for real: `run -it`, `attach` and `exec -it` driven through a pseudo-terminal.

Each test runs the `ocimux` CLI on the slave side of a pty (tests/ptydriver.py), types into
it, reads the screen, resizes it, and detaches with ctrl-p ctrl-q.
"""

from __future__ import annotations

import json
import sys
import termios

import pytest

from tests.integration.conftest import Oci, runtime_params, wait_until
from tests.ptydriver import Pty

DETACH = b"\x10\x11"  # ctrl-p ctrl-q
TERMINAL_RUNTIMES = runtime_params(("runc", "crun")) + [pytest.param("mock", id="mock")]


def _cli(oci: Oci, *args: str, rows: int = 24, cols: int = 80) -> Pty:
    return Pty([sys.executable, "-m", "ocimux.cli", *args], oci.env, rows=rows, cols=cols)


@pytest.mark.parametrize("runtime", TERMINAL_RUNTIMES, indirect=True)
def test_run_it_gives_a_prompt_that_follows_resizes_and_exits_with_its_code(oci: Oci) -> None:
    pty = _cli(oci, *oci.new("run", "sh", flags=["-it", "--rm"]), rows=30, cols=90)
    try:
        pty.read_until(r"# ")
        pty.send("stty size\r")
        pty.read_until(r"30 90")
        pty.resize(41, 123)
        pty.send("stty size\r")
        pty.read_until(r"41 123")
        pty.send("exit 3\r")
        assert pty.wait() == 3
        # the local terminal is back in cooked mode
        lflag = termios.tcgetattr(pty.fd)[3]
        assert lflag & termios.ICANON and lflag & termios.ECHO
    finally:
        pty.close()
    assert oci.ps() == []


@pytest.mark.parametrize("runtime", TERMINAL_RUNTIMES, indirect=True)
def test_detach_keys_leave_the_container_running_and_attach_comes_back(oci: Oci) -> None:
    first = _cli(oci, *oci.new("run", "sh", name="tty1", flags=["-it"]))
    try:
        first.read_until(r"# ")
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
    finally:
        again.close()
    assert oci.wait_status("tty1", "stopped")["exit_code"] == 4


@pytest.mark.parametrize("runtime", TERMINAL_RUNTIMES, indirect=True)
def test_exec_it_prompt_size_resize_and_detach(oci: Oci) -> None:
    oci.detach("box", "sleep", "100")
    pty = _cli(oci, "exec", "-it", "box", "sh", rows=33, cols=77)
    try:
        pty.read_until(r"# ")
        pty.send("tty; stty size\r")
        pty.read_until(r"/dev/pts/\d+\s+33 77")
        pty.resize(44, 99)
        pty.send("stty size\r")
        pty.read_until(r"44 99")
        pty.send(DETACH)
        assert pty.wait() == 0
    finally:
        pty.close()
    (session,) = json.loads(oci.ok("exec", "--list", "box", "--format", "json"))
    assert session["status"] == "running" and session["process"]["args"] == ["sh"]
    assert oci.record("box")["status"] == "running"
    stopped = oci.ok("exec", "--stop", session["id"][:12], "--time", "1").strip()
    assert stopped == session["id"]
    (session,) = json.loads(oci.ok("exec", "--list", "box", "--format", "json"))
    assert session["status"] == "stopped"
    assert oci.record("box")["status"] == "running"


@pytest.mark.parametrize("runtime", TERMINAL_RUNTIMES, indirect=True)
def test_exec_it_exit_code_and_cooked_terminal_afterwards(oci: Oci) -> None:
    oci.detach("box", "sleep", "100")
    pty = _cli(oci, "exec", "-it", "box", "sh", "-c", "read x; echo got:$x; exit 6")
    try:
        pty.wait_raw()
        pty.send("hello\r")
        pty.read_until(r"got:hello")
        assert pty.wait() == 6
        assert not pty.is_raw()
    finally:
        pty.close()
    assert json.loads(oci.ok("exec", "--list", "box", "--format", "json")) == []


def test_exec_sessions_leave_nothing_after_many_calls_and_a_delete(oci: Oci) -> None:
    cid = oci.detach("box", "sleep", "100")
    for i in range(40):  # one leftover per call would show after the first: 40 is plenty
        done = oci("exec", "box", "sh", "-c", f"exit {i % 7}")
        assert done.returncode == i % 7, done.stderr
    oci.ok("exec", "-d", "box", "sleep", "50")
    exec_dir = oci.containers_dir / cid / "exec"
    assert len(list(exec_dir.iterdir())) == 1, "only the detached session may remain"
    assert len(json.loads(oci.ok("exec", "--list", "box", "--format", "json"))) == 1
    done = oci("rm", "box")
    assert done.returncode == 125 and "running" in done.stderr
    oci.ok("rm", "-f", "box")
    assert not (oci.containers_dir / cid).exists()
    assert not (oci.state / "run" / "persist" / cid).exists(), "exit files left on the run dir"
    wait_until(lambda: not oci.own_processes(), 5, "every monitor of the test to exit")


def test_exec_into_a_paused_or_stopped_container_is_a_clear_error(oci: Oci) -> None:
    oci.detach("box", "sleep", "100")
    oci.ok("pause", "box")
    done = oci("exec", "box", "true")
    assert done.returncode == 125 and "paused" in done.stderr and "unpause" in done.stderr
    oci.ok("unpause", "box")
    oci.ok("kill", "box")
    oci.wait_status("box", "stopped")
    done = oci("exec", "box", "true")
    assert done.returncode == 125 and "stopped" in done.stderr


@pytest.mark.parametrize("runtime", TERMINAL_RUNTIMES, indirect=True)
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


@pytest.mark.parametrize("runtime", TERMINAL_RUNTIMES, indirect=True)
def test_detach_keys_from_containers_conf(oci: Oci) -> None:
    oci.edit_conf(
        lambda text: text.replace(
            'runtime = "mock"', 'runtime = "mock"\ndetach_keys = "ctrl-x,ctrl-y"'
        )
    )
    pty = _cli(oci, *oci.new("run", "sh", name="cfg", flags=["-it"]))
    try:
        pty.read_until(r"# ")
        pty.send(DETACH)  # no longer the detach keys: the shell gets them
        pty.send(b"\x18\x19")
        assert pty.wait() == 0
        assert b"detached from cfg" in pty.output
    finally:
        pty.close()
    assert oci.record("cfg")["status"] == "running"
