"""The container lifecycle on the real runc and crun under conmon, through the `ocimux` CLI.

Each test runs on both runtimes (the `runtime` fixture) and asserts what the user sees:
output, exit codes, `ps -a --format json` state, and what is left on the host.
"""

from __future__ import annotations

import time

import pytest

from tests.integration.conftest import (
    Oci,
    alive,
    host_cgroup_file,
    one_line,
    runtime_params,
    wait_until,
)

TRAP_TERM_LOOP = "trap '' TERM; while :; do sleep 0.2; done"
COUNTER = "i=0; while :; do i=$((i+1)); echo $i; sleep 0.05; done"


# --- run: streams, exit code, stdin -------------------------------------------------------


def test_run_rm_splits_streams_and_passes_exit_code(oci: Oci) -> None:
    done = oci(*oci.new("run", "sh", "-c", "echo out; echo err >&2; exit 7", flags=["--rm"]))
    assert (done.returncode, done.stdout, done.stderr) == (7, "out\n", "err\n")
    assert oci.ps() == []
    assert oci.runtime_list() == []
    assert list(oci.containers_dir.iterdir()) == []


def test_run_interactive_stdin_reaches_cat(oci: Oci) -> None:
    done = oci(*oci.new("run", "cat", flags=["-i", "--rm"]), input="hello\n")
    assert (done.returncode, done.stdout, done.stderr) == (0, "hello\n", "")
    assert oci.ps() == []


def test_run_interactive_large_input_round_trips(oci: Oci) -> None:
    # ~200 KB: many attach packets each way (conmon relays 8 KiB at a time)
    payload = "".join(f"{i:07d} the quick brown fox jumps over the lazy dog\n" for i in range(4000))
    assert len(payload) > 200_000
    done = oci(*oci.new("run", "cat", flags=["-i", "--rm"]), input=payload, timeout=60)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout) == len(payload)
    assert done.stdout == payload


# --- detached containers, stop ----------------------------------------------------------


def test_detached_container_outlives_ocimux_and_stop_escalates_to_kill(oci: Oci) -> None:
    web = oci.detach("web", "sh", "-c", TRAP_TERM_LOOP)
    sleeper = oci.detach("sleeper", "sleep", "100")
    # the `run -d` process is gone; conmon and the container are not
    running = {r["name"]: r for r in oci.ps() if r["status"] == "running"}
    assert set(running) == {"web", "sleeper"}
    assert running["web"]["id"] == web and running["web"]["runtime"] == oci.runtime
    assert alive(running["web"]["pid"]) and alive(running["web"]["monitor_pid"])
    listed = {c["id"]: c["status"] for c in oci.runtime_list()}
    assert listed == {web: "running", sleeper: "running"}

    start = time.monotonic()
    done = oci("stop", "-t", "2", "web")
    took = time.monotonic() - start
    assert (done.returncode, done.stdout) == (0, "web\n"), done.stderr
    assert 1.8 <= took < 5, f"stop -t 2 of a TERM-ignoring container took {took:.2f}s"

    # pid 1 of a pid namespace ignores SIGTERM it has no handler for: SIGKILL after 1 s
    start = time.monotonic()
    done = oci("stop", "-t", "1", "sleeper")
    took = time.monotonic() - start
    assert (done.returncode, done.stdout) == (0, "sleeper\n"), done.stderr
    assert 0.9 <= took < 4, f"stop -t 1 of `sleep 100` took {took:.2f}s"

    recs = {r["name"]: r for r in oci.ps()}
    assert (recs["web"]["status"], recs["web"]["exit_code"]) == ("stopped", 137)
    assert (recs["sleeper"]["status"], recs["sleeper"]["exit_code"]) == ("stopped", 137)
    assert not alive(running["web"]["pid"]) and not alive(running["sleeper"]["pid"])


# --- kill ---------------------------------------------------------------------------------


def test_kill_delivers_signals_and_refuses_a_stopped_container(oci: Oci) -> None:
    trap = oci.detach(
        "trap",
        "sh",
        "-c",
        'trap "echo got-usr1; exit 9" USR1; echo ready; while :; do sleep 0.1; done',
    )
    victim = oci.detach("victim", "sleep", "100")
    oci.wait_log(trap, "ready")

    done = oci("kill", "-s", "USR1", "trap")
    assert (done.returncode, done.stdout) == (0, "trap\n"), done.stderr
    rec = oci.wait_status("trap", "stopped")
    assert rec["exit_code"] == 9
    logs = oci("logs", "trap")
    assert logs.stdout == "ready\ngot-usr1\n"

    done = oci("kill", "victim")  # default signal: KILL
    assert (done.returncode, done.stdout) == (0, "victim\n"), done.stderr
    assert oci.wait_status(victim, "stopped")["exit_code"] == 137

    done = oci("kill", "-s", "TERM", "trap")
    assert done.returncode == 125
    line = one_line(done.stderr)
    assert "trap" in line and "stopped" in line, line


