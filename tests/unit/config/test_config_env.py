"""OCIMUX_* variables: overrides through pydantic-settings, bad values, misspelt names."""

from __future__ import annotations

from pathlib import Path

import pytest
from ocimux.base.errors import ConfigError
from ocimux.config import Config, load_config
from ocimux.config.search import NON_CONFIG_VARIABLES

BASE = """
[engine]
runtime = "file"
stop_timeout = 5
runtime_supports_json = ["a", "b"]
[engine.runtimes]
a = ["/a"]
[ocimux]
command_timeout = 5
"""


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    path = tmp_path / "c.conf"
    path.write_text(BASE)
    return path


def load(conf: Path, **variables: str) -> Config:
    return load_config(conf, environ={"HOME": "/home/u", **variables})


def env_error(conf: Path, **variables: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(conf, **variables)
    assert "errors.pydantic.dev" not in str(info.value)
    assert "\n" not in str(info.value)
    return info.value


def test_engine_runtime_override(conf: Path) -> None:
    config = load(conf, OCIMUX_ENGINE__RUNTIME="crun")
    assert config.default_runtime == "crun"
    assert config.stop_timeout == 5  # the rest of [engine] survives
    assert config.runtime_paths("a") == ("/a",)


def test_lower_case_variables_work_too(conf: Path) -> None:
    assert load(conf, ocimux_engine__runtime="x").default_runtime == "x"


def test_scalar_types_are_parsed_from_strings(conf: Path) -> None:
    config = load(
        conf,
        OCIMUX_ENGINE__STOP_TIMEOUT="30",
        OCIMUX_OCIMUX__COMMAND_TIMEOUT="2.5",
        OCIMUX_OCIMUX__HOOKS_ENABLED="false",
        OCIMUX_OCIMUX__STATE_DIR="/x",
    )
    assert config.stop_timeout == 30
    assert config.command_timeout == 2.5
    assert config.hooks_enabled is False
    assert config.state_dir == Path("/x")


def test_json_values_merge_into_tables(conf: Path) -> None:
    config = load(
        conf, OCIMUX_ENGINE__RUNTIMES='{"b": ["/b"]}', OCIMUX_ENGINE__RUNTIMES__C='["/c"]'
    )
    assert config.runtime_names == ("a", "b", "c")
    assert config.runtime_paths("c") == ("/c",)


def test_json_arrays_replace(conf: Path) -> None:
    config = load(conf, OCIMUX_ENGINE__RUNTIME_SUPPORTS_JSON='["z"]')
    assert config.supports_json == {"z"}


def test_whole_table_as_json(conf: Path) -> None:
    config = load(conf, OCIMUX_ENGINE='{"runtime": "j"}')
    assert config.default_runtime == "j"
    assert config.stop_timeout == 5


def test_ocimux_tables(conf: Path) -> None:
    config = load(
        conf,
        OCIMUX_OCIMUX__CAPABILITIES__R__CHECKPOINT="false",
        OCIMUX_OCIMUX__RUNTIME_PLUGINS='{"r": "p"}',
        OCIMUX_OCIMUX__PLUGINS__P__LEVEL="3",
    )
    assert config.capability_overrides("r") == {"checkpoint": False}
    assert config.runtime_plugin("r") == "p"
    assert config.plugin_options("p") == {"level": "3"}


def test_podman_keys_are_typed_from_variables(conf: Path) -> None:
    config = load(conf, OCIMUX_CONTAINERS__PIDS_LIMIT="5")
    assert config.to_dict()["data"]["containers"] == {"pids_limit": 5}
    assert "valid integer" in str(env_error(conf, OCIMUX_CONTAINERS__PIDS_LIMIT="abc"))


def test_non_config_ocimux_variables_are_ignored(conf: Path) -> None:
    assert NON_CONFIG_VARIABLES
    load(conf, **{name: "1" for name in NON_CONFIG_VARIABLES})


def test_environment_applies_with_containers_conf(conf: Path) -> None:
    config = load_config(environ={"CONTAINERS_CONF": str(conf), "OCIMUX_ENGINE__RUNTIME": "e"})
    assert config.default_runtime == "e"
    assert config.files == (str(conf),)


def test_bad_value_names_the_variable(conf: Path) -> None:
    err = env_error(conf, OCIMUX_ENGINE__STOP_TIMEOUT="ten")
    assert err.key == "OCIMUX_ENGINE__STOP_TIMEOUT"
    assert str(err) == (
        "OCIMUX_ENGINE__STOP_TIMEOUT: Input should be a valid integer, unable to parse string as "
        "an integer (got 'ten')"
    )


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("OCIMUX_ENGINE__STOP_TIMEOUT", "1e3", "valid integer"),
        ("OCIMUX_ENGINE__RUNTIMES", "{bad", "valid dictionary"),
        ("OCIMUX_ENGINE__RUNTIMES__X", "/usr/bin/x", "valid list"),
        ("OCIMUX_ENGINE__RUNTIME_SUPPORTS_JSON", "crun", "array of strings"),
        ("OCIMUX_ENGINE__CGROUP_MANAGER", "nope", "'systemd' or 'cgroupfs'"),
        ("OCIMUX_ENGINE", "{bad", "Input should be a table"),
        ("OCIMUX_OCIMUX__STATE_DIR", "relative", "absolute"),
        ("OCIMUX_OCIMUX__COMMAND_TIMEOUT", "0", "greater than 0"),
        ("OCIMUX_OCIMUX__COMMAND_TIMEOUT", "inf", "finite"),
        ("OCIMUX_OCIMUX__HOOKS_ENABLED", "maybe", "valid boolean"),
        ("OCIMUX_OCIMUX__CAPABILITIES__R__KVM", "maybe", "valid boolean"),
    ],
)
def test_bad_values(conf: Path, name: str, value: str, words: str) -> None:
    err = env_error(conf, **{name: value})
    assert err.key == name
    assert err.path is None
    assert words in str(err)


