"""The OCI-CLI driver's argv builders and output parsing, without running a runtime."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ocimux.base.errors import CommandNotFoundError, CommandNotInvocableError, RuntimeCommandError
from ocimux.oci.cli import (
    DeleteOpts,
    ExecOpts,
    KillOpts,
    OciCli,
    UpdateOpts,
    classify,
    error_message,
    parse_version,
)
from ocimux.oci.conmon import ConmonLaunch


def _cli(**kw) -> OciCli:
    return OciCli(path="/usr/bin/rt", root=Path("/run/ocimux/runtimes/rt"), name="rt", **kw)


def test_global_flags_come_before_the_verb():
    cli = _cli(flags=("--systemd-cgroup",), json_log=True)
    assert cli.argv("start", "c1", log=Path("/b/oci-log")) == [
        "/usr/bin/rt", "--root", "/run/ocimux/runtimes/rt", "--systemd-cgroup",
        "--log", "/b/oci-log", "--log-format=json", "start", "c1",
    ]  # fmt: skip


def test_no_json_log_without_the_capability_or_a_file():
    assert _cli(json_log=False).argv("state", "c1", log=Path("/x")) == [
        "/usr/bin/rt", "--root", "/run/ocimux/runtimes/rt", "state", "c1",
    ]  # fmt: skip
    assert "--log" not in _cli(json_log=True).argv("list")


def test_option_builders():
    assert KillOpts().argv() == []
    assert KillOpts(all_procs=True, extra_args=("--x",)).argv() == ["--all", "--x"]
    assert DeleteOpts().argv() == ["--force"]
    assert DeleteOpts(force=False).argv() == []
    assert UpdateOpts(Path("/t/r.json")).argv() == ["--resources", "/t/r.json"]
    assert ExecOpts(cwd="/w", env=("A=1", "B=2"), user="1:2", detach=True, pid_file=Path("/p")).argv() == [
        "--detach", "--pid-file", "/p", "--cwd", "/w", "--env", "A=1", "--env", "B=2", "--user", "1:2",
    ]  # fmt: skip


def test_conmon_argv_matches_the_working_command_line(tmp_path: Path):
    launch = ConmonLaunch(
        conmon="/usr/bin/conmon",
        cid="abc",
        name="web",
        runtime_path="/usr/sbin/runc",
        runtime_args=("--root", "/r"),
        directory=tmp_path,
        exit_dir=tmp_path / "exits",
        stdin=True,
    )
    argv = launch.argv()
    assert argv[:3] == ["/usr/bin/conmon", "--api-version", "1"]
    pairs = dict(zip(argv[3::1], argv[4::1], strict=False))
    assert pairs["-c"] == "abc" and pairs["-u"] == "abc" and pairs["-r"] == "/usr/sbin/runc"
    assert pairs["-b"] == str(tmp_path) and pairs["-n"] == "web"
    assert pairs["-l"] == f"k8s-file:{tmp_path}/ctr.log"
    assert (
        pairs["--persist-dir"] == str(tmp_path)
        and pairs["--conmon-pidfile"] == f"{tmp_path}/conmon.pid"
    )
    assert "--full-attach" in argv and argv[-1] == "-i"
    assert argv[argv.index("--runtime-arg") : argv.index("--runtime-arg") + 4] == [
        "--runtime-arg",
        "--root",
        "--runtime-arg",
        "/r",
    ]
    assert "-t" not in argv
    assert (
        ConmonLaunch(
            "/c", "a", "n", "/r", (), tmp_path, tmp_path, stdin=True, terminal=True
        ).argv()[-1]
        == "-t"
    )


def test_error_message_prefers_the_last_json_record_written_since_the_offset(tmp_path: Path):
    log = tmp_path / "oci-log"
    old = json.dumps({"level": "error", "msg": "an old failure"}) + "\n"
    log.write_text(old)
    new = [
        {"level": "warning", "msg": "first"},
        {"level": "error", "msg": "container does not exist"},
    ]
    with open(log, "a") as fh:
        fh.write("".join(json.dumps(r) + "\n" for r in new))
    assert error_message(b"plain stderr", log, len(old)) == "container does not exist"
    # nothing new in the log: the stale record is not reused, stderr is
    assert error_message(b"plain stderr\n", log, log.stat().st_size) == "plain stderr"


def test_error_message_unwraps_runc_text_format():
    stderr = b'time="2026-11-29T06:51:36Z" level=error msg="runc create failed: exec: \\"/x\\": no such file"\n'
    assert error_message(stderr) == 'runc create failed: exec: "/x": no such file'
    assert error_message(b"") == ""
    assert error_message(b"line one\nlast line\n") == "last line"


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        (
            'runc create failed: unable to start container process: exec: "/bin/nonexistent": stat /bin/nonexistent: no such file or directory',
            CommandNotFoundError,
        ),
        (
            "executable file `/bin/nonexistent` not found in $PATH: No such file or directory",
            CommandNotFoundError,
        ),
        (
            'runc create failed: unable to start container process: exec: "/x": permission denied',
            CommandNotInvocableError,
        ),
        ("open executable: Permission denied", CommandNotInvocableError),
        ("open /sys/fs/cgroup/x: no such file or directory", RuntimeCommandError),
        ("container does not exist", RuntimeCommandError),
    ],
)
def test_classify_like_podman_but_only_for_the_executed_command(message, kind):
    err = classify(message, argv=["rt"], exit_status=1, container="c", runtime="rt", verb="create")
    assert type(err) is kind
    assert err.exit_code == {CommandNotFoundError: 127, CommandNotInvocableError: 126}.get(
        kind, 125
    )


def test_parse_version():
    assert parse_version("runc version 1.1.5+ds1\ncommit: v1.1.5\nspec: 1.0.2-dev\n") == "1.1.5+ds1"
    assert parse_version("crun version 1.8.1\ncommit: abc\nrundir: /run/crun\n") == "1.8.1"
    assert parse_version("something else\n") == "something else"
    assert parse_version("") == ""


def test_conmon_argv_for_an_exec_session(tmp_path: Path):
    session = tmp_path / "exec" / "s1"
    launch = ConmonLaunch(
        conmon="/usr/bin/conmon",
        cid="abc",
        name="abc",
        runtime_path="/usr/sbin/runc",
        runtime_args=(),
        directory=session,
        exit_dir=session / "exits",
        terminal=True,
        session="s1",
        exec_spec=session / "process.json",
    )
    argv = launch.argv()
    pairs = dict(zip(argv, argv[1:], strict=False))
    assert pairs["-c"] == "abc" and pairs["-u"] == "s1" and pairs["-b"] == str(session)
    assert pairs["-p"] == f"{session}/exec_pid" and pairs["-l"] == f"k8s-file:{session}/exec.log"
    assert argv[-5:] == [
        "-t",
        "-e",
        "--exec-attach",
        "--exec-process-spec",
        f"{session}/process.json",
    ]
