"""Crash safety: `ocimux` SIGKILLed at every fault point leaves nothing half-done.

`OCIMUX_CRASH_AT=<point>` makes the process kill itself there (core/base/_faults.py). After
each crash the next call (`ps -a`) must show the container either fully there, with the
right status, or fully gone: no record, no runtime state, no conmon, no directory.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from tests.integration.conftest import Oci, wait_until

GONE_AFTER = (
    "create:recorded",
    "create:bundle",
    "create:runtime",
    "delete:marked",
    "delete:runtime",
)


def _crash(oci: Oci, point: str, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "ocimux.cli", *args],
        env={**oci.env, "OCIMUX_CRASH_AT": point},
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == -signal.SIGKILL, (point, done.returncode, done.stderr)
    return done


def _fully_gone(oci: Oci) -> None:
    assert oci.ps() == []
    assert oci.runtime_list() == []
    assert not oci.containers_dir.exists() or list(oci.containers_dir.iterdir()) == []
    wait_until(lambda: not oci.own_processes(), 5, "no conmon of the test to remain")


@pytest.mark.parametrize("point", ["create:recorded", "create:bundle", "create:runtime"])
def test_a_crash_during_create_leaves_nothing(oci: Oci, point: str) -> None:
    _crash(oci, point, *oci.new("run", "sleep", "100", name="doomed", flags=["-d"]))
    _fully_gone(oci)
    # and the name is free again
    oci.detach("doomed", "true")


def test_a_crash_right_after_start_is_reconciled_as_running(oci: Oci) -> None:
    oci.ok(*oci.new("create", "sleep", "100", name="web"))
    _crash(oci, "start:runtime", "start", "web")
    (rec,) = oci.ps()
    assert rec["name"] == "web" and rec["status"] == "running"
    assert [c["status"] for c in oci.runtime_list()] == ["running"]


def test_a_crash_during_stop_leaves_the_container_listed_with_its_real_status(oci: Oci) -> None:
    oci.detach("web", "sh", "-c", "trap '' TERM; while :; do sleep 0.1; done")
    _crash(oci, "stop:signalled", "stop", "-t", "5", "web")
    (rec,) = oci.ps()
    assert rec["status"] == "running"  # it ignores SIGTERM; the SIGKILL never came
    oci.ok("stop", "-t", "0", "web")
    assert oci.record("web")["exit_code"] == 137


@pytest.mark.parametrize("point", ["delete:marked", "delete:runtime"])
def test_a_crash_during_rm_is_finished_by_the_next_call(oci: Oci, point: str) -> None:
    oci.detach("web", "sleep", "100")
    _crash(oci, point, "rm", "-f", "web")
    _fully_gone(oci)


def test_a_crash_during_rm_is_also_finished_by_rm_itself(oci: Oci) -> None:
    oci.detach("web", "sleep", "100")
    _crash(oci, "delete:marked", "rm", "-f", "web")
    assert oci.ok("rm", "web").strip() == "web"
    _fully_gone(oci)


def test_a_crash_before_an_exec_starts_leaves_no_session(oci: Oci) -> None:
    oci.detach("box", "sleep", "100")
    _crash(oci, "exec:recorded", "exec", "box", "sh", "-c", "echo never")
    assert json.loads(oci.ok("exec", "--list", "box", "--format", "json")) == []
    (rec,) = oci.ps()
    assert rec["status"] == "running"


def test_a_crash_while_attached_to_an_exec_leaves_the_session_listed_until_it_ends(
    oci: Oci,
) -> None:
    oci.detach("box", "sleep", "100")
    _crash(oci, "exec:started", "exec", "box", "sleep", "1")
    (session,) = json.loads(oci.ok("exec", "--list", "box", "--format", "json"))
    assert session["status"] == "running" and session["pid"] > 0
    wait_until(
        lambda: json.loads(oci.ok("exec", "--list", "box", "--format", "json"))[0]["status"] == "stopped",
        5, "the orphaned session to be seen ending",
    )  # fmt: skip
    (session,) = json.loads(oci.ok("exec", "--list", "box", "--format", "json"))
    assert session["exit_code"] == 0
    assert oci.record("box")["status"] == "running"


def test_conmon_killed_under_a_running_container_is_reported_lost_and_removable(oci: Oci) -> None:
    oci.detach("web", "sleep", "100")
    monitor = oci.record("web")["monitor_pid"]
    subprocess.run(["kill", "-9", str(monitor)], check=True)
    wait_until(
        lambda: oci.record("web")["status"] == "unknown", 5, "the container to be reported lost"
    )
    rec = oci.record("web")
    assert "conmon" in rec["status_reason"] and "rm -f" in rec["status_reason"]
    oci.ok("rm", "-f", "web")
    _fully_gone(oci)


def test_a_hanging_runtime_times_out_naming_the_command(oci: Oci, tmp_path) -> None:
    hang = tmp_path / "hang-runtime"
    hang.write_text("#!/bin/sh\nexec sleep 3600\n")
    hang.chmod(0o755)
    oci.edit_conf(
        lambda text: (
            text.replace("command_timeout = 20", "command_timeout = 1")
            + f'[engine.runtimes]\nhangrt = ["{hang}"]\n'
        )
    )
    oci.detach("web", "sleep", "100")  # a healthy container on the real runtime
    done = oci("run", "--rm", "--runtime", "hangrt", "--rootfs", str(oci.rootfs), "--", "true")
    assert done.returncode == 125
    line = done.stderr.strip()
    assert "\n" not in line and "hangrt" in line and ("hung" in line or "said nothing" in line), (
        line
    )
    assert [r["name"] for r in oci.ps()] == ["web"]
