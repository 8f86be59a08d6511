"""Per-container locks shared by every ocimux process: `flock` on `<lock_dir>/<cid>.lock`.

A lock is an exclusive `flock(2)` on one small file per container. The kernel drops it when its
holder exits, however it exits, so a crashed ocimux never leaves a stale lock behind. Waiting
polls with `LOCK_NB` and a short, growing sleep until the caller's timeout.

Within one process the lock is re-entrant per thread: a thread that holds a container's lock
may take it again (a nested `with`), and it is released when the outermost hold ends. Another
thread of the same process waits like another process would (each thread opens its own file).

A lock file may be unlinked by its holder when the container is removed (`remove_lock_file`).
A waiter that opened the old file before the unlink wins a lock on a dead inode; so after every
successful `flock` the path is checked to still name the same inode (fstat against stat), and if
it does not, the file is reopened and the wait goes on.

Lock files are opened close-on-exec, so a runtime or conmon started under the lock never inherits
it; after a `fork` without `exec`, the child forgets the locks its parent held.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Final, final

from ocimux.base.errors import InvalidArgumentError, StoreError
from ocimux.base.files import private_dir

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["ContainerLocks"]

#: first and longest sleep between two tries of a busy lock, in seconds
_POLL_FIRST: Final = 0.002
_POLL_MAX: Final = 0.05


class _Held:
    """One lock this process holds: its open file and how many nested holds are active."""

    __slots__ = ("count", "fd")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.count = 1


#: every lock held in this process, by (thread ident, lock file path)
_held: dict[tuple[int, str], _Held] = {}


def _forget_inherited() -> None:
    """In a forked child, close the parent's lock files without unlocking: the parent holds them."""
    for held in _held.values():
        try:
            os.close(held.fd)
        except OSError:
            pass
    _held.clear()


os.register_at_fork(after_in_child=_forget_inherited)


@final
class ContainerLocks:
    """The lock files of one state directory, one per container id."""

    __slots__ = ("lock_dir",)

    def __init__(self, lock_dir: Path) -> None:
        #: directory of the `<cid>.lock` files (made absolute: it keys re-entrancy); created 0700
        #: on first use
        self.lock_dir: Final = lock_dir.absolute()

    def path(self, cid: str) -> Path:
        """Return the lock file of container `cid`.

        Raises InvalidArgumentError if `cid` could not be a file name in `lock_dir`."""
        if not cid or cid.startswith(".") or "/" in cid or "\0" in cid:
            raise InvalidArgumentError(f"invalid container id {cid!r}: cannot name a lock file")
        return self.lock_dir / f"{cid}.lock"

    @contextmanager
    def hold(self, cid: str, timeout: float) -> Iterator[None]:
        """Hold container `cid`'s lock for the `with` block, waiting up to `timeout` seconds for it.

        Re-entrant in the calling thread. Raises StoreError if another process (or thread) still
        holds the lock after `timeout` (0 or less: try once), or if the lock file cannot be
        opened; InvalidArgumentError if `cid` cannot name a file."""
        key = (threading.get_ident(), str(self.path(cid)))
        held = _held.get(key)
        if held is not None:
            held.count += 1
            try:
                yield
            finally:
                held.count -= 1
            return
        held = _Held(self._acquire(cid, timeout))
        _held[key] = held
        try:
            yield
        finally:
            # Absent or replaced only in a forked child, which has closed the fd already.
            if _held.get(key) is held:
                del _held[key]
                fcntl.flock(held.fd, fcntl.LOCK_UN)
                os.close(held.fd)

    def holds(self, cid: str) -> bool:
        """Return whether the calling thread holds container `cid`'s lock."""
        return (threading.get_ident(), str(self.path(cid))) in _held

    def remove_lock_file(self, cid: str) -> None:
        """Unlink container `cid`'s lock file; the caller must hold the lock (RuntimeError if not).

        Call it only when the container is gone: the lock stays held until the `with` ends, but a
        process that starts waiting now locks a fresh file at once."""
        if not self.holds(cid):
            raise RuntimeError(f"remove_lock_file({cid[:12]!r}) without holding the lock")
        self.path(cid).unlink(missing_ok=True)

    def _acquire(self, cid: str, timeout: float) -> int:
        """Return an fd of `cid`'s lock file, exclusively flocked and still linked at its path."""
        path = self.path(cid)
        deadline = time.monotonic() + max(timeout, 0.0)
        delay = _POLL_FIRST
        while True:
            fd = self._open(path)
            try:
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        pass
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise StoreError(
                            f"container {cid[:12]} is busy: another ocimux process holds its lock"
                            f" (waited {timeout:g}s)"
                        )
                    time.sleep(min(delay, remaining))
                    delay = min(delay * 2, _POLL_MAX)
                if _still_linked(fd, path):
                    return fd
            except BaseException:
                os.close(fd)
                raise
            # The holder removed the file while we waited: what we locked is dead; start over.
            os.close(fd)

    def _open(self, path: Path) -> int:
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
        try:
            try:
                return os.open(path, flags, 0o600)
            except FileNotFoundError:
                private_dir(self.lock_dir)
                return os.open(path, flags, 0o600)
        except OSError as exc:
            raise StoreError(
                f"cannot open lock file {path}: {exc.strerror}",
                hint="check the permissions of the state directory",
            ) from exc


def _still_linked(fd: int, path: Path) -> bool:
    """Return whether `path` still names the file open as `fd`."""
    opened = os.fstat(fd)
    try:
        current = os.stat(path)
    except FileNotFoundError:
        return False
    return (opened.st_dev, opened.st_ino) == (current.st_dev, current.st_ino)
