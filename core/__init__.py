"""ocimux: run OCI containers on several runtimes at once.

The public front door. Python programs start with `open_dispatcher()`; plugin authors
subclass `Runtime` and declare `Capabilities`; hook plugins use `hookimpl`.

    import ocimux
    d = ocimux.open_dispatcher()
    rec, code = d.run(ocimux.NewContainer(rootfs=Path("rootfs"), args=("echo", "hi"),
                                          runtime="mock", auto_remove=True), streams)

`import ocimux` stays cheap: pluggy (for `hookimpl`) and the Dispatcher load on first use.
"""

from __future__ import annotations

from typing import Any

from .capabilities import Capabilities, Capability
from .errors import (
    CapabilityError,
    CommandNotFoundError,
    CommandNotInvocableError,
    ConfigError,
    ConflictError,
    ContainerNotFoundError,
    ExecSessionNotFoundError,
    InvalidArgumentError,
    NotFoundError,
    OcimuxError,
    PluginError,
    RuntimeCommandError,
    RuntimeNotFoundError,
    RuntimeTimeoutError,
    StateError,
    StoreError,
)
from .options import (
    AttachOptions,
    CheckpointOptions,
    CreateRequest,
    CreateResult,
    ExecOptions,
    ExecStatus,
    Resources,
    RestoreOptions,
    RuntimeInfo,
    RuntimeState,
    StdStreams,
)
from .runtime import Runtime, RuntimeContext

__all__ = [
    "AttachOptions",
    "Capabilities",
    "Capability",
    "CapabilityError",
    "CheckpointOptions",
    "CommandNotFoundError",
    "CommandNotInvocableError",
    "ConfigError",
    "ConflictError",
    "ContainerNotFoundError",
    "CreateRequest",
    "CreateResult",
    "Dispatcher",
    "ExecOptions",
    "ExecSessionNotFoundError",
    "ExecStatus",
    "InvalidArgumentError",
    "NewContainer",
    "NotFoundError",
    "OcimuxError",
    "PluginError",
    "Resources",
    "RestoreOptions",
    "Runtime",
    "RuntimeCommandError",
    "RuntimeContext",
    "RuntimeInfo",
    "RuntimeNotFoundError",
    "RuntimeState",
    "RuntimeTimeoutError",
    "StateError",
    "StdStreams",
    "StoreError",
    "__version__",
    "hookimpl",
    "open_dispatcher",
]

_LAZY = {
    "Dispatcher": ("ocimux.dispatcher", "Dispatcher"),
    "NewContainer": ("ocimux.dispatcher", "NewContainer"),
    "open_dispatcher": ("ocimux.session", "open_dispatcher"),
    "hookimpl": ("ocimux.hookspec", "hookimpl"),
    "__version__": ("ocimux._version", "VERSION"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ocimux' has no attribute {name!r}")
