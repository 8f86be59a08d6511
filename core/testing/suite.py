"""The contract every ocimux runtime plugin must meet; run it with the kit's pytest plugin:

    pytest -p ocimux.testing.plugin --pyargs ocimux.testing.suite --ocimux-runtime NAME

Every container is created through one Dispatcher and driven through a second one (its own
runtime instance), some through a second `ocimux` process: a runtime that keeps container
state in memory fails. A test needing a capability the runtime declares false is skipped,
naming the test and the capability's reason. Containers run `sh`, `sleep`, `echo`, `cat`
and `stty` from the rootfs (busybox by default).

This module holds lifecycle, state machine, exit codes and signals; the contract on
stdio, logs, terminals and exec is in `_suite_io.py`, on state kept outside the process and
on capabilities in `_suite_state.py` (imported here, so one `--pyargs` runs them all).
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from ocimux.base.errors import ContainerNotFoundError, InvalidArgumentError, OcimuxError, StateError
from ocimux.engine.store import ContainerRecord
from ocimux.testing._suite_io import (
    test_exec_detached_reports_running_then_exit_code,
    test_exec_in_stopped_container_is_a_state_error,
    test_exec_splits_output_and_returns_code,
    test_foreground_run_streams_stdout_and_stderr_apart,
    test_log_holds_the_output_after_exit,
    test_stdin_reaches_the_container,
    test_terminal_has_the_size_given,
)
from ocimux.testing._suite_state import (
    test_checkpoint_matches_declared_capability,
    test_dead_monitor_makes_status_unknown,
    test_declared_no_capabilities_are_refused_before_anything_runs,
    test_pause_and_unpause,
    test_second_process_drives_the_container,
    test_update_resources,
)
from ocimux.testing.calls import record_calls
from ocimux.testing.kit import Kit

__all__ = [
    "test_bad_command_exit_code",
    "test_bad_name_is_invalid_and_leaves_nothing",
    "test_checkpoint_matches_declared_capability",
    "test_create_start_exit_states",
    "test_dead_monitor_makes_status_unknown",
    "test_declared_no_capabilities_are_refused_before_anything_runs",
    "test_exec_detached_reports_running_then_exit_code",
    "test_exec_in_stopped_container_is_a_state_error",
    "test_exec_splits_output_and_returns_code",
    "test_exit_code_is_reported",
    "test_foreground_run_streams_stdout_and_stderr_apart",
    "test_kill_signal_reaches_trap",
    "test_log_holds_the_output_after_exit",
    "test_pause_and_unpause",
    "test_refused_verbs_never_reach_the_runtime",
    "test_rm_force_of_created_container",
    "test_second_process_drives_the_container",
    "test_sigkill_gives_137",
    "test_start_twice_is_a_state_error",
    "test_stdin_reaches_the_container",
    "test_stop_escalates_to_sigkill",
    "test_terminal_has_the_size_given",
    "test_unknown_container_is_not_found",
    "test_update_resources",
]

#: a shell loop that ignores SIGTERM; prints "ready" once the trap is set
IGNORE_TERM = "trap '' TERM; echo ready; while :; do sleep 0.1; done"
#: a loop that keeps running until killed
LOOP = "while :; do sleep 0.1; done"


def _stopped(kit: Kit, ref: str, timeout: float = 10.0, what: str = "") -> ContainerRecord:
    return kit.wait_status(ref, "stopped", timeout, what)


def _gone(pid: int, timeout: float = 10.0) -> bool:
    """Whether process `pid` is gone (a zombie counts) within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                state = fh.read().rsplit(b")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return True
        if state in (b"Z", b"X"):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


# --- lifecycle and the state machine -------------------------------------------------------


def test_create_start_exit_states(ocimux_kit: Kit) -> None:
    kit = ocimux_kit
    rec = kit.create("sh", "-c", "sleep 0.5; exit 5")
    assert rec.status == "created"
    assert rec.runtime == kit.runtime
    second = kit.second
    seen = second.inspect(rec.id)
    assert seen.status == "created", (
        f"a second Dispatcher sees the created container as {seen.status}"
        f" ({seen.status_reason}): container state must not live in the runtime instance"
    )
    assert second.start(rec.id).status == "running"
    assert second.inspect(rec.id).status in ("running", "stopped")
    done = _stopped(kit, rec.id)
    assert done.exit_code == 5
    assert rec.id in {r.id for r in second.list()}
    second.delete(rec.id)
    with pytest.raises(ContainerNotFoundError):
        kit.dispatcher.inspect(rec.id)


def test_start_twice_is_a_state_error(ocimux_kit: Kit) -> None:
    rec = ocimux_kit.detach("sleep", "5")
    with pytest.raises(StateError):
        ocimux_kit.second.start(rec.id)
    ocimux_kit.second.stop(rec.id, timeout=0)


def test_refused_verbs_never_reach_the_runtime(
    ocimux_kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pause, unpause and start of a stopped container fail in the Dispatcher's state machine."""
    kit = ocimux_kit
    rec = kit.detach("sh", "-c", "echo ran; exit 3")
    _stopped(kit, rec.id)
    d = kit.fresh()
    calls = record_calls(d.registry.get(kit.runtime), monkeypatch)
    d.inspect(rec.id)  # what reading a record asks the runtime
    reads = set(calls)
    calls.clear()
    for verb in (d.pause, d.unpause, d.start):
        with pytest.raises(StateError):
            verb(rec.id)
    assert set(calls) <= reads, f"refused verbs reached the runtime: {sorted(set(calls) - reads)}"
    after = d.inspect(rec.id)
    assert (after.status, after.exit_code) == ("stopped", 3)


def test_rm_force_of_created_container(ocimux_kit: Kit) -> None:
    """`rm -f` of a container never started removes it and ends its (waiting) process."""
    kit = ocimux_kit
    rec = kit.create("sleep", "30")
    kit.second.delete(rec.id, force=True)
    with pytest.raises(ContainerNotFoundError):
        kit.fresh().inspect(rec.id)
    assert kit.fresh().list() == []
    if rec.pid:
        assert _gone(rec.pid), f"rm -f left the created container's process {rec.pid} alive"


# --- exit codes and signals ----------------------------------------------------------------


@pytest.mark.parametrize("code", [0, 3])
def test_exit_code_is_reported(ocimux_kit: Kit, code: int) -> None:
    done = ocimux_kit.run("sh", "-c", f"exit {code}")
    assert done.code == code, done.stderr


@pytest.mark.parametrize(
    ("command", "code"),
    [("/no-such-command", 127), ("/etc/passwd", 126)],
    ids=["missing-127", "not-executable-126"],
)
def test_bad_command_exit_code(ocimux_kit: Kit, command: str, code: int) -> None:
    """A missing command gives 127, a file that cannot be executed 126 (podman's codes).

    The runtime may refuse at create (CommandNotFoundError / CommandNotInvocableError, whose
    `exit_code` the CLI exits with) or let the container exit with the code.
    """
    kit = ocimux_kit
    what = "a missing command" if code == 127 else "a non-executable file"
    target = kit.rootfs / command.lstrip("/")
    if code == 126 and not (target.is_file() and not os.access(target, os.X_OK)):
        kit.skip(f"the rootfs has no non-executable file {command} to run")
    try:
        done = kit.run(command)
    except OcimuxError as exc:
        assert exc.exit_code == code, (
            f"{what} ({command}) must give {code}; the runtime raised "
            f"{type(exc).__name__} (exit {exc.exit_code}): {exc}"
        )
        assert kit.second.list() == [], f"the failed create of {command} left a container"
    else:
        assert done.code == code, (
            f"{what} ({command}) must give {code}; the container exited {done.code}: "
            f"{done.stderr!r}"
        )


def test_sigkill_gives_137(ocimux_kit: Kit) -> None:
    kit = ocimux_kit
    rec = kit.detach("sleep", "30")
    try:
        kit.second.kill(rec.id, signal.SIGKILL)
    except OcimuxError as exc:
        pytest.fail(f"a second Dispatcher does not know the container's pid: kill failed: {exc}")
    done = _stopped(kit, rec.id, what="SIGKILL from a second Dispatcher did not end it")
    assert done.exit_code == 137


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGTERM, 42), (signal.SIGUSR1, 43)], ids=["TERM", "USR1"]
)
def test_kill_signal_reaches_trap(ocimux_kit: Kit, sig: signal.Signals, code: int) -> None:
    name = sig.name.removeprefix("SIG")
    rec = ocimux_kit.detach("sh", "-c", f"trap 'exit {code}' {name}; {LOOP}")
    time.sleep(0.5)  # let the shell set its trap
    ocimux_kit.second.kill(rec.id, sig)
    assert _stopped(ocimux_kit, rec.id).exit_code == code


def test_stop_escalates_to_sigkill(ocimux_kit: Kit) -> None:
    rec = ocimux_kit.detach("sh", "-c", IGNORE_TERM)
    time.sleep(0.5)  # let the shell set its trap
    timeout = 1.0
    start = time.monotonic()
    done = ocimux_kit.second.stop(rec.id, timeout=timeout)
    took = time.monotonic() - start
    assert took < timeout + 5, f"stop took {took:.1f}s"
    assert done.status == "stopped"
    assert done.exit_code == 137


# --- errors for bad references ---------------------------------------------------------------


@pytest.mark.parametrize("verb", ["inspect", "start", "kill", "stop", "delete"])
def test_unknown_container_is_not_found(ocimux_kit: Kit, verb: str) -> None:
    with pytest.raises(ContainerNotFoundError):
        getattr(ocimux_kit.dispatcher, verb)("no-such-container-0123")


def test_bad_name_is_invalid_and_leaves_nothing(ocimux_kit: Kit) -> None:
    with pytest.raises(InvalidArgumentError):
        ocimux_kit.dispatcher.create(ocimux_kit.new("true", name="bad name/!"))
    assert ocimux_kit.dispatcher.list() == []
