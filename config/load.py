"""`load_config`: the complete cold path from the search path to a validated `Config`.

Imported lazily by `ocimux.config.load_config`; it pulls in tomli, pydantic and
pydantic-settings through `parse`, `validate` and `model`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .merge import Merger
from .parse import read_config_file
from .search import search_path
from .validate import apply_environment, validate_file
from .view import Config, default_run_dir, default_state_dir

__all__ = ["load_config"]


def load_config(
    config_file: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Find, parse, validate and merge the config files, apply `OCIMUX_*` variables; return it.

    Steps: the search path (`search.py`) → each file parsed with tomli and validated on its own,
    so an error names its file, line and key → merged with containers.conf rules (`merge.py`)
    → `OCIMUX_*` overrides through pydantic-settings, validated again → defaults for
    `state_dir` and `run_dir` resolved from `environ` and the euid and stored in the data.

    `config_file` (the CLI's `--config`) replaces the search path like `CONTAINERS_CONF`;
    both must exist, as must `CONTAINERS_CONF_OVERRIDE`, which is read last. `environ`
    defaults to `os.environ`. Raises ConfigError for every problem with a file or variable.
    """
    env = os.environ if environ is None else environ
    merger = Merger()
    loaded: list[str] = []
    for source in search_path(config_file, env):
        if source.is_dir:
            continue
        parsed = read_config_file(str(source.path), required=source.required, origin=source.origin)
        if parsed is None:
            continue
        validate_file(parsed.path, parsed.text, parsed.data)
        merger.add(parsed.data)
        loaded.append(parsed.path)
    data: dict[str, Any] = apply_environment(merger.result, env)
    own = data.setdefault("ocimux", {})
    own.setdefault("state_dir", str(default_state_dir(env)))
    own.setdefault("run_dir", str(default_run_dir(env)))
    return Config(data, files=tuple(loaded))
