"""Room for the writes that free room: a reserve file beside the state database.

When a container's log or anything else fills the state disk, SQLite cannot even start a
transaction: every connection re-creates the `-shm` index (32 KiB), and every write appends to
the `-wal` file. Then `ps`, `stop`, `kill` and `rm -f`, the commands that would free the disk,
would all fail. So the state directory keeps `.reserve`, a file of RESERVE_BYTES made when the
store opens and the disk has room for it (one `lstat` when it is there). A write transaction
that finds the disk all but full (less than LOW_WATER free: one `statvfs`) deletes it first,
and a transaction that fails for want of space deletes it and tries once more. It is made
again by a later open once the disk has room (after `rm -f` removed a container and its log).

A container flooding the disk with no log cap eats the reserve within milliseconds of its
release, so `rm -f` cannot count on it: on `StateDiskFullError` it kills the container and
empties the container's own logs (`free_container_logs`) before trying again.
"""

from __future__ import annotations

import errno
import os
import stat
from contextlib import suppress
from pathlib import Path
from typing import Final

from ocimux.base.errors import StoreError

__all__ = [
    "LOW_WATER",
    "RESERVE_BYTES",
    "RESERVE_NAME",
    "DiskReserve",
    "StateDiskFullError",
    "free_container_logs",
    "state_disk_full",
]

RESERVE_NAME: Final = ".reserve"
#: enough for a few hundred small transactions and each process's 32 KiB `-shm`
RESERVE_BYTES: Final = 1 << 20
#: a write finding less free space than this releases the reserve first
LOW_WATER: Final = 256 << 10


class StateDiskFullError(StoreError):
    """A write to the state database found no room on the state disk."""


def state_disk_full(directory: Path) -> StoreError:
    """The one-line error for a write that cannot be done: the state disk has no space left."""
    return StateDiskFullError(
        f"the state disk is full ({directory})",
        hint="free space on it: `ocimux rm -f` removes a container with its log; cap logs "
        "with --log-opt max-size or [containers] log_size_max",
    )


def is_no_space(exc: OSError) -> bool:
    """Whether `exc` says the disk (or the user's quota) has no room left."""
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


class DiskReserve:
    """The reserve file of one state directory."""

    __slots__ = ("directory", "path")

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / RESERVE_NAME

    def free_bytes(self) -> int | None:
        """Bytes an unprivileged write may still use on the disk, or None if unknown."""
        try:
            st = os.statvfs(self.directory)
        except OSError:
            return None
        return st.f_bavail * st.f_frsize

    def nearly_full(self) -> bool:
        free = self.free_bytes()
        return free is not None and free < LOW_WATER

    def keep(self) -> None:
        """Make the reserve if it is missing and the disk has room for it and twice LOW_WATER.

        Never fails: a reserve that cannot be made now is made by a later open.
        """
        if os.path.lexists(self.path):
            return
        free = self.free_bytes()
        if free is None or free < RESERVE_BYTES + 2 * LOW_WATER:
            return
        tmp = self.directory / f"{RESERVE_NAME}.{os.getpid()}-{os.urandom(4).hex()}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                os.posix_fallocate(fd, 0, RESERVE_BYTES)  # blocks really taken, not a hole
            finally:
                os.close(fd)
            os.rename(tmp, self.path)  # whole or absent, whoever looks
        except OSError:
            with suppress(OSError):
                os.unlink(tmp)

    def release(self) -> bool:
        """Delete the reserve; return whether there was one (space was freed)."""
        try:
            os.unlink(self.path)
        except OSError:
            return False
        return True


def free_container_logs(directory: Path) -> int:
    """Empty the logs in a container's directory (its own and its exec sessions'); return the
    bytes freed.

    For `rm -f` on a full disk only: the container is being removed with its logs anyway,
    and emptying them needs no space. Truncated in place (a monitor still holding one open
    frees its blocks too); symlinks are not followed.
    """
    freed = 0
    for path in [*directory.glob("ctr.log*"), *directory.glob("exec/*/exec.log*")]:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if stat.S_ISREG(st.st_mode):
                os.ftruncate(fd, 0)
                freed += st.st_size
        except OSError:
            pass
        finally:
            os.close(fd)
    return freed
