"""ocimux.testing: a conformance kit every runtime plugin can run against itself.

It is a pytest plugin (`ocimux.testing.plugin`) plus a suite of contract tests
(`ocimux.testing.suite`). Install your plugin, then run:

    pytest -p ocimux.testing.plugin --pyargs ocimux.testing.suite --ocimux-runtime NAME

Options:

- `--ocimux-runtime NAME` (repeatable or comma-separated; default `mock`): every test runs once
  per runtime.
- `--ocimux-rootfs DIR`: the root filesystem containers run in. Default: a busybox rootfs built
  with `ocimux.rootfs.build_busybox_rootfs` in a session temporary directory (needs a static
  busybox on the host). It must hold `sh`, `sleep` and `echo`.

Each test runs against an isolated `Dispatcher` (its own containers.conf with `[ocimux]
state_dir`/`run_dir` and `[engine] runtime = NAME`, its own `OCIMUX_CACHE_DIR`); containers a
test leaves behind are removed at teardown. A test that needs a capability the runtime declares
false (`ocimux runtimes`) is skipped with the capability's reason; a runtime that declares a
capability true must actually deliver it.

The fixtures (`ocimux_runtime`, `ocimux_rootfs`, `dispatcher`, `ocimux_kit`) and the helper
`run_container` can be used in your own tests too: load the plugin with `-p ocimux.testing.plugin`
or `pytest_plugins = ["ocimux.testing.plugin"]` in your top-level conftest.py.
"""

from __future__ import annotations

from .plugin import Captured, Kit, run_container

__all__ = ["Captured", "Kit", "run_container"]
