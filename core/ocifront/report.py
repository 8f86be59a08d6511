"""Errors as runc reports them: a logrus record on `--log` (JSON or text), a line on stderr.

runc with `--log FILE` writes the record to FILE and the bare message on stderr; without
`--log` the record goes to stderr in the `--log-format` asked for. Exit status 1.
"""

from __future__ import annotations

import sys
import time

__all__ = ["FrontError", "report"]


class FrontError(Exception):
    """A failure of the front itself (not the backend's): reported runtime-style, exit 1."""

    def __init__(self, msg: str, status: int = 1) -> None:
        super().__init__(msg)
        self.msg = msg
        self.status = status


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _record(msg: str, log_format: str) -> str:
    import json  # lazy: errors only (json imports re)

    if log_format == "json":
        return json.dumps({"level": "error", "msg": msg, "time": _now()}, separators=(",", ":"))
    return f"time={json.dumps(_now())} level=error msg={json.dumps(msg)}"


def report(msg: str, log: str | None, log_format: str | None) -> None:
    """Write the error the way runc does; never raise (the exit status still says it)."""
    fmt = log_format or "text"
    msg = " ".join(msg.split())
    if log:
        try:
            with open(log, "a", encoding="utf-8") as out:
                out.write(_record(msg, fmt) + "\n")
        except OSError:
            pass
        sys.stderr.write(msg + "\n")
    else:
        sys.stderr.write(_record(msg, fmt) + "\n")
    sys.stderr.flush()
