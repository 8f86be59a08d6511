"""Validate config files and `OCIMUX_*` variables, and turn pydantic's errors into ConfigError.

Imported only by the cold path. Each file is validated on its own (`validate_file`) so that an
error names the file, the line (found by `lines.find_line`) and the dotted key. A key or table no
model knows is dropped with a warning, as podman ignores it (`unknown.py`), and gets "did you
mean" from the names the model allows there. The `OCIMUX_*` variables are
checked by name first (`check_variable_names`), because pydantic-settings silently ignores a
name that matches no setting, then applied by `apply_environment`, whose errors name the
variable. Messages carry pydantic's text and the offending value, never its error URLs.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from ocimux.base.errors import ConfigError
from pydantic import BaseModel, ValidationError
from pydantic_settings import SettingsError

from .lines import find_line, format_loc, key_lines, line_in
from .merge import strip_markers
from .model import ConfigFile, Settings, settings_from
from .schema import child, kind_at, kind_of, names_at
from .search import ENV_PREFIX, NON_CONFIG_VARIABLES
from .unknown import Dropped, drop_unknown

__all__ = [
    "MAX_DEPTH",
    "MAX_GUESSES",
    "apply_environment",
    "check_depth",
    "check_variable_names",
    "did_you_mean",
    "format_loc",
    "validate_file",
]

#: Deepest nesting of tables and arrays accepted in a file (podman's files need about 4).
MAX_DEPTH = 32

#: Unknown keys of one file that get a "did you mean" (each costs a comparison with every name
#: allowed there; a file of 50,000 unknown keys must still load in well under two seconds).
MAX_GUESSES = 100


def validate_file(
    path: str, text: str, data: dict[str, Any]
) -> tuple[dict[str, Any], list[ConfigError]]:
    """Check one parsed file; return its data without unknown keys, and a warning for each.

    Raises ConfigError naming `path`, the line and the key for a value podman would refuse too
    (a wrong type, a bad path). The warnings are ConfigErrors not raised, in file order.
    `text` is the file's text, used only to find line numbers. `data` is not changed; the
    result keeps the append markers for the merge.
    """
    kept, dropped = drop_unknown(data, ConfigFile)
    index = key_lines(text) if dropped else None
    warnings = [_warning(item, path, index, n < MAX_GUESSES) for n, item in enumerate(dropped)]
    check_depth(kept, path=path, text=text)
    try:
        ConfigFile.model_validate(kept, strict=True)
    except ValidationError as exc:
        raise _file_error(exc, path, text) from None
    return kept, warnings


def _warning(
    item: Dropped, path: str, index: dict[tuple[str, ...], int] | None, guess: bool
) -> ConfigError:
    line = line_in(index or {}, item.loc)
    if item.why == "array_for_table":
        return ConfigError(
            "an array where podman reads a table of names; ignored, as podman does",
            path=path,
            line=line,
            key=format_loc(item.loc),
            hint=f"write [{format_loc(item.loc)}] with one `name = [...]` per entry",
        )
    what = "table" if item.kind == "table" else "key"
    hint = _unknown_hint(ConfigFile, item.loc, item.kind) if guess else None
    return ConfigError(
        f"unknown {what}, ignored", path=path, line=line, key=format_loc(item.loc), hint=hint
    )


def check_depth(data: dict[str, Any], *, path: str | None = None, text: str = "") -> None:
    """Raise ConfigError if tables and arrays in `data` nest deeper than MAX_DEPTH."""
    loc = _too_deep(data)
    if loc is not None:
        raise ConfigError(
            f"nested more than {MAX_DEPTH} levels deep",
            path=path,
            line=find_line(text, loc),
            key=format_loc(loc),
        )


def _too_deep(data: dict[str, Any]) -> tuple[str | int, ...] | None:
    """Return the key path (MAX_DEPTH + 1 long) of the first value nested too deeply."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, ())]
    while stack:
        value, loc = stack.pop()
        if len(loc) > MAX_DEPTH:
            return loc
        if isinstance(value, dict):
            stack.extend((item, (*loc, key)) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((item, (*loc, index)) for index, item in enumerate(value))
    return None


def check_variable_names(environ: Mapping[str, str]) -> None:
    """Raise ConfigError for an `OCIMUX_*` variable that names no setting, with "did you mean".

    A name is the prefix, then keys joined by `__` (case-insensitive): `OCIMUX_ENGINE__RUNTIME`.
    Keys are checked down to the first free-form level (a table of runtimes, plugin options).
    """
    for name in sorted(environ):
        if not name.upper().startswith(ENV_PREFIX) or name in NON_CONFIG_VARIABLES:
            continue
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        if not all(parts):
            raise ConfigError(
                "malformed configuration variable name",
                key=name,
                hint=f"write {ENV_PREFIX}TABLE__KEY, e.g. {ENV_PREFIX}ENGINE__RUNTIME",
            )
        annotation: Any = Settings
        for index, part in enumerate(parts):
            status, found = child(annotation, part)
            if status == "ok":
                annotation = found
                continue
            if status == "leaf":
                raise ConfigError(
                    f"{'.'.join(parts[:index])} is a single value, not a table",
                    key=name,
                    hint=f"set {ENV_PREFIX}{'__'.join(parts[:index]).upper()} instead",
                )
            guess = did_you_mean(part, found)
            hint = None
            if guess:
                fixed = [*parts[:index], guess, *parts[index + 1 :]]
                hint = f"did you mean {ENV_PREFIX}{'__'.join(fixed).upper()}?"
            raise ConfigError(
                f"no such setting: {'.'.join(parts[: index + 1])}",
                key=name,
                hint=hint,
            )


def apply_environment(merged: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Apply the `OCIMUX_*` variables of `environ` over `merged`; return the validated plain data.

    The result is JSON-able and holds only keys that some file or variable set (no defaults),
    without append markers. Raises ConfigError naming the variable at fault.
    """
    check_variable_names(environ)
    try:
        settings = settings_from(merged, environ)
    except ValidationError as exc:
        raise _environment_error(exc, environ) from None
    except SettingsError as exc:
        raise ConfigError(
            f"cannot parse configuration variables: {exc}", hint=_json_hint(environ)
        ) from None
    except RecursionError:
        raise ConfigError(
            "a configuration variable is nested too deeply", hint=_json_hint(environ)
        ) from None
    data = strip_markers(settings.model_dump(mode="json", exclude_unset=True))
    loc = _too_deep(data)  # free-form tables may hold deep JSON from a variable
    if loc is not None:
        detail = f"{format_loc(loc)}: nested more than {MAX_DEPTH} levels deep"
        raise ConfigError(detail, key=_variable_for(loc, environ))
    return data


def did_you_mean(
    word: str, candidates: Sequence[str], preferred: Collection[str] = ()
) -> str | None:
    """Return the candidate closest to `word`, if one is close enough to be a likely typo.

    Closeness is difflib's ratio (at least 0.6); names in `preferred` get a small bonus, which
    breaks near-ties such as `runtimez` between `runtime` and `runtimes`.
    """
    if len(word) > 64:  # no key is that long; comparing a megabyte-long one takes seconds
        return None
    best: tuple[float, str] | None = None
    for name in candidates:
        matcher = difflib.SequenceMatcher(None, word, name)
        # the cheap upper bounds first, as difflib.get_close_matches does
        if matcher.real_quick_ratio() < 0.6 or matcher.quick_ratio() < 0.6:
            continue
        ratio = matcher.ratio()
        if ratio < 0.6:
            continue
        score = ratio + (0.1 if name in preferred else 0.0)
        if best is None or score > best[0]:
            best = (score, name)
    return best[1] if best else None


def _file_error(exc: ValidationError, path: str, text: str) -> ConfigError:
    errors = exc.errors(include_url=False)
    # Report the error that comes first in the file; pydantic orders them by model field.
    # One scan of the text for all of them (a scan per error made 4,000 errors take minutes).
    index = key_lines(text)
    lines = [line_in(index, error["loc"]) for error in errors]
    first = min(range(len(errors)), key=lambda i: (lines[i] is None, lines[i] or 0, i))
    error = errors[first]
    detail, hint = _describe(error, ConfigFile)
    if len(errors) > 1:
        detail = f"{detail} (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
    return ConfigError(
        detail, path=path, line=lines[first], key=format_loc(error["loc"]), hint=hint
    )


def _environment_error(exc: ValidationError, environ: Mapping[str, str]) -> ConfigError:
    errors = exc.errors(include_url=False)
    error = errors[0]
    loc = tuple(error["loc"])
    detail, hint = _describe(error, Settings)
    variable = _variable_for(loc, environ)
    if variable is None:
        # Files were valid one by one and variables name settings, so this means the merge.
        return ConfigError(f"merged configuration: {detail}", key=format_loc(loc), hint=hint)
    var_loc = tuple(variable[len(ENV_PREFIX) :].lower().split("__"))
    if loc != var_loc:
        detail = f"{format_loc(loc)}: {detail}"
    if hint is None and error["type"] in {"list_type", "dict_type", "model_type", "string_array"}:
        hint = 'give arrays and tables as JSON, e.g. \'["a", "b"]\''
    return ConfigError(detail, key=variable, hint=hint)


def _describe(error: Any, root: type[BaseModel]) -> tuple[str, str | None]:
    """Return the detail and hint for one pydantic error dict."""
    loc = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        kind = kind_of(error.get("input"))
        what = "table" if kind == "table" else "key"
        return f"unknown {what}", _unknown_hint(root, loc, kind)
    message = "Input should be a table" if error["type"] == "model_type" else error["msg"]
    return f"{message} (got {_short(error.get('input'))})", None


def _unknown_hint(root: type[BaseModel], loc: Sequence[str | int], kind: str) -> str | None:
    """ "did you mean" the closest name allowed at `loc`, else the list of them if it is short."""
    candidates = names_at(root, loc[:-1])
    # Prefer a name of the same kind: `[engine.runtimez]` means runtimes, not runtime.
    preferred = {name for name in candidates if kind_at(root, (*loc[:-1], name)) == kind}
    guess = did_you_mean(str(loc[-1]), candidates, preferred) if loc else None
    if guess:
        return f"did you mean {guess!r}?"
    if 0 < len(candidates) <= 12:
        return f"expected one of: {', '.join(candidates)}"
    return None


def _variable_for(loc: tuple[str | int, ...], environ: Mapping[str, str]) -> str | None:
    """Return the variable whose key path is the longest prefix of `loc`, if any."""
    best: tuple[int, str] | None = None
    for name in environ:
        if not name.upper().startswith(ENV_PREFIX) or name in NON_CONFIG_VARIABLES:
            continue
        parts = tuple(name[len(ENV_PREFIX) :].lower().split("__"))
        if loc[: len(parts)] == parts and (best is None or len(parts) > best[0]):
            best = (len(parts), name)
    return best[1] if best else None


def _json_hint(environ: Mapping[str, str]) -> str:
    names = [
        name
        for name in environ
        if name.upper().startswith(ENV_PREFIX) and name not in NON_CONFIG_VARIABLES
    ]
    listed = ", ".join(sorted(names)[:5])
    return f"check the JSON in {listed}" if listed else "check the OCIMUX_ variables"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."
