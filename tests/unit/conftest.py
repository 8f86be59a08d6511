"""Unit tests start no process: every way to start one fails loudly here.

Tests that need a process (a runtime, a monitor, the CLI in a subprocess, a pty) belong in
tests/integration/. The guard is on from the first fixture of each module to its last
(module-scoped fixtures such as an in-process server included) and patches every entry
point the code uses: `subprocess.Popen` (hence `subprocess.run`, `os.popen`, asyncio),
`_posixsubprocess.fork_exec` (multiprocessing; `subprocess._fork_exec` is its alias), `os.fork`/`forkpty`/`posix_spawn[p]`/
`system`/`exec*`/`spawn*`, `pty.fork` and `ocimux.base.process.run`/`spawn`. An attempt raises
`ProcessStarted` where it happens and, in case the code under test swallowed that, fails
the test at teardown naming what it tried to start.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.unit.process_guard import GUARD, ProcessGuard, fail_on_attempts


@pytest.fixture(scope="module", autouse=True)
def _no_process_in_this_module() -> Iterator[ProcessGuard]:
    with pytest.MonkeyPatch.context() as mp:
        GUARD.install(mp)
        yield GUARD


@pytest.fixture(autouse=True)
def process_guard(_no_process_in_this_module: ProcessGuard) -> Iterator[ProcessGuard]:
    """The guard; a test that expects an attempt clears `attempts` itself."""
    yield _no_process_in_this_module
    fail_on_attempts(_no_process_in_this_module)
