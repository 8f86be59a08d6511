"""The shim v2 backend: any containerd `containerd-shim-*-v2` binary driven over ttrpc.

Registered as runtime `runc-shim` (containerd's `containerd-shim-runc-v2`); a name in
`[engine.runtimes]` whose binary is called `containerd-shim-<x>-v2` is driven by it too
(`[ocimux] default_shim_plugin`). The kata plugin is this backend with Kata's binary.
Nothing here is imported until a shim runtime is used: the Registry lists names from
entry points, and `import ocimux` never loads the ttrpc client.
"""

from .runtime import ShimV2Runtime

__all__ = ["ShimV2Runtime"]
