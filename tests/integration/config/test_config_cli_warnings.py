"""The CLI with a file podman loads but ocimux does not fully know: warnings, `config check|show`.

Each test runs `python -m ocimux.cli` with its own state, cache and config; nothing runs a
container (`ps` and `config` only open the store or nothing).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomli


def env_for(tmp_path: Path, conf: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith("OCIMUX_") and not k.startswith("CONTAINERS_CONF")
    }
    env.update(
        CONTAINERS_CONF=str(conf),
        OCIMUX_CACHE_DIR=str(tmp_path / "cache"),
        OCIMUX_OCIMUX__STATE_DIR=str(tmp_path / "lib"),
        OCIMUX_OCIMUX__RUN_DIR=str(tmp_path / "run"),
        XDG_CONFIG_HOME=str(tmp_path / "xdg"),
        **extra,
    )
    return env


def ocimux(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ocimux.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    path = tmp_path / "containers.conf"
    path.write_text(
        '[engine]\nruntime = "mock"\nsome_future_key = true\n\n[containers]\nnetnz = "host"\n'
    )
    return path


def test_a_newer_podman_key_warns_once_and_the_command_runs(tmp_path: Path, conf: Path) -> None:
    env = env_for(tmp_path, conf)
    first = ocimux(env, "ps", "-a")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("CONTAINER ID")
    assert first.stderr.splitlines() == [
        f"ocimux: warning: {conf}:3: engine.some_future_key: unknown key, ignored",
        f"ocimux: warning: {conf}:6: containers.netnz: unknown key, ignored; did you mean 'netns'?",
    ]
    second = ocimux(env, "ps", "-a")
    assert second.returncode == 0 and second.stderr == ""  # the warm cache remembers them


def test_strict_config_stops_every_command(tmp_path: Path, conf: Path) -> None:
    env = env_for(tmp_path, conf, OCIMUX_OCIMUX__STRICT_CONFIG="true")
    proc = ocimux(env, "ps", "-a")
    assert proc.returncode == 125
    assert proc.stderr.startswith(
        f"Error: {conf}:3: engine.some_future_key: unknown key (and 1 more)"
    )
    assert len(proc.stderr.splitlines()) == 1


def test_config_check_lists_every_warning_and_exits_1(tmp_path: Path, conf: Path) -> None:
    proc = ocimux(env_for(tmp_path, conf), "config", "check")
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [
        f"{conf}:3: engine.some_future_key: unknown key, ignored",
        f"{conf}:6: containers.netnz: unknown key, ignored; did you mean 'netns'?",
    ]
    assert proc.stderr == "1 file read, 2 warnings\n"


def test_config_check_of_a_clean_file_exits_0(tmp_path: Path) -> None:
    clean = tmp_path / "clean.conf"
    clean.write_text('[engine]\nruntime = "mock"\n')
    proc = ocimux(env_for(tmp_path, clean), "config", "check")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "1 file read, 0 warnings\n")


def test_config_check_of_a_broken_file_is_the_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.conf"
    broken.write_text("[engine]\nstop_timeout = 'ten'\n")
    proc = ocimux(env_for(tmp_path, broken), "config", "check")
    assert proc.returncode == 125
    assert proc.stderr.startswith(f"Error: {broken}:2: engine.stop_timeout: ")


def test_config_show_sources_names_file_line_variable_and_default(tmp_path: Path) -> None:
    base = tmp_path / "base.conf"
    base.write_text('[engine]\nruntime = "mock"\nruntime_supports_json = ["crun"]\n')
    drop_ins = tmp_path / "xdg" / "containers" / "containers.conf.d"
    drop_ins.mkdir(parents=True)
    (tmp_path / "xdg" / "containers" / "containers.conf").write_text(base.read_text())
    (drop_ins / "50-more.conf").write_text(
        '[engine]\n\nruntime_supports_json = ["myrt", {append = true}]\n'
    )
    env = env_for(tmp_path, base, OCIMUX_ENGINE__STOP_TIMEOUT="4")
    env.pop("CONTAINERS_CONF")
    user = tmp_path / "xdg" / "containers" / "containers.conf"
    proc = ocimux(env, "config", "show", "--sources")
    assert proc.returncode == 0, proc.stderr
    shown = proc.stdout.splitlines()
    assert f'engine.runtime = "mock"  # {user}:2' in shown
    assert (
        f'engine.runtime_supports_json = ["crun", "myrt"]  # {user}:3 + {drop_ins / "50-more.conf"}:3'
        in shown
    )
    assert "engine.stop_timeout = 4  # OCIMUX_ENGINE__STOP_TIMEOUT" in shown
    assert f'ocimux.state_dir = "{tmp_path / "lib"}"  # OCIMUX_OCIMUX__STATE_DIR' in shown
    # without --sources the output is TOML that loads back to the same values
    plain = ocimux(env, "config", "show")
    data = tomli.loads(plain.stdout)
    assert data["engine"]["runtime_supports_json"] == ["crun", "myrt"]
    assert data["engine"]["stop_timeout"] == 4
    as_json = json.loads(ocimux(env, "config", "show", "--format", "json").stdout)
    assert as_json["engine.runtime"] == {"value": "mock", "source": f"{user}:2"}


def test_config_show_marks_podman_builtins_an_append_extends(tmp_path: Path) -> None:
    conf = tmp_path / "c.conf"
    conf.write_text('[engine]\nruntime_supports_json = ["myrt", {append = true}]\n')
    proc = ocimux(env_for(tmp_path, conf), "config", "show", "--sources")
    line = next(x for x in proc.stdout.splitlines() if x.startswith("engine.runtime_supports_json"))
    assert line.endswith(f"# built-in + {conf}:2")
    assert '"runc"' in line and '"myrt"' in line


def test_info_lists_the_warnings_even_when_warm(tmp_path: Path, conf: Path) -> None:
    env = env_for(tmp_path, conf)
    ocimux(env, "ps", "-a")  # the cold read, which showed them once
    proc = ocimux(env, "info", "--format", "json")
    assert proc.returncode == 0 and proc.stderr == ""
    assert json.loads(proc.stdout)["warnings"] == [
        f"config: {conf}:3: engine.some_future_key: unknown key, ignored",
        f"config: {conf}:6: containers.netnz: unknown key, ignored; did you mean 'netns'?",
    ]
    text = ocimux(env, "info").stdout
    assert f"warning: config: {conf}:3: engine.some_future_key: unknown key, ignored" in text


def test_config_show_adds_the_defaults_in_effect_and_reads_back(tmp_path: Path, conf: Path) -> None:
    env = env_for(tmp_path, conf)
    shown = ocimux(env, "config", "show", "--sources").stdout.splitlines()
    assert 'engine.cgroup_manager = "cgroupfs"  # default' in shown
    assert "engine.stop_timeout = 10  # default" in shown
    plain = ocimux(env, "config", "show").stdout
    again = tmp_path / "again.conf"
    again.write_text(plain)
    back = ocimux(env_for(tmp_path, again), "config", "show").stdout
    assert sorted(back.splitlines()) == sorted(plain.splitlines())
    assert ocimux(env_for(tmp_path, again), "config", "check").returncode == 0
