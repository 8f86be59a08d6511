"""The pytest plugin of the conformance kit: options and fixtures (see `ocimux.testing`).

Load it with `-p ocimux.testing.plugin` or `pytest_plugins = ["ocimux.testing.plugin"]` in
your top-level conftest.py; then `--ocimux-runtime` and `--ocimux-rootfs` work on your own
command line and the fixtures below in your own tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest
from ocimux.base.errors import OcimuxError
from ocimux.engine.dispatcher import Dispatcher
from ocimux.engine.session import open_dispatcher
from ocimux.oci.rootfs import build_busybox_rootfs

from .kit import WAIT_TIMEOUT, Captured, Kit, run_container

__all__ = ["WAIT_TIMEOUT", "Captured", "Kit", "run_container", "runtime_names", "write_conf"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ocimux", "ocimux runtime conformance kit")
    group.addoption(
        "--ocimux-runtime",
        action="append",
        default=[],
        metavar="NAME",
        help="runtime to test (repeatable or comma-separated; default: mock)",
    )
    group.addoption(
        "--ocimux-rootfs",
        default=None,
        metavar="DIR",
        help="rootfs for the test containers (default: build a busybox rootfs)",
    )


def runtime_names(config: pytest.Config) -> list[str]:
    """The runtimes given with --ocimux-runtime, in order, without duplicates."""
    names: list[str] = []
    for value in config.getoption("--ocimux-runtime") or []:
        for name in value.split(","):
            name = name.strip()
            if name and name not in names:
                names.append(name)
    return names or ["mock"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "ocimux_runtime" in metafunc.fixturenames:
        names = runtime_names(metafunc.config)
        metafunc.parametrize("ocimux_runtime", names, ids=names, indirect=True)


def pytest_report_header(config: pytest.Config) -> str:
    return f"ocimux conformance kit: runtimes {', '.join(runtime_names(config))}"


@pytest.fixture
def ocimux_runtime(request: pytest.FixtureRequest) -> str:
    """The name of the runtime under test (parametrized over --ocimux-runtime)."""
    return getattr(request, "param", None) or runtime_names(request.config)[0]


@pytest.fixture(scope="session")
def ocimux_rootfs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """--ocimux-rootfs, or a busybox rootfs built once per session (skips without busybox)."""
    given = request.config.getoption("--ocimux-rootfs")
    if given:
        path = Path(given).resolve()
        if not path.is_dir():
            raise pytest.UsageError(f"--ocimux-rootfs {given}: not a directory")
        return path
    dest = tmp_path_factory.mktemp("ocimux-rootfs") / "rootfs"
    try:
        return build_busybox_rootfs(dest)
    except OcimuxError as exc:
        pytest.skip(f"no rootfs: give --ocimux-rootfs DIR or install busybox-static ({exc})")


def write_conf(path: Path, state: Path, runtime: str) -> Path:
    """A containers.conf keeping all state under `state`, with `runtime` as the default."""
    path.write_text(
        f'[ocimux]\nstate_dir = "{state}/lib"\nrun_dir = "{state}/run"\n'
        f'command_timeout = 20\nlock_timeout = 30\n[engine]\nruntime = "{runtime}"\n'
    )
    return path


@pytest.fixture
def dispatcher(
    ocimux_runtime: str, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Dispatcher]:
    """An isolated Dispatcher whose default runtime is the one under test.

    Its state, run and cache directories live in a fresh temporary directory (short, for socket
    paths); `CONTAINERS_CONF` and `OCIMUX_CACHE_DIR` point there for this test, so a second
    Dispatcher or `ocimux` process finds the same state. Containers left behind are removed at
    teardown (through this Dispatcher, whose runtime instance knows most about them).
    """
    base = tmp_path_factory.mktemp("ocimux")
    conf = write_conf(base / "containers.conf", base / "state", ocimux_runtime)
    env = {"CONTAINERS_CONF": str(conf), "OCIMUX_CACHE_DIR": str(base / "cache")}
    monkeypatch.delenv("CONTAINERS_CONF_OVERRIDE", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    d = open_dispatcher(conf, {**os.environ, **env})
    yield d
    with suppress(OcimuxError):
        for rec in d.list():
            with suppress(OcimuxError):
                d.delete(rec.id, force=True, timeout=0)


@pytest.fixture
def ocimux_kit(
    request: pytest.FixtureRequest, dispatcher: Dispatcher, ocimux_runtime: str, ocimux_rootfs: Path
) -> Kit:
    """A `Kit` for the runtime under test (its skip reasons name the test)."""
    return Kit(dispatcher, ocimux_runtime, ocimux_rootfs, test=request.node.name)
