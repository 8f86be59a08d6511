"""The shim v2 side of ocimux-oci without processes: records, create options, exec specs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ocimux.ocifront import records, shimfront
from ocimux.ocifront.argv import parse
from ocimux.ocifront.records import Record
from ocimux.ocifront.report import FrontError
from ocimux.plugins.shimv2 import messages as m


def test_a_shim_record_round_trips_with_its_fields() -> None:
    rec = Record("kata", "/usr/bin/containerd-shim-kata-v2", "/r/ocimux/shim/c1", [], "created",
                 {"checkpoint": "no"}, "shim",
                 {"address": "unix:///run/containerd/s/ab", "namespace": "ocimux",
                  "env:KATA_CONF_FILE": "/etc/k.toml"})  # fmt: skip
    text = rec.dump()
    assert "kind\tshim\n" in text and "x\taddress\tunix:///run/containerd/s/ab\n" in text
    assert Record.parse(text) == rec
    # a CLI record keeps its old shape: no kind line, read back as "cli"
    cli = Record("crun", "/usr/bin/crun", "/r", [])
    assert "kind" not in cli.dump() and Record.parse(cli.dump()).kind == "cli"


def test_a_tab_in_a_shim_field_is_refused(tmp_path: Path) -> None:
    rec = Record("kata", "/x", "/r", [], kind="shim", extra={"bundle": "/b\tc"})
    with pytest.raises(ValueError, match="a tab or newline"):
        records.save(str(tmp_path), "c1", rec)
    assert records.load(str(tmp_path), "c1") is None


def test_the_runc_shims_state_moves_under_the_front_root() -> None:
    raw = m.RUNC_OPTIONS.encode({"root": "/var/lib/ocimux/runc-shim/runc", "binary_name": "runc"})
    shim = {"options_type": m.RUNC_OPTIONS_TYPE, "options": raw.hex()}
    options = shimfront._create_options(shim, "/run/front")
    assert options is not None and options["type_url"] == m.RUNC_OPTIONS_TYPE
    decoded = m.RUNC_OPTIONS.decode(options["value"])
    assert (decoded["root"], decoded["binary_name"]) == ("/run/front/ocimux/shim/state", "runc")
    # kata passes no options, and gets none
    assert shimfront._create_options({"options_type": "", "options": ""}, "/run/front") is None


def _record(bundle: Path) -> Record:
    return Record("runc-shim", "/s", "/r", [], kind="shim",
                  extra={"bundle": str(bundle), "namespace": "ocimux"})  # fmt: skip


def test_exec_without_process_takes_the_containers_process(tmp_path: Path) -> None:
    spec = {"process": {"args": ["sleep", "1"], "env": ["PATH=/bin"], "cwd": "/",
                        "user": {"uid": 0, "gid": 0},
                        "capabilities": {"bounding": ["CAP_CHOWN"]}}}  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps(spec))
    call = parse(["exec", "-t", "--env", "A=1", "--cwd", "/tmp", "--user", "5:6",
                  "--cap", "CAP_KILL", "c1", "sh", "-c", "echo -x"])  # fmt: skip
    process = shimfront._exec_spec(call, _record(tmp_path))
    assert process["args"] == ["sh", "-c", "echo -x"]
    assert (process["terminal"], process["cwd"], process["user"]) == (True, "/tmp",
                                                                      {"uid": 5, "gid": 6})  # fmt: skip
    assert process["env"] == ["PATH=/bin", "A=1"]
    assert process["capabilities"]["bounding"] == ["CAP_CHOWN", "CAP_KILL"]
    assert "CAP_KILL" in process["capabilities"]["effective"]


def test_exec_with_a_process_file_takes_it_as_it_is(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text(json.dumps({"args": ["true"], "cwd": "/"}))
    call = parse(["exec", "--process", str(tmp_path / "p.json"), "c1"])
    assert shimfront._exec_spec(call, _record(tmp_path)) == {"args": ["true"], "cwd": "/"}
    (tmp_path / "bad.json").write_text("[1]")
    call = parse(["exec", "--process", str(tmp_path / "bad.json"), "c1"])
    with pytest.raises(FrontError, match="is not a JSON object"):
        shimfront._exec_spec(call, _record(tmp_path))
    with pytest.raises(FrontError, match="neither --process nor a command"):
        shimfront._exec_spec(parse(["exec", "c1"]), _record(tmp_path))


def test_update_takes_resources_only(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text(json.dumps({"pids": {"limit": 5}}))
    rec = _record(tmp_path)
    call = parse(["update", "--resources", str(tmp_path / "r.json"), "c1"])
    assert shimfront._resources(call, rec) == {"pids": {"limit": 5}}
    with pytest.raises(FrontError, match="takes --resources FILE .* not --memory alone"):
        shimfront._resources(parse(["update", "--memory", "1000", "c1"]), rec)
