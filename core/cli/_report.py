"""The CLI's error lines on stderr, and `--debug`: the traceback before the line.

Kept apart from `cli.py` so command modules share one switch: under `python -m ocimux.cli`
the CLI module runs as `__main__`, and a module-level flag there would be a second copy.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from ocimux.base.errors import OcimuxError

__all__ = ["DEBUG_VARIABLE", "debug_requested", "internal_error", "report_error", "set_debug"]

#: the variable that turns `--debug` on for every call (any value but "", "0", "false", "no")
DEBUG_VARIABLE = "OCIMUX_DEBUG"

_debug = False


def debug_requested(flag: bool, environ: Mapping[str, str] = os.environ) -> bool:
    """`--debug`, or OCIMUX_DEBUG set to anything but "", "0", "false" or "no"."""
    value = environ.get(DEBUG_VARIABLE, "").strip().lower()
    return flag or value not in ("", "0", "false", "no")


def set_debug(on: bool) -> None:
    """Turn tracebacks with the error lines on or off for this process."""
    global _debug
    _debug = on


def report_error(exc: BaseException, line: str | None = None) -> None:
    """Write one error line (`line`, else `Error: {exc}`) on stderr; with debug, the traceback first.

    The traceback is the original exception's: a plugin's fault is the `__cause__` of the
    PluginFaultError that names it, and Python prints causes first.
    """
    if _debug:
        # lazy: ~1.5 ms, only with --debug
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    sys.stderr.write(f"{line if line is not None else f'Error: {exc}'}\n")


def internal_error(exc: BaseException) -> str:
    """The one line for an exception nothing expected (a bug in ocimux or a hook plugin)."""
    where = ""
    tb = exc.__traceback__
    while tb is not None:
        where = f" at {tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    error = OcimuxError(
        f"unexpected error: {what}{where}",
        hint="a bug: please report it with the traceback `ocimux --debug ...` prints",
    )
    return f"Error: {error}"