# --- pause / unpause ----------------------------------------------------------------------


def _log_lines(oci: Oci, ref: str) -> int:
    return len(oci.ok("logs", ref).splitlines())


def test_pause_freezes_output_and_unpause_resumes(oci: Oci) -> None:
    cid = oci.detach("counter", "sh", "-c", COUNTER)
    oci.wait_log(cid, " 3\n")

    done = oci("pause", "counter")
    assert (done.returncode, done.stdout) == (0, "counter\n"), done.stderr
    assert [r["status"] for r in oci.ps()] == ["paused"]
    assert {c["id"]: c["status"] for c in oci.runtime_list()} == {cid: "paused"}
    before = _log_lines(oci, "counter")
    time.sleep(0.5)  # ~10 lines if it were running
    assert _log_lines(oci, "counter") == before

    done = oci("pause", "counter")
    assert done.returncode == 125
    assert "paused" in one_line(done.stderr)

    done = oci("unpause", "counter")
    assert (done.returncode, done.stdout) == (0, "counter\n"), done.stderr
    assert [r["status"] for r in oci.ps()] == ["running"]
    wait_until(lambda: len(oci.log_text(cid).splitlines()) >= before + 3, 3, "the counter to go on")


@pytest.mark.parametrize(
    "runtime",
    runtime_params(),
    indirect=True,
)
def test_stop_and_rm_force_of_a_paused_container(oci: Oci) -> None:
    first = oci.detach("first", "sleep", "100")
    second = oci.detach("second", "sleep", "100")
    oci.ok("pause", "first", "second")
    assert {r["name"]: r["status"] for r in oci.ps()} == {"first": "paused", "second": "paused"}

    start = time.monotonic()
    done = oci("stop", "-t", "5", "first")
    took = time.monotonic() - start
    assert (done.returncode, done.stdout, done.stderr) == (0, "first\n", "")
    assert took < 4, f"a paused container is killed at once, not after the timeout ({took:.2f}s)"
    rec = oci.record("first")
    assert (rec["status"], rec["exit_code"]) == ("stopped", 137)

    done = oci("rm", "-f", "second")
    assert (done.returncode, done.stdout, done.stderr) == (0, "second\n", "")
    assert [r["id"] for r in oci.ps()] == [first]
    assert second not in {c["id"] for c in oci.runtime_list()}


# --- update -------------------------------------------------------------------------------

LIMITS = (
    ("memory", "memory.limit_in_bytes", "67108864"),
    ("pids", "pids.max", "50"),
    ("cpu", "cpu.cfs_quota_us", "50000"),
    ("cpu", "cpu.cfs_period_us", "100000"),
)
UPDATE = ("--memory", "64m", "--pids-limit", "50", "--cpu-quota", "50000", "--cpu-period", "100000")


def test_update_changes_the_host_cgroup(oci: Oci) -> None:
    oci.detach("web", "sleep", "100")
    pid = oci.record("web")["pid"]
    files = [(host_cgroup_file(pid, c, f), want) for c, f, want in LIMITS]
    assert all(path.read_text().strip() != want for path, want in files[:2])  # not preset

    done = oci("update", *UPDATE, "web")
    assert (done.returncode, done.stdout, done.stderr) == (0, "web\n", "")
    assert [(p.name, p.read_text().strip()) for p, _ in files] == [
        (p.name, want) for p, want in files
    ]


def test_update_is_visible_inside_the_container(oci: Oci) -> None:
    oci.detach("web", "sleep", "100")
    paths = [f"/sys/fs/cgroup/{c}/{f}" for c, f, _ in LIMITS]
    probe = oci("exec", "web", "ls", *paths)
    if probe.returncode == 1 and "No such file" in probe.stderr:
        pytest.skip(f"the container does not see its cgroup v1 files: {probe.stderr.strip()}")
    assert probe.returncode == 0, probe.stderr

    oci.ok("update", *UPDATE, "web")
    done = oci("exec", "web", "cat", *paths)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.split() == [want for _, _, want in LIMITS]


