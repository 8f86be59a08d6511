"""Trusted state only, state changed behind ocimux's back, and `ocimux system check/repair`.

Each test reproduces a scenario of issue 13 and checks the outcome from outside: the planted
directory still exists; the container's processes, cgroups, runtime state, layer mounts and
directories are gone; another ocimux instance's container still runs.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest

from tests.conftest import Runner, write_conf
from tests.integration.conftest import Oci, alive, one_line, runtime_params

SHIMLESS = ("crun", "runc")
CID = "f00d" * 16


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def procs_naming(text: str, *, sinks: bool = False) -> list[int]:
    """Live processes whose command line contains `text` (the shim event sink only if asked)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            line = _cmdline(int(entry))
            if text in line and alive(int(entry)):
                if sinks or "ocimux.plugins.shimv2.events" not in line:
                    out.append(int(entry))
    return out


def mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        points = [line.split()[4] for line in fh]
    return [p for p in points if p.startswith(f"{path}/")]


def cgroups_of(cid: str) -> list[str]:
    """cgroup directories named `cid`, up to 3 levels deep in every hierarchy (others' come
    and go meanwhile: errors are ignored)."""
    out = []
    for root, dirs, _ in os.walk("/sys/fs/cgroup"):
        if root.count("/") >= 7:
            dirs.clear()
        if cid in dirs:
            out.append(f"{root}/{cid}")
    return out


def _params() -> list[object]:
    """crun and runc under conmon, and the runc shim (its binary is what must be installed)."""
    shim = pytest.param(
        "runc-shim",
        id="runc-shim",
        marks=[
            pytest.mark.requires_root,
            pytest.mark.requires_runtime("containerd-shim-runc-v2"),
            pytest.mark.requires_runtime("runc"),
        ],
    )
    return [*runtime_params(SHIMLESS), shim]


@pytest.fixture(params=_params())
def box(
    request: pytest.FixtureRequest, ocimux: Runner, ocimux_env: dict[str, str], busybox_rootfs: Path
) -> Iterator[Oci]:
    """The CLI on one real runtime; teardown removes what is left and checks no process stays."""
    conf = Path(ocimux_env["CONTAINERS_CONF"])
    helper = Oci(ocimux, request.param, busybox_rootfs, conf, conf.parent / "state", ocimux_env)
    yield helper
    left = helper.run("ps", "-a", "-q").stdout.split()
    if left:
        helper.run("rm", "-f", "-t", "0", *left, timeout=120)
    deadline = time.monotonic() + 3
    while (stray := procs_naming(str(helper.state))) and time.monotonic() < deadline:
        time.sleep(0.05)
    stray_lines = [_cmdline(p) for p in stray]
    for pid in procs_naming(str(helper.state), sinks=True):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not stray, stray_lines


# --- trust ---------------------------------------------------------------------------------


def _plant(db: Path, bundle: Path, runtime: str = "gone-runtime", status: str = "creating") -> None:
    con = sqlite3.connect(db)
    con.execute(
        "INSERT INTO containers VALUES (?, 'planted', ?, ?, ?, 0, NULL, 0, NULL, NULL, NULL, '{}', '')",
        (CID, runtime, str(bundle), status),
    )
    con.commit()
    con.close()


def test_a_world_writable_state_directory_with_a_planted_record_is_refused(
    ocimux: Runner, ocimux_env: dict[str, str], tmp_path: Path
) -> None:
    """Issue 13 item 1: root's `ps -a` used to rmtree the directory a planted row named."""
    state = tmp_path / "state" / "lib"
    assert ocimux("ps", "-a").returncode == 0  # makes the database
    precious = tmp_path / "precious"
    (precious / "sub").mkdir(parents=True)
    (precious / "sub" / "file").write_text("keep me")
    _plant(state / "ocimux.db", precious)
    state.chmod(0o777)  # what a user who pre-created it would leave
    try:
        for args in (("ps", "-a"), ("rm", "-f", "planted"), ("inspect", "planted")):
            done = ocimux(*args)
            assert done.returncode == 125, done
            assert one_line(done.stderr) == (
                f"Error: state directory {state} is writable by other users (mode 0777);"
                " chmod 700 it, or set [ocimux] state_dir to a directory of your own"
            )
        assert (precious / "sub" / "file").read_text() == "keep me"
    finally:
        state.chmod(0o700)


