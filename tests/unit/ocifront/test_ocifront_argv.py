"""`ocimux-oci`'s command line as runc's urfave/cli reads it, and the backend's argv we build."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ocimux.ocifront import records
from ocimux.ocifront.argv import UsageError, parse, verb_argv
from ocimux.ocifront.main import backend_argv, main
from ocimux.ocifront.records import Record
from ocimux.ocifront.report import report
from ocimux.ocifront.routing import bundle_annotation, choose

CID = "f1669d75c3023f6f49a46d6b2cdaff3f4f47e075bf9e4426e065105f4e5664c1"


def test_conmon_create_as_podman_calls_it() -> None:
    call = parse(
        ["--log-format=json", "--log", "/r/oci-log", "create", "--bundle", "/b", "--pid-file",
         "/r/pidfile", "--console-socket", "/tmp/conmon-term.X", CID]
    )  # fmt: skip
    assert call.globals == {"log-format": "json", "log": "/r/oci-log"}
    assert call.verb == "create" and call.container == CID
    assert call.flag("bundle") == "/b" and call.flag("console-socket") == "/tmp/conmon-term.X"
    assert verb_argv(call) == [
        "create", "--bundle", "/b", "--pid-file", "/r/pidfile",
        "--console-socket", "/tmp/conmon-term.X", CID,
    ]  # fmt: skip


@pytest.mark.parametrize(
    "args",
    [
        ["create", "-b", "/b", "x"],
        ["create", "-bundle", "/b", "x"],
        ["create", "--bundle=/b", "x"],
        ["create", "-bundle=/b", "x"],
        ["create", "x", "--bundle", "/b"],  # urfave/cli v1 reorders flags after the id
    ],
)
def test_flag_spellings_runc_accepts(args: list[str]) -> None:
    call = parse(args)
    assert call.flag("bundle") == "/b" and call.container == "x"
    assert verb_argv(call) == ["create", "--bundle", "/b", "x"]


def test_exec_short_flags_become_long_ones_runsc_knows() -> None:
    call = parse(["exec", "-d", "--pid-file", "/p", "-p", "/proc.json", "-e", "A=1", "-e", "B=2",
                  "-t", "c1"])  # fmt: skip
    assert verb_argv(call) == [
        "exec", "--detach", "--pid-file", "/p", "--process", "/proc.json",
        "--env", "A=1", "--env", "B=2", "--tty", "c1",
    ]  # fmt: skip


def test_exec_arguments_after_the_id_are_the_command() -> None:
    call = parse(["exec", "--cwd", "/", "c1", "sh", "-c", "echo --x"])
    assert call.container == "c1" and call.rest == ["sh", "-c", "echo --x"]
    assert verb_argv(call)[-4:] == ["c1", "sh", "-c", "echo --x"]


def test_kill_signal_and_all() -> None:
    call = parse(["kill", "--all", "c1", "9"])
    assert call.flag("all") is True and call.container == "c1" and call.rest == ["9"]
    assert parse(["kill", "-a", "c1", "KILL"]).rest == ["KILL"]


def test_delete_force_and_false() -> None:
    assert parse(["delete", "-f", "c1"]).flag("force") is True
    assert parse(["delete", "--force=false", "c1"]).flag("force") is False


def test_unknown_global_flags_pass_through() -> None:
    call = parse(["--network=none", "--root", "/r", "--systemd-cgroup", "state", "c1"])
    assert call.extra_globals == ["--network=none"]
    assert call.globals == {"root": "/r", "systemd-cgroup": True}


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["create", "--bundle"], "flag needs an argument: -bundle"),
        (["start"], '"start" requires a container id'),
        (["frobnicate", "x"], "No help topic for 'frobnicate'"),
        (["start", "--nope", "x"], "flag provided but not defined: -nope"),
        (["delete", "--force=maybe", "x"], 'invalid boolean value "maybe"'),
    ],
)
def test_bad_command_lines(args: list[str], words: str) -> None:
    with pytest.raises(UsageError, match=words):
        parse(args)


def test_backend_argv_puts_its_root_and_flags_before_the_verb() -> None:
    call = parse(["--root", "/front", "--log", "/l", "--log-format", "json", "kill", "c1", "15"])
    rec = Record("runsc", "/usr/bin/runsc", "/front/ocimux/backends/runsc", ["--network=none"])
    assert backend_argv(call, rec) == [
        "/usr/bin/runsc", "--log=/l", "--log-format=json",
        "--root", "/front/ocimux/backends/runsc", "--network=none", "kill", "c1", "15",
    ]  # fmt: skip


def test_routing_precedence(tmp_path: Path) -> None:
    assert choose("runc", "crun", "runsc") == "runc"
    assert choose(None, "crun", "runsc") == "crun"
    assert choose(None, None, "runsc") == "runsc"
    assert choose(None, None, None) is None
    (tmp_path / "config.json").write_text(
        json.dumps({"annotations": {"io.ocimux.runtime": "runc"}})
    )
    assert bundle_annotation(str(tmp_path)) == "runc"
    (tmp_path / "config.json").write_text(json.dumps({"annotations": {"other": "x"}}))
    assert bundle_annotation(str(tmp_path)) is None
    (tmp_path / "config.json").write_text("{not json")
    assert bundle_annotation(str(tmp_path)) is None
    assert bundle_annotation(str(tmp_path / "missing")) is None


@pytest.mark.parametrize("bad", ["", "..", "a/b", "x" * 1025, "a b"])
def test_ids_runc_refuses(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid id format"):
        records.check_id(bad)


def test_records_round_trip(tmp_path: Path) -> None:
    rec = Record("crun", "/usr/bin/crun", "/r", [], "created", {"checkpoint": "no"})
    records.save(str(tmp_path), "c1", rec)
    assert records.load(str(tmp_path), "c1") == rec
    assert records.all_records(str(tmp_path)) == {"c1": rec}
    assert (tmp_path / "ocimux" / "containers" / "c1").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "ocimux" / "containers").stat().st_mode & 0o777 == 0o700
    records.remove(str(tmp_path), "c1")
    assert records.load(str(tmp_path), "c1") is None


def test_records_refuse_what_would_break_their_lines(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="tab or newline"):
        records.save(str(tmp_path), "c1", Record("crun", "/bin/x\ny", "/r", []))
    (tmp_path / "ocimux" / "containers" / "c2").write_text("garbage\n")
    with pytest.raises(ValueError, match="not an ocimux-oci record"):
        records.load(str(tmp_path), "c2")
    assert records.all_records(str(tmp_path)) == {}


def test_error_json_on_log_text_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "log"
    report("container does not exist", str(log), "json")
    record = json.loads(log.read_text())
    assert record["level"] == "error" and record["msg"] == "container does not exist"
    assert record["time"].endswith("Z")
    assert capsys.readouterr().err == "container does not exist\n"
    report("boom", None, "json")
    assert json.loads(capsys.readouterr().err)["msg"] == "boom"
    report("boom", None, None)
    assert 'level=error msg="boom"' in capsys.readouterr().err


def test_unknown_container_is_runcs_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "log"
    code = main(["--root", str(tmp_path), "--log", str(log), "--log-format", "json", "start", "x"])
    assert code == 1
    assert json.loads(log.read_text())["msg"] == "container does not exist"
    assert capsys.readouterr().err == "container does not exist\n"
    assert main(["--root", str(tmp_path), "delete", "--force", "x"]) == 0
    assert main(["--root", str(tmp_path), "delete", "x"]) == 1


def test_version_loads_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ocimux-oci version ") and "spec: 1.0.2-dev" in out


def test_the_front_is_never_its_own_backend(tmp_path: Path) -> None:
    from ocimux.ocifront.routing import is_the_front

    program = tmp_path / "bin" / "front"
    program.parent.mkdir()
    program.write_text("#!/bin/sh\n")
    link = tmp_path / "crun-link"
    link.symlink_to(program)
    assert is_the_front("/usr/local/bin/ocimux-oci", str(program))
    assert is_the_front(str(link), str(program))  # the same file under another name
    assert not is_the_front("/usr/bin/crun", str(program))
    assert not is_the_front("/usr/bin/crun", "")
