"""`ocimux rename`, `ocimux top` and `ocimux container prune`: podman's housekeeping verbs.

The same operations the Docker API's `rename`, `top` and `containers/prune` answer with:
`Dispatcher.rename`, `ocimux.engine.top`, `Dispatcher.delete` of every container that is not
running.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ocimux.base.errors import OcimuxError, StateError
from ocimux.engine.states import ALLOWED
from ocimux.engine.top import top

from ._output import print_table
from ._report import report_error

if TYPE_CHECKING:
    from ocimux.engine.dispatcher import Dispatcher

__all__ = ["cmd_container", "cmd_rename", "cmd_top"]

_PRUNE_WARNING = (
    "WARNING! This will remove all non running containers.\n"
    "Are you sure you want to continue? [y/N] "
)


def cmd_rename(d: Dispatcher, args: argparse.Namespace) -> int:
    d.rename(args.container, args.name)
    return 0


def cmd_top(d: Dispatcher, args: argparse.Namespace) -> int:
    rec = d.inspect(args.container)
    if rec.status not in ("running", "paused"):
        raise StateError(
            f"container is {rec.status}", container=rec.name, runtime=rec.runtime, verb="cannot top"
        )
    titles, rows = top(rec.pid, " ".join(args.ps_args), container=rec.name)
    print_table(titles, rows)
    return 0


def _confirmed() -> bool:
    """podman's question, answered on stdin (no answer, as from /dev/null, is no)."""
    sys.stderr.write(_PRUNE_WARNING)
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def cmd_container(d: Dispatcher, args: argparse.Namespace) -> int:
    """`container prune [-f]`: remove every container that is not running; print their ids."""
    if not args.force and not _confirmed():
        return 0
    status = 0
    for rec in d.list():
        if rec.status not in ALLOWED["delete"]:
            continue
        try:
            d.delete(rec.id)
        except OcimuxError as exc:
            report_error(exc)
            status = exc.exit_code
            continue
        print(rec.id)
    return status
