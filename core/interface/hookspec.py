"""Hook specifications: the extension points hook plugins (group `ocimux.hooks`) implement.

Drivers are stevedore's job, hooks are pluggy's. A hook plugin is a module or object with
functions marked `@ocimux.hookimpl`; it is listed as an entry point in the `ocimux.hooks`
group. Each spec's docstring: what it does, its parameters, what its result means, who may
implement it and what it may change. Call order for `create` is in `Dispatcher.create`.
"""

from __future__ import annotations

from typing import Any

import pluggy

__all__ = ["PROJECT", "hookimpl", "hookspec"]

PROJECT = "ocimux"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --- choosing a runtime ---------------------------------------------------------------------


@hookspec(firstresult=True)
def ocimux_choose_runtime(
    name: str, annotations: dict[str, str], requested: str | None, default: str
) -> str | None:
    """Choose the runtime for a new container, by policy.

    :param name: the container's name.
    :param annotations: the spec's annotations (read only).
    :param requested: the runtime the user asked for (`--runtime`), or None.
    :param default: the runtime ocimux would use.

    Return a runtime name, or None to leave the choice alone. Stops at the first non-None
    result. Called for every new container; a policy that must hold even against an
    explicit `--runtime` (e.g. untrusted workloads to a sandbox) may override `requested`.

    Use in hook plugins. May change nothing else.
    """


# --- adjusting the spec ---------------------------------------------------------------------


@hookspec
def ocimux_adjust_spec(spec: dict[str, Any], runtime: str, name: str) -> None:
    """Adjust the OCI spec (config.json content) before the container is created.

    :param spec: the spec, to modify in place.
    :param runtime: the runtime chosen for the container.
    :param name: the container's name.

    Results are ignored; every implementation is called. Use in hook plugins. May change
    `spec` only; ocimux validates it again afterwards.
    """


# --- observing the lifecycle ----------------------------------------------------------------


@hookspec
def ocimux_lifecycle_event(
    event: str, container: str, name: str, runtime: str, detail: dict[str, Any]
) -> None:
    """Observe a lifecycle event after it happened.

    :param event: one of create, start, kill, stop, pause, unpause, exec, update,
        checkpoint, restore, delete, died.
    :param container: the container's id.
    :param name: the container's name.
    :param runtime: the runtime that owns it.
    :param detail: event-specific facts (signal, exit code, session id, ...).

    Results are ignored. An implementation that raises is reported on stderr and does not
    undo the operation. Use in hook plugins. May change nothing.
    """
