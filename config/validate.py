"""Validate config files and `OCIMUX_*` variables, and turn pydantic's errors into ConfigError.

Imported only by the cold path. Each file is validated on its own (`validate_file`) so that an
error names the file, the line (found by `lines.find_line`) and the dotted key; an unknown key or
table gets "did you mean" from the names the model allows there. The `OCIMUX_*` variables are
checked by name first (`check_variable_names`), because pydantic-settings silently ignores a
name that matches no setting, then applied by `apply_environment`, whose errors name the
variable. Messages carry pydantic's text and the offending value, never its error URLs.
"""

from __future__ import annotations

import difflib
import json
import re
import types
from collections.abc import Collection, Mapping, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from ocimux.base.errors import ConfigError
from pydantic import BaseModel, ValidationError
from pydantic_settings import SettingsError

from .lines import find_line, key_lines, line_in
from .merge import strip_markers
from .model import ConfigFile, Settings, settings_from
from .search import ENV_PREFIX, NON_CONFIG_VARIABLES

__all__ = [
    "MAX_DEPTH",
    "apply_environment",
    "check_depth",
    "check_variable_names",
    "did_you_mean",
    "format_loc",
    "validate_file",
]

#: Deepest nesting of tables and arrays accepted in a file (podman's files need about 4).
MAX_DEPTH = 32

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def validate_file(path: str, text: str, data: dict[str, Any]) -> None:
    """Check one parsed file; raise ConfigError naming `path`, the line and the key if it is wrong.

    `text` is the file's text, used only to find line numbers. The file's data is not changed;
    the loader merges it as it is (append markers included).
    """
    check_depth(data, path=path, text=text)
    try:
        ConfigFile.model_validate(data, strict=True)
    except ValidationError as exc:
        raise _file_error(exc, path, text) from None


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
            status, found = _child(annotation, part)
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
        ratio = difflib.SequenceMatcher(None, word, name).ratio()
        if ratio < 0.6:
            continue
        score = ratio + (0.1 if name in preferred else 0.0)
        if best is None or score > best[0]:
            best = (score, name)
    return best[1] if best else None


def format_loc(loc: Sequence[str | int]) -> str:
    """Render a key path: `engine.runtimes.crun[0]`; keys that are not bare are quoted."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        key = part if _BARE_KEY.fullmatch(part) else json.dumps(part)
        out = f"{out}.{key}" if out else key
    return out


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
        kind = _kind(error.get("input"))
        what = "table" if kind == "table" else "key"
        candidates = _names_at(root, loc[:-1])
        # Prefer a name of the same kind: `[engine.runtimez]` means runtimes, not runtime.
        preferred = {name for name in candidates if _kind_at(root, (*loc[:-1], name)) == kind}
        guess = did_you_mean(str(loc[-1]), candidates, preferred) if loc else None
        if guess:
            return f"unknown {what}", f"did you mean {guess!r}?"
        if 0 < len(candidates) <= 12:
            return f"unknown {what}", f"expected one of: {', '.join(candidates)}"
        return f"unknown {what}", None
    message = "Input should be a table" if error["type"] == "model_type" else error["msg"]
    return f"{message} (got {_short(error.get('input'))})", None


def _annotation_at(root: type[BaseModel], loc: Sequence[str | int]) -> Any | None:
    """Return the (unwrapped) type of the setting at `loc`, or None if no setting is there."""
    annotation: Any = root
    for part in loc:
        status, found = _child(annotation, part)
        if status != "ok":
            return None
        annotation = found
    return _unwrap(annotation)


def _names_at(root: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """Return the names the model allows below `loc` (empty if free-form or unknown)."""
    annotation = _annotation_at(root, loc)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "table"
    return "array" if isinstance(value, list) else "scalar"


def _kind_at(root: type[BaseModel], loc: Sequence[str | int]) -> str | None:
    """Return the kind of the setting at `loc`: "table", "array", "scalar", or None if free."""
    annotation = _annotation_at(root, loc)
    if annotation is None or annotation is Any:
        return None
    origin = get_origin(annotation)
    if origin is dict or (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return "table"
    return "array" if origin is list else "scalar"


def _child(annotation: Any, part: str | int) -> tuple[str, Any]:
    """Step from a type to the type of its member `part`.

    Returns ("ok", type) when `part` may exist there (`Any` for free-form content),
    ("unknown", allowed_names) when a model has no such field, ("leaf", None) for a scalar.
    """
    annotation = _unwrap(annotation)
    if annotation is Any:
        return "ok", Any
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(part))
        if field is None:
            return "unknown", list(annotation.model_fields)
        return "ok", field.annotation
    origin = get_origin(annotation)
    if origin is dict:
        args = get_args(annotation)
        return "ok", args[1] if len(args) == 2 else Any
    if origin is list:
        args = get_args(annotation)
        return ("ok", args[0] if args else Any) if isinstance(part, int) else ("leaf", None)
    return "leaf", None


def _unwrap(annotation: Any) -> Any:
    """Strip `Annotated` and `X | None`; a union of several types becomes `Any`."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin is Union or origin is types.UnionType:
            members = [arg for arg in get_args(annotation) if arg is not type(None)]
            annotation = members[0] if len(members) == 1 else Any
        else:
            return annotation


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
