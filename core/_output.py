"""Rendering for the CLI: plain aligned columns (like runc's tabwriter) and JSON."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["ago", "print_json", "print_table", "short_id"]


def short_id(cid: str) -> str:
    return cid[:12]


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=False) + "\n")


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Columns separated by three spaces, left-aligned; the last column is not padded."""
    widths = [len(h) for h in header]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    for row in (header, *rows):
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        sys.stdout.write("   ".join([*cells, row[-1]]).rstrip() + "\n")


def ago(then: float | None, now: float | None = None) -> str:
    """'3 seconds ago', '5 minutes ago', ... (podman's humanized durations)."""
    if not then:
        return "-"
    delta = max(0, int((now or time.time()) - then))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if delta >= size:
            n = delta // size
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return f"{delta} second{'s' if delta != 1 else ''} ago"
