"""The kit's plugin loaded from a runtime author's own conftest.py: options and fixtures work.

Each test writes a small project (`pytest_plugins = ["ocimux.testing.plugin"]` in its
top-level conftest.py, a test using the kit's fixtures) and runs pytest on it in a new
process, as the author would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CONFTEST = 'pytest_plugins = ["ocimux.testing.plugin"]\n'

AUTHOR_TEST = """
def test_container_on_chosen_runtime(ocimux_kit, ocimux_runtime):
    assert ocimux_kit.runtime == ocimux_runtime
    assert ocimux_kit.dispatcher.registry.default_name() == ocimux_runtime
    done = ocimux_kit.run("sh", "-c", "echo hello from $0", "kit")
    assert (done.code, done.stdout) == (0, b"hello from kit\\n")
"""


def project(root: Path, tests_dir: str = "") -> Path:
    """An author's project: pytest.ini and conftest.py at the top, the test in `tests_dir`."""
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "conftest.py").write_text(CONFTEST)
    where = root / tests_dir
    where.mkdir(parents=True, exist_ok=True)
    (where / "test_author_runtime.py").write_text(AUTHOR_TEST)
    return root


def pytest_in(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run pytest in `root` with an environment free of ocimux and containers.conf settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OCIMUX_", "CONTAINERS_CONF", "PYTEST_"))
    }
    # only what the project asks for: none of the plugins installed in the test virtualenv
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.timeout(150)
def test_option_from_authors_conftest_picks_the_runtime(tmp_path: Path) -> None:
    root = project(tmp_path)
    done = pytest_in(root, "--ocimux-runtime", "mock")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "test_container_on_chosen_runtime[mock] PASSED" in done.stdout, done.stdout
    assert "ocimux conformance kit: runtimes mock" in done.stdout


@pytest.mark.timeout(150)
def test_option_from_authors_conftest_reaches_tests_in_a_subdirectory(tmp_path: Path) -> None:
    root = project(tmp_path, "tests/runtime")
    done = pytest_in(root, "tests", "--ocimux-runtime=mock")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        "tests/runtime/test_author_runtime.py::test_container_on_chosen_runtime[mock] PASSED"
        in (done.stdout)
    ), done.stdout


@pytest.mark.timeout(150)
def test_option_from_authors_conftest_is_honoured_not_defaulted(tmp_path: Path) -> None:
    """A runtime nobody installed fails by its name: the option reached the fixtures."""
    root = project(tmp_path)
    done = pytest_in(root, "--ocimux-runtime", "no-such-runtime-x")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "test_container_on_chosen_runtime[no-such-runtime-x] FAILED" in done.stdout
    assert "no-such-runtime-x" in done.stdout.split("short test summary info")[-1], done.stdout


@pytest.mark.timeout(60)
def test_option_without_the_plugin_is_a_usage_error(tmp_path: Path) -> None:
    """Control: without the conftest line pytest does not know the option."""
    root = project(tmp_path)
    (root / "conftest.py").write_text("")
    done = pytest_in(root, "--ocimux-runtime", "mock")
    assert done.returncode == 4, done.stdout + done.stderr
    assert "unrecognized arguments: --ocimux-runtime" in done.stderr
