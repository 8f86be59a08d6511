"""What `ocimux runtimes` says about the real runc and crun, and how configuration changes it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from typing import Any

from tests.integration.conftest import Oci

#: a word each runtime's probed "no checkpoint" reason must contain (host.md §5: criu 3.17.1
#: fails on this kernel; Debian's crun is built without CRIU)
CHECKPOINT_REASON = {"runc": "criu", "crun": "CRIU"}


def _reports(oci: Oci) -> dict[str, dict[str, Any]]:
    done = oci("runtimes", "--format", "json")
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    return {r["name"]: r for r in json.loads(done.stdout)}


def _binary_version(name: str) -> str:
    path = shutil.which(name)
    assert path is not None
    first = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=20)
    match = re.search(r"\bversion\s+(\S+)", first.stdout.splitlines()[0])
    assert match, first.stdout
    return match.group(1)


def test_runtimes_reports_probed_capabilities(oci: Oci) -> None:
    reports = _reports(oci)
    assert {"runc", "crun"} <= set(reports)
    rep = reports[oci.runtime]
    assert (rep["status"], rep["plugin"], rep["error"]) == ("ok", oci.runtime, None)
    assert rep["path"] and os.path.exists(rep["path"])
    assert os.path.realpath(rep["path"]) == os.path.realpath(shutil.which(oci.runtime) or "")
    assert rep["version"] and rep["version"] == _binary_version(oci.runtime)

    caps = rep["capabilities"]
    checkpoint = caps["checkpoint"]
    assert (checkpoint["value"], checkpoint["source"]) == (False, "probed")
    assert CHECKPOINT_REASON[oci.runtime] in checkpoint["reason"], checkpoint
    assert caps["json_errors"]["value"] is True
    assert caps["kvm"]["value"] is False and caps["kvm"]["reason"]


def test_runtime_supports_lists_show_as_configured(oci: Oci) -> None:
    name = oci.runtime
    oci.edit_conf(
        lambda text: text.replace(
            'runtime = "mock"',
            f'runtime = "mock"\nruntime_supports_kvm = ["{name}"]\n'
            f'runtime_supports_json = ["{name}"]',
        )
    )
    caps = _reports(oci)[name]["capabilities"]
    # the plugin declares kvm false (it starts no VM): a list cannot turn it on, and says so
    assert (caps["kvm"]["value"], caps["kvm"]["source"]) == (False, "declared")
    assert f"runtime_supports_kvm lists {name}: refused" in caps["kvm"]["reason"]
    assert (caps["json_errors"]["value"], caps["json_errors"]["source"]) == (True, "configured")
    assert caps["checkpoint"]["source"] == "probed"  # untouched by the lists


def test_a_runtime_left_out_of_runtime_supports_json_gets_no_json_log(oci: Oci) -> None:
    oci.edit_conf(
        lambda text: text.replace(
            'runtime = "mock"', 'runtime = "mock"\nruntime_supports_json = []'
        )
    )
    caps = _reports(oci)[oci.runtime]["capabilities"]
    assert (caps["json_errors"]["value"], caps["json_errors"]["source"]) == (False, "configured")
    cid = oci.detach("web", "sleep", "100")
    oci.ok("kill", "web")
    # the runtime was never asked to write JSON errors: no --log file exists
    assert not (oci.containers_dir / cid / "oci-log").exists()
    done = oci("start", "web")
    assert done.returncode == 125 and "stopped" in done.stderr


def test_unknown_runtime_name_is_driven_by_the_runc_plugin(oci: Oci) -> None:
    binary = shutil.which(oci.runtime)
    assert binary is not None
    alias = f"my{oci.runtime}"
    oci.edit_conf(lambda text: f'{text}\n[engine.runtimes]\n{alias} = ["{binary}"]\n')

    rep = _reports(oci)[alias]
    assert (rep["status"], rep["plugin"], rep["path"]) == ("ok", "runc", binary)
    assert rep["version"] == _binary_version(oci.runtime)

    oci.runtime = alias
    done = oci(*oci.new("run", "sh", "-c", "echo hi; exit 2", flags=["--rm"]))
    assert (done.returncode, done.stdout, done.stderr) == (2, "hi\n", "")

    cid = oci.detach("web", "sleep", "100")
    [rec] = oci.ps()
    assert (rec["id"], rec["runtime"], rec["status"]) == (cid, alias, "running")
    # created by that binary, in that name's own --root
    listed = oci.runtime_list(alias, binary=binary)
    assert [(c["id"], c["status"]) for c in listed] == [(cid, "running")]
    done = oci("rm", "-f", "-t", "0", "web")
    assert (done.returncode, done.stdout) == (0, "web\n"), done.stderr
    assert oci.runtime_list(alias, binary=binary) == []


def test_checkpoint_is_refused_with_the_probed_reason_before_anything_runs(oci: Oci) -> None:
    oci.detach("web", "sleep", "100")
    done = oci("checkpoint", "web")
    assert done.returncode == 125
    line = done.stderr.strip()
    assert "\n" not in line and "checkpoint" in line and "probed" in line, line
    assert ("criu" in line) if oci.runtime == "runc" else ("CRIU" in line), line
    assert oci.record("web")["status"] == "running"
