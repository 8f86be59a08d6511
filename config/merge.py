"""containers.conf merge rules, applied file by file in load order.

- Scalars: the last file wins.
- Tables: merged key by key, recursively. A later `[engine.runtimes]` adds or replaces one
  runtime's whole path list; the other runtimes persist.
- Arrays: replaced, unless the array holds an append marker, an inline table `{append = true}`:
  then its items are appended to the accumulated value, and arrays at the same key keep
  appending in every later file until one says `{append = false}` (containers.conf(5),
  "APPENDING TO STRING ARRAYS"; go.podman.io/common `internal/attributedstring`, whose
  `Append` attribute survives from one decoded file to the next). Before any file has set such
  an array, appending starts from podman's built-in value (`ocimux.config.builtins`): podman
  decodes each file into a config that holds its defaults. Markers never reach the result.

Values are plain TOML data (dicts, lists, scalars) that per-file validation has already checked,
so nesting is shallow; the merger copies what it keeps and never mutates its inputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .builtins import BUILTIN_ARRAYS

__all__ = ["Merger", "is_append_marker", "merge", "strip_markers"]

Path = tuple[str, ...]


def is_append_marker(item: object) -> bool:
    """Tell whether `item` is an append marker: an inline table whose only key is a bool `append`."""
    return isinstance(item, dict) and len(item) == 1 and isinstance(item.get("append"), bool)


def strip_markers(value: Any) -> Any:
    """Return a copy of `value` with every append marker removed from every array in it."""
    if isinstance(value, dict):
        return {key: strip_markers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [strip_markers(item) for item in value if not is_append_marker(item)]
    return value


class Merger:
    """Accumulate config layers with containers.conf semantics.

    Call `add` once per file in load order, then read `result`. The append mode of each array
    (by its key path) is remembered between calls, as podman remembers it.
    """

    __slots__ = ("_appending", "_builtins", "_data")

    def __init__(self, builtins: Mapping[Path, tuple[str, ...]] = BUILTIN_ARRAYS) -> None:
        self._data: dict[str, Any] = {}
        self._appending: set[Path] = set()
        self._builtins = builtins

    def add(self, layer: dict[str, Any]) -> None:
        """Merge one file's data (a TOML document) over what was added before."""
        self._merge_table(self._data, layer, ())

    def appending(self, path: Path) -> bool:
        """Tell whether the array at key path `path` is in append mode after the files so far."""
        return path in self._appending

    @property
    def result(self) -> dict[str, Any]:
        """The merged data so far, without append markers (a fresh copy on each access)."""
        return strip_markers(self._data)

    def _merge_table(self, into: dict[str, Any], layer: dict[str, Any], path: Path) -> None:
        for key, value in layer.items():
            here = (*path, key)
            old = into.get(key)
            if isinstance(value, dict):
                if not isinstance(old, dict):
                    old = into[key] = {}
                self._merge_table(old, value, here)
            elif isinstance(value, list):
                into[key] = self._merge_array(old, value, here)
            else:
                into[key] = strip_markers(value)

    def _merge_array(self, old: Any, new: list[Any], path: Path) -> list[Any]:
        markers = [item["append"] for item in new if is_append_marker(item)]
        if markers:
            # Several markers in one array: the last one decides, as in attributedstring.
            if markers[-1]:
                self._appending.add(path)
            else:
                self._appending.discard(path)
        items = [strip_markers(item) for item in new if not is_append_marker(item)]
        if path in self._appending:
            base = old if isinstance(old, list) else list(self._builtins.get(path, ()))
            return [*base, *items]
        return items


def merge(layers: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Merge `layers` in order (see the module docstring) and return the result."""
    merger = Merger()
    for layer in layers:
        merger.add(layer)
    return merger.result
