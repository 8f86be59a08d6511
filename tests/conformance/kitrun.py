"""Running the conformance kit in a new pytest process, exactly as a plugin author runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

KIT = ["-m", "pytest", "-p", "ocimux.testing.plugin", "--pyargs", "ocimux.testing.suite"]


def kit_argv(name: str, *extra: str) -> list[str]:
    """The whole suite on runtime `name`; the summary lists failures, errors and skips."""
    quiet = ["-q", "-rfEs", "-p", "no:cacheprovider"]
    return [sys.executable, *KIT, "--ocimux-runtime", name, *quiet, *extra]


def kit_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """`env` (default ours) without ocimux, containers.conf and pytest settings.

    Plugins installed in the test virtualenv are not auto-loaded: the kit needs only its own
    (`-p ocimux.testing.plugin`), as in an author's environment, and starts seconds faster.
    """
    base = os.environ if env is None else env
    clean = {
        k: v
        for k, v in base.items()
        if not k.upper().startswith(("OCIMUX_", "CONTAINERS_CONF", "PYTEST_"))
    }
    clean["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return clean


def run_kit(
    name: str, cwd: Path, *extra: str, env: Mapping[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        kit_argv(name, *extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=kit_env(env),
        stdin=subprocess.DEVNULL,
    )


def summary(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def count(done: subprocess.CompletedProcess[str], outcome: str) -> int:
    """How many tests ended with `outcome` ("passed", "failed", ...), from the summary line."""
    found = re.search(rf"(\d+) {outcome}", summary(done))
    return int(found.group(1)) if found else 0


def failed_tests(done: subprocess.CompletedProcess[str]) -> set[str]:
    """The names (without parameters) of the tests in the `FAILED path::test[...]` lines."""
    return set(re.findall(r"^FAILED \S*::(test_\w+)", done.stdout, re.MULTILINE))


def skip_reasons(done: subprocess.CompletedProcess[str]) -> list[str]:
    """The reasons of the `SKIPPED [n] file:line: reason` lines."""
    return [
        line.split(": ", 1)[1]
        for line in done.stdout.splitlines()
        if line.startswith("SKIPPED") and ": " in line
    ]


def assert_passed(done: subprocess.CompletedProcess[str], name: str, skips: set[str]) -> None:
    """The kit passed on `name`, skipping exactly the tests named in `skips`."""
    assert done.returncode == 0, (
        f"kit on {name} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    )
    assert count(done, "passed") >= 25, summary(done)
    assert count(done, "failed") == 0 and count(done, "error") == 0, summary(done)
    skipped = {reason.split("[", 1)[0] for reason in skip_reasons(done)}
    assert skipped == skips, f"kit on {name} skipped {skipped}, expected {skips}:\n{done.stdout}"


def assert_kit_passes(
    name: str, cwd: Path, skips: set[str], env: Mapping[str, str] | None = None
) -> None:
    """Run the kit on `name`: it passes, skipping exactly the tests named in `skips`."""
    assert_passed(run_kit(name, cwd, env=env), name, skips)
