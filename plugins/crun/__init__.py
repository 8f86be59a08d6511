"""The crun plugin: crun under conmon, with crun's differences from runc."""

from .runtime import CrunRuntime

__all__ = ["CrunRuntime"]
