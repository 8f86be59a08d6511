"""Unix stream sockets that a server left behind: is anyone still listening there?

Public: a runtime plugin whose monitor or shim serves a socket uses these before binding.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat

__all__ = ["listening", "remove_if_stale"]


def listening(path: str | os.PathLike[str]) -> bool:
    """Whether a connection to the unix stream socket at `path` is accepted now."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        probe.connect(os.fspath(path))
        return True
    except OSError:
        return False
    finally:
        probe.close()


def remove_if_stale(path: str | os.PathLike[str]) -> None:
    """Unlink the socket file at `path` unless a server still listens on it.

    A missing path is fine; anything there that is not a socket (a file, a directory) is left
    alone, so a later bind fails with a clear "address in use" instead of losing data.
    """
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return
    if stat.S_ISSOCK(mode) and not listening(path):
        with contextlib.suppress(OSError):
            os.unlink(path)
