"""The whole lifecycle through the CLI on the mock runtime (real host processes)."""

from __future__ import annotations

import json
import time
from pathlib import Path


def _ps(ocimux) -> dict[str, dict]:
    proc = ocimux("ps", "-a", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return {r["name"]: r for r in json.loads(proc.stdout)}


def test_run_rm_prints_output_and_exits_with_the_container_code(ocimux, rootfs: Path):
    proc = ocimux(
        "run",
        "--runtime",
        "mock",
        "--rm",
        "--rootfs",
        str(rootfs),
        "--",
        "sh",
        "-c",
        "echo hi; echo err >&2; exit 3",
    )
    assert proc.stdout == "hi\n"
    assert proc.stderr == "err\n"
    assert proc.returncode == 3
    assert _ps(ocimux) == {}, "--rm left the container behind"


def test_run_with_stdin(ocimux, rootfs: Path):
    proc = ocimux(
        "run",
        "--runtime",
        "mock",
        "--rm",
        "-i",
        "--rootfs",
        str(rootfs),
        "--",
        "sh",
        "-c",
        "read x; echo got:$x",
        input="hello\n",
    )
    assert (proc.stdout, proc.returncode) == ("got:hello\n", 0), proc.stderr


def test_env_workdir_and_command_not_found(ocimux, rootfs: Path):
    (rootfs / "sub").mkdir()
    proc = ocimux(
        "run",
        "--runtime",
        "mock",
        "--rm",
        "-e",
        "GREETING=hey",
        "-w",
        "/sub",
        "--rootfs",
        str(rootfs),
        "--",
        "sh",
        "-c",
        'echo $GREETING; basename "$PWD"',
    )
    assert proc.stdout == "hey\nsub\n", proc.stderr
    proc = ocimux(
        "run", "--runtime", "mock", "--rm", "--rootfs", str(rootfs), "--", "no-such-command-here"
    )
    assert proc.returncode == 127


def test_detached_lifecycle_pause_stop_logs_rm(ocimux, rootfs: Path):
    proc = ocimux(
        "run",
        "-d",
        "--runtime",
        "mock",
        "--name",
        "web",
        "--rootfs",
        str(rootfs),
        "--",
        "sh",
        "-c",
        "echo started; echo oops >&2; exec sleep 30",
    )
    assert proc.returncode == 0, proc.stderr
    cid = proc.stdout.strip()
    assert len(cid) == 64
    assert _ps(ocimux)["web"]["status"] == "running"
    # visible to plain `ps` (running only), by name and by id prefix
    assert "web" in ocimux("ps").stdout
    assert json.loads(ocimux("inspect", cid[:8]).stdout)[0]["name"] == "web"

    assert ocimux("pause", "web").returncode == 0
    assert _ps(ocimux)["web"]["status"] == "paused"
    proc = ocimux("pause", "web")
    assert proc.returncode == 125 and "paused" in proc.stderr
    assert ocimux("unpause", "web").returncode == 0
    assert _ps(ocimux)["web"]["status"] == "running"

    deadline = time.monotonic() + 5
    while "started" not in ocimux("logs", "web").stdout and time.monotonic() < deadline:
        time.sleep(0.05)
    logs = ocimux("logs", "web")
    assert logs.stdout == "started\n" and logs.stderr == "oops\n"

    proc = ocimux("rm", "web")
    assert proc.returncode == 125 and "running" in proc.stderr and "rm -f" in proc.stderr
    start = time.monotonic()
    assert ocimux("stop", "-t", "5", "web").returncode == 0
    assert time.monotonic() - start < 5, (
        "sleep dies on SIGTERM; stop should not wait for the timeout"
    )
    rec = _ps(ocimux)["web"]
    assert rec["status"] == "stopped" and rec["exit_code"] == 143
    proc = ocimux("pause", "web")
    assert proc.returncode == 125 and "stopped" in proc.stderr
    assert ocimux("rm", "web").returncode == 0
    assert "web" not in _ps(ocimux)


def test_stop_escalates_to_sigkill(ocimux, rootfs: Path):
    proc = ocimux(
        "run",
        "-d",
        "--runtime",
        "mock",
        "--name",
        "stubborn",
        "--rootfs",
        str(rootfs),
        "--",
        "sh",
        "-c",
        "trap '' TERM; while :; do sleep 0.1; done",
    )
    assert proc.returncode == 0, proc.stderr
    time.sleep(0.2)
    start = time.monotonic()
    assert ocimux("stop", "-t", "1", "stubborn").returncode == 0
    elapsed = time.monotonic() - start
    assert 1 <= elapsed < 6
    assert _ps(ocimux)["stubborn"]["exit_code"] == 137


def test_create_start_kill_with_signal(ocimux, rootfs: Path):
    proc = ocimux(
        "create", "--runtime", "mock", "--name", "c1", "--rootfs", str(rootfs), "--", "sleep", "30"
    )
    assert proc.returncode == 0, proc.stderr
    assert _ps(ocimux)["c1"]["status"] == "created"
    assert ocimux("start", "c1").returncode == 0
    proc = ocimux("start", "c1")
    assert proc.returncode == 125 and "running" in proc.stderr
    assert ocimux("kill", "-s", "USR1", "c1").returncode == 0
    time.sleep(0.3)
    rec = _ps(ocimux)["c1"]
    assert rec["status"] == "stopped" and rec["exit_code"] == 128 + 10
    assert ocimux("rm", "c1").returncode == 0


def test_exec_attached_and_detached(ocimux, rootfs: Path):
    assert (
        ocimux(
            "run",
            "-d",
            "--runtime",
            "mock",
            "--name",
            "box",
            "--rootfs",
            str(rootfs),
            "--",
            "sleep",
            "30",
        ).returncode
        == 0
    )
    proc = ocimux("exec", "box", "sh", "-c", "echo a; echo b >&2; exit 5")
    assert (proc.stdout, proc.stderr, proc.returncode) == ("a\n", "b\n", 5)
    proc = ocimux("exec", "-d", "box", "sleep", "30")
    assert proc.returncode == 0 and len(proc.stdout.strip()) == 64
    proc = ocimux("exec", "box")
    assert proc.returncode == 125 and "command" in proc.stderr
    assert ocimux("rm", "-f", "box").returncode == 0


def test_name_conflict_and_unknown_container(ocimux, rootfs: Path):
    assert (
        ocimux(
            "create", "--runtime", "mock", "--name", "dup", "--rootfs", str(rootfs), "--", "true"
        ).returncode
        == 0
    )
    proc = ocimux(
        "create", "--runtime", "mock", "--name", "dup", "--rootfs", str(rootfs), "--", "true"
    )
    assert proc.returncode == 125 and "dup" in proc.stderr
    assert len(_ps(ocimux)) == 1
    proc = ocimux("kill", "nope")
    assert proc.returncode == 125 and "nope" in proc.stderr
