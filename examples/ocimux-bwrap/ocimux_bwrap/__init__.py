"""ocimux-bwrap: containers in bubblewrap, on ocimux's ProcessRuntime."""

from .runtime import BwrapRuntime

__all__ = ["BwrapRuntime"]
