"""ocimux.testing: a conformance kit every runtime plugin can run against itself.

It is a pytest plugin (`ocimux.testing.plugin`) plus a suite of contract tests
(`ocimux.testing.suite`). Install ocimux with the kit's extra (`pip install 'ocimux[kit]'`,
which adds pytest) and your plugin, then run:

    pytest -p ocimux.testing.plugin --pyargs ocimux.testing.suite --ocimux-runtime NAME

Options:

- `--ocimux-runtime NAME` (repeatable or comma-separated; default `mock`): every test runs once
  per runtime.
- `--ocimux-rootfs DIR`: the root filesystem containers run in. Default: a busybox rootfs built
  with `ocimux.oci.rootfs.build_busybox_rootfs` in a session temporary directory (needs a static
  busybox on the host). It must hold `sh`, `sleep`, `echo`, `true`, `cat` and `stty`, and a
  non-executable `/etc/passwd` (the 126 test is skipped without one).

Each test gets an isolated `Dispatcher` (its own containers.conf with `[ocimux]
state_dir`/`run_dir` and `[engine] runtime = NAME`, its own `OCIMUX_CACHE_DIR`) that creates
the containers; every later verb goes through a *second* Dispatcher opened afresh on the same
configuration (`Kit.second`: a new Registry, so a new instance of your runtime), and some
through a second `ocimux` process (`Kit.cli`). A runtime that keeps container state in its
instance, class or module fails, as it would between two `ocimux` commands. Containers a test
leaves behind are removed at teardown.

What the suite checks: the lifecycle and state machine (created → running → stopped with its
exit code, refused verbs never reaching the runtime, `rm -f` of a created container), exit
codes (0, 3, 126 for a non-executable file, 127 for a missing command, 137 after SIGKILL),
signals reaching a trap and `stop` escalating to SIGKILL; stdin reaching `cat` and its EOF,
stdout and stderr kept apart, the log (`ocimux logs` in another process, after the container
exited), a terminal's size; exec attached and detached (running, then its exit code); a
container driven by another process; `unknown` with a reason once the monitor
(`CreateResult.monitor_pid`) is killed, and `rm -f` afterwards; pause, update and checkpoint
when declared; and, for every capability declared false, that its operation raises
`CapabilityError` before anything runs.

A test needing a capability the runtime declares false (`ocimux runtimes`) is skipped; every
skip reason starts with the test's name (`test_pause_and_unpause[myrt]: runtime myrt declares
pause false (declared): ...`), so `-rs` shows exactly what your runtime does not claim.

The fixtures (`ocimux_runtime`, `ocimux_rootfs`, `dispatcher`, `ocimux_kit`), the `Kit` and the
helper `run_container` can be used in your own tests too: load the plugin with
`-p ocimux.testing.plugin` or `pytest_plugins = ["ocimux.testing.plugin"]` in your top-level
conftest.py; `--ocimux-runtime` then works on your command line.
"""

from __future__ import annotations

import pytest

# the suite's parts and the Kit assert too: let pytest explain their failures
pytest.register_assert_rewrite(
    "ocimux.testing.kit", "ocimux.testing._suite_io", "ocimux.testing._suite_state"
)

from .kit import Captured, Kit, run_container  # noqa: E402

__all__ = ["Captured", "Kit", "run_container"]
