"""Files and directories the way ocimux makes them: private, and written whole.

- `private_dir`: every level ocimux creates is 0700, not just the last.
  `Path.mkdir(mode=0o700, parents=True)` gives the parents it creates the umask's mode
  (usually 0755), which would let anyone list container ids and runtime names.
- `write_atomic`: a file (0600) that readers see with its old or its new content, never half
  written: a temp file next to it, then a rename.

Public: a runtime plugin uses these for its own state and run-time files.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["private_dir", "write_atomic"]


def private_dir(path: Path) -> Path:
    """Create `path` and any missing parents with mode 0700; an existing level is left as is."""
    missing = []
    current = Path(os.path.abspath(path))
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:
            pass  # made meanwhile by a concurrent ocimux
    return path


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` (mode 0600) so that readers see the old or the new content, whole.

    The parent directory must exist. The temp file's name is unique to this call, so two
    writers never share it; the last rename wins. A symlink at the temp name is refused
    (O_EXCL | O_NOFOLLOW). Raises OSError; the temp file is removed on failure.
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.urandom(6).hex()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