# --- logs, attach, exec -------------------------------------------------------------------


def test_logs_keep_stdout_and_stderr_apart(oci: Oci) -> None:
    # partial lines (conmon's "P" records) and a line longer than conmon's 8 KiB buffer too
    script = (
        "echo o1; echo e1 >&2; printf par; sleep 0.1; printf tial; "
        "head -c 20000 /dev/zero | tr '\\0' x; echo; echo e2 >&2; printf end"
    )
    out, err = "o1\npartial" + "x" * 20000 + "\nend", "e1\ne2\n"
    done = oci(*oci.new("run", "sh", "-c", script, name="web"))
    assert (done.returncode, done.stdout, done.stderr) == (0, out, err)
    done = oci("logs", "web")
    assert (done.returncode, done.stdout, done.stderr) == (0, out, err)


def test_logs_follow_ends_when_the_container_exits(oci: Oci) -> None:
    oci.detach("web", "sh", "-c", "echo 1; sleep 0.3; echo 2; sleep 0.3; echo 3")
    start = time.monotonic()
    done = oci("logs", "-f", "web", timeout=15)
    took = time.monotonic() - start
    assert (done.returncode, done.stdout, done.stderr) == (0, "1\n2\n3\n", "")
    assert took < 10
    assert oci.record("web")["status"] == "stopped"


def test_attach_streams_later_output_and_returns_the_exit_code(oci: Oci) -> None:
    oci.detach(
        "web",
        "sh",
        "-c",
        "i=0; while [ $i -lt 20 ]; do i=$((i+1)); echo line$i; sleep 0.1; done; exit 4",
    )
    done = oci("attach", "web", timeout=15)
    assert done.returncode == 4, done.stderr
    lines = done.stdout.splitlines()
    assert lines and lines[-1] == "line20", done.stdout
    first = int(lines[0].removeprefix("line"))
    assert lines == [f"line{i}" for i in range(first, 21)]  # nothing lost or reordered
    rec = oci.record("web")
    assert (rec["status"], rec["exit_code"]) == ("stopped", 4)


def test_attach_forwards_stdin_of_an_interactive_container(oci: Oci) -> None:
    script = 'while read l; do echo "got:$l"; done; echo bye; exit 6'
    oci.ok(*oci.new("run", "sh", "-c", script, name="web", flags=["-d", "-i"]))
    done = oci("attach", "web", input="one\ntwo\n", timeout=15)
    assert (done.returncode, done.stdout, done.stderr) == (6, "got:one\ngot:two\nbye\n", "")


def test_exec_splits_streams_and_passes_exit_code(oci: Oci) -> None:
    oci.detach("web", "sleep", "100")
    done = oci("exec", "web", "sh", "-c", "echo a; echo b >&2; exit 5")
    assert (done.returncode, done.stdout, done.stderr) == (5, "a\n", "b\n")
    assert oci.record("web")["status"] == "running"


def test_exec_of_a_missing_command_exits_127(oci: Oci) -> None:
    oci.detach("web", "sleep", "100")
    done = oci("exec", "web", "/bin/nonexistent")
    assert (done.returncode, done.stdout) == (127, "")
    # the runtime's own stderr line comes first (exec without a monitor relays it; exec
    # sessions under conmon will separate it), then ocimux's one-line error
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("Error: ") and "nonexistent" in line, line
    assert oci.record("web")["status"] == "running"


# --- state without ocimux -----------------------------------------------------------------


def test_exit_is_reconciled_from_conmons_exit_file(oci: Oci) -> None:
    cid = oci.detach("web", "sh", "-c", "sleep 0.5; exit 3")
    time.sleep(1.5)  # no ocimux process runs meanwhile: only conmon sees the exit
    exit_file = oci.runtime_root().with_name(f"{oci.runtime}.exits") / cid
    assert exit_file.read_text().strip() == "3"
    # conmon's persist dir is on the run dir (podman's <tmp_dir>/persist/<id>), not the state disk
    assert (oci.state / "run" / "persist" / cid / "exit").read_text().strip() == "3"
    assert not (oci.containers_dir / cid / "exit").exists()
    [rec] = oci.ps()
    assert (rec["id"], rec["status"], rec["exit_code"]) == (cid, "stopped", 3)
    assert rec["finished_at"] is not None
    assert not alive(rec["monitor_pid"])
