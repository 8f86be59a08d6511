"""Property tests: whatever a file or variable holds, loading either succeeds or raises ConfigError."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ocimux.base.errors import ConfigError
from ocimux.config import Config, load_config
from ocimux.config.model import CAPABILITY_KEYS, ENGINE_KEYS
from ocimux.config.view import SUPPORTS_KINDS

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Text without surrogates (TOML strings cannot hold them).
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
KEYS = st.one_of(
    st.sampled_from(ENGINE_KEYS),
    st.sampled_from(CAPABILITY_KEYS),
    st.sampled_from(["append", "state_dir", "crun", "runc", "a"]),
    TEXT,
)
SCALARS = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    TEXT,
    st.sampled_from(["/usr/bin/x", "debug", "systemd", "cgroupfs", "ctrl-p,ctrl-q"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(KEYS, children, max_size=4),
        st.just({"append": True}),
        st.just({"append": False}),
    ),
    max_leaves=20,
)


def toml_value(value: Any) -> str:
    """Render a value as a TOML inline value (strings, keys and floats in TOML 1.0 syntax)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value) if ("." in repr(value) or "e" in repr(value)) else f"{value!r}.0"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def exercise(config: Config) -> None:
    """Call every accessor; none may raise on a validated config."""
    _ = (config.default_runtime, config.conmon_paths, config.conmon_env_vars, config.stop_timeout)
    _ = (config.detach_keys, config.cgroup_manager, config.state_dir, config.run_dir)
    _ = (config.command_timeout, config.lock_timeout, config.default_cli_plugin)
    _ = (config.hooks_enabled, config.supports_json, config.supports_kvm, config.supports_nocgroups)
    for kind in SUPPORTS_KINDS:
        config.supports_is_set(kind)
    for name in config.runtime_names:
        config.runtime_paths(name)
        config.runtime_flags(name)
        config.runtime_plugin(name)
        config.plugin_options(name)
        config.capability_overrides(name)
    assert Config.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def load_or_config_error(path: Path, environ: dict[str, str] | None = None) -> None:
    try:
        config = load_config(path, environ=environ or {"HOME": "/home/u"})
    except ConfigError as exc:
        assert "errors.pydantic.dev" not in str(exc)
        assert "\n" not in str(exc)
        return
    exercise(config)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("props") / "c.conf"


@SETTINGS
@given(text=st.text())
def test_arbitrary_text(scratch: Path, text: str) -> None:
    scratch.write_bytes(text.encode("utf-8", "surrogatepass"))
    load_or_config_error(scratch)


@SETTINGS
@given(data=st.binary(max_size=200))
def test_arbitrary_bytes(scratch: Path, data: bytes) -> None:
    scratch.write_bytes(data)
    load_or_config_error(scratch)


@SETTINGS
@given(
    prefix=st.sampled_from(["[engine]", "[containers]", "", "[engine]\nruntime = 'x'"]),
    lines=st.lists(
        st.sampled_from(
            ["[engine.runtimes]", "crun = ['/a']", "x = 1", "[ocimux]", "stop_timeout = 1",
             "[[farms.list]]", "a = [", "]", '"""', "# c", "[engine", "a.b = 2", "= 3"]
        ),
        max_size=8,
    ),
)  # fmt: skip
def test_toml_like_fragments(scratch: Path, prefix: str, lines: list[str]) -> None:
    scratch.write_text("\n".join([prefix, *lines]) + "\n")
    load_or_config_error(scratch)


@SETTINGS
@given(table=st.dictionaries(KEYS, VALUES, max_size=6))
def test_arbitrary_engine_tables(scratch: Path, table: dict[str, Any]) -> None:
    body = "\n".join(f"{json.dumps(key)} = {toml_value(value)}" for key, value in table.items())
    scratch.write_text(f"[engine]\n{body}\n")
    load_or_config_error(scratch)


@SETTINGS
@given(table=st.dictionaries(KEYS, VALUES, max_size=6))
def test_arbitrary_ocimux_tables(scratch: Path, table: dict[str, Any]) -> None:
    body = "\n".join(f"{json.dumps(key)} = {toml_value(value)}" for key, value in table.items())
    scratch.write_text(f"[ocimux]\n{body}\n")
    load_or_config_error(scratch)


@SETTINGS
@given(
    name=st.one_of(
        st.sampled_from(
            ["OCIMUX_ENGINE__RUNTIME", "OCIMUX_ENGINE__STOP_TIMEOUT", "OCIMUX_ENGINE__RUNTIMES",
             "OCIMUX_ENGINE__CONMON_PATH", "OCIMUX_ENGINE", "OCIMUX_OCIMUX",
             "OCIMUX_OCIMUX__CAPABILITIES", "OCIMUX_OCIMUX__COMMAND_TIMEOUT",
             "OCIMUX_OCIMUX__PLUGINS__P", "OCIMUX_CONTAINERS"]
        ),
        st.from_regex(r"OCIMUX_[A-Za-z_]{0,30}", fullmatch=True),
    ),
    value=st.one_of(TEXT, VALUES.map(json.dumps)),
)  # fmt: skip
def test_arbitrary_variables(scratch: Path, name: str, value: str) -> None:
    scratch.write_text("")
    load_or_config_error(scratch, {"HOME": "/home/u", name: value})
