"""Rendering for the CLI: plain aligned columns (like runc's tabwriter) and JSON."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["ago", "escape_cell", "print_json", "print_table", "short_id"]

#: the readable escapes; any other control character becomes \xNN or \uNNNN
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: characters a terminal acts on (C0, DEL, C1), line/paragraph separators, and the bidi
#: controls that reorder what follows them on screen ("Trojan Source", CVE-2021-42574)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def short_id(cid: str) -> str:
    return cid[:12]


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=False) + "\n")


def escape_cell(text: str) -> str:
    """`text` with every character a terminal would act on spelled out (`\\n`, `\\x1b`, `\\u202e`).

    A table cell holds user-controlled strings (commands, image names): a raw newline would
    print a fake row, an escape sequence could clear the screen or recolour the rest.
    """
    if not _UNSAFE.search(text):
        return text
    return _UNSAFE.sub(_escape_one, text)


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named:
        return named
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Columns separated by three spaces, left-aligned; the last column is not padded.

    Cells are escaped (`escape_cell`): one row per line, whatever the strings hold.
    """
    rows = [[escape_cell(cell) for cell in row] for row in rows]
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
