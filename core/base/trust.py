"""Trusting state on disk: only our own directories, and deleting only inside them.

ocimux deletes directories, kills processes and mounts layers because its state says so. State
that someone else can write is therefore an order someone else can give: a user who pre-creates
a world-writable `state_dir` under /tmp could plant a record whose `bundle` is any directory,
and root's next `ocimux ps` would delete it. So:

- `check_owned` refuses a state or run directory, or the database file, that does not belong to
  the caller (euid) or that group or others may write. Directories ocimux makes itself are
  0700 (`files.private_dir`), so this costs one `stat` each on every call and never fires for
  them.
- `inside_containers_dir` says whether a path the database names may be deleted: only a
  directory inside ocimux's own `<state_dir>/containers/` (resolved, so a symlink cannot lead
  out of it) and owned by the caller.
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path
from typing import Final

from .errors import StoreError

__all__ = ["check_owned", "inside_containers_dir"]

#: group- or other-writable
_SHARED_WRITE: Final = stat.S_IWGRP | stat.S_IWOTH


def check_owned(path: Path, what: str, setting: str) -> None:
    """Raise StoreError unless `path` (if it exists) is the caller's and only the caller's to write.

    `what` names it in the message ("state directory", "state database"); `setting` is the
    configuration key that chooses it ("[ocimux] state_dir"). A path that does not exist yet
    passes: ocimux creates it private. A symlink is judged by what it points to.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    except OSError:
        return  # not reachable: opening it fails with its own message
    euid = os.geteuid()
    mode = stat.S_IMODE(st.st_mode)
    chmod = "chmod 700" if stat.S_ISDIR(st.st_mode) else "chmod 600"
    if st.st_uid != euid:
        raise StoreError(
            f"{what} {path} belongs to {_user(st.st_uid)}, not to you ({_user(euid)}):"
            " ocimux trusts only state of its own",
            hint=f"set {setting} to a directory of your own",
        )
    if mode & _SHARED_WRITE:
        who = "other users" if mode & stat.S_IWOTH else "its group"
        raise StoreError(
            f"{what} {path} is writable by {who} (mode {mode:04o})",
            hint=f"{chmod} it, or set {setting} to a directory of your own",
        )


def inside_containers_dir(path: Path | str, containers_dir: Path) -> bool:
    """Whether ocimux may delete `path`: a directory strictly inside `containers_dir`, the caller's.

    Both are resolved first (a symlink in either cannot lead elsewhere); the path itself must
    not be a symlink. A path that does not exist is not deletable (there is nothing to do).
    """
    try:
        base = os.path.realpath(containers_dir)
        real = os.path.realpath(path)
        st = os.lstat(path)
    except OSError:
        return False
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        return False
    return os.path.dirname(real) == base and st.st_uid == os.geteuid()


def _user(uid: int) -> str:
    try:
        return f"user {pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"
