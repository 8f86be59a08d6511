"""Crash safety on the shim v2 backend: ocimux SIGKILLed mid-operation loses nothing.

Same rule as for runc/crun (test_crash_safety.py): afterwards each container is fully there
with its real status, or fully gone — record, shim, I/O monitor, directory.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import pids_matching, wait_until

pytestmark = [pytest.mark.requires_root, pytest.mark.requires_runtime("containerd-shim-runc-v2")]


class Shim:
    def __init__(self, ocimux, env: dict[str, str], rootfs: Path) -> None:  # noqa: ANN001
        self.run, self.env, self.rootfs = ocimux, env, rootfs
        self.state = Path(env["CONTAINERS_CONF"]).parent / "state"

    def ok(self, *args: str) -> str:
        return self.run(*args, check=True).stdout

    def new(self, verb: str, *cmd: str, name: str, flags: tuple[str, ...] = ()) -> list[str]:
        return [
            verb,
            *flags,
            "--name",
            name,
            "--runtime",
            "runc-shim",
            "--rootfs",
            str(self.rootfs),
            "--",
            *cmd,
        ]

    def crash(self, point: str, *args: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "ocimux.cli", *args],
            env={**self.env, "OCIMUX_CRASH_AT": point},
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert done.returncode == -signal.SIGKILL, (point, done.returncode, done.stderr)

    def ps(self) -> list[dict]:
        return json.loads(self.ok("ps", "-a", "--format", "json"))

    def shims(self) -> list[int]:
        """Live shims and I/O monitors of this test (the event sink may linger: not counted)."""
        shims = pids_matching(f"-address {self.state}/run/runtimes/runc-shim/containerd.sock")
        return shims + pids_matching(f"shimv2.monitor --dir {self.state}")

    def fully_gone(self) -> None:
        assert self.ps() == []
        containers = self.state / "lib" / "containers"
        assert not containers.exists() or list(containers.iterdir()) == []
        wait_until(lambda: not self.shims(), 5, "no shim or monitor of the test to remain")


@pytest.fixture
def shim(ocimux, ocimux_env, busybox_rootfs):  # noqa: ANN001, ANN201
    helper = Shim(ocimux, ocimux_env, busybox_rootfs)
    yield helper
    left = helper.ps()
    if left:
        helper.run("rm", "-f", "-t", "0", *(r["id"] for r in left), timeout=60)
    wait_until(lambda: not helper.shims(), 5, "shims to go after rm -f")


@pytest.mark.parametrize("point", ["create:recorded", "create:bundle", "create:runtime"])
def test_a_crash_during_create_leaves_nothing(shim: Shim, point: str) -> None:
    shim.crash(point, *shim.new("run", "sleep", "100", name="doomed", flags=("-d",)))
    shim.fully_gone()
    shim.ok(*shim.new("run", "true", name="doomed", flags=("--rm",)))  # the name is free again


def test_a_crash_right_after_start_is_reconciled_as_running(shim: Shim) -> None:
    shim.ok(*shim.new("create", "sleep", "100", name="web"))
    shim.crash("start:runtime", "start", "web")
    (rec,) = shim.ps()
    assert rec["status"] == "running"
    assert shim.ok("exec", "web", "echo", "alive") == "alive\n"


@pytest.mark.parametrize("point", ["delete:marked", "delete:runtime"])
def test_a_crash_during_rm_is_finished_by_the_next_call(shim: Shim, point: str) -> None:
    shim.ok(*shim.new("run", "true", name="gone"))
    shim.crash(point, "rm", "gone")
    shim.fully_gone()


def test_a_crash_before_an_exec_starts_leaves_no_session(shim: Shim) -> None:
    shim.ok(*shim.new("run", "sleep", "100", name="box", flags=("-d",)))
    shim.crash("exec:recorded", "exec", "box", "sh", "-c", "echo never")
    assert json.loads(shim.ok("exec", "--list", "box", "--format", "json")) == []
    assert [r["status"] for r in shim.ps()] == ["running"]


def test_a_crash_while_attached_to_an_exec_leaves_the_session_listed_until_it_ends(
    shim: Shim,
) -> None:
    shim.ok(*shim.new("run", "sleep", "100", name="box", flags=("-d",)))
    shim.crash("exec:started", "exec", "box", "sh", "-c", "sleep 1; exit 3")
    (session,) = json.loads(shim.ok("exec", "--list", "box", "--format", "json"))
    assert session["status"] == "running" and session["pid"] > 0
    wait_until(
        lambda: json.loads(shim.ok("exec", "--list", "box", "--format", "json"))[0]["status"] == "stopped",
        10, "the orphaned session to be seen ending",
    )  # fmt: skip
    (session,) = json.loads(shim.ok("exec", "--list", "box", "--format", "json"))
    assert session["exit_code"] == 3  # its I/O monitor recorded it from the shim's Wait
    assert [r["status"] for r in shim.ps()] == ["running"]
