"""The k8s-file log as a monitor writes it, capped the way conmon 2.1 caps it.

conmon's `--log-size-max N` (`src/ctr_logging.c`, write_k8s_log/reopen_k8s_file): before a
line that would take the bytes written past N, it opens `<log>.tmp` empty, renames it over
the log and goes on there. So the file never holds more than N bytes (unless one line is
longer than N) and keeps only the lines written since the last turn-over; nothing earlier is
kept. The monitors that are not conmon (the shim v2 I/O monitor, the mock's shim) write through
`LogWriter`, so every runtime's log behaves alike and `ocimux logs` reads one file everywhere
(a follower goes on in the new file: `logs.follow_log`).

Writing never raises: a full disk must not stop the relay to attached clients.
"""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path

from .logs import format_log

__all__ = ["LogWriter"]


class LogWriter:
    """Append output records to the log at `path` (relative paths: to the cwd), capped at `size_max`.

    `size_max` <= 0 means no cap. Counting starts at the file's size when it is opened, so a log
    that already exists (a restarted container) is capped as a whole.
    """

    __slots__ = ("fd", "path", "size_max", "written")

    def __init__(self, path: str | Path, size_max: int = -1, *, fd: int | None = None) -> None:
        """Open (create, append to) the log; or take over `fd`, already open on `path`."""
        self.path = Path(path)
        self.size_max = size_max
        if fd is None:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.fd = fd
        self.written = os.fstat(self.fd).st_size

    def write(self, stream: int, data: bytes) -> None:
        """Log one read of the process's output: `TIMESTAMP STREAM F|P LINE` records."""
        records = format_log(stream, data)
        if self.size_max <= 0 or self.written + len(records) <= self.size_max:
            self._append(records)
            return
        batch: list[bytes] = []
        size = 0
        for line in records.splitlines(keepends=True):
            if self.written + size + len(line) > self.size_max and (batch or self.written):
                self._append(b"".join(batch))
                batch, size = [], 0
                self._turn_over()
            batch.append(line)
            size += len(line)
        self._append(b"".join(batch))

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def _append(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.fd, view) :]
        except OSError:
            pass  # ENOSPC: the rest of this chunk is lost, as conmon loses it
        self.written += len(data) - len(view)

    def _turn_over(self) -> None:
        """Put an empty log in place (`<log>.tmp` renamed over it), as conmon does."""
        tmp = self.path.with_name(f"{self.path.name}.tmp")
        try:
            flags = os.O_WRONLY | os.O_APPEND | os.O_TRUNC | os.O_CREAT | os.O_CLOEXEC
            fd = os.open(tmp, flags, 0o600)
        except OSError:
            with suppress(OSError):  # cannot make a new file: empty this one in place
                os.ftruncate(self.fd, 0)
                self.written = 0
            return
        try:
            os.rename(tmp, self.path)
        except OSError:
            os.close(fd)
            with suppress(OSError):
                os.unlink(tmp)
                os.ftruncate(self.fd, 0)
                self.written = 0
            return
        os.close(self.fd)
        self.fd = fd
        self.written = 0
