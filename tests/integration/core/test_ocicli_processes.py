"""The OCI-CLI driver against a stand-in runtime binary (a shell script): errors, hangs, absence."""

from __future__ import annotations

from pathlib import Path

import pytest
from ocimux.base.errors import RuntimeCommandError
from ocimux.oci.cli import OciCli

FAKE_RUNTIME = """#!/bin/sh
# a runtime that fails the way runc does: a JSON record in --log, a plain line on stderr
log=""
while [ $# -gt 0 ]; do
  case "$1" in
    --log) log="$2"; shift 2;;
    --root|--log-format=json) [ "$1" = --root ] && shift; shift;;
    *) break;;
  esac
done
case "$1" in
  start) [ -n "$log" ] && echo '{"level":"error","msg":"container is not in created state","time":"t"}' >> "$log"
         echo "container is not in created state" >&2; exit 3;;
  hang) sleep 30;;
  *) echo "unknown command $1" >&2; exit 1;;
esac
"""


def test_a_runtime_that_exits_non_zero_reports_its_json_message(tmp_path: Path):
    rt = tmp_path / "fake-rt"
    rt.write_text(FAKE_RUNTIME)
    rt.chmod(0o755)
    cli = OciCli(path=str(rt), root=tmp_path / "root", name="fake", json_log=True, timeout=10)
    with pytest.raises(RuntimeCommandError) as info:
        cli.start("c1", log=tmp_path / "oci-log")
    err = info.value
    assert (err.detail, err.exit_status, err.container, err.runtime, err.verb) == (
        "container is not in created state",
        3,
        "c1",
        "fake",
        "start",
    )
    assert str(err) == "start c1 on fake failed (exit 3): container is not in created state"
    assert err.argv[:2] == [str(rt), "--root"]


def test_a_runtime_that_hangs_is_killed_and_named(tmp_path: Path):
    rt = tmp_path / "fake-rt"
    rt.write_text(FAKE_RUNTIME)
    rt.chmod(0o755)
    cli = OciCli(path=str(rt), root=tmp_path / "root", name="fake", timeout=0.5)
    from ocimux.base.errors import RuntimeTimeoutError

    with pytest.raises(RuntimeTimeoutError) as info:
        cli.run("hang", "c1", cid="c1")
    assert "hung for 0.5s" in str(info.value) and "hang c1" in str(info.value)
    assert info.value.runtime == "fake" and info.value.container == "c1"


def test_a_missing_runtime_binary_is_a_clear_error(tmp_path: Path):
    cli = OciCli(path=str(tmp_path / "absent"), root=tmp_path, name="ghost")
    with pytest.raises(RuntimeCommandError, match="cannot run .*absent"):
        cli.state("c1")


def test_run_fds_gives_the_child_exactly_the_fds_asked_for(tmp_path: Path):
    """process.run_fds (ocimux-oci's spawn without subprocess): stdio as given, `pass_fds` at
    their own numbers and no other fd of ours, the exit status, and a hang killed at the timeout."""
    import os
    import time

    from ocimux.base import process
    from ocimux.base.errors import RuntimeTimeoutError

    out = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT, 0o600)
    extra_r, extra_w = os.pipe()  # neither inheritable, as Python makes every fd
    script = (f"echo to-out; echo to-err >&2; echo via-extra > /proc/self/fd/{extra_w}; "
              "grep SigIgn /proc/self/status; ls /proc/self/fd; exit 7")  # fmt: skip
    code = process.run_fds(["/bin/sh", "-c", script], timeout=10, stdin=0, stdout=out,
                           stderr=out, pass_fds=[extra_w])  # fmt: skip
    os.close(out)
    os.close(extra_w)
    assert code == 7
    assert os.read(extra_r, 100) == b"via-extra\n"
    lines = (tmp_path / "out").read_text().split()
    # no signal ignored (Python ignores SIGPIPE and SIGXFSZ; the child must not inherit that)
    assert lines[:4] == ["to-out", "to-err", "SigIgn:", "0000000000000000"]
    fds = {int(x) for x in lines[4:] if x.isdigit()}
    assert extra_w in fds and extra_r not in fds
    os.close(extra_r)
    started = time.monotonic()
    with pytest.raises(RuntimeTimeoutError, match="hung for 0.3s"):
        process.run_fds(["/bin/sleep", "30"], timeout=0.3, stdin=0, stdout=1, stderr=2)
    assert time.monotonic() - started < 5
