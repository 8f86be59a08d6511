"""`ocimux config check` and `ocimux config show [--sources] [--format toml|json]`.

Both read the files afresh (never the warm cache) and open no store.

- check: every warning (unknown keys and tables, file:line: key) on stdout, then a summary on
  stderr; exit 0 when there is none, 1 when there are warnings, 125 on an error. For CI: the
  strictness `[ocimux] strict_config = true` gives every command.
- show: the merged configuration, one dotted `key = value` line per value (the output is TOML
  that ocimux and podman read back); `--sources` ends each line with `# FILE:LINE`, the
  `OCIMUX_*` variable, or `default`; `--format json` prints `{key: {"value", "source"}}`. The
  keys ocimux reads that no one set follow, with the default in effect.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Mapping
from typing import Any

from ocimux.config import Config, load_config
from ocimux.config.load import load_with_sources  # the cold loader: this command always reads
from ocimux.config.sources import leaves

from ._output import print_json

__all__ = ["cmd_config", "toml_value"]

#: what `check` exits with when it found warnings
FOUND = 1

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def cmd_config(args: argparse.Namespace) -> int:
    environ: Mapping[str, str] = os.environ
    if args.global_runtime:
        environ = {**os.environ, "OCIMUX_ENGINE__RUNTIME": args.global_runtime}
    if args.config_cmd == "check":
        return _check(args.config, environ)
    return _show(args.config, environ, sources=args.sources, as_json=args.format == "json")


def _check(config_file: str | None, environ: Mapping[str, str]) -> int:
    config = load_config(config_file, environ)
    for line in config.warnings:
        print(line)
    files = len(config.files)
    count = len(config.warnings)
    read = f"{files} file{'s' if files != 1 else ''} read"
    sys.stderr.write(f"{read}, {count} warning{'s' if count != 1 else ''}\n")
    return FOUND if count else 0


def _show(
    config_file: str | None, environ: Mapping[str, str], *, sources: bool, as_json: bool
) -> int:
    config, origins = load_with_sources(config_file, environ)
    if as_json:
        flat = _flat(config)
        print_json(
            {key: {"value": value, "source": origins.get(key, "default")} for key, value in flat}
        )
        return 0
    for key, value in _flat(config):
        line = f"{key} = {toml_value(value)}"
        print(f"{line}  # {origins.get(key, 'default')}" if sources else line)
    return 0


def _flat(config: Config) -> list[tuple[str, Any]]:
    """Every value set, then the defaults in effect of the keys ocimux reads that no one set."""
    data = config.to_dict()["data"]
    flat = [(".".join(_key(part) for part in loc), value) for loc, value in leaves(data)]
    given = {key for key, _ in flat}
    flat += [(key, value) for key, value in _defaults(config) if key not in given]
    # each top-level table's keys together, in order (stable: the files' order within a table)
    return sorted(flat, key=lambda item: item[0].split(".", 1)[0])


def _defaults(config: Config) -> list[tuple[str, Any]]:
    # the runtime_supports_* lists are left out: unset, each plugin's declaration decides
    return [
        ("engine.conmon_path", list(config.conmon_paths)),
        ("engine.conmon_env_vars", list(config.conmon_env_vars)),
        ("engine.cgroup_manager", config.cgroup_manager),
        ("engine.stop_timeout", config.stop_timeout),
        ("engine.detach_keys", config.detach_keys),
        ("ocimux.command_timeout", config.command_timeout),
        ("ocimux.lock_timeout", config.lock_timeout),
        ("ocimux.default_cli_plugin", config.default_cli_plugin),
        ("ocimux.default_shim_plugin", config.default_shim_plugin),
        ("ocimux.runtime_preference", list(config.runtime_preference)),
        ("ocimux.hooks_enabled", config.hooks_enabled),
    ]


def _key(part: str) -> str:
    return part if _BARE_KEY.fullmatch(part) else json.dumps(part, ensure_ascii=False)


def toml_value(value: Any) -> str:
    """Render a configuration value as TOML (strings, numbers, booleans, arrays, inline tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return f"[{', '.join(toml_value(item) for item in value)}]"
    if isinstance(value, dict):
        inner = ", ".join(f"{_key(k)} = {toml_value(v)}" for k, v in value.items())
        return f"{{ {inner} }}" if inner else "{}"
    return json.dumps(value)
