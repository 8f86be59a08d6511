"""Attached exec for the mock: a host process with its stdio relayed (`ocimux._attached`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ocimux._attached import run_attached as _run_attached
from ocimux.errors import CommandNotFoundError, CommandNotInvocableError

from ._bundle import classify_exec_error

if TYPE_CHECKING:
    from ocimux.options import StdStreams

__all__ = ["run_attached"]


def run_attached(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    streams: StdStreams,
    stdin: bool,
    container: str,
    runtime: str,
) -> int:
    """Run `argv` with exactly `env`, relayed to `streams`; return its exit code.

    A command that cannot be executed raises CommandNotFoundError (127) or
    CommandNotInvocableError (126), naming `container` and `runtime`, as a shell classifies it.
    """
    try:
        return _run_attached(
            argv, env=env, cwd=cwd, streams=streams, stdin=stdin, inherit_env=False
        )
    except OSError as exc:
        code, message = classify_exec_error(argv[0], exc)
        error = CommandNotFoundError if code == 127 else CommandNotInvocableError
        raise error(message, container=container, runtime=runtime, verb="exec") from None
