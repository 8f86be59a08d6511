"""Containers annotated `example.com/untrusted=true` run on a sandboxed runtime, whatever was asked.

The sandbox is `runsc` unless `EXAMPLE_SANDBOX_RUNTIME` names another (e.g. `kata`). Every
other container keeps the runtime the user or the default chose. The spec of a sandboxed
container is marked with an annotation saying who moved it there.
"""

from __future__ import annotations

import os
from typing import Any

import ocimux

UNTRUSTED = "example.com/untrusted"
MARK = "example.com/sandboxed-by"


def sandbox_runtime() -> str:
    return os.environ.get("EXAMPLE_SANDBOX_RUNTIME", "runsc")


@ocimux.hookimpl
def ocimux_choose_runtime(
    name: str, annotations: dict[str, str], requested: str | None, default: str
) -> str | None:
    if annotations.get(UNTRUSTED) == "true":
        return sandbox_runtime()
    return None


@ocimux.hookimpl
def ocimux_adjust_spec(spec: dict[str, Any], runtime: str, name: str) -> None:
    if runtime == sandbox_runtime():
        spec.setdefault("annotations", {})[MARK] = "ocimux-hooks-example"
