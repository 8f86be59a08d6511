"""Wiring: config, plugins, store and hooks into one Dispatcher, through the warm-path cache.

`open_dispatcher()` is what the CLI and Python programs call. When nothing changed since the
last call (config files, drop-in directories, installed distributions, relevant environment
variables), it reads one JSON file instead of importing pydantic and stevedore.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ocimux.base import _cache
from ocimux.base.trust import check_owned
from ocimux.config import Config, config_sources, load_config, relevant_environ

from ._entries import entries_from_lists
from .dispatcher import Dispatcher
from .hooks import Hooks
from .registry import RUNTIMES_GROUP, Registry
from .store import Store

__all__ = ["load_environment", "open_dispatcher", "show_warnings"]

HOOKS_GROUP = "ocimux.hooks"

#: Warnings shown per load; the rest are counted (a file of 50,000 unknown keys must not flood
#: every terminal; `ocimux config check` lists them all).
MAX_SHOWN_WARNINGS = 20


def show_warnings(warnings: Sequence[str], stream: Any = None) -> None:
    """Write the configuration's warnings on stderr, one line each, the first MAX_SHOWN_WARNINGS."""
    out = sys.stderr if stream is None else stream
    for line in warnings[:MAX_SHOWN_WARNINGS]:
        out.write(f"ocimux: warning: {line}\n")
    if len(warnings) > MAX_SHOWN_WARNINGS:
        rest = len(warnings) - MAX_SHOWN_WARNINGS
        out.write(f"ocimux: warning: and {rest} more; `ocimux config check` lists them all\n")


def _cold(config_file: str | None, environ: Mapping[str, str]) -> dict[str, Any]:
    # lazy: stevedore and importlib.metadata, cold path only
    from ._discovery import discover

    config = load_config(config_file, environ)
    # the files were read afresh: show their warnings now, and not again while they are cached
    show_warnings(config.warnings)
    return {
        "config": config.to_dict(),
        "runtimes": [e.as_list() for e in discover(RUNTIMES_GROUP)],
        "hooks": [e.as_list() for e in discover(HOOKS_GROUP)],
    }


def load_environment(
    config_file: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> tuple[Any, list[Any], list[Any]]:
    """Return (Config, runtime entry points, hook entry points), from the cache when warm."""
    environ = os.environ if environ is None else environ
    path = os.fspath(config_file) if config_file is not None else None
    relevant = relevant_environ(environ)
    key = _cache.fingerprint(
        config_sources(path, environ), relevant, extra=f"config={path} euid={os.geteuid()}"
    )
    value = _cache.cached("environment", key, environ, lambda: _cold(path, environ))
    return (
        Config.from_dict(value["config"]),
        entries_from_lists(value["runtimes"]),
        entries_from_lists(value["hooks"]),
    )


def open_dispatcher(
    config_file: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Dispatcher:
    """Build a Dispatcher for this process from the configuration and installed plugins."""
    config, runtimes, hooks = load_environment(config_file, environ)
    # the state directory and database are checked by the Store as it opens them
    check_owned(Path(config.run_dir), "run directory", "[ocimux] run_dir")
    registry = Registry(config, runtimes)
    store = Store(Path(config.state_dir) / "ocimux.db")
    hook_manager = Hooks(hooks) if hooks and config.hooks_enabled else Hooks.empty()
    dispatcher = Dispatcher(config, registry, store, hook_manager)
    # what a container's exit command needs to open this same configuration and store
    dispatcher.origin = (
        os.fspath(config_file) if config_file is not None else None,
        dict(os.environ if environ is None else environ),
    )
    return dispatcher
