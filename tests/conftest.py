"""Shared fixtures: an isolated ocimux environment per test, markers that skip with a reason.

Every test (unit and integration) runs with no `OCIMUX_*` and no `CONTAINERS_CONF*`
variable of the caller's environment (`hermetic_environ`): an `OCIMUX_OCIMUX__STATE_DIR`
pointing at someone's real state would otherwise win over the test's own configuration,
and the fixtures that remove what a test left would remove that someone's containers.
A fixture that lists or removes containers does so only in a state directory it made
(`assert_own_state`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("requires_root") and os.geteuid() != 0:
        pytest.skip("requires root (euid 0)")
    for marker in item.iter_markers("requires_runtime"):
        name = marker.args[0]
        if shutil.which(name) is None:
            pytest.skip(f"runtime binary {name!r} not on PATH")


#: the prefixes of the variables no test inherits (matched case-insensitively, as ocimux does)
SCRUBBED_PREFIXES = ("OCIMUX_", "CONTAINERS_CONF")


def scrub_environ(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Remove every `OCIMUX_*` and `CONTAINERS_CONF*` variable; return the names removed."""
    names = [k for k in os.environ if k.upper().startswith(SCRUBBED_PREFIXES)]
    for name in names:
        monkeypatch.delenv(name)
    return names


@pytest.fixture(scope="session", autouse=True)
def _hermetic_session() -> Iterator[None]:
    """Scrubbed for session- and module-scoped fixtures too (set up before any test's own)."""
    with pytest.MonkeyPatch.context() as mp:
        scrub_environ(mp)
        yield


@pytest.fixture(autouse=True)
def hermetic_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scrubbed again for each test (whatever an earlier test or fixture left in os.environ)."""
    scrub_environ(monkeypatch)


def assert_own_state(env: Mapping[str, str], root: Path) -> None:
    """Fail unless `env` confines ocimux to `root`: its config file under `root`, and no
    variable that could move the state elsewhere. For fixtures, before they list or remove."""
    conf = env.get("CONTAINERS_CONF", "")
    inherited = sorted(
        k for k in env if k.upper().startswith(SCRUBBED_PREFIXES) and k not in OWN_VARIABLES
    )
    if not conf or not Path(conf).is_relative_to(root) or inherited:
        raise AssertionError(
            f"refusing to list or remove containers: this environment is not confined to {root} "
            f"(CONTAINERS_CONF={conf!r}, other variables: {inherited})"
        )


#: the variables `ocimux_env` itself sets
OWN_VARIABLES = frozenset({"CONTAINERS_CONF", "OCIMUX_CACHE_DIR"})


def write_conf(path: Path, state: Path, text: str = "") -> Path:
    """A containers.conf that keeps ocimux's state under `state`, plus `text`."""
    path.write_text(
        f'[ocimux]\nstate_dir = "{state}/lib"\nrun_dir = "{state}/run"\ncommand_timeout = 20\n'
        f'lock_timeout = 30\n[engine]\nruntime = "mock"\n{text}'
    )
    return path


@pytest.fixture
def ocimux_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment variables for an ocimux confined to tmp_path (also applied to this process)."""
    conf = write_conf(tmp_path / "containers.conf", tmp_path / "state")
    env = {
        "CONTAINERS_CONF": str(conf),
        "OCIMUX_CACHE_DIR": str(tmp_path / "cache"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
    }
    scrub_environ(monkeypatch)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return {**os.environ, **env}


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    """A directory to use as the mock runtime's rootfs (the mock runs host binaries)."""
    path = tmp_path / "rootfs"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real busybox root filesystem (skips when busybox-static is not installed)."""
    from ocimux.base.errors import InvalidArgumentError
    from ocimux.oci.rootfs import build_busybox_rootfs

    dest = tmp_path_factory.mktemp("busybox") / "rootfs"
    try:
        return build_busybox_rootfs(dest)
    except InvalidArgumentError as exc:
        pytest.skip(f"no busybox rootfs: {exc}")


Runner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def ocimux(ocimux_env: dict[str, str], tmp_path: Path) -> Iterator[Runner]:
    """Run the `ocimux` CLI in a subprocess with the isolated environment.

    Containers a test leaves behind are removed afterwards (monitors must not pile up), in
    this test's own state directory only (a call's `env=` does not reach the teardown).
    """

    def run(
        *args: str,
        input: str | None = None,
        timeout: float = 60,
        env: dict[str, str] | None = None,
        check: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "ocimux.cli", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**ocimux_env, **(env or {})},
            stdin=None if input is not None else subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"ocimux {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
        return proc

    yield run
    assert_own_state(ocimux_env, tmp_path)
    left = run("ps", "-a", "-q").stdout.split()
    if left:
        run("rm", "-f", "-t", "0", *left, timeout=120)
