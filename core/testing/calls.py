"""Record which methods of a runtime instance are called, without knowing their names.

The kit checks that a refused operation never reached the runtime ("before anything runs")
by comparing the methods a refused verb called with those a plain `inspect` calls. It wraps
every public method of the instance, so it keeps working whatever the interface's verbs
are called.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

__all__ = ["record_calls"]


def record_calls(runtime: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Wrap each public method of `runtime` (this instance only); return the list of calls.

    Each call appends the method's name; `monkeypatch` undoes the wrapping at teardown.
    """
    calls: list[str] = []
    for name, member in inspect.getmembers(type(runtime)):
        if name.startswith("_") or not inspect.isfunction(member):
            continue  # private helpers, properties, class and static methods stay as they are
        bound = getattr(runtime, name)

        def wrapper(*args: Any, _name: str = name, _bound: Any = bound, **kwargs: Any) -> Any:
            calls.append(_name)
            return _bound(*args, **kwargs)

        monkeypatch.setattr(runtime, name, wrapper, raising=False)
    return calls
