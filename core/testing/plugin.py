"""The pytest plugin of the conformance kit: options, fixtures and helpers (see `ocimux.testing`)."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
from ocimux.capabilities import Capabilities, Capability
from ocimux.dispatcher import Dispatcher, NewContainer
from ocimux.errors import OcimuxError
from ocimux.options import StdStreams
from ocimux.store import ContainerRecord

__all__ = ["Captured", "Kit", "run_container"]

#: how long a helper waits for a container to reach a state
WAIT_TIMEOUT = 10.0


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
    from ocimux.rootfs import build_busybox_rootfs

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
    paths); containers left behind are removed at teardown.
    """
    from ocimux.session import open_dispatcher

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


@dataclass(frozen=True, slots=True)
class Captured:
    """What a foreground container did: its record, exit code and both output streams."""

    record: ContainerRecord
    code: int | None
    stdout: bytes
    stderr: bytes


def run_container(dispatcher: Dispatcher, new: NewContainer) -> Captured:
    """Run `new` in the foreground, capturing stdout and stderr apart (stdin closed)."""
    out, err = io.BytesIO(), io.BytesIO()
    rec, code = dispatcher.run(new, StdStreams(stdout=out, stderr=err))
    return Captured(rec, code, out.getvalue(), err.getvalue())


@dataclass
class Kit:
    """The runtime under test, its dispatcher and rootfs, with shortcuts for contract tests."""

    dispatcher: Dispatcher
    runtime: str
    rootfs: Path

    @property
    def capabilities(self) -> Capabilities:
        registry = self.dispatcher.registry
        return registry.capabilities(registry.get(self.runtime))

    def capability(self, name: str) -> Capability:
        return self.capabilities.get(name)

    def require(self, name: str) -> None:
        """Skip the test, with the capability's reason, unless the runtime declares `name`."""
        cap = self.capability(name)
        if not cap:
            pytest.skip(f"{self.runtime} lacks {name} ({cap.source}): {cap.reason}")

    def new(self, *args: str, **fields: object) -> NewContainer:
        """A NewContainer running `args` in the kit's rootfs on the runtime under test."""
        return NewContainer(args=args, rootfs=self.rootfs, runtime=self.runtime, **fields)  # type: ignore[arg-type]

    def run(self, *args: str, **fields: object) -> Captured:
        """Run `args` in the foreground (removed afterwards) and capture its output."""
        fields.setdefault("auto_remove", True)
        return run_container(self.dispatcher, self.new(*args, **fields))

    def detach(self, *args: str, **fields: object) -> ContainerRecord:
        """Create and start `args` in the background; returns the (running) record."""
        rec, code = self.dispatcher.run(self.new(*args, **fields), None, detach=True)
        assert code is None
        return rec

    def wait_for(
        self,
        ref: str,
        predicate: Callable[[ContainerRecord], bool],
        timeout: float = WAIT_TIMEOUT,
    ) -> ContainerRecord:
        """Poll `inspect` until `predicate(record)` holds; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            rec = self.dispatcher.inspect(ref)
            if predicate(rec):
                return rec
            if time.monotonic() > deadline:
                raise AssertionError(f"container {rec.name} still {rec.status} after {timeout}s")
            time.sleep(0.05)

    def wait_status(self, ref: str, status: str, timeout: float = WAIT_TIMEOUT) -> ContainerRecord:
        return self.wait_for(ref, lambda r: r.status == status, timeout)


@pytest.fixture
def ocimux_kit(dispatcher: Dispatcher, ocimux_runtime: str, ocimux_rootfs: Path) -> Kit:
    """A `Kit` for the runtime under test."""
    return Kit(dispatcher, ocimux_runtime, ocimux_rootfs)
