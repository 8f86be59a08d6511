"""Property tests for the three input gates: names, config files and signals (in-process).

- `ids.validate_name` accepts exactly `[A-Za-z0-9][A-Za-z0-9_.-]*` of at most 128 characters
  (checked against a reference regex over any text: unicode, controls, bidi, NUL) and otherwise
  raises InvalidArgumentError with one printable line.
- `config.load_config` with `CONTAINERS_CONF` naming a file holding anything at all (text,
  bytes, TOML-shaped documents under `[engine]` and `[ocimux]`) returns a Config or raises
  ConfigError, whose message is one line naming the file; nothing else escapes.
- `signals.parse_signal` over any int or text returns 1..64 or raises InvalidArgumentError.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from ocimux.base.errors import ConfigError, InvalidArgumentError
from ocimux.base.ids import MAX_NAME_LENGTH, validate_name
from ocimux.base.signals import MAX_SIGNAL, parse_signal, signal_name
from ocimux.config import Config, load_config
from ocimux.config.model import CAPABILITY_KEYS, ENGINE_KEYS

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: the rule as DESIGN.md states it, written independently of ids.py
REFERENCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
NAME_CHARS = "abcXYZ019_.-"
HOSTILE_CHARS = "/\\ :*?\x00\x07\n\t\x1b\u202e\u200béé名é\U0001f600"


def one_printable_line(message: str) -> None:
    assert message.splitlines() == [message], f"not one line: {message!r}"
    assert message.isprintable(), f"unprintable characters in {message!r}"


# --- names --------------------------------------------------------------------------------------

NAMES = st.one_of(
    st.text(),  # anything: unicode, controls, surrogates excluded by the default alphabet
    st.text(st.characters(codec="utf-8"), max_size=200),
    st.from_regex(REFERENCE_NAME, fullmatch=True),
    # around the length bound, mostly valid characters with a hostile one now and then
    st.text(st.sampled_from(NAME_CHARS + HOSTILE_CHARS), min_size=120, max_size=140),
    st.text(st.sampled_from(NAME_CHARS), min_size=126, max_size=130),
)


@SETTINGS
@given(name=NAMES)
@example(name="")
@example(name="a" * 128)
@example(name="a" * 129)
@example(name="a\n")  # `$` would match before a final newline; fullmatch must not
@example(name="\u0661")  # ARABIC-INDIC DIGIT ONE: \d and str.isalnum() accept it
@example(name="\u212a")  # KELVIN SIGN: matches [a-z] only with re.IGNORECASE
def test_validate_name_matches_the_reference_rule(name: str) -> None:
    if REFERENCE_NAME.fullmatch(name):
        assert validate_name(name) == name
        return
    with pytest.raises(InvalidArgumentError) as info:
        validate_name(name)
    err = info.value
    assert err.exit_code == 125
    one_printable_line(str(err))
    assert "container name" in str(err)


def test_max_name_length_is_the_documented_bound() -> None:
    assert MAX_NAME_LENGTH == 128


# --- config files -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def conf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("props") / "containers.conf"


def load_or_config_error(path: Path) -> Config | None:
    """load_config with CONTAINERS_CONF=path: a Config, or None after checking the ConfigError."""
    environ = {"CONTAINERS_CONF": str(path), "HOME": str(path.parent)}
    try:
        config = load_config(environ=environ)
    except ConfigError as exc:
        message = str(exc)
        kind = "UTF-8" if "UTF-8" in message else "TOML" if "TOML syntax" in message else "other"
        event(f"ConfigError: {kind}")
        assert message.splitlines() == [message], f"not one line: {message!r}"
        assert str(path) in message, f"the file is not named: {message!r}"
        return None
    event("valid")
    # the warm cache stores it as JSON: it must round-trip (no datetimes, no NaN)
    cached = json.loads(json.dumps(config.to_dict(), allow_nan=False))
    assert Config.from_dict(cached) == config
    return config


@SETTINGS
@given(text=st.text())
def test_load_config_arbitrary_text(conf: Path, text: str) -> None:
    conf.write_text(text, encoding="utf-8")
    load_or_config_error(conf)


@SETTINGS
@given(
    data=st.one_of(
        st.binary(max_size=300),
        # valid UTF-8 TOML around hostile bytes: a bad byte must be found at its line
        st.builds(
            lambda a, b, c: a + b + c,
            st.sampled_from([b"", b"[engine]\n", b'[engine]\nruntime = "', b"[ocimux]\n#"]),
            st.binary(max_size=40),
            st.sampled_from([b"", b'"\n', b"\n[ocimux]\n", b"\x00", b"\xff\xfe"]),
        ),
    )
)
def test_load_config_arbitrary_bytes(conf: Path, data: bytes) -> None:
    conf.write_bytes(data)
    load_or_config_error(conf)


# A tiny TOML renderer for documents of tables, arrays and scalars.

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def toml_key(key: str) -> str:
    return key if _BARE.fullmatch(key) else toml_string(key)


def toml_string(text: str) -> str:
    """A TOML basic string: escapes for quote, backslash and controls; the rest as is."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        text = repr(value)
        return text if any(c in text for c in ".e") else f"{text}.0"
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def render_table(header: list[str], table: dict[str, Any], out: list[str]) -> None:
    """`[header]`, its scalars and arrays, then each sub-table as `[header.key]` (or inline)."""
    out.append("[" + ".".join(toml_key(h) for h in header) + "]")
    subs = []
    for key, value in table.items():
        if isinstance(value, dict) and len(header) < 4 and len(key) % 2 == 0:
            subs.append((key, value))  # half the sub-tables get a header of their own
        else:
            out.append(f"{toml_key(key)} = {toml_value(value)}")
    for key, value in subs:
        render_table([*header, key], value, out)


