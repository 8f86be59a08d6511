"""`ocimux config check` and `ocimux config show [--sources] [--format toml|json]`.

Both read the files afresh (never the warm cache) and open no store.

- check: every warning (unknown keys and tables, file:line: key) on stdout, then a summary on
  stderr; exit 0 when there is none, 1 when there are warnings, 125 on an error. For CI: the
  strictness `[ocimux] strict_config = true` gives every command.
- show: the merged configuration, one dotted `key = value` line per value (the output is TOML
  that ocimux and podman read back); `--sources` ends each line with `# FILE:LINE`, the
  `OCIMUX_*` variable, or `default`; `--format json` prints `{key: {"value", "source"}}`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Mapping
from typing import Any

from ocimux.config import load_config
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
        print_json({key: {"value": value, "source": origins[key]} for key, value in _flat(config)})
        return 0
    for key, value in _flat(config):
        line = f"{key} = {toml_value(value)}"
        print(f"{line}  # {origins[key]}" if sources else line)
    return 0


def _flat(config: Any) -> list[tuple[str, Any]]:
    data = config.to_dict()["data"]
    return [(".".join(_key(part) for part in loc), value) for loc, value in leaves(data)]


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
