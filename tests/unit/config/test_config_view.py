"""Config: defaults, typed accessors, immutability, the JSON round trip, default directories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from ocimux.config import Config, load_config
from ocimux.config.view import (
    DEFAULT_CONMON_PATHS,
    default_run_dir,
    default_state_dir,
)

if TYPE_CHECKING:
    from conftest import FakeRoots

FULL: dict[str, Any] = {
    "engine": {
        "runtime": "r1",
        "runtimes": {"r1": ["/a/r1", "/b/r1"], "r2": []},
        "runtimes_flags": {"r1": ["debug", "--log-level=info", "-x", ""]},
        "runtime_supports_json": ["r1"],
        "runtime_supports_kvm": ["vm"],
        "runtime_supports_nocgroup": ["r1"],
        "runtime_supports_nocgroups": ["r2"],
        "conmon_path": ["/c/conmon"],
        "conmon_env_vars": ["A=1"],
        "stop_timeout": 3,
        "detach_keys": "ctrl-a",
        "cgroup_manager": "systemd",
    },
    "ocimux": {
        "state_dir": "/s",
        "run_dir": "/r",
        "command_timeout": 1.5,
        "lock_timeout": 0,
        "default_cli_plugin": "other",
        "runtime_preference": ["r2", "x"],
        "hooks_enabled": False,
        "runtime_plugins": {"r2": "plug"},
        "plugins": {"plug": {"opt": [1, {"x": "y"}]}},
        "capabilities": {"r1": {"checkpoint": False, "kvm": True}},
    },
}


def test_defaults_of_an_empty_config(monkeypatch: pytest.MonkeyPatch) -> None:
    config = Config({})
    assert config.default_runtime is None
    assert config.runtime_names == ()
    assert config.runtime_paths("x") == ()
    assert config.runtime_preference == ("crun", "runc", "runj", "kata", "runsc", "ocijail")
    assert config.runtime_flags("x") == ()
    assert config.supports_json == config.supports_kvm == config.supports_nocgroups == frozenset()
    assert not any(config.supports_is_set(kind) for kind in ("json", "kvm", "nocgroups"))
    assert config.conmon_paths == DEFAULT_CONMON_PATHS
    assert config.conmon_paths[0] == "/usr/libexec/podman/conmon"
    assert config.conmon_paths[-1] == "/run/current-system/sw/bin/conmon"
    assert len(config.conmon_paths) == 8
    assert config.conmon_env_vars == (
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    )
    assert config.stop_timeout == 10
    assert config.detach_keys == "ctrl-p,ctrl-q"
    assert config.cgroup_manager == "cgroupfs"
    assert config.command_timeout == 60.0
    assert config.lock_timeout == 60.0
    assert config.default_cli_plugin == "runc"
    assert config.runtime_plugin("x") is None
    assert config.plugin_options("x") == {}
    assert config.capability_overrides("x") == {}
    assert config.hooks_enabled is True
    assert config.files == ()
    monkeypatch.setattr("os.geteuid", lambda: 0)
    assert config.state_dir == Path("/var/lib/ocimux")
    assert config.run_dir == Path("/run/ocimux")


def test_every_accessor_on_a_full_config() -> None:
    config = Config(FULL, files=("/f1", "/f2"))
    assert config.default_runtime == "r1"
    assert config.runtime_names == ("r1", "r2")
    assert config.runtime_preference == ("r2", "x", "r1")
    default_order = Config({"engine": {"runtimes": {"runc": [], "zz": []}}}).runtime_preference
    assert default_order == ("crun", "runc", "runj", "kata", "runsc", "ocijail", "zz")
    assert config.runtime_paths("r1") == ("/a/r1", "/b/r1")
    assert config.runtime_paths("r2") == ()
    assert config.runtime_flags("r1") == ("--debug", "--log-level=info", "-x")
    assert config.supports_json == {"r1"}
    assert config.supports_kvm == {"vm"}
    assert config.supports_nocgroups == {"r1", "r2"}
    assert config.supports_is_set("json") and config.supports_is_set("nocgroup")
    assert config.supports_is_set("json_errors") and config.supports_is_set("no_cgroups")
    assert not Config({}).supports_is_set("no_cgroups")
    assert config.conmon_paths == ("/c/conmon",)
    assert config.conmon_env_vars == ("A=1",)
    assert config.stop_timeout == 3
    assert config.detach_keys == "ctrl-a"
    assert config.cgroup_manager == "systemd"
    assert config.state_dir == Path("/s")
    assert config.run_dir == Path("/r")
    assert config.command_timeout == 1.5
    assert config.lock_timeout == 0.0
    assert config.default_cli_plugin == "other"
    assert config.hooks_enabled is False
    assert config.runtime_plugin("r2") == "plug"
    assert config.plugin_options("plug") == {"opt": [1, {"x": "y"}]}
    assert config.capability_overrides("r1") == {"checkpoint": False, "kvm": True}
    assert config.files == ("/f1", "/f2")


def test_empty_runtime_is_none_and_empty_detach_keys_disables() -> None:
    config = Config({"engine": {"runtime": "", "detach_keys": ""}})
    assert config.default_runtime is None
    assert config.detach_keys == ""


def test_unknown_supports_kind() -> None:
    with pytest.raises(ValueError, match="unknown supports kind"):
        Config({}).supports_is_set("checkpoint")


def test_json_round_trip() -> None:
    config = Config(FULL, files=("/f1",))
    text = json.dumps(config.to_dict())
    again = Config.from_dict(json.loads(text))
    assert again == config
    assert again.to_dict() == config.to_dict()
    assert config.to_dict()["files"] == ["/f1"]
    assert Config.from_dict({}) == Config({})


def test_loaded_config_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "c.conf"
    path.write_text('[engine]\nruntime = "a"\n[containers]\nwhen = 1979-05-27T07:32:00Z\n')
    config = load_config(path, environ={"HOME": str(tmp_path)})
    assert Config.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_config_is_immutable() -> None:
    data = json.loads(json.dumps(FULL))
    config = Config(data)
    with pytest.raises(AttributeError):
        config.stop_timeout = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        config._data = {}  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del config._files
    data["engine"]["runtime"] = "changed"
    assert config.default_runtime == "r1"
    config.plugin_options("plug")["opt"].append(2)
    config.capability_overrides("r1")["pause"] = True
    config.to_dict()["data"]["engine"]["stop_timeout"] = 99
    assert config == Config(FULL)
    with pytest.raises(TypeError):
        hash(config)


def test_repr_is_short() -> None:
    assert repr(Config(FULL, files=("/f",))) == "Config(files=['/f'], default_runtime='r1')"


# ---- default directories --------------------------------------------------------------------


def test_default_dirs_for_root() -> None:
    env = {"XDG_DATA_HOME": "/d", "XDG_RUNTIME_DIR": "/r", "HOME": "/h"}
    assert default_state_dir(env, euid=0) == Path("/var/lib/ocimux")
    assert default_run_dir(env, euid=0) == Path("/run/ocimux")


def test_default_dirs_for_a_user_with_xdg() -> None:
    env = {"XDG_DATA_HOME": "/d", "XDG_RUNTIME_DIR": "/r", "HOME": "/h"}
    assert default_state_dir(env, euid=1000) == Path("/d/ocimux")
    assert default_run_dir(env, euid=1000) == Path("/r/ocimux")


def test_default_dirs_for_a_user_without_xdg() -> None:
    env = {"HOME": "/h", "XDG_DATA_HOME": "relative", "XDG_RUNTIME_DIR": ""}
    assert default_state_dir(env, euid=1000) == Path("/h/.local/share/ocimux")
    assert default_run_dir(env, euid=1000) == Path("/tmp/ocimux-1000")


def test_load_config_stores_resolved_dirs_from_its_environ(roots: FakeRoots) -> None:
    roots.set_euid(1000)
    env = {**roots.env, "XDG_RUNTIME_DIR": "/run/user/1000", "XDG_DATA_HOME": "/data"}
    config = load_config(environ=env)
    data = config.to_dict()["data"]["ocimux"]
    assert data == {"state_dir": "/data/ocimux", "run_dir": "/run/user/1000/ocimux"}
    roots.set_euid(0)  # the cached view keeps the values it was built with
    assert Config.from_dict(config.to_dict()).run_dir == Path("/run/user/1000/ocimux")


def test_configured_dirs_win_over_defaults(roots: FakeRoots) -> None:
    roots.write(
        roots.etc / "containers.conf", '[ocimux]\nstate_dir = "/srv/s"\nrun_dir = "/srv/r"\n'
    )
    config = load_config(environ=roots.env)
    assert (config.state_dir, config.run_dir) == (Path("/srv/s"), Path("/srv/r"))
