"""The local terminal during `run -t`, `attach` and `exec -t`: raw mode and window-size changes.

Raw mode is restored on every way out (normal exit, error, detach, Ctrl-C arrives as a byte
in raw mode and goes to the container). SIGWINCH is forwarded as a resize of the remote
terminal. Nothing happens when stdin is not a terminal (pipes, tests).
"""

from __future__ import annotations

import os
import signal
import sys
import termios
import tty
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

__all__ = ["local_size", "raw_terminal"]


def local_size() -> tuple[int, int] | None:
    """(rows, columns) of our terminal, or None when neither stdin nor stdout is one."""
    for stream in (sys.stdin, sys.stdout):
        try:
            size = os.get_terminal_size(stream.fileno())
            return size.lines, size.columns
        except (OSError, ValueError, AttributeError):
            continue
    return None


@contextmanager
def raw_terminal(on_resize: Callable[[int, int], None] | None = None) -> Iterator[bool]:
    """Put stdin in raw mode (if it is a terminal) and forward SIGWINCH to `on_resize`.

    Yields whether raw mode is on. The old mode and the old SIGWINCH handler come back on exit.
    """
    fd = sys.stdin.fileno() if sys.stdin is not None else -1
    is_tty = fd >= 0 and os.isatty(fd)
    saved = termios.tcgetattr(fd) if is_tty else None
    previous = None
    if on_resize is not None:

        def handler(_signum: int, _frame: object) -> None:
            size = local_size()
            if size:
                with suppress(Exception):  # a resize racing the container's exit is harmless
                    on_resize(*size)

        previous = signal.signal(signal.SIGWINCH, handler)
    try:
        if is_tty:
            tty.setraw(fd)
        yield is_tty
    finally:
        if saved is not None:
            with suppress(termios.error):  # a terminal that hung up has no mode to restore
                termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        if previous is not None:
            signal.signal(signal.SIGWINCH, previous)
