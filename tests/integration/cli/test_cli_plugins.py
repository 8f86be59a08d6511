"""The registry seen through the CLI: broken and conflicting plugins, lazy imports, routing."""

from __future__ import annotations

import json
from pathlib import Path

from tests.plugin_dists import BROKEN_MODULE, REBRANDED_MOCK, make_dist


def _runtimes(ocimux, env=None) -> dict[str, dict]:
    proc = ocimux("runtimes", "--format", "json", env=env)
    assert proc.returncode == 0, proc.stderr
    return {r["name"]: r for r in json.loads(proc.stdout)}


def test_runtimes_lists_mock_with_capabilities_and_sources(ocimux):
    mock = _runtimes(ocimux)["mock"]
    assert mock["status"] == "ok"
    assert mock["entry_point"] == "ocimux.plugins.mock:MockRuntime"
    assert mock["distribution"].startswith("ocimux ")
    caps = mock["capabilities"]
    assert caps["checkpoint"] == {
        "value": False,
        "source": "declared",
        "reason": caps["checkpoint"]["reason"],
    }
    assert caps["checkpoint"]["reason"]
    assert caps["pause"]["value"] is True and caps["pause"]["source"] == "declared"
    assert caps["kvm"]["value"] is False


def test_broken_plugin_is_reported_and_does_not_stop_run(ocimux, tmp_path: Path, rootfs: Path):
    site = tmp_path / "site"
    make_dist(
        site,
        "ocimux-broken",
        {"ocimux.runtimes": {"broken": "broken_rt:Runtime"}},
        {"broken_rt": BROKEN_MODULE},
    )
    env = {"PYTHONPATH": str(site)}
    rts = _runtimes(ocimux, env)
    assert rts["broken"]["status"] == "broken"
    assert "nonexistent_dependency_for_ocimux_tests" in rts["broken"]["error"]
    assert rts["broken"]["entry_point"] == "broken_rt:Runtime"
    assert rts["broken"]["distribution"] == "ocimux-broken 1.0"
    assert rts["mock"]["status"] == "ok"

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
        "echo hi; exit 3",
        env=env,
    )
    assert (proc.stdout, proc.returncode) == ("hi\n", 3), proc.stderr

    proc = ocimux(
        "run", "--runtime", "broken", "--rm", "--rootfs", str(rootfs), "--", "true", env=env
    )
    assert proc.returncode == 125
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "broken" in lines[0] and "ocimux-broken 1.0" in lines[0], proc.stderr


def test_two_distributions_claiming_one_name_is_a_clear_error(ocimux, tmp_path: Path, rootfs: Path):
    site = tmp_path / "site"
    make_dist(
        site,
        "vendor-a",
        {"ocimux.runtimes": {"dup": "dup_a:ThirdPartyRuntime"}},
        {"dup_a": REBRANDED_MOCK},
    )
    make_dist(
        site,
        "vendor-b",
        {"ocimux.runtimes": {"dup": "dup_b:ThirdPartyRuntime"}},
        {"dup_b": REBRANDED_MOCK},
    )
    env = {"PYTHONPATH": str(site)}
    proc = ocimux("run", "--runtime", "dup", "--rm", "--rootfs", str(rootfs), "--", "true", env=env)
    assert proc.returncode == 125
    assert "vendor-a 1.0" in proc.stderr and "vendor-b 1.0" in proc.stderr
    assert _runtimes(ocimux, env)["dup"]["status"] == "conflict"


def test_third_party_plugin_runs_and_is_imported_only_when_used(
    ocimux, tmp_path: Path, rootfs: Path
):
    site = tmp_path / "site"
    marker = tmp_path / "imported"
    source = REBRANDED_MOCK + f"\nopen({str(marker)!r}, 'a').write('x')\n"
    make_dist(
        site,
        "ocimux-thirdparty",
        {"ocimux.runtimes": {"third": "third_rt:ThirdPartyRuntime"}},
        {"third_rt": source},
    )
    env = {"PYTHONPATH": str(site)}
    assert ocimux("ps", "-a", env=env).returncode == 0
    assert not marker.exists(), "listing containers imported a plugin it did not need"
    proc = ocimux(
        "run", "--runtime", "third", "--rm", "--rootfs", str(rootfs), "--", "echo", "third", env=env
    )
    assert (proc.stdout, proc.returncode) == ("third\n", 0), proc.stderr
    assert marker.read_text() == "x", "plugin imported more than once in one process"


def test_uninstalled_plugin_leaves_container_listed_and_removable(
    ocimux, tmp_path: Path, rootfs: Path
):
    site = tmp_path / "site"
    make_dist(
        site,
        "ocimux-thirdparty",
        {"ocimux.runtimes": {"third": "third_rt:ThirdPartyRuntime"}},
        {"third_rt": REBRANDED_MOCK},
    )
    env = {"PYTHONPATH": str(site)}
    proc = ocimux(
        "create",
        "--name",
        "orphan",
        "--runtime",
        "third",
        "--rootfs",
        str(rootfs),
        "--",
        "sleep",
        "30",
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    # "uninstall": the distribution disappears from sys.path
    proc = ocimux("ps", "-a", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    (rec,) = json.loads(proc.stdout)
    assert rec["name"] == "orphan" and rec["runtime"] == "third" and rec["status"] == "unknown"
    assert "missing" in rec["status_reason"]
    proc = ocimux("start", "orphan")
    assert proc.returncode == 125 and "runtime" in proc.stderr and "missing" in proc.stderr
    proc = ocimux("rm", "orphan")
    assert proc.returncode == 125 and "rm -f" in proc.stderr
    # reinstall, remove properly (the shim is still holding the process)
    assert ocimux("rm", "-f", "orphan", env=env).returncode == 0
    assert json.loads(ocimux("ps", "-a", "--format", "json").stdout) == []


def test_routing_survives_a_change_of_the_default_runtime(
    ocimux, ocimux_env, tmp_path: Path, rootfs: Path
):
    conf = Path(ocimux_env["CONTAINERS_CONF"])
    base = conf.read_text()
    # "trap" is the mock plugin under a second name, configured to fail every kill/stop/delete:
    # a call routed there instead of to the owner would fail.
    conf.write_text(
        base + '[ocimux.runtime_plugins]\ntrap = "mock"\n'
        '[ocimux.plugins.trap]\nfail_on = "start,kill,stop,delete,pause,unpause,exec,state"\n'
    )
    proc = ocimux("run", "-d", "--name", "owned", "--rootfs", str(rootfs), "--", "sleep", "30")
    assert proc.returncode == 0, proc.stderr
    conf.write_text(conf.read_text().replace('runtime = "mock"', 'runtime = "trap"'))
    info = json.loads(ocimux("info", "--format", "json").stdout)
    assert info["default_runtime"] == "trap"
    for args in (
        ("pause", "owned"),
        ("unpause", "owned"),
        ("kill", "-s", "TERM", "owned"),
        ("rm", "-f", "owned"),
    ):
        proc = ocimux(*args)
        assert proc.returncode == 0, (args, proc.stderr)
    # and new containers do go to the new default (which fails as configured)
    proc = ocimux("run", "-d", "--rootfs", str(rootfs), "--", "sleep", "1")
    assert proc.returncode == 125 and "trap" in proc.stderr and "injected" in proc.stderr
    # that container stays "created" on trap; lift the faults so it can be removed
    conf.write_text(conf.read_text().split("[ocimux.plugins.trap]")[0])
    (left,) = json.loads(ocimux("ps", "-a", "--format", "json").stdout)
    assert left["runtime"] == "trap" and left["status"] == "created"
