"""The `ocimux` command line.

`program` parses arguments and turns every error into one line and podman's exit code;
`_commands` maps each command to the module of its group (`containers`, `run`, `checkpoint`,
`images`, `system`, `serve`, `cleanup`) and imports only that one.
"""

from __future__ import annotations

from .program import build_parser, entry, main

__all__ = ["build_parser", "entry", "main"]
