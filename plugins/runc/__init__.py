"""The runc plugin: runc under conmon; also the driver for any runc-compatible runtime named in
`[engine.runtimes]` without a plugin of its own (youki, a second runc build, ...)."""

from .runtime import RuncRuntime

__all__ = ["RuncRuntime"]