def test_bad_value_deeper_than_the_variable_names_the_key(conf: Path) -> None:
    err = env_error(conf, OCIMUX_ENGINE='{"stop_timeout": "x"}')
    assert str(err).startswith(
        "OCIMUX_ENGINE: engine.stop_timeout: Input should be a valid integer"
    )


def test_unknown_key_inside_json(conf: Path) -> None:
    err = env_error(conf, OCIMUX_ENGINE='{"runtimz": "x"}')
    assert str(err) == "OCIMUX_ENGINE: engine.runtimz: unknown key; did you mean 'runtime'?"


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("OCIMUX_ENGIN__RUNTIME", "OCIMUX_ENGINE__RUNTIME"),
        ("OCIMUX_ENGINE__RUNTIM", "OCIMUX_ENGINE__RUNTIME"),
        ("OCIMUX_ENGINE__STOP_TIMOUT", "OCIMUX_ENGINE__STOP_TIMEOUT"),
        ("OCIMUX_OCIMUX__STATEDIR", "OCIMUX_OCIMUX__STATE_DIR"),
        ("OCIMUX_OCIMUX__CAPABILITIES__R__CHEKPOINT", "OCIMUX_OCIMUX__CAPABILITIES__R__CHECKPOINT"),
        ("OCIMUX_OCIMX__STATE_DIR", "OCIMUX_OCIMUX__STATE_DIR"),
    ],
)
def test_misspelt_variable_did_you_mean(conf: Path, name: str, suggestion: str) -> None:
    err = env_error(conf, **{name: "/x"})
    assert err.key == name
    assert str(err).endswith(f"did you mean {suggestion}?")
    assert "no such setting" in str(err)


def test_unrelated_name_has_no_suggestion(conf: Path) -> None:
    err = env_error(conf, OCIMUX_QQQQQQ="1")
    assert str(err) == "OCIMUX_QQQQQQ: no such setting: qqqqqq"


@pytest.mark.parametrize(
    "name", ["OCIMUX_", "OCIMUX_ENGINE__", "OCIMUX___RUNTIME", "OCIMUX_ENGINE____RUNTIME"]
)
def test_malformed_names(conf: Path, name: str) -> None:
    err = env_error(conf, **{name: "x"})
    assert "malformed configuration variable name" in str(err)


def test_subkey_of_a_scalar(conf: Path) -> None:
    err = env_error(conf, OCIMUX_ENGINE__RUNTIME__X="1")
    assert str(err) == (
        "OCIMUX_ENGINE__RUNTIME__X: engine.runtime is a single value, not a table; "
        "set OCIMUX_ENGINE__RUNTIME instead"
    )


@pytest.mark.parametrize("depth", [50, 100_000])
def test_deeply_nested_json_value(conf: Path, depth: int) -> None:
    with pytest.raises(ConfigError):
        load(conf, OCIMUX_ENGINE__CONMON_PATH="[" * depth + "]" * depth)
    nested = '{"p": ' + '{"a": ' * depth + "1" + "}" * depth + "}"
    with pytest.raises(ConfigError, match="nested"):
        load(conf, OCIMUX_OCIMUX__PLUGINS=nested)


def test_only_the_given_environ_is_read(conf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCIMUX_ENGINE__RUNTIME", "from-os-environ")
    monkeypatch.setenv("OCIMUX_ENGIN__TYPO", "x")
    assert load_config(conf, environ={}).default_runtime == "file"


def test_os_environ_is_the_default(conf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCIMUX_ENGINE__RUNTIME", "from-os-environ")
    monkeypatch.delenv("CONTAINERS_CONF_OVERRIDE", raising=False)
    assert load_config(conf).default_runtime == "from-os-environ"
