"""Walking the settings models: what a key path may hold, and which names a table allows.

Used by validation (unknown keys, "did you mean", variable names) without touching values.
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

__all__ = ["annotation_at", "child", "kind_at", "kind_of", "names_at", "unwrap"]


def annotation_at(root: type[BaseModel], loc: Sequence[str | int]) -> Any | None:
    """Return the (unwrapped) type of the setting at `loc`, or None if no setting is there."""
    annotation: Any = root
    for part in loc:
        status, found = child(annotation, part)
        if status != "ok":
            return None
        annotation = found
    return unwrap(annotation)


def names_at(root: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """Return the names the model allows below `loc` (empty if free-form or unknown)."""
    annotation = annotation_at(root, loc)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def kind_of(value: Any) -> str:
    if isinstance(value, dict):
        return "table"
    return "array" if isinstance(value, list) else "scalar"


def kind_at(root: type[BaseModel], loc: Sequence[str | int]) -> str | None:
    """Return the kind of the setting at `loc`: "table", "array", "scalar", or None if free."""
    annotation = annotation_at(root, loc)
    if annotation is None or annotation is Any:
        return None
    origin = get_origin(annotation)
    if origin is dict or (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return "table"
    return "array" if origin is list else "scalar"


def child(annotation: Any, part: str | int) -> tuple[str, Any]:
    """Step from a type to the type of its member `part`.

    Returns ("ok", type) when `part` may exist there (`Any` for free-form content),
    ("unknown", allowed_names) when a model has no such field, ("leaf", None) for a scalar.
    """
    annotation = unwrap(annotation)
    if annotation is Any:
        return "ok", Any
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(part))
        if field is None:
            return "unknown", list(annotation.model_fields)
        return "ok", field.annotation
    origin = get_origin(annotation)
    if origin is dict:
        args = get_args(annotation)
        return "ok", args[1] if len(args) == 2 else Any
    if origin is list:
        args = get_args(annotation)
        return ("ok", args[0] if args else Any) if isinstance(part, int) else ("leaf", None)
    return "leaf", None


def unwrap(annotation: Any) -> Any:
    """Strip `Annotated` and `X | None`; a union of several types becomes `Any`."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin is Union or origin is types.UnionType:
            members = [arg for arg in get_args(annotation) if arg is not type(None)]
            annotation = members[0] if len(members) == 1 else Any
        else:
            return annotation
