"""Fault injection for the mock runtime: make chosen operations fail or hang, on purpose.

Configured per container by annotations in its `config.json`, read again before every
operation (so a test can change them between calls):

- `ocimux.mock/fail-on`: comma-separated operations that fail at once, before doing anything,
  with RuntimeCommandError(detail=`ocimux.mock/fail-message` or "injected failure",
  exit_status=`ocimux.mock/fail-status` or 1).
- `ocimux.mock/hang-on`: comma-separated operations that hang like a stuck runtime binary: a
  real process that sleeps is run through `process.run` with the runtime's `command_timeout`,
  so the same machinery raises RuntimeTimeoutError naming that command.

and for every container of a runtime by its plugin options (`[ocimux.plugins.NAME]`):
`fail_on`, `hang_on` (a comma-separated string or a list), `fail_message`, `fail_status`.
Annotations win over options for the message and status; the operation sets are united.

Operations: create, start, kill, stop, delete, pause, unpause, exec, update, state.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ocimux.base import process
from ocimux.base.errors import (
    ConfigError,
    InvalidArgumentError,
    RuntimeCommandError,
    RuntimeTimeoutError,
)

__all__ = ["FAIL_MESSAGE", "FAIL_ON", "FAIL_STATUS", "HANG_ON", "OPERATIONS", "Faults"]

FAIL_ON = "ocimux.mock/fail-on"
FAIL_MESSAGE = "ocimux.mock/fail-message"
FAIL_STATUS = "ocimux.mock/fail-status"
HANG_ON = "ocimux.mock/hang-on"

OPERATIONS: frozenset[str] = frozenset(
    ("create", "start", "kill", "stop", "delete", "pause", "unpause", "exec", "update", "state")
)

#: the command a hanging operation runs: it never finishes on its own
HANG_ARGV: tuple[str, ...] = (sys.executable, "-c", "import time; time.sleep(86400)")


def _ops(value: Any, where: str = FAIL_ON) -> frozenset[str]:
    """Operation names from "a,b" or ["a", "b"]; anything else is a configuration error."""
    if value is None:
        return frozenset()
    if isinstance(value, str):
        items: Iterable[Any] = value.split(",")
    elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        items = value
    else:
        raise ConfigError(
            f"{where} must be a comma-separated string or a list of operation names (got {value!r})",
            key=where,
        )
    return frozenset(s for s in (str(item).strip().lower() for item in items) if s)


@dataclass(frozen=True, slots=True)
class Faults:
    """The faults in force for one container at one moment."""

    fail_on: frozenset[str] = frozenset()
    hang_on: frozenset[str] = frozenset()
    message: str = "injected failure"
    status: str = "1"
    #: where `status` came from, for the error about a malformed one
    status_source: str = FAIL_STATUS

    @classmethod
    def load(cls, annotations: Mapping[str, str], options: Mapping[str, Any]) -> Faults:
        """Combine the container's annotations with the runtime-wide plugin options."""
        if FAIL_STATUS in annotations:
            status, source = annotations[FAIL_STATUS], FAIL_STATUS
        elif "fail_status" in options:
            status, source = str(options["fail_status"]), "fail_status"
        else:
            status, source = "1", FAIL_STATUS
        return cls(
            fail_on=_ops(annotations.get(FAIL_ON))
            | _ops(options.get("fail_on"), "[ocimux.plugins] fail_on"),
            hang_on=_ops(annotations.get(HANG_ON), HANG_ON)
            | _ops(options.get("hang_on"), "[ocimux.plugins] hang_on"),
            message=annotations.get(FAIL_MESSAGE)
            or str(options.get("fail_message") or "")
            or "injected failure",
            status=status,
            status_source=source,
        )

    def validate(self) -> None:
        """Raise InvalidArgumentError for an operation name the mock does not know (at create)."""
        unknown = sorted((self.fail_on | self.hang_on) - OPERATIONS)
        if unknown:
            raise InvalidArgumentError(
                f"unknown operation(s) {', '.join(unknown)} in {FAIL_ON} / {HANG_ON}",
                hint=f"use some of {', '.join(sorted(OPERATIONS))}",
            )

    def inject(self, op: str, *, runtime: str, container: str, timeout: float) -> None:
        """Fail or hang `op` if configured to; return quietly otherwise.

        Raises RuntimeCommandError (fail-on), RuntimeTimeoutError (hang-on, after `timeout`
        seconds, naming the hung command), or InvalidArgumentError for a malformed status.
        """
        if op in self.fail_on:
            try:
                status = int(self.status)
            except ValueError:
                raise InvalidArgumentError(
                    f"{self.status_source} must be an integer, not {self.status!r}",
                    container=container,
                    runtime=runtime,
                    verb=op,
                ) from None
            raise RuntimeCommandError(
                self.message, exit_status=status, runtime=runtime, container=container, verb=op
            )
        if op in self.hang_on:
            try:
                process.run(HANG_ARGV, timeout=timeout)
            except RuntimeTimeoutError as err:
                err.add_context(container=container, runtime=runtime, verb=op)
                raise
            raise RuntimeCommandError(  # unreachable unless the sleeper was killed from outside
                "injected hang ended early", runtime=runtime, container=container, verb=op
            )