OCIMUX_KEYS = (
    "state_dir", "run_dir", "command_timeout", "lock_timeout", "default_cli_plugin",
    "runtime_preference", "hooks_enabled", "runtime_plugins", "plugins", "capabilities",
)  # fmt: skip
KEYS = st.one_of(
    st.sampled_from(ENGINE_KEYS),
    st.sampled_from(OCIMUX_KEYS),
    st.sampled_from(CAPABILITY_KEYS),
    st.sampled_from(["mock", "runc", "crun", "append", "fail_on", "a"]),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=12),
)
SCALARS = st.one_of(
    st.booleans(),
    st.integers(),  # beyond i64 too: tomli reads them, the model must refuse them
    st.floats(),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=30),
    st.sampled_from(["/usr/bin/crun", "mock", "systemd", "ctrl-p,ctrl-q", "/", "..", ""]),
    st.datetimes(),
    st.dates(),
    st.times(),
)
DOCUMENT_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(KEYS, inner, max_size=4),
        st.just({"append": True}),
    ),
    max_leaves=25,
)
TABLES = st.dictionaries(KEYS, DOCUMENT_VALUES, max_size=6)


@SETTINGS
@given(engine=TABLES, own=TABLES, order=st.booleans())
def test_load_config_toml_documents(
    conf: Path, engine: dict[str, Any], own: dict[str, Any], order: bool
) -> None:
    lines: list[str] = []
    tables = [(["engine"], engine), (["ocimux"], own)]
    for header, table in tables if order else reversed(tables):
        render_table(header, table, lines)
    conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
    load_or_config_error(conf)


