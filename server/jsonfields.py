"""Typed reads of the JSON objects of Docker's create body, each error naming the field.

Every function raises InvalidArgumentError (HTTP 400) whose line names the Docker field
(`HostConfig.Memory`, `HostConfig.Mounts[1].Target`), so a client knows what to fix. A
missing key or `null` reads as the type's zero value, as Go's JSON decoding gives Docker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from ocimux.base.errors import InvalidArgumentError

__all__ = [
    "as_array",
    "as_object",
    "as_str_map",
    "as_strings",
    "bad",
    "each_item",
    "get_bool",
    "get_int",
    "get_str",
    "prefixed",
    "refuse",
]

T = TypeVar("T")


def bad(field: str, why: str, hint: str | None = None) -> InvalidArgumentError:
    """`invalid FIELD: WHY` (a malformed value)."""
    return InvalidArgumentError(f"invalid {field}: {why}", hint=hint)


def refuse(what: str, why: str) -> InvalidArgumentError:
    """`ocimux does not support WHAT: WHY` (a well-formed value ocimux cannot honour)."""
    return InvalidArgumentError(f"ocimux does not support {what}: {why}")


@contextmanager
def prefixed(name: str) -> Iterator[None]:
    """Prefix a parser's InvalidArgumentError (which names the CLI flag) with `name`."""
    try:
        yield
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(f"{name}: {exc.detail}", hint=exc.hint) from None


def as_object(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad(field, "it must be an object")
    return value


def as_array(value: Any, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad(field, "it must be an array")
    return value


def get_int(obj: dict[str, Any], key: str, field: str) -> int:
    value = obj.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(f"{field}.{key}", "it must be an integer")
    return value


def get_str(obj: dict[str, Any], key: str, field: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise bad(f"{field}.{key}", "it must be a string")
    return value


def get_bool(obj: dict[str, Any], key: str, field: str) -> bool:
    value = obj.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise bad(f"{field}.{key}", "it must be true or false")
    return value


def as_strings(value: Any, field: str) -> list[str]:
    items = as_array(value, field)
    if not all(isinstance(i, str) for i in items):
        raise bad(field, "it must be an array of strings")
    return items


def as_str_map(value: Any, field: str) -> dict[str, str]:
    obj = as_object(value, field)
    if not all(isinstance(v, str) for v in obj.values()):
        raise bad(field, "its values must be strings")
    return obj


def each_item(host: dict[str, Any], key: str, parse: Callable[[Any, str], T]) -> list[T]:
    """`parse(item, "HostConfig.<key>[i]")` for each item of the array `host[key]`."""
    field = f"HostConfig.{key}"
    return [parse(item, f"{field}[{i}]") for i, item in enumerate(as_array(host.get(key), field))]
