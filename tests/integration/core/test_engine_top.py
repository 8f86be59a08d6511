"""`ocimux.engine.top` with real processes: which pids are a container's, and `ps` run for them.

A host process tree stands for the mock's containers (no pid namespace of their own); the
namespaced case (crun, runc-shim) is tests/integration/test_api_housekeeping.py's `docker top`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from ocimux.base.errors import InvalidArgumentError
from ocimux.engine.top import container_pids, top


def test_container_pids_of_a_host_process_are_it_and_its_descendants() -> None:
    child = subprocess.Popen(  # a process tree of our own: python, and its sleep
        [sys.executable, "-c", "import subprocess; subprocess.run(['sleep', '30'])"],
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while len(pids := container_pids(child.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert child.pid in pids and len(pids) == 2, pids
        assert os.getpid() not in pids
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    assert container_pids(child.pid) == set()  # reaped: no /proc entry, no processes


def test_top_runs_ps_for_the_processes_only() -> None:
    titles, rows = top(os.getpid(), "-o pid,args", container="me")
    assert titles == ["PID", "COMMAND"]
    assert [int(r[0]) for r in rows] == [os.getpid()]  # ps ran after the pids were read
    titles, rows = top(os.getpid(), "", container="me")
    assert titles[:3] == ["UID", "PID", "PPID"] and len(rows) == 1


@pytest.mark.parametrize(
    ("ps_args", "fragment"),
    [("-o comm", "Couldn't find PID field"), ("--ocx-bogus", "ps --ocx-bogus failed"),
     ("-ef\0-x", "NUL")],
)  # fmt: skip
def test_top_refuses_what_ps_cannot_answer(ps_args: str, fragment: str) -> None:
    with pytest.raises(InvalidArgumentError, match=fragment):
        top(os.getpid(), ps_args, container="me")
