"""Failures on the real runc and crun under conmon: each leaves nothing behind and says one line.

After a failed create no record, no runtime state, no conmon and no container directory
may remain; a monitor that dies under a live container is noticed and cleanable.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import (
    Oci,
    alive,
    one_line,
    proc_state,
    runtime_params,
    wait_until,
)

#: whether each runtime can run a container without cgroups (crun --cgroup-manager=disabled)
NO_CGROUPS = {"runc": False, "crun": True}


def _assert_nothing_left(oci: Oci) -> None:
    assert oci.ps() == []
    assert oci.runtime_list() == []
    # a --rm container's exit command (the monitor's cleanup) may still be ending: a moment
    wait_until(
        lambda: not oci.own_processes(), 5, "no monitor or cleanup of the container to remain"
    )
    assert not oci.containers_dir.exists() or list(oci.containers_dir.iterdir()) == []


# --- create failures ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "status", "words"),
    [
        pytest.param("/bin/nonexistent", 127, ("nonexistent",), id="missing"),
        pytest.param("/bin/noexec", 126, ("permission denied",), id="not-executable"),
    ],
)
def test_create_failure_reports_the_runtime_and_leaves_nothing(
    oci: Oci, tmp_path: Path, command: str, status: int, words: tuple[str, ...]
) -> None:
    # a private copy: the session's rootfs is shared and must not change
    oci.rootfs = Path(shutil.copytree(oci.rootfs, tmp_path / "rootfs-copy", symlinks=True))
    script = oci.rootfs / "bin" / "noexec"
    script.write_text("#!/bin/sh\necho should not run\n")
    script.chmod(0o644)

    done = oci(*oci.new("run", command, name="bad"))
    assert (done.returncode, done.stdout) == (status, "")
    line = one_line(done.stderr)
    assert line.startswith("Error: ") and "bad" in line and oci.runtime in line, line
    for word in words:
        assert word in line.lower(), line
    _assert_nothing_left(oci)


def test_create_failure_with_rm_leaves_nothing(oci: Oci) -> None:
    done = oci(*oci.new("run", "/bin/nonexistent", name="bad", flags=["--rm"]))
    assert done.returncode == 127
    assert "nonexistent" in one_line(done.stderr)
    _assert_nothing_left(oci)


# --- a monitor that dies ------------------------------------------------------------------


def _kill_conmon(oci: Oci, ref: str) -> dict:
    rec = oci.record(ref)
    assert rec["status"] == "running" and alive(rec["monitor_pid"])
    os.kill(rec["monitor_pid"], signal.SIGKILL)
    wait_until(lambda: not alive(rec["monitor_pid"]), 3, "conmon to die")
    return rec


def test_rm_force_cleans_up_after_conmon_was_killed(oci: Oci) -> None:
    cid = oci.detach("web", "sleep", "100")
    rec = _kill_conmon(oci, "web")
    assert alive(rec["pid"])  # the container itself runs on without its monitor

    done = oci("rm", "-f", "-t", "1", "web")
    assert (done.returncode, done.stdout, done.stderr) == (0, "web\n", "")
    assert oci.ps() == []
    assert oci.runtime_list() == []
    assert not (oci.containers_dir / cid).exists()
    wait_until(lambda: proc_state(rec["pid"]) in (None, "Z"), 3, "the container's init to die")


def test_killed_conmon_shows_in_status_reason(oci: Oci) -> None:
    oci.detach("web", "sleep", "100")
    _kill_conmon(oci, "web")
    [rec] = oci.ps()
    assert rec["status"] in ("running", "unknown")
    assert "conmon" in (rec["status_reason"] or ""), rec


# --- bad input ----------------------------------------------------------------------------


def test_no_cgroups_needs_the_capability(oci: Oci) -> None:
    script = "echo ok; cat /proc/self/cgroup"
    done = oci(*oci.new("run", "sh", "-c", script, name="nc", flags=["--rm", "--no-cgroups"]))
    if NO_CGROUPS[oci.runtime]:
        assert (done.returncode, done.stderr) == (0, ""), done.stderr
        first, *cgroups = done.stdout.splitlines()
        assert first == "ok" and cgroups
        # without a cgroup manager no cgroup is named after the container (its 64-hex id)
        assert not any(re.search(r"/[0-9a-f]{64}$", line) for line in cgroups), cgroups
    else:
        assert (done.returncode, done.stdout) == (125, "")
        line = one_line(done.stderr)
        assert oci.runtime in line and "cgroups" in line, line
    assert oci.ps() == []
    assert oci.runtime_list() == []


@pytest.mark.parametrize(
    "runtime",
    runtime_params(["runc"]),
    indirect=True,
)
def test_missing_capability_error_names_it(oci: Oci) -> None:
    done = oci(*oci.new("run", "true", flags=["--rm", "--no-cgroups"]))
    assert done.returncode == 125
    assert "no_cgroups" in one_line(done.stderr)


def test_run_interactive_stdin_from_a_file_or_dev_null(oci: Oci, tmp_path: Path) -> None:
    data = tmp_path / "input.txt"
    data.write_text("from a file\n")
    argv = [sys.executable, "-m", "ocimux.cli", *oci.new("run", "cat", flags=["-i", "--rm"])]
    for source, expected in ((data, "from a file\n"), (Path(os.devnull), "")):
        with open(source, "rb") as stdin:
            done = subprocess.run(
                argv, stdin=stdin, capture_output=True, text=True, env=oci.env, timeout=30
            )
        assert (done.returncode, done.stdout, done.stderr) == (0, expected, "")
    assert oci.ps() == []


def test_rm_removes_the_exit_file(oci: Oci) -> None:
    cid = oci.detach("web", "true")
    oci.wait_status("web", "stopped")
    exits = oci.runtime_root().with_name(f"{oci.runtime}.exits")
    assert (exits / cid).read_text().strip() == "0"
    assert oci("rm", "web").returncode == 0
    assert oci.ps() == []
    assert not (exits / cid).exists()
