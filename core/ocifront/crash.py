"""The front's crash points (`OCIMUX_CRASH_AT`), for the crash-safety tests."""

from __future__ import annotations

import os

__all__ = ["crash_point"]


def crash_point(name: str) -> None:
    """`ocimux.base._faults.crash_point`, imported only when a test asks for a crash."""
    if os.environ.get("OCIMUX_CRASH_AT") == name:
        # lazy: signal, only when a test names this point
        from ocimux.base._faults import crash_point as die

        die(name)
