"""Private directories: every level ocimux creates is 0700, not just the last.

`Path.mkdir(mode=0o700, parents=True)` gives the parents it creates the umask's mode
(usually 0755), which would let anyone list container ids and runtime names.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["private_dir"]


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
