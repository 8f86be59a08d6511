"""Drive a command in a real pseudo-terminal: type into it, read its screen, resize it."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import termios
import time
from collections.abc import Mapping, Sequence


class Pty:
    """A child process on a pseudo-terminal we hold the master of."""

    def __init__(
        self, argv: Sequence[str], env: Mapping[str, str], rows: int = 24, cols: int = 80
    ) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # child: the pty is its controlling terminal
            try:
                os.execvpe(argv[0], list(argv), dict(env))
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.output = b""
        self.resize(rows, cols)
        self.status: int | None = None

    def resize(self, rows: int, cols: int) -> None:
        """Set the terminal's size; the kernel sends SIGWINCH to the foreground process group."""
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def is_raw(self) -> bool:
        """Whether the terminal is in raw mode (no line editing, no echo)."""
        lflag = termios.tcgetattr(self.fd)[3]
        return not lflag & (termios.ICANON | termios.ECHO)

    def wait_raw(self, raw: bool = True, timeout: float = 10.0) -> None:
        """Wait until the program has put the terminal in (or out of) raw mode."""
        deadline = time.monotonic() + timeout
        while self.is_raw() != raw:
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"terminal raw={not raw} after {timeout}s; screen:\n{self.output.decode(errors='replace')}"
                )
            ready, _, _ = select.select([self.fd], [], [], 0.01)
            if ready:
                try:
                    self.output += os.read(self.fd, 65536)
                except OSError:
                    pass

    def send(self, data: str | bytes) -> None:
        os.write(self.fd, data.encode() if isinstance(data, str) else data)

    def read_until(self, pattern: str, timeout: float = 10.0) -> re.Match[bytes]:
        """Read until `pattern` (a regex) appears in all output so far; fail with the screen."""
        regex = re.compile(pattern.encode())
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.output)
            if match:
                return match
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"{pattern!r} not seen in {timeout}s; screen:\n{self.output.decode(errors='replace')}"
                )
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.1))
            if ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:  # EIO: the child closed the terminal
                    chunk = b""
                if not chunk:
                    if regex.search(self.output):
                        continue
                    raise AssertionError(
                        f"terminal closed before {pattern!r}; screen:\n{self.output.decode(errors='replace')}"
                    )
                self.output += chunk

    def wait(self, timeout: float = 10.0) -> int:
        """Wait for the child to exit (reading its output meanwhile); return its exit code."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
                self._drain()
                return self.status
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if ready:
                try:
                    self.output += os.read(self.fd, 65536)
                except OSError:
                    pass
        raise AssertionError(
            f"still running after {timeout}s; screen:\n{self.output.decode(errors='replace')}"
        )

    def _drain(self) -> None:
        try:
            while select.select([self.fd], [], [], 0)[0]:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    break
                self.output += chunk
        except OSError:
            pass

    def close(self) -> None:
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
            except ProcessLookupError:
                pass
        os.close(self.fd)
