"""Loading hook plugins (group `ocimux.hooks`) into a pluggy PluginManager, one at a time.

pluggy's own `load_setuptools_entrypoints` stops at the first plugin that fails to import
(libraries.md §3); here each plugin is imported and registered on its own, and a broken one
is recorded in `broken` and reported, while the others work. pluggy is imported only when
at least one hook plugin is installed: `Hooks.empty()` costs nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, final

from ._entries import BrokenPlugin, PluginEntry, import_target

__all__ = ["Hooks"]


@final
class Hooks:
    """Calls hook implementations; with none installed, every call is a cheap no-op."""

    def __init__(self, entries: Iterable[PluginEntry] = ()) -> None:
        self.entries = list(entries)
        self.broken: list[BrokenPlugin] = []
        self._pm: Any = None
        if self.entries:
            self._pm = self._load()

    @classmethod
    def empty(cls) -> Hooks:
        return cls(())

    def _load(self) -> Any:
        # lazy: pluggy (~30 ms with the hook specifications) only when a hook plugin is installed
        import pluggy
        from ocimux.interface import hookspec

        pm = pluggy.PluginManager(hookspec.PROJECT)
        pm.add_hookspecs(hookspec)
        for entry in self.entries:
            try:
                pm.register(import_target(entry.target), name=f"ep:{entry.name}")
            except Exception as exc:  # noqa: BLE001 - a broken hook plugin must not break ocimux
                self.broken.append(
                    BrokenPlugin(
                        entry.name, entry.target, entry.distribution, f"{type(exc).__name__}: {exc}"
                    )
                )
        try:
            pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self.broken.append(BrokenPlugin("?", "?", "?", str(exc)))
        return pm

    def choose_runtime(
        self, *, name: str, annotations: dict[str, str], requested: str | None, default: str
    ) -> str | None:
        """Ask policy hooks for a runtime (first non-None answer), or None."""
        if self._pm is None:
            return None
        return self._pm.hook.ocimux_choose_runtime(
            name=name, annotations=dict(annotations), requested=requested, default=default
        )

    def adjust_spec(self, *, spec: dict[str, Any], runtime: str, name: str) -> None:
        """Let hooks modify `spec` in place before create."""
        if self._pm is not None:
            self._pm.hook.ocimux_adjust_spec(spec=spec, runtime=runtime, name=name)

    def event(self, event: str, *, container: str, name: str, runtime: str, **detail: Any) -> None:
        """Tell observers that `event` happened; their failures are reported, never raised."""
        if self._pm is None:
            return
        try:
            self._pm.hook.ocimux_lifecycle_event(
                event=event, container=container, name=name, runtime=runtime, detail=detail
            )
        except Exception as exc:  # noqa: BLE001 - observers must not undo an operation
            print(
                f"ocimux: warning: lifecycle hook failed on {event} of {name}: {exc}",
                file=sys.stderr,
            )
