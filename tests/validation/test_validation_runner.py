"""The validation runner's own pieces, without the suite: TAP counting, lanes, baseline file."""

from __future__ import annotations

import json
from pathlib import Path

from tests.validation.run import (
    ProgramResult,
    baseline_entry,
    parse_tap,
    shares_cgroup,
    write_baseline,
)
from tests.validation.test_runtime_tools import _regressions, _to_rerun

TAP = """TAP version 13
ok 1 - has expected hostname
  ---
  {
    "actual": "ok 99 - not a test line"
  }
  ...
not ok 2 - memory kernel is set correctly
ok 3 # SKIP root.readonly is false
not ok 4 - flaky # TODO known
ok 5 - has expected hostname
not ok 6 exit status 1
1..6
"""


def test_parse_tap_counts_ok_skip_todo_and_names_failures() -> None:
    result = ProgramResult("validation/x/x.t")
    assert parse_tap(TAP, result) == 6
    assert (result.ok, result.skip, result.todo) == (3, 1, 1)
    assert result.not_ok == ["memory kernel is set correctly", "exit status 1"]


def test_parse_tap_of_garbage_counts_nothing() -> None:
    result = ProgramResult("validation/x/x.t")
    assert parse_tap("failed to create the container\nexit status 1\n", result) == 0
    assert (result.ok, result.skip, result.not_ok) == (0, 0, [])


def test_cgroup_programs_share_a_lane() -> None:
    assert shares_cgroup("validation/linux_cgroups_cpus/linux_cgroups_cpus.t")
    assert shares_cgroup("validation/delete_resources/delete_resources.t")
    assert not shares_cgroup("validation/delete/delete.t")


def _summary(not_ok: list[str], status: str = "passed", ok: int = 2) -> dict:
    prog = {"ok": ok, "not_ok": not_ok, "skip": 0, "status": status}
    return {
        "runtime": "crun",
        "command": ["/usr/bin/crun"],
        "version": "crun version 1.8.1",
        "totals": {"programs": 1, "ok": ok, "not_ok": len(not_ok), "skip": 0}
        | {"errors": int(status == "error"), "timeouts": 0},
        "programs": {"validation/a/a.t": prog},
    }


def test_write_baseline_keeps_other_runtimes_and_dedups_names(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps({"suite_commit": "260e151", "runtimes": {"runc": {"x": 1}}}))
    write_baseline(path, _summary(["b", "a", "b"]))
    written = json.loads(path.read_text())
    assert written["runtimes"]["runc"] == {"x": 1}
    assert written["runtimes"]["crun"]["programs"]["validation/a/a.t"]["not_ok"] == ["a", "b"]
    assert written["runtimes"]["crun"]["version"] == "crun version 1.8.1"


def test_regressions_name_new_failures_and_errors_only() -> None:
    baseline = baseline_entry(_summary(["known"]))
    assert _regressions(_summary(["known"]), baseline) == []
    assert _regressions(_summary([]), baseline) == []
    assert _regressions(_summary(["known", "new one"]), baseline) == [
        "validation/a/a.t: new not ok: new one"
    ]
    assert _regressions(_summary([], status="error"), baseline) == [
        "validation/a/a.t: error (baseline: passed): "
    ]


def test_to_rerun_takes_programs_with_fewer_ok_or_a_regression() -> None:
    baseline = baseline_entry(_summary(["known"], ok=5))
    assert _to_rerun(_summary(["known"], ok=5), baseline) == []
    assert _to_rerun(_summary(["known"], ok=6), baseline) == []
    assert _to_rerun(_summary(["known"], ok=4), baseline) == ["validation/a/a.t"]
    assert _to_rerun(_summary(["new"], ok=5), baseline) == ["validation/a/a.t"]


#: what each baseline has reached (issue 16): `ok` lines, and distinct `not ok` test names over
#: the programs. A baseline may only go up: lowering one below these needs an edit here too, in
#: plain sight of review
FLOORS = {"crun": (4043, 10), "runc": (3716, 20), "ocimux-oci-runc-shim": (3396, 19)}


def test_baselines_never_go_below_what_they_reached() -> None:
    runtimes = json.loads((Path(__file__).parent / "baseline.json").read_text())["runtimes"]
    assert set(FLOORS) <= set(runtimes)
    for name, (ok_floor, not_ok_ceiling) in FLOORS.items():
        programs = runtimes[name]["programs"].values()
        ok = sum(p["ok"] for p in programs)
        not_ok = sum(len(p["not_ok"]) for p in programs)
        assert (ok >= ok_floor, not_ok <= not_ok_ceiling) == (True, True), (name, ok, not_ok)
