"""Finding and bulk-loading entry-point plugins: the cold path, never run when the cache is warm.

Discovery reads `importlib.metadata` directly, never stevedore's on-disk cache: that cache
packs mtimes as 32-bit floats and so serves stale entry points for about two minutes after
an in-place reinstall (libraries.md §2.3). Bulk loading (`load_all`, for `ocimux runtimes`)
goes through a stevedore ExtensionManager fed with those fresh entry points, so one broken
plugin is reported through stevedore's failure callback and the others still load.
"""

from __future__ import annotations

import importlib.metadata as md
from collections.abc import Iterable

from stevedore import ExtensionManager

from ._entries import BrokenPlugin, PluginEntry

__all__ = ["discover", "load_all"]


def discover(group: str) -> list[PluginEntry]:
    """List every entry point in `group` with its distribution, importing no plugin code."""
    entries = []
    seen: set[tuple[str, str, str]] = set()
    for dist in md.distributions():
        dist_name = f"{dist.metadata['Name']} {dist.version}"
        for ep in dist.entry_points:
            if ep.group != group:
                continue
            key = (ep.name, ep.value, dist_name)
            # the same dist can appear twice on sys.path (e.g. an editable install plus a copy)
            if key not in seen:
                seen.add(key)
                entries.append(PluginEntry(ep.name, ep.value, dist_name))
    return sorted(entries, key=lambda e: (e.name, e.distribution))


class _FreshExtensionManager(ExtensionManager):  # type: ignore[type-arg]
    """An ExtensionManager over entry points we found ourselves (not stevedore's cache)."""

    def __init__(self, group: str, entries: Iterable[PluginEntry], on_failure) -> None:  # noqa: ANN001
        self._fresh = [md.EntryPoint(e.name, e.target, group) for e in entries]
        super().__init__(group, on_load_failure_callback=on_failure)

    def list_entry_points(self) -> list[md.EntryPoint]:
        return self._fresh


def load_all(
    group: str, entries: list[PluginEntry]
) -> tuple[dict[str, object], list[BrokenPlugin]]:
    """Import every plugin in `entries`; return {name: loaded object} and the broken ones."""
    by_target = {(e.name, e.target): e for e in entries}
    broken: list[BrokenPlugin] = []

    def on_failure(_manager: object, ep: md.EntryPoint, exc: BaseException) -> None:
        entry = by_target[(ep.name, ep.value)]
        broken.append(
            BrokenPlugin(
                entry.name, entry.target, entry.distribution, f"{type(exc).__name__}: {exc}"
            )
        )

    manager = _FreshExtensionManager(group, entries, on_failure)
    loaded = {ext.name: ext.plugin for ext in manager.extensions}
    return loaded, broken
