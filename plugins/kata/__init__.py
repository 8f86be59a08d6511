"""The kata plugin: Kata Containers 2+ through its shim v2 binary, `containerd-shim-kata-v2`.

Kata 2.0 removed its OCI CLI (kata-containers#332); the shim is the only way in, which is
why podman cannot run it (podman-oci.md §7) and ocimux can.
"""

from .runtime import KataRuntime

__all__ = ["KataRuntime"]
