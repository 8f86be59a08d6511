"""`ocimux logs --since/--until/-t/--tail` (podman's flags) on the mock runtime (host processes)."""

from __future__ import annotations

import re
import time
from pathlib import Path

#: podman's `-t`: Go's RFC3339Nano (trailing zeros dropped), here in UTC
STAMPED = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z) (.*)$")


def _run_three_lines(ocimux, rootfs: Path) -> None:
    proc = ocimux(
        "run", "--runtime", "mock", "--name", "web", "--rootfs", str(rootfs), "--",
        "sh", "-c", "echo one; sleep 1.1; echo two >&2; sleep 1.1; echo three",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def test_logs_timestamps_since_until_and_tail(ocimux, rootfs: Path) -> None:
    _run_three_lines(ocimux, rootfs)
    stamped = ocimux("logs", "-t", "web")
    assert stamped.returncode == 0, stamped.stderr
    out = [STAMPED.match(line) for line in stamped.stdout.splitlines()]
    err = [STAMPED.match(line) for line in stamped.stderr.splitlines()]
    assert all(out) and all(err), (stamped.stdout, stamped.stderr)
    assert [m.group(2) for m in out if m] == ["one", "three"]
    assert [m.group(2) for m in err if m] == ["two"]
    second = err[0].group(1) if err[0] else ""

    since = ocimux("logs", "--since", second, "web")
    assert (since.stdout, since.stderr) == ("three\n", "two\n")
    until = ocimux("logs", "--until", second, "web")
    assert (until.stdout, until.stderr) == ("one\n", "two\n")
    assert ocimux("logs", "--since", "1h", "--tail", "1", "web").stdout == "three\n"
    assert ocimux("logs", "--tail", "0", "web").stdout == ""
    assert ocimux("logs", "--until", "2000-01-01", "web").stdout == ""
    later = f"{time.time() + 3600:.3f}"  # Unix seconds are a time too
    assert ocimux("logs", "--since", later, "web").stdout == ""


def test_logs_follow_with_tail_and_a_duration_until(ocimux, rootfs: Path, tmp_path: Path) -> None:
    gate = tmp_path / "go"
    proc = ocimux(
        "run", "-d", "--runtime", "mock", "--name", "web", "--rootfs", str(rootfs), "--",
        "sh", "-c", f"echo a; echo b; while [ ! -e {gate} ]; do sleep 0.02; done; echo c; exec sleep 30",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    deadline = time.monotonic() + 10
    while "b" not in ocimux("logs", "web").stdout:
        assert time.monotonic() < deadline, "the first lines never reached the log"
        time.sleep(0.05)
    gate.touch()
    started = time.monotonic()
    # podman's rule: a duration for --until counts forward, so the follower stops in 2 s
    followed = ocimux("logs", "-f", "--tail", "1", "--until", "2s", "web")
    assert followed.returncode == 0, followed.stderr
    assert followed.stdout in ("b\nc\n", "c\n"), followed.stdout  # c may be the last already
    assert 1.0 < time.monotonic() - started < 8
    ocimux("rm", "-f", "web")


def test_bad_time_values_are_one_line_errors(ocimux, rootfs: Path) -> None:
    _run_three_lines(ocimux, rootfs)
    for flag in ("--since", "--until"):
        proc = ocimux("logs", flag, "yesterday", "web")
        assert proc.returncode == 125, proc
        assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert flag in proc.stderr and "yesterday" in proc.stderr
