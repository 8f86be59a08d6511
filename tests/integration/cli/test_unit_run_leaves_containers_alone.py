"""A unit test run never touches the caller's containers (issue 14, item 6).

A live container on the mock runtime, made through the CLI in this test's own state; then
fixture-heavy unit test files run in a subprocess with `OCIMUX_OCIMUX__STATE_DIR`,
`OCIMUX_OCIMUX__RUN_DIR` and `CONTAINERS_CONF` all pointing at that state. Their fixtures list
and force-remove every container of the store they open, so if any of them opened this one
the container would be gone. First the test shows the variables alone lead ocimux there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, Runner, write_conf

#: unit files whose fixtures open stores and remove what they hold at teardown
UNIT_FILES = (
    "tests/unit/server/test_server_errors.py",  # module server on the fake runtime
    "tests/unit/server/test_server_container_config.py",  # a server per test (ocimux_env)
)


def _listed(ocimux: Runner, env: dict[str, str] | None = None) -> dict[str, dict]:
    proc = ocimux("ps", "-a", "--format", "json", env=env)
    assert proc.returncode == 0, proc.stderr
    return {r["name"]: r for r in json.loads(proc.stdout)}


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_unit_tests_leave_a_live_container_of_the_callers_state_alone(
    ocimux: Runner, ocimux_env: dict[str, str], rootfs: Path, tmp_path: Path
) -> None:
    run = ocimux("run", "-d", "--name", "keeper", "--rootfs", str(rootfs), "--", "sleep", "600")
    assert run.returncode == 0, run.stderr
    keeper = _listed(ocimux)["keeper"]
    assert keeper["status"] == "running" and _alive(keeper["pid"])

    state = tmp_path / "state"  # where ocimux_env's configuration keeps it (write_conf)
    pointing_there = {
        "OCIMUX_OCIMUX__STATE_DIR": str(state / "lib"),
        "OCIMUX_OCIMUX__RUN_DIR": str(state / "run"),
    }
    # the variables are honoured: with another configuration they alone lead ocimux to it
    other = tmp_path / "other"
    other.mkdir()
    elsewhere = {"CONTAINERS_CONF": str(write_conf(other / "containers.conf", other / "state"))}
    assert _listed(ocimux, env=elsewhere) == {}
    assert _listed(ocimux, env={**elsewhere, **pointing_there})["keeper"]["id"] == keeper["id"]

    env = {k: v for k, v in ocimux_env.items() if not k.startswith("PYTEST_")}
    env.update(pointing_there, CONTAINERS_CONF=ocimux_env["CONTAINERS_CONF"])
    done = subprocess.run(
        [
            sys.executable, "-m", "pytest", *UNIT_FILES, "-q", "-x", "-p", "no:cacheprovider",
            f"--basetemp={tmp_path / 'inner'}",
        ],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout.splitlines()[-1], done.stdout[-500:]

    after = _listed(ocimux)["keeper"]
    assert (after["id"], after["status"], after["pid"]) == (keeper["id"], "running", keeper["pid"])
    assert _alive(keeper["pid"]), "the container's process is gone"
    assert os.path.isdir(keeper["bundle"])