RUNTIME_NAMES = st.sampled_from(["mock", "runc", "crun", "youki", "kata"])
PATHS = st.lists(
    st.sampled_from(["/usr/bin/crun", "/usr/sbin/runc", "/opt/x", "/nope"]), max_size=3
)
WELL_TYPED_ENGINE = st.fixed_dictionaries(
    {},
    optional={
        "runtime": RUNTIME_NAMES,
        "stop_timeout": st.integers(min_value=0, max_value=2**32 - 1),
        "detach_keys": st.sampled_from(["ctrl-p,ctrl-q", "", "ctrl-a"]),
        "runtimes": st.dictionaries(RUNTIME_NAMES, PATHS, max_size=3),
        "runtimes_flags": st.dictionaries(RUNTIME_NAMES, st.lists(st.text(max_size=8), max_size=2)),
        "runtime_supports_json": st.lists(RUNTIME_NAMES, max_size=3),
        "runtime_supports_nocgroups": st.lists(RUNTIME_NAMES, max_size=3),
        "conmon_path": PATHS,
        "cgroup_manager": st.sampled_from(["systemd", "cgroupfs"]),
    },
)
WELL_TYPED_OCIMUX = st.fixed_dictionaries(
    {},
    optional={
        "state_dir": st.sampled_from(["/var/lib/x", "/tmp/s"]),
        "command_timeout": st.one_of(st.integers(1, 10**6), st.floats(0.001, 1e6)),
        "lock_timeout": st.integers(0, 100),
        "hooks_enabled": st.booleans(),
        "runtime_plugins": st.dictionaries(
            st.sampled_from(["m2", "r2"]), RUNTIME_NAMES, max_size=2
        ),
        "plugins": st.dictionaries(
            RUNTIME_NAMES, st.dictionaries(KEYS, DOCUMENT_VALUES, max_size=3)
        ),
        "capabilities": st.dictionaries(
            RUNTIME_NAMES, st.dictionaries(st.sampled_from(CAPABILITY_KEYS), st.booleans())
        ),
    },
)


@SETTINGS
@given(engine=WELL_TYPED_ENGINE, own=WELL_TYPED_OCIMUX)
def test_load_config_well_typed_documents(
    conf: Path, engine: dict[str, Any], own: dict[str, Any]
) -> None:
    """Mostly valid documents, so the JSON round trip of a loaded Config is exercised too."""
    lines: list[str] = []
    render_table(["engine"], engine, lines)
    render_table(["ocimux"], own, lines)
    conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
    load_or_config_error(conf)


# --- signals ------------------------------------------------------------------------------------

SIGNAL_INPUTS = st.one_of(
    st.integers(),
    st.text(),
    st.from_regex(r"\s*[+-]?[0-9]{1,22}\s*", fullmatch=True),
    st.from_regex(r"(?i)(SIG)?(RTMIN|RTMAX)([+-][0-9]{1,3})?", fullmatch=True),
    st.sampled_from(["TERM", "sigkill", "SIGHUP", "IOT", "CLD", "POLL", "SIG", "SIGSIGTERM"]),
)


@SETTINGS
@given(value=SIGNAL_INPUTS)
@example(value=True)  # bool is an int subclass; True must not mean SIGHUP
def test_parse_signal_is_1_to_64_or_invalid_argument(value: int | str) -> None:
    try:
        number = parse_signal(value)
    except InvalidArgumentError as exc:
        assert exc.exit_code == 125
        assert str(exc).splitlines() == [str(exc)]
        return
    assert type(number) is int
    assert 1 <= number <= MAX_SIGNAL


@SETTINGS
@given(number=st.integers(min_value=1, max_value=MAX_SIGNAL))
def test_signal_names_and_numbers_round_trip(number: int) -> None:
    assert parse_signal(number) == number
    assert parse_signal(str(number)) == number
    assert parse_signal(signal_name(number)) == number


def test_only_ascii_digits_make_a_signal_number() -> None:
    """'\\u0669' (ARABIC-INDIC NINE) once meant SIGKILL: `\\d` matches any Unicode digit."""
    # every Unicode decimal digit, alone and as "1x" (x non-ASCII): a plain loop, no shrinking
    digits = [chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Nd"]
    accepted = []
    for text in [d for d in digits if not d.isascii()] + [
        f"1{d}" for d in digits if not d.isascii()
    ]:
        try:
            accepted.append((text, parse_signal(text)))
        except InvalidArgumentError:
            pass
    assert accepted == [], (
        f"{len(accepted)} non-ASCII numbers taken as signals, e.g. {accepted[:3]}"
    )
