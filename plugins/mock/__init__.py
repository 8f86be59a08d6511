"""The mock runtime: containers as host processes without isolation, with fault injection.

The entry point `mock = "ocimux.plugins.mock:MockRuntime"` (group `ocimux.runtimes`) names
`MockRuntime`, a `ocimux.oci.processruntime.ProcessRuntime`. It is imported on first access, so
listing runtimes does not pay for the runtime's imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .runtime import MockRuntime

__all__ = ["MockRuntime"]


def __getattr__(name: str) -> Any:
    if name == "MockRuntime":
        try:
            # lazy: listing runtimes must not pay for the runtime's imports
            from .runtime import MockRuntime
        except AttributeError as exc:  # would read as "no attribute MockRuntime" and hide the bug
            raise ImportError(f"cannot import ocimux.plugins.mock.runtime: {exc}") from exc
        return MockRuntime
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