@pytest.mark.parametrize("status", ["creating", "removing", "stopped"])
def test_a_recorded_bundle_outside_the_containers_directory_is_never_deleted(
    ocimux: Runner, tmp_path: Path, status: str
) -> None:
    """Even in a private state directory, a path the database names is not deleted if not ours."""
    assert ocimux("ps", "-a").returncode == 0
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "file").write_text("keep me")
    _plant(tmp_path / "state" / "lib" / "ocimux.db", precious, status=status)
    if status == "stopped":
        assert ocimux("rm", "-f", "planted").returncode == 0
    else:
        assert ocimux("ps", "-a").returncode == 0  # finishes the "interrupted" record
    assert ocimux("ps", "-a", "-q").stdout == ""
    assert (precious / "file").read_text() == "keep me"


def test_a_run_directory_writable_by_others_is_refused(ocimux: Runner, tmp_path: Path) -> None:
    run = tmp_path / "state" / "run"
    run.mkdir(parents=True)
    run.chmod(0o757)
    done = ocimux("ps")
    assert done.returncode == 125
    assert one_line(done.stderr) == (
        f"Error: run directory {run} is writable by other users (mode 0757);"
        " chmod 700 it, or set [ocimux] run_dir to a directory of your own"
    )


def test_a_zero_length_database_is_an_error_not_a_fresh_store(
    ocimux: Runner, tmp_path: Path
) -> None:
    db = tmp_path / "state" / "lib" / "ocimux.db"
    db.parent.mkdir(parents=True, mode=0o700)
    db.touch(mode=0o600)
    done = ocimux("ps", "-a")
    assert done.returncode == 125
    assert one_line(done.stderr).startswith(f"Error: state database {db} is empty")
    assert db.stat().st_size == 0


# --- state changed behind ocimux's back ----------------------------------------------------


def test_rm_f_kills_what_the_runtime_no_longer_knows(box: Oci) -> None:
    """Issue 13 item 5: the runtime's state directory removed while the container runs."""
    cid = box.detach("lost", "sleep", "1000")
    pid = box.record(cid)["pid"]
    assert alive(pid) and cgroups_of(cid)
    subprocess.run(["rm", "-rf", str(box.runtime_root())], check=True)
    done = box("rm", "-f", "lost")
    assert done.returncode == 0, done.stderr
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not alive(pid), "the container's process outlived rm -f"
    assert box.ps() == []
    assert cgroups_of(cid) == []
    assert not (box.containers_dir / cid).exists()
    assert procs_naming(str(box.containers_dir / cid)) == []


# --- system check / repair -----------------------------------------------------------------


