"""Hook plugins (group `ocimux.hooks`): policy, spec adjustment, lifecycle events, broken ones."""

from __future__ import annotations

import json
from pathlib import Path

from tests.plugin_dists import BROKEN_MODULE, make_dist

POLICY = """
import json, os
import ocimux

@ocimux.hookimpl
def ocimux_choose_runtime(name, annotations, requested, default):
    if annotations.get("example.com/untrusted") == "true":
        return "sandbox"
    return None

@ocimux.hookimpl
def ocimux_adjust_spec(spec, runtime, name):
    spec["process"]["env"].append("CHOSEN_RUNTIME=" + runtime)

@ocimux.hookimpl
def ocimux_lifecycle_event(event, container, name, runtime, detail):
    with open(os.environ["AUDIT_LOG"], "a") as fh:
        fh.write(json.dumps({"event": event, "name": name, "runtime": runtime, **detail}) + "\\n")
"""


def _setup(tmp_path: Path, ocimux_env: dict[str, str], *, broken: bool = False) -> dict[str, str]:
    site = tmp_path / "site"
    make_dist(
        site,
        "ocimux-policy",
        {"ocimux.hooks": {"policy": "policy_hooks"}},
        {"policy_hooks": POLICY},
    )
    if broken:
        make_dist(
            site,
            "ocimux-badhook",
            {"ocimux.hooks": {"bad": "bad_hooks"}},
            {"bad_hooks": BROKEN_MODULE},
        )
    conf = Path(ocimux_env["CONTAINERS_CONF"])
    conf.write_text(conf.read_text() + '[ocimux.runtime_plugins]\nsandbox = "mock"\n')
    return {"PYTHONPATH": str(site), "AUDIT_LOG": str(tmp_path / "audit.jsonl")}


def test_policy_adjust_and_audit_hooks(ocimux, ocimux_env, tmp_path: Path, rootfs: Path):
    env = _setup(tmp_path, ocimux_env)
    proc = ocimux(
        "run",
        "--rm",
        "--annotation",
        "example.com/untrusted=true",
        "--rootfs",
        str(rootfs),
        "--",
        "sh",
        "-c",
        "echo $CHOSEN_RUNTIME",
        env=env,
    )
    assert (proc.stdout, proc.returncode) == ("sandbox\n", 0), proc.stderr
    proc = ocimux(
        "run",
        "--rm",
        "--rootfs",
        str(rootfs),
        "--",
        "sh",
        "-c",
        "echo $CHOSEN_RUNTIME; exit 2",
        env=env,
    )
    assert (proc.stdout, proc.returncode) == ("mock\n", 2), proc.stderr
    events = [json.loads(line) for line in Path(env["AUDIT_LOG"]).read_text().splitlines()]
    sandboxed = [(e["event"], e["runtime"]) for e in events if e["runtime"] == "sandbox"]
    assert sandboxed[0] == ("create", "sandbox") and ("delete", "sandbox") in sandboxed
    assert [e["event"] for e in events if e["runtime"] == "mock"] == [
        "create",
        "start",
        "died",
        "delete",
    ]
    died = next(e for e in events if e["event"] == "died" and e["runtime"] == "mock")
    assert died["exit_code"] == 2


def test_broken_hook_plugin_is_reported_and_the_rest_still_work(
    ocimux, ocimux_env, tmp_path: Path, rootfs: Path
):
    env = _setup(tmp_path, ocimux_env, broken=True)
    proc = ocimux(
        "run", "--rm", "--rootfs", str(rootfs), "--", "sh", "-c", "echo $CHOSEN_RUNTIME", env=env
    )
    assert (proc.stdout, proc.returncode) == ("mock\n", 0), proc.stderr
    info = json.loads(ocimux("info", "--format", "json", env=env).stdout)
    assert sorted(info["hook_plugins"]) == ["bad", "policy"]
    (broken,) = info["broken_hook_plugins"]
    assert "ocimux-badhook 1.0" in broken and "nonexistent_dependency_for_ocimux_tests" in broken
