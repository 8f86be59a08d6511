"""The CLI's start-up stays light: `--version` and a warm `ps` import none of the heavy libraries."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("pydantic", "pydantic_settings", "stevedore", "pluggy", "importlib.metadata")


def _imported(args: list[str], env: dict[str, str]) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ocimux.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


def test_version_imports_no_heavy_module(ocimux_env):
    mods = _imported(["--version"], ocimux_env)
    assert "ocimux" in mods and "ocimux._version" in mods
    assert not {m for m in mods if m.split(".")[0] in {h.split(".")[0] for h in HEAVY[:4]}}
    assert "importlib.metadata" not in mods


def test_warm_ps_skips_config_validation_and_plugin_discovery(ocimux_env):
    cold = _imported(["ps"], ocimux_env)
    assert "pydantic" in cold, "the cold path should validate the config"
    warm = _imported(["ps"], ocimux_env)
    assert not warm & set(HEAVY), warm & set(HEAVY)
