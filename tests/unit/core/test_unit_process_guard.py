"""The unit tests' guard (tests/unit/conftest.py): every way to start a process is refused."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import pty
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from ocimux.base import process

from tests.unit.process_guard import ProcessGuard, ProcessStarted, fail_on_attempts


def _children() -> set[int]:
    """This process's children (of every thread)."""
    return {
        int(pid)
        for task in Path("/proc/self/task").iterdir()
        for pid in (task / "children").read_text().split()
    }


ATTEMPTS: dict[str, Callable[[], object]] = {
    "subprocess.run": lambda: subprocess.run(["true"], check=False),
    "subprocess.Popen": lambda: subprocess.Popen(["true"]),
    "subprocess.check_output": lambda: subprocess.check_output(["true"]),
    "os.system": lambda: os.system("true"),
    "os.popen": lambda: os.popen("true"),
    "os.fork": lambda: os.fork(),
    "os.forkpty": lambda: os.forkpty(),
    "os.posix_spawn": lambda: os.posix_spawn("/bin/true", ["true"], {}),
    "os.posix_spawnp": lambda: os.posix_spawnp("true", ["true"], {}),
    "os.execv": lambda: os.execv("/bin/true", ["true"]),
    "os.spawnv": lambda: os.spawnv(os.P_WAIT, "/bin/true", ["true"]),
    "pty.fork": lambda: pty.fork(),
    "pty.spawn": lambda: pty.spawn(["true"]),
    "ocimux.base.process.run": lambda: process.run(["true"], timeout=5),
    "ocimux.base.process.spawn": lambda: process.spawn(["true"]),
    "multiprocessing fork": lambda: multiprocessing.get_context("fork").Process().start(),
    "multiprocessing spawn": lambda: multiprocessing.get_context("spawn").Process().start(),
    "asyncio": lambda: asyncio.run(asyncio.create_subprocess_exec("true")),
}


@pytest.mark.parametrize("attempt", ATTEMPTS.values(), ids=ATTEMPTS.keys())
def test_starting_a_process_is_refused_and_recorded(
    attempt: Callable[[], object], process_guard: ProcessGuard
) -> None:
    before = _children()
    with pytest.raises(ProcessStarted, match="tests/integration/"):
        attempt()
    assert _children() == before  # refused before anything was forked
    assert len(process_guard.attempts) == 1, process_guard.attempts
    process_guard.attempts.clear()  # expected here: do not fail this test at teardown


def test_an_attempt_the_code_swallowed_still_fails_the_test(process_guard: ProcessGuard) -> None:
    try:
        subprocess.run(["echo", "hidden"], check=False)
    except Exception:  # noqa: BLE001 - code under test that hides the error
        pass
    with pytest.raises(pytest.fail.Exception, match="echo hidden"):
        fail_on_attempts(process_guard)
    assert process_guard.attempts == []  # reported once, then forgotten


def test_a_test_without_attempts_passes(process_guard: ProcessGuard) -> None:
    fail_on_attempts(process_guard)  # no exception
    assert process_guard.attempts == []
