"""`load_config`: the complete cold path from the search path to a validated `Config`.

Imported lazily by `ocimux.config.load_config`; it pulls in tomli, pydantic and
pydantic-settings through `parse`, `validate` and `model`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ocimux.base.errors import ConfigError

from .merge import Merger
from .parse import read_config_file
from .search import search_path
from .sources import SourceMap
from .validate import apply_environment, validate_file
from .view import Config, default_run_dir, default_state_dir

__all__ = ["load_config", "load_with_sources"]


def load_with_sources(
    config_file: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> tuple[Config, dict[str, str]]:
    """`load_config`, and for each dotted key of the result where its value came from."""
    sources = SourceMap()
    config = load_config(config_file, environ, sources=sources)
    env = os.environ if environ is None else environ
    return config, sources.finish(config.to_dict()["data"], env)


def load_config(
    config_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    sources: SourceMap | None = None,
) -> Config:
    """Find, parse, validate and merge the config files, apply `OCIMUX_*` variables; return it.

    Steps: the search path (`search.py`) → each file parsed with tomli and validated on its own,
    so an error names its file, line and key, and what no model knows dropped with a warning →
    merged with containers.conf rules (`merge.py`)
    → `OCIMUX_*` overrides through pydantic-settings, validated again → defaults for
    `state_dir` and `run_dir` resolved from `environ` and the euid and stored in the data.

    `config_file` (the CLI's `--config`) replaces the search path like `CONTAINERS_CONF`;
    both must exist, as must `CONTAINERS_CONF_OVERRIDE`, which is read last. `environ`
    defaults to `os.environ`. Raises ConfigError for every problem with a file or variable, and
    for the first warning when the merged `[ocimux] strict_config` is true; otherwise the
    warnings are in `Config.warnings`, for the caller to show.
    """
    env = os.environ if environ is None else environ
    merger = Merger()
    loaded: list[str] = []
    warnings: list[ConfigError] = []
    for source in search_path(config_file, env):
        if source.is_dir:
            continue
        parsed = read_config_file(str(source.path), required=source.required, origin=source.origin)
        if parsed is None:
            continue
        kept, found = validate_file(parsed.path, parsed.text, parsed.data)
        warnings.extend(found)
        merger.add(kept)
        if sources is not None:
            sources.add_file(parsed.path, parsed.text, kept, merger)
        loaded.append(parsed.path)
    data: dict[str, Any] = apply_environment(merger.result, env)
    own = data.setdefault("ocimux", {})
    if warnings and own.get("strict_config"):
        raise _strict_error(warnings)
    own.setdefault("state_dir", str(default_state_dir(env)))
    own.setdefault("run_dir", str(default_run_dir(env)))
    return Config(data, files=tuple(loaded), warnings=tuple(str(w) for w in warnings))


def _strict_error(warnings: list[ConfigError]) -> ConfigError:
    first = warnings[0]
    more = f" (and {len(warnings) - 1} more)" if len(warnings) > 1 else ""
    hint = "[ocimux] strict_config = true makes these errors; `ocimux config check` lists them"
    if first.hint:
        hint = f"{first.hint}; {hint}"
    return ConfigError(
        f"{first.problem.removesuffix(', ignored')}{more}",
        path=first.path,
        line=first.line,
        key=first.key,
        hint=hint,
    )
