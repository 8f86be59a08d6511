"""Configuration: the containers.conf search path, merging, validation and a light view.

ocimux reads podman's containers.conf files with podman's rules (search path, drop-ins,
`CONTAINERS_CONF`, `CONTAINERS_CONF_OVERRIDE`, per-key merge, `{append=true}`), the `[engine]`
keys podman uses for runtimes, and its own `[ocimux]` table; `OCIMUX_*` variables override
any setting (`OCIMUX_ENGINE__RUNTIME=crun`).

- `load_config()` is the cold path: it parses and validates (tomli, pydantic-settings).
- `Config` is the result, a typed read-only view that `to_dict`/`from_dict` round-trip
  through a JSON cache.
- `config_sources()` and `relevant_environ()` tell a cache what to stat and which variables
  to compare.

Importing this package imports neither pydantic, pydantic_settings nor tomli; only calling
`load_config` does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .search import ENV_PREFIX, config_sources, relevant_environ
from .view import Config

__all__ = ["ENV_PREFIX", "Config", "config_sources", "load_config", "relevant_environ"]


def load_config(
    config_file: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Find, parse, validate and merge the configuration; return it as a `Config`.

    `config_file` (the CLI's `--config FILE`) replaces the search path, like `CONTAINERS_CONF`;
    `CONTAINERS_CONF_OVERRIDE` still applies last. `environ` defaults to `os.environ`. Raises
    ConfigError naming the file, line and key (or the variable) of the first problem found.
    See `ocimux.config.load.load_config` for the steps.
    """
    # lazy: tomli and pydantic, the cold path
    from .load import load_config as _load_config

    return _load_config(config_file, environ)
