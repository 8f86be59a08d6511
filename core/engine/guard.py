"""Keeping a plugin's faults inside the plugin: every runtime is handed out guarded.

A runtime plugin is third-party code. Whatever it raises that is not an `OcimuxError` (a bug:
a `KeyError`, a `TypeError`, an `OSError` it forgot to translate) must become neither a
traceback that ends ocimux nor a failure of the commands on other runtimes' containers.
`guard()` wraps each public method of a runtime, on the instance, so its class, `type()` and
`isinstance` stay the plugin's. Such an exception becomes one `PluginFaultError` naming the
runtime, the plugin's distribution and entry point, the method, and `file:line` of the
innermost frame inside the plugin; the original stays its `__cause__` (`ocimux --debug`
prints its traceback). Wrapping by inspection, not by a list of verbs, keeps the guard right
whatever the interface's methods are called.

Passed through unchanged: `OcimuxError`s (the plugin's own messages), what is not an
`Exception` (KeyboardInterrupt, SystemExit, the CLI's Hangup), and the reader of a stream
going away (`BrokenPipeError`, `ConnectionResetError`), which callers treat as a normal end.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import FunctionType, TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from ocimux.base.errors import OcimuxError, PluginFaultError

if TYPE_CHECKING:
    from ocimux.interface.runtime import Runtime

__all__ = ["PluginOrigin", "fault", "guard", "locate", "origin_of", "package_of", "warn"]

_R = TypeVar("_R", bound="Runtime")

#: a peer that left: the caller's business, never the plugin's fault
_PASS_THROUGH = (BrokenPipeError, ConnectionResetError)

#: modules of ocimux itself; a plugin shipped inside ocimux lives under `ocimux.plugins.<name>`
_CORE = "ocimux"
_PLUGINS = "ocimux.plugins."

HINT = "a bug in the plugin: report it to its authors (`ocimux --debug ...` prints the traceback)"


@dataclass(frozen=True, slots=True)
class PluginOrigin:
    """Who wrote a runtime: its name, entry point, distribution and the packages of its code."""

    runtime: str
    entry_point: str | None
    distribution: str | None
    #: module packages whose frames are the plugin's (e.g. "ocimux_runsc", "ocimux.plugins.mock")
    packages: tuple[str, ...] = ()


def origin_of(
    cls: type, runtime: str, entry_point: str | None, distribution: str | None
) -> PluginOrigin:
    """The origin of runtime `runtime` built from `cls`: the packages of its class hierarchy
    (ocimux's own base classes excluded) and of its entry point's module."""
    modules = [c.__module__ for c in cls.__mro__]
    if entry_point:
        modules.append(entry_point.partition(":")[0])
    packages: list[str] = []
    for module in modules:
        package = package_of(module)
        if package and package not in packages:
            packages.append(package)
    return PluginOrigin(runtime, entry_point, distribution, tuple(packages))


def package_of(module: str) -> str | None:
    """The package a module's plugin code lives in; None for ocimux's core and the stdlib's."""
    if module.startswith(_PLUGINS):
        return ".".join(module.split(".")[:3])
    if module == _CORE or module.startswith(_CORE + ".") or module in ("builtins", "abc"):
        return None
    return module.partition(".")[0]


def guard(runtime: _R, origin: PluginOrigin) -> _R:
    """Wrap every public method of `runtime` in place (see the module docstring); return it.

    A method is wrapped once: guarding a guarded runtime changes nothing.
    """
    attrs = getattr(runtime, "__dict__", None)
    if attrs is None or attrs.get("_ocimux_guard") is not None:
        return runtime  # a plugin with __slots__ and no __dict__ cannot be wrapped in place
    seen: set[str] = set()
    for cls in type(runtime).__mro__:
        for name, value in vars(cls).items():
            if name in seen:
                continue
            seen.add(name)
            if name.startswith("_") or not isinstance(value, FunctionType) or name in attrs:
                continue
            attrs[name] = _guarded(getattr(runtime, name), name, origin)
    attrs["_ocimux_guard"] = origin
    return runtime


def _guarded(method: Callable[..., Any], call: str, origin: PluginOrigin) -> Callable[..., Any]:
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except OcimuxError:
            raise
        except _PASS_THROUGH:
            raise
        except Exception as exc:
            raise fault(origin, exc, call) from exc

    guarded.__name__ = call
    guarded.__qualname__ = getattr(method, "__qualname__", call)
    guarded.__doc__ = method.__doc__
    guarded.__wrapped__ = method  # type: ignore[attr-defined]
    return guarded


def fault(origin: PluginOrigin, exc: BaseException, call: str | None = None) -> PluginFaultError:
    """The one-line error for `exc`, raised by plugin code of `origin` (in method `call`)."""
    where, inside = locate(exc.__traceback__, origin.packages)
    plugin = f"plugin {origin.distribution}" if origin.distribution else "its plugin"
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    called = f" in {call}()" if call else ""
    if where is None:
        detail = f"{plugin} raised {what}{called}"
    elif inside:
        detail = f"{plugin} raised {what}{called} at {where}"
    else:  # e.g. a default method of ocimux.Runtime that the plugin's state broke
        detail = f"{plugin} raised {what}{called} at {where} (ocimux code called by the plugin)"
    return PluginFaultError(
        detail,
        runtime=origin.runtime,
        entry_point=origin.entry_point,
        distribution=origin.distribution,
        location=where,
        call=call,
        hint=HINT,
    )


def locate(tb: TracebackType | None, packages: tuple[str, ...]) -> tuple[str | None, bool]:
    """`file:line` of the innermost frame of `tb` inside `packages`, and True; else that of
    the innermost frame of all, and False (None when there is no traceback)."""
    inside = last = None
    while tb is not None:
        frame = tb.tb_frame
        here = f"{frame.f_code.co_filename}:{tb.tb_lineno}"
        last = here
        module = frame.f_globals.get("__name__") or ""
        if any(module == p or module.startswith(p + ".") for p in packages):
            inside = here
        tb = tb.tb_next
    return (inside, True) if inside else (last, False)


def warn(message: str) -> None:
    """One warning line on stderr (`ocimux: warning: ...`), as hook failures are reported."""
    print(f"ocimux: warning: {message}", file=sys.stderr)
