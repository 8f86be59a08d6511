"""The request log of `ocimux serve`: one line per request or connection event, on stderr.

`GET /v1.43/containers/json 200 3.1ms`; a client that left early adds `client gone
(BrokenPipeError)`. Each line is one `write(2)`, so lines from concurrent requests never
interleave; a closed stderr is ignored (logging must not break serving).
"""

from __future__ import annotations

import os
import time

__all__ = ["log_line", "request_line"]


def log_line(text: str) -> None:
    """Write `TIME ocimux serve: TEXT` to stderr as one line (control characters escaped)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime())
    safe = text.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")
    safe = "".join(c if c.isprintable() else repr(c)[1:-1] for c in safe)
    try:
        os.write(2, f"{stamp} ocimux serve: {safe}\n".encode())
    except OSError:
        pass


def request_line(
    method: str, path: str, status: int | None, seconds: float, gone: str | None = None
) -> str:
    """`METHOD PATH STATUS DURATION`, plus why the client's connection ended early."""
    text = f"{method} {path} {status if status is not None else '-'} {seconds * 1000:.1f}ms"
    return f"{text} client gone ({gone})" if gone else text
