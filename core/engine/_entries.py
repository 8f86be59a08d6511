"""Plugin entry points as plain values: cheap to import, cached as JSON lists."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["BrokenPlugin", "PluginEntry", "entries_from_lists", "import_target"]


@dataclass(frozen=True, slots=True)
class PluginEntry:
    """One entry point: its name, `module:attr` target and the distribution shipping it."""

    name: str
    target: str
    distribution: str

    def as_list(self) -> list[str]:
        return [self.name, self.target, self.distribution]


@dataclass(frozen=True, slots=True)
class BrokenPlugin:
    """An entry point whose plugin failed to import or validate."""

    name: str
    target: str
    distribution: str
    error: str


def entries_from_lists(rows: Iterable[list[str]]) -> list[PluginEntry]:
    """Rebuild entries from `PluginEntry.as_list()` rows (the cache's form)."""
    return [PluginEntry(*row) for row in rows]


def import_target(target: str) -> Any:
    """Import an entry point's `module:attr.attr` target, as `EntryPoint.load()` would.

    Done by hand so the warm path never imports importlib.metadata. Any exception of the
    plugin's own code propagates; callers report it.
    """
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split(".") if attr else []:
        obj = getattr(obj, part)
    return obj
