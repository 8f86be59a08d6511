"""`ocimux system check` and `ocimux system repair [--dry-run]` (the work is in `repair.py`).

check: one line per finding, exit 0 when there is none, 1 otherwise.
repair: one line per finding with its outcome; exit 0 when everything was removed, 125 if
something stayed; `--dry-run` prints what it would do and changes nothing (exit as check).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .dispatcher import Dispatcher

__all__ = ["cmd_system"]

#: what `check` (and `repair --dry-run`) exits with when it found something
FOUND = 1


def cmd_system(d: Dispatcher, args: argparse.Namespace) -> int:
    from .repair import repair, scan

    findings = scan(d)
    if args.system_cmd == "check" or getattr(args, "dry_run", False):
        for f in findings:
            print(f.line() if args.system_cmd == "check" else f.line(f"would {f.action}"))
        if not findings:
            print(
                "nothing to repair: every container directory, monitor and runtime state has a record"
            )
        return FOUND if findings else 0
    failed = 0
    for f, outcome in repair(d, findings):
        failed += outcome != "done"
        print(f.line(outcome))
    if not findings:
        print(
            "nothing to repair: every container directory, monitor and runtime state has a record"
        )
    return 125 if failed else 0
