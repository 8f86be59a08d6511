"""Plugin entry points as plain values: cheap to import, cached as JSON lists."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["BrokenPlugin", "PluginEntry", "entries_from_lists"]


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