def _other_instance(
    tmp_path: Path, env: dict[str, str], rootfs: Path
) -> tuple[dict[str, str], str]:
    """A second ocimux (its own state) with a running container: repair must not touch it."""
    conf = write_conf(tmp_path / "other.conf", tmp_path / "other")
    other = {**env, "CONTAINERS_CONF": str(conf), "OCIMUX_CACHE_DIR": str(tmp_path / "oc")}
    run = [sys.executable, "-m", "ocimux.cli"]
    cid = subprocess.run(
        [*run, "run", "-d", "--runtime", "crun", "--rootfs", str(rootfs), "--", "sleep", "1000"],
        env=other, capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    return other, cid


def test_repair_removes_the_orphans_of_a_database_moved_aside(box: Oci, tmp_path: Path) -> None:
    """Issue 13 item 5: after moving the database aside, nothing could adopt or remove them."""
    other_env, other_cid = _other_instance(tmp_path, box.env, box.rootfs)
    run = [sys.executable, "-m", "ocimux.cli"]
    try:
        plain = box.detach("plain", "sleep", "1000")
        flags = ["-d"] if box.runtime == "runc-shim" else ["-d", "--rm"]
        layered = box.ok(
            "run", *flags, "--runtime", box.runtime, "--rootfs", f"{box.rootfs}:O",
            "--", "sleep", "1000",
        ).strip()  # fmt: skip
        pids = [box.record(c)["pid"] for c in (plain, layered)]
        db = box.state / "lib" / "ocimux.db"
        for suffix in ("", "-wal", "-shm"):
            with suppress(FileNotFoundError):
                os.rename(f"{db}{suffix}", f"{tmp_path}/aside.db{suffix}")
        assert box.ps() == []  # a new, empty store: the containers are orphans now

        check = box("system", "check")
        assert check.returncode == 1, check
        lines = check.stdout.splitlines()
        for cid in (plain, layered):
            about = [line for line in lines if f"(container {cid[:12]})" in line]
            kinds = {line.split(" /")[0].split(" pid")[0] for line in about}
            assert {"orphan monitor", "orphan directory", "orphan cgroup"} <= kinds, about
            assert "orphan runtime state" in kinds, about
        assert any("orphan layer mount" in line and layered[:12] in line for line in lines)
        assert other_cid[:12] not in check.stdout  # another instance is not ours

        dry = box("system", "repair", "--dry-run")
        assert dry.returncode == 1
        assert all(": would " in line for line in dry.stdout.splitlines())
        assert all(alive(pid) for pid in pids), "--dry-run changed something"
        assert mounts_under(box.containers_dir / layered)
        assert box("system", "check").stdout == check.stdout

        repaired = box("system", "repair")
        assert repaired.returncode == 0, repaired.stdout + repaired.stderr
        assert all(line.endswith(": done") for line in repaired.stdout.splitlines())
        deadline = time.monotonic() + 5
        while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not any(alive(pid) for pid in pids)
        # conmon's exit command (the --rm cleanup) may still be finishing: it must end by itself
        deadline = time.monotonic() + 10
        while (left := procs_naming(str(box.containers_dir))) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert left == [], [_cmdline(p) for p in left]
        assert mounts_under(box.state) == []
        assert list(box.containers_dir.iterdir()) == []
        assert cgroups_of(plain) == [] and cgroups_of(layered) == []
        state_entries = [p for p in box.runtime_root().rglob("*") if p.name in (plain, layered)]
        assert state_entries == []
        clean = box("system", "check")
        assert clean.returncode == 0 and clean.stdout.startswith("nothing to repair")

        other = subprocess.run(
            [*run, "inspect", other_cid], env=other_env, capture_output=True, text=True, timeout=60
        )
        assert json.loads(other.stdout)[0]["status"] == "running"
        assert alive(json.loads(other.stdout)[0]["pid"])
    finally:
        subprocess.run([*run, "rm", "-f", "-t", "0", other_cid], env=other_env, timeout=60)


def test_repair_removes_a_record_whose_directory_is_gone(box: Oci) -> None:
    cid = box.detach("dirless", "sleep", "1000")
    pid = box.record(cid)["pid"]
    subprocess.run(["rm", "-rf", str(box.containers_dir / cid)], check=True)
    check = box("system", "check")
    assert check.returncode == 1
    assert f"record without directory dirless ({box.runtime}" in check.stdout
    assert box("system", "repair").returncode == 0
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not alive(pid)
    assert box.ps() == []
    assert cgroups_of(cid) == []


# --- a concurrent inspect during rm -f -----------------------------------------------------


def test_inspect_during_rm_f_never_claims_a_dead_ocimux(
    ocimux: Runner, ocimux_env: dict[str, str], tmp_path: Path
) -> None:
    """Issue 13 item 6: it said "left half-done by an ocimux process that died"."""
    script = tmp_path / "stubborn.sh"
    script.write_text("#!/bin/sh\ntrap '' TERM\nwhile :; do sleep 0.05; done\n")
    script.chmod(0o755)
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    locks = tmp_path / "state" / "lib" / "locks"
    for round_ in range(3):
        name = f"stubborn{round_}"
        ocimux("run", "-d", "--name", name, "--rootfs", str(rootfs), "--", str(script), check=True)
        cid = json.loads(ocimux("inspect", name).stdout)[0]["id"]
        rm = subprocess.Popen(
            [sys.executable, "-m", "ocimux.cli", "rm", "-f", "-t", "1", name],
            env=ocimux_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        errors = []
        while rm.poll() is None:
            done = ocimux("inspect", name)
            if done.returncode != 0:
                errors.append(done.stderr)
            else:
                assert json.loads(done.stdout)[0]["status"] in ("running", "removing", "stopped")
        assert rm.wait() == 0, rm.stderr.read()
        after = ocimux("inspect", name)
        assert after.returncode == 125 and "no container" in after.stderr
        assert not any("died" in e for e in errors), errors
        assert not (locks / f"{cid}.lock").exists(), "a lock file outlived its container"
    assert sorted(p.name for p in locks.iterdir()) == []
