"""Find the keys and tables of a file that no model knows, and drop them before validation.

podman ignores what it does not know (its decoder logs it at debug level), so a key from a newer
podman, a legacy key or a `[storage]` table must never stop ocimux: each becomes a warning and
the rest of the file is validated and used. The walk follows the models (`schema.py`) and never
descends into what it drops or into free-form values, so its depth is the models' depth.

One podman quirk is kept here too: a table of names (`[engine.runtimes]`) written as an array
(`runtimes = []` or `[[engine.runtimes]]`) is read by podman as an empty table; ocimux does the
same, with a warning when the array was not empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, get_args, get_origin

from pydantic import BaseModel

from .schema import kind_of, unwrap

__all__ = ["Dropped", "drop_unknown"]


@dataclass(frozen=True, slots=True)
class Dropped:
    """One thing dropped: where (`loc`), what (`kind`: "table", "array" or "scalar"), and why.

    `why` is "unknown" (no such key there) or "array_for_table" (an array where a table of
    names belongs).
    """

    loc: tuple[str | int, ...]
    kind: str
    why: str = "unknown"


def drop_unknown(
    data: dict[str, Any], root: type[BaseModel]
) -> tuple[dict[str, Any], list[Dropped]]:
    """Return a copy of `data` without what `root` does not know, and the list of what was dropped.

    Values of the wrong type are kept: validation reports them as errors, as podman does.
    """
    dropped: list[Dropped] = []
    return _walk(data, root, (), dropped), dropped


def _walk(value: Any, annotation: Any, loc: tuple[str | int, ...], dropped: list[Dropped]) -> Any:
    annotation = unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if not isinstance(value, dict):
            return value
        fields = annotation.model_fields
        kept: dict[str, Any] = {}
        for key, item in value.items():
            field = fields.get(key)
            if field is None:
                dropped.append(Dropped((*loc, key), kind_of(item)))
            else:
                kept[key] = _walk(item, field.annotation, (*loc, key), dropped)
        return kept
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is dict:
        if isinstance(value, list) and loc[:1] != ("ocimux",):  # podman's quirk, podman's tables
            if value:
                dropped.append(Dropped(loc, "array", "array_for_table"))
            return {}
        if not isinstance(value, dict):
            return value
        inner = args[1] if len(args) == 2 else Any
        return {key: _walk(item, inner, (*loc, key), dropped) for key, item in value.items()}
    if origin is list and isinstance(value, list) and args:
        return [_walk(item, args[0], (*loc, index), dropped) for index, item in enumerate(value)]
    return value
