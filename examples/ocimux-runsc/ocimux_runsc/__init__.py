"""The runsc plugin: gVisor's runsc under conmon, with runsc's differences from runc."""

from .runtime import RunscRuntime

__all__ = ["RunscRuntime"]
