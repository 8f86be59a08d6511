"""`ocimux container cleanup [--detach] DIR`: what a container's monitor runs when it exits.

The exit command `_cleanup.exit_command` writes into every auto-removed container's monitor
(hidden from `--help`). See `_cleanup.py` for the whole protocol: the origin file, the removal
claim and the decision; this module is the process that carries it out.
"""

from __future__ import annotations

import os
import sys
import syslog
from collections.abc import Sequence
from pathlib import Path

from ocimux.base.errors import OcimuxError
from ocimux.engine._cleanup import claimed, read_origin
from ocimux.engine.session import open_dispatcher

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """`ocimux container cleanup [--detach] DIR`: wait for the claim, reconcile, remove if asked.

    `--detach` (what monitors run) returns at once and goes on in a new session.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    detach = bool(args) and args[0] == "--detach"
    if detach:
        args = args[1:]
    if len(args) != 1 or args[0].startswith("-"):
        sys.stderr.write("Error: usage: ocimux container cleanup [--detach] DIR\n")
        return 125
    directory = Path(args[0])
    if detach:
        if os.fork() != 0:
            os._exit(0)  # the monitor (conmon waits for its exit command) goes on at once
        os.setsid()
    origin = read_origin(directory)
    if origin is None:
        return 0  # removed already, or not ours to act on
    claimed(directory, wait=True)
    if not directory.exists():
        return 0  # the claim's holder removed it
    environ = {str(k): str(v) for k, v in dict(origin.get("environ") or {}).items()}
    os.environ.clear()  # the creator's configuration, nothing inherited from the monitor
    os.environ.update(environ)
    try:
        d = open_dispatcher(origin.get("config_file"), environ)
        try:
            d.cleanup(origin["id"])
        finally:
            d.store.close()
    except OcimuxError as exc:
        _log(f"cleanup of container {origin['id'][:12]} failed: {exc}")
        return 125
    return 0


def _log(message: str) -> None:
    sys.stderr.write(f"ocimux: {message}\n")
    try:
        syslog.openlog("ocimux", syslog.LOG_PID, syslog.LOG_USER)
        syslog.syslog(syslog.LOG_ERR, message)
    except OSError:
        pass
