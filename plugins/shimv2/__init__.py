"""The shim v2 backend: any containerd `containerd-shim-*-v2` binary driven over ttrpc.

Registered as runtime `runc-shim` (containerd's `containerd-shim-runc-v2`); a name in
`[engine.runtimes]` whose binary is called `containerd-shim-<x>-v2` is driven by it too
(`[ocimux] default_shim_plugin`). The kata plugin is this backend with Kata's binary.
Nothing here is imported until a shim runtime is used: the Registry lists names from
entry points, and `import ocimux` never loads the ttrpc client.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ShimV2Runtime"]


def __getattr__(name: str) -> Any:
    # lazy: the I/O monitor and the event sink run `-m ocimux.plugins.shimv2.<module>` and
    # must not pay for importing the runtime (and with it half of ocimux)
    if name == "ShimV2Runtime":
        from .runtime import ShimV2Runtime

        return ShimV2Runtime
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
