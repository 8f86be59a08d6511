"""Contract tests on stdio, the log, terminals and exec (collected through `suite.py`)."""

from __future__ import annotations

import io

import pytest
from ocimux.base.errors import StateError
from ocimux.interface.options import ExecOptions, StdStreams
from ocimux.testing.kit import Kit, run_container

__all__ = [
    "test_exec_detached_reports_running_then_exit_code",
    "test_exec_in_stopped_container_is_a_state_error",
    "test_exec_splits_output_and_returns_code",
    "test_foreground_run_streams_stdout_and_stderr_apart",
    "test_log_holds_the_output_after_exit",
    "test_stdin_reaches_the_container",
    "test_terminal_has_the_size_given",
]

#: what the stdin test sends; `cat` must echo it back unchanged
STDIN_LINES = b"ocimux kit stdin 1\nsecond line\n"


def test_stdin_reaches_the_container(ocimux_kit: Kit) -> None:
    """Bytes attached to `-i` reach the container's stdin, and their end is EOF."""
    kit = ocimux_kit
    try:
        done = kit.run("cat", stdin=STDIN_LINES)
    except AssertionError as exc:  # the attach never ended: cat never saw EOF
        pytest.fail(f"stdin sent to the container never reached it, or its EOF did not: {exc}")
    assert done.stdout == STDIN_LINES, (
        f"stdin sent to the container never reached it: `cat` printed {done.stdout!r} "
        f"(stderr {done.stderr!r}, exit {done.code}) for {STDIN_LINES!r}"
    )
    assert done.code == 0, done.stderr


def test_log_holds_the_output_after_exit(ocimux_kit: Kit) -> None:
    """`ocimux logs`, in another process, prints what a detached container wrote, apart."""
    kit = ocimux_kit
    rec = kit.detach("sh", "-c", "echo kit-log-out; echo kit-log-err >&2; echo kit-log-out2")
    kit.wait_status(rec.id, "stopped")
    logs = kit.cli("logs", rec.id)
    assert logs.returncode == 0, f"`ocimux logs` exited {logs.returncode}: {logs.stderr}"
    assert logs.stdout == "kit-log-out\nkit-log-out2\n", (
        f"the log has no output: `ocimux logs` in a second process printed stdout "
        f"{logs.stdout!r} for a container that wrote kit-log-out and kit-log-out2 "
        "(the monitor must write the k8s-file log)"
    )
    assert logs.stderr == "kit-log-err\n", f"the log lost stderr: {logs.stderr!r}"


def test_foreground_run_streams_stdout_and_stderr_apart(ocimux_kit: Kit) -> None:
    """`run --rm` in one Dispatcher, as the CLI does it: output apart, nothing left."""
    kit = ocimux_kit
    new = kit.new("sh", "-c", "echo out; echo err >&2; echo out2; exit 7", auto_remove=True)
    done = run_container(kit.dispatcher, new)
    assert (done.code, done.stdout, done.stderr) == (7, b"out\nout2\n", b"err\n")
    assert kit.second.list() == []


def test_terminal_has_the_size_given(ocimux_kit: Kit) -> None:
    """`run -t` with a size: `stty size` inside prints it."""
    kit = ocimux_kit
    kit.require("terminal")
    done = kit.run("stty", "size", terminal=True, size=(37, 91))
    assert done.code == 0, f"stty size exited {done.code}: {done.stdout!r}"
    assert b"37 91" in done.stdout, (
        f"the terminal was not given the size 37x91: `stty size` printed {done.stdout!r}"
    )


# --- exec -------------------------------------------------------------------------------------


def test_exec_splits_output_and_returns_code(ocimux_kit: Kit) -> None:
    kit = ocimux_kit
    kit.require("exec")
    rec = kit.detach("sleep", "30")
    done = kit.exec(rec.id, "sh", "-c", "echo eout; echo eerr >&2; exit 4")
    assert (done.code, done.stdout, done.stderr) == (4, b"eout\n", b"eerr\n")
    assert kit.second.inspect(rec.id).status == "running"
    kit.second.stop(rec.id, timeout=0)


def test_exec_detached_reports_running_then_exit_code(ocimux_kit: Kit) -> None:
    """A detached exec runs on its own; other Dispatchers see it running, then its code."""
    kit = ocimux_kit
    kit.require("exec")
    rec = kit.detach("sleep", "30")
    session = kit.second.exec_detached(rec.id, ExecOptions(args=("sh", "-c", "sleep 2; exit 6")))
    assert session.status == "running"
    seen = kit.fresh().exec_inspect(session.id)
    assert seen.status == "running", (
        f"a second Dispatcher sees the detached exec as {seen.status} (exit {seen.exit_code})"
    )
    done = kit.wait_exec(session.id)
    assert done.exit_code == 6, f"the detached exec ended with {done.exit_code}, not 6"
    assert kit.second.inspect(rec.id).status == "running"
    kit.second.stop(rec.id, timeout=0)


def test_exec_in_stopped_container_is_a_state_error(ocimux_kit: Kit) -> None:
    kit = ocimux_kit
    kit.require("exec")
    rec = kit.detach("true")
    kit.wait_status(rec.id, "stopped")
    with pytest.raises(StateError):
        kit.second.exec(rec.id, ExecOptions(args=("true",)), StdStreams(io.BytesIO(), io.BytesIO()))
