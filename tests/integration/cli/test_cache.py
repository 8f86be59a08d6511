"""The warm-path cache sees every change on the very next call."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.plugin_dists import REBRANDED_MOCK, make_dist


def _info(ocimux, env=None) -> dict:
    proc = ocimux("info", "--format", "json", env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture
def user_conf(tmp_path: Path, ocimux_env: dict[str, str]) -> tuple[dict[str, str], Path]:
    """Use the normal search path with a user containers.conf (and its drop-in dir)."""
    xdg = Path(ocimux_env["XDG_CONFIG_HOME"]) / "containers"
    (xdg / "containers.conf.d").mkdir(parents=True)
    conf = xdg / "containers.conf"
    conf.write_text(Path(ocimux_env["CONTAINERS_CONF"]).read_text())
    env = {k: v for k, v in ocimux_env.items() if k != "CONTAINERS_CONF"}
    env["CONTAINERS_CONF"] = ""
    return env, conf


def test_edited_file_is_seen(ocimux, ocimux_env):
    conf = Path(ocimux_env["CONTAINERS_CONF"])
    assert _info(ocimux)["default_runtime"] == "mock"
    conf.write_text(
        conf.read_text().replace('runtime = "mock"', 'runtime = "other"')
        + '[ocimux.runtime_plugins]\nother = "mock"\n'
    )
    st = conf.stat()
    os.utime(conf, ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime: size and content changed
    assert _info(ocimux)["default_runtime"] == "other"


def test_new_and_removed_drop_in_are_seen(ocimux, user_conf):
    env, conf = user_conf
    assert _info(ocimux, env)["default_runtime"] == "mock"
    dropin = conf.parent / "containers.conf.d" / "50-runtime.conf"
    dropin.write_text('[engine]\nruntime = "dropped"\n[ocimux.runtime_plugins]\ndropped = "mock"\n')
    assert _info(ocimux, env)["default_runtime"] == "dropped"
    dropin.unlink()
    assert _info(ocimux, env)["default_runtime"] == "mock"


def test_changed_variable_is_seen(ocimux):
    assert _info(ocimux)["default_runtime"] == "mock"
    env = {
        "OCIMUX_ENGINE__RUNTIME": "viaenv",
        "OCIMUX_OCIMUX__RUNTIME_PLUGINS": '{"viaenv": "mock"}',
    }
    assert _info(ocimux, env)["default_runtime"] == "viaenv"
    assert _info(ocimux)["default_runtime"] == "mock"


def test_installed_and_uninstalled_plugin_is_seen(ocimux, tmp_path: Path):
    site = tmp_path / "site"
    site.mkdir()
    env = {"PYTHONPATH": str(site)}
    assert "late" not in _info(ocimux, env)["runtimes"]
    info = make_dist(
        site,
        "ocimux-late",
        {"ocimux.runtimes": {"late": "late_rt:ThirdPartyRuntime"}},
        {"late_rt": REBRANDED_MOCK},
    )
    assert "late" in _info(ocimux, env)["runtimes"]
    # rewritten in place (same dist-info directory): a renamed entry point
    (info / "entry_points.txt").write_text("[ocimux.runtimes]\nlater = late_rt:ThirdPartyRuntime\n")
    runtimes = _info(ocimux, env)["runtimes"]
    assert "later" in runtimes and "late" not in runtimes
    for p in sorted(info.iterdir()):
        p.unlink()
    info.rmdir()
    assert "later" not in _info(ocimux, env)["runtimes"]
