"""The unit tests' process guard (installed by tests/unit/conftest.py); see there.

A module of its own, so the conftest and the guard's test share one `ProcessGuard` and one
`ProcessStarted` (a conftest imported by name is another module object than pytest's).
"""

from __future__ import annotations

import _posixsubprocess
import importlib
import os
import pty
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

#: os functions that create or replace a process
OS_FUNCTIONS = (
    "fork", "forkpty", "posix_spawn", "posix_spawnp", "system", "popen",
    "execl", "execle", "execlp", "execlpe", "execv", "execve", "execvp", "execvpe",
    "spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe",
)  # fmt: skip

#: ocimux's own process module (an import error here means it moved: update the name)
OCIMUX_PROCESS_MODULE = "ocimux.base.process"


class ProcessStarted(AssertionError):
    """A unit test tried to start a process."""


@dataclass
class ProcessGuard:
    """What unit tests tried to start; `attempts` is checked (and cleared) after each test."""

    attempts: list[str] = field(default_factory=list)

    def refuse(self, what: str) -> Callable[..., Any]:
        def refused(*args: Any, **kwargs: Any) -> Any:
            shown = " ".join(map(str, args[1] if what == "subprocess.Popen" else args))[:200]
            message = (
                f"a unit test tried to start a process ({what}: {shown}); "
                "tests that need processes belong in tests/integration/"
            )
            self.attempts.append(message)
            raise ProcessStarted(message)

        return refused

    def install(self, mp: pytest.MonkeyPatch) -> None:
        mp.setattr(subprocess.Popen, "_execute_child", self.refuse("subprocess.Popen"))
        mp.setattr(subprocess, "_fork_exec", self.refuse("subprocess._fork_exec"))
        mp.setattr(_posixsubprocess, "fork_exec", self.refuse("_posixsubprocess.fork_exec"))
        for name in OS_FUNCTIONS:
            if hasattr(os, name):
                mp.setattr(os, name, self.refuse(f"os.{name}"))
        mp.setattr(pty, "fork", self.refuse("pty.fork"))
        mp.setattr(pty, "spawn", self.refuse("pty.spawn"))
        module = importlib.import_module(OCIMUX_PROCESS_MODULE)
        for name in ("run", "spawn"):
            mp.setattr(module, name, self.refuse(f"{OCIMUX_PROCESS_MODULE}.{name}"))


def fail_on_attempts(guard: ProcessGuard) -> None:
    """Fail (and forget them) if there were attempts, even ones the code under test caught.

    An attempt in a module-scoped fixture's setup fails the module's first test.
    """
    tried = list(guard.attempts)
    guard.attempts.clear()
    if tried:
        pytest.fail("\n".join(tried), pytrace=False)


GUARD = ProcessGuard()
