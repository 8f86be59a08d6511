"""A full state disk: `ps`, `stop`, `kill` and `rm -f` keep working, exit codes are kept.

The state directory is a 2 MB tmpfs of the test's own, filled to the last byte by a filler
file while containers run (issue 13, item 4). Before the fix every command failed with
"disk I/O error" (SQLite could not even make its `-shm` index) and a container that exited
meanwhile lost its exit code (conmon's persist-dir exit file was on the full disk, and conmon
gives up on its other exit file when that write fails). Now the exit files are on the run dir
and the store keeps a reserve file it releases when the disk is full. The mock's shim and
runc-shim's exec monitors keep theirs on the run dir too; `rm -f` of a container flooding
the disk with no log cap (which eats the reserve in milliseconds) kills it and truncates its
own log when a write of the removal finds no room.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import (
    Oci,
    one_line,
    pids_matching,
    runtime_params,
    wait_until,
)

pytestmark = pytest.mark.requires_root

MOCK = pytest.param("mock", id="mock", marks=pytest.mark.requires_root)
SHIM = pytest.param(
    "runc-shim",
    id="runc-shim",
    marks=[
        pytest.mark.requires_root,
        pytest.mark.requires_runtime("containerd-shim-runc-v2"),
        pytest.mark.requires_runtime("runc"),
    ],
)


def _fill(path: Path) -> None:
    """Write zeros to `path` until the disk refuses a single byte more."""
    with open(path, "ab", buffering=0) as fh:
        for size in (1 << 16, 4096, 1):
            while True:
                try:
                    written = fh.write(b"\0" * size)
                except OSError:
                    break
                if not written:
                    break


def _free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


@pytest.fixture
def full_disk(oci: Oci) -> Iterator[Path]:
    """`oci` with its state directory on a 2 MB tmpfs; yields that directory.

    Teardown (before `oci`'s): removes the fillers, every container, and the mount.
    """
    lib = oci.state / "lib"
    lib.mkdir(parents=True, mode=0o700, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(lib)], check=True
    )
    try:
        yield lib
    finally:
        for filler in lib.glob("filler*"):
            filler.unlink()
        left = oci("ps", "-a", "-q").stdout.split()
        if left:
            oci("rm", "-f", "-t", "0", *left, timeout=120)
        subprocess.run(["umount", "-l", str(lib)], check=False)


@pytest.mark.parametrize("runtime", [*runtime_params(), MOCK], indirect=True)
def test_commands_work_and_exit_codes_survive_a_full_state_disk(oci: Oci, full_disk: Path) -> None:
    stopped = oci.detach("stopped", "sleep", "1000")
    killed = oci.detach("killed", "sleep", "1000")
    removed = oci.detach("removed", "sleep", "1000")
    exits = oci.detach("exits", "sh", "-c", "sleep 4; exit 7")
    assert (full_disk / ".reserve").stat().st_size == 1 << 20
    _fill(full_disk / "filler")
    assert _free(full_disk) == 0

    # the container that exits meanwhile: conmon's exit file is on the run dir
    exit_file = oci.state / "run" / "persist" / exits / "exit"
    wait_until(exit_file.exists, 10, "the exit file on the run dir")
    assert exit_file.read_text().strip() == "7"
    assert not (oci.containers_dir / exits / "exit").exists()  # nothing on the state disk

    table = oci.ok("ps", "-a")
    assert "Exited (7)" in table, table
    assert not (full_disk / ".reserve").exists()  # released to make room
    assert oci.ok("stop", "-t", "1", stopped).strip() == stopped
    assert oci.ok("kill", killed).strip() == killed
    assert oci.ok("rm", "-f", removed).strip() == removed
    records = {rec["name"]: rec for rec in oci.ps()}
    assert set(records) == {"stopped", "killed", "exits"}
    assert records["exits"]["status"] == "stopped"
    assert records["exits"]["exit_code"] == 7
    assert records["killed"]["exit_code"] == 137
    assert records["stopped"]["exit_code"] in (137, 143)

    # no reserve left and the room rm -f made taken again: a write cannot be done
    _fill(full_disk / "filler2")
    done = oci(*oci.new("run", "true", name="late", flags=["-d"]))
    assert done.returncode == 125
    assert one_line(done.stderr).startswith(f"Error: the state disk is full ({full_disk})"), (
        done.stderr
    )

    # space back: everything works again, and a later open makes the reserve again
    (full_disk / "filler2").unlink()
    (full_disk / "filler").unlink()
    assert oci.ok("rm", "-f", stopped, killed, exits).split() == [stopped, killed, exits]
    assert (full_disk / ".reserve").stat().st_size == 1 << 20
    assert not (oci.state / "run" / "persist" / exits).exists()  # removed with the container


@pytest.mark.parametrize("runtime", [SHIM, MOCK, *runtime_params(("crun",))], indirect=True)
def test_an_exec_exit_code_survives_a_full_state_disk(oci: Oci, full_disk: Path) -> None:
    cid = oci.detach("box", "sleep", "1000")
    sid = oci.ok("exec", "-d", cid, "sh", "-c", "sleep 3; exit 5").strip()
    _fill(full_disk / "filler")
    assert _free(full_disk) == 0

    # the session's monitor writes its exit file on the run dir, not in the bundle
    exit_file = oci.state / "run" / "persist" / cid / "exec" / sid / "exit"
    wait_until(exit_file.exists, 10, "the exec session's exit file on the run dir")
    assert exit_file.read_text().strip() == "5"
    assert not (oci.containers_dir / cid / "exec" / sid / "exit").exists()
    session = wait_until(
        lambda: (s := json.loads(oci.ok("exec", "--inspect", sid)))["status"] != "running" and s,
        5,
        "the session to be seen exited",
    )
    assert session["exit_code"] == 5, session

    (full_disk / "filler").unlink()
    assert oci.ok("rm", "-f", "-t", "0", cid).strip() == cid
    assert not (oci.state / "run" / "persist" / cid).exists()  # removed with the container


def _flooded(oci: Oci, full_disk: Path) -> str:
    """A container writing `yes` with no log cap, once it has filled the disk and eaten the
    reserve (as it does within milliseconds of the first write that releases it)."""
    cid = oci.detach("flood", "yes", "ocimux-flood")
    wait_until(lambda: _free(full_disk) == 0, 30, "the flood to fill the state disk")
    (full_disk / ".reserve").unlink(missing_ok=True)
    time.sleep(0.3)
    wait_until(lambda: _free(full_disk) == 0, 30, "the flood to eat the reserve's room")
    return cid


@pytest.mark.parametrize("runtime", [*runtime_params(), MOCK, SHIM], indirect=True)
def test_rm_f_removes_a_container_flooding_the_state_disk(oci: Oci, full_disk: Path) -> None:
    cid = _flooded(oci, full_disk)
    done = oci("rm", "-f", "-t", "1", cid, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == cid
    assert oci.ps() == []
    assert not (oci.containers_dir / cid).exists()
    assert not (oci.state / "run" / "persist" / cid).exists()
    assert pids_matching(cid) == [], "a process of the flooding container outlived rm -f"
    if oci.runtime in ("runc", "crun"):
        assert oci.runtime_list() == []
    assert oci.ok("ps", "-a").splitlines()[1:] == []


@pytest.mark.parametrize("runtime", runtime_params(("crun",)), indirect=True)
def test_stop_stops_a_container_flooding_the_state_disk(oci: Oci, full_disk: Path) -> None:
    cid = _flooded(oci, full_disk)
    done = oci("stop", "-t", "1", cid, timeout=60)
    # stopped whether or not its record could be written: the disk stays full of its log
    wait_until(lambda: oci.runtime_list()[0]["status"] == "stopped", 5, "the container to stop")
    if done.returncode != 0:
        assert f"the state disk is full ({full_disk})" in one_line(done.stderr)
    assert oci("ps", "-a").returncode == 0  # shows what it can
    assert oci.ok("rm", "-f", cid).strip() == cid  # and rm -f makes room
    records = oci.ps()
    assert records == []
