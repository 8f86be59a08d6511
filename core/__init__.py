"""ocimux: run OCI containers on several runtimes at once.

The public front door. Python programs start with `open_dispatcher()`; plugin authors
subclass `Runtime` and declare `Capabilities`; hook plugins use `hookimpl`.

    import ocimux
    d = ocimux.open_dispatcher()
    rec, code = d.run(ocimux.NewContainer(rootfs=Path("rootfs"), args=("echo", "hi"),
                                          runtime="mock", auto_remove=True), streams)

`import ocimux` stays cheap: every name loads on first use (pluggy only for `hookimpl`).
"""

from __future__ import annotations

import importlib

from ._version import VERSION

#: typing.TYPE_CHECKING without importing typing (3-10 ms that ocimux-oci's hot path would pay)
TYPE_CHECKING = False
if TYPE_CHECKING:  # the names below load on first use (module __getattr__), keeping import cheap
    from typing import Any

    from ocimux.base.errors import (
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
        PluginFaultError,
        RuntimeCommandError,
        RuntimeNotFoundError,
        RuntimeTimeoutError,
        StateError,
        StoreError,
    )
    from ocimux.engine.dispatcher import Dispatcher
    from ocimux.engine.newcontainer import NewContainer
    from ocimux.engine.session import open_dispatcher
    from ocimux.interface.capabilities import Capabilities, Capability
    from ocimux.interface.options import (
        AttachOptions,
        CheckpointOptions,
        CreateRequest,
        CreateResult,
        ExecOptions,
        ProcessIO,
        Resources,
        RestoreOptions,
        RuntimeInfo,
        RuntimeState,
        StdStreams,
    )
    from ocimux.interface.runtime import Layout, Runtime, RuntimeContext
    from ocimux.oci.containerconfig import ContainerConfig, Device, Limits, Mount, Ulimit

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
    "ContainerConfig",
    "ContainerNotFoundError",
    "CreateRequest",
    "CreateResult",
    "Device",
    "Dispatcher",
    "ExecOptions",
    "ExecSessionNotFoundError",
    "InvalidArgumentError",
    "Layout",
    "Limits",
    "Mount",
    "NewContainer",
    "NotFoundError",
    "OcimuxError",
    "PluginError",
    "PluginFaultError",
    "ProcessIO",
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
    "Ulimit",
    "__version__",
    "hookimpl",
    "open_dispatcher",
]

#: public name -> module that defines it
_LAZY = {
    **dict.fromkeys(("Capabilities", "Capability"), "ocimux.interface.capabilities"),
    **dict.fromkeys(
        ("ContainerConfig", "Device", "Limits", "Mount", "Ulimit"), "ocimux.oci.containerconfig"
    ),
    "Dispatcher": "ocimux.engine.dispatcher",
    "NewContainer": "ocimux.engine.newcontainer",
    **dict.fromkeys(
        (
            "CapabilityError",
            "CommandNotFoundError",
            "CommandNotInvocableError",
            "ConfigError",
            "ConflictError",
            "ContainerNotFoundError",
            "ExecSessionNotFoundError",
            "InvalidArgumentError",
            "NotFoundError",
            "OcimuxError",
            "PluginError",
            "PluginFaultError",
            "RuntimeCommandError",
            "RuntimeNotFoundError",
            "RuntimeTimeoutError",
            "StateError",
            "StoreError",
        ),
        "ocimux.base.errors",
    ),  # fmt: skip
    **dict.fromkeys(
        (
            "AttachOptions",
            "CheckpointOptions",
            "CreateRequest",
            "CreateResult",
            "ExecOptions",
            "ProcessIO",
            "Resources",
            "RestoreOptions",
            "RuntimeInfo",
            "RuntimeState",
            "StdStreams",
        ),
        "ocimux.interface.options",
    ),  # fmt: skip
    **dict.fromkeys(("Layout", "Runtime", "RuntimeContext"), "ocimux.interface.runtime"),
    "open_dispatcher": "ocimux.engine.session",
    "hookimpl": "ocimux.interface.hookspec",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        return VERSION
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ocimux' has no attribute {name!r}")
