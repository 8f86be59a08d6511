"""Find the line of a key in TOML text, for error messages.

tomli reports positions only for syntax errors, so after validation names a key path such as
`("engine", "runtimes", "crun", 0)` this module scans the text: it follows table headers
(`[a.b]`, `[[a.b]]`), records the line of every `key = value` (dotted and quoted keys too) under
the current table, and skips the insides of multi-line strings, arrays and inline tables. The
answer is the first line whose full key path is the longest prefix of the one asked for. It is a
best effort on text that has already parsed: a key it cannot place gives None, never an error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

__all__ = ["find_line", "format_loc", "key_at", "key_lines", "line_in", "too_deep_line"]

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def find_line(text: str, loc: Sequence[str | int]) -> int | None:
    """Return the 1-based line that defines the longest prefix of `loc` found in `text`.

    Integer parts of `loc` (array indices) are ignored. Returns None if not even the first
    key of `loc` is found.
    """
    return line_in(key_lines(text), loc)


def line_in(lines: Mapping[tuple[str, ...], int], loc: Sequence[str | int]) -> int | None:
    """`find_line` over an index `key_lines` built once: many errors of one file scan it once."""
    path = tuple(part for part in loc if isinstance(part, str))
    for end in range(len(path), 0, -1):
        line = lines.get(path[:end])
        if line is not None:
            return line
    return None


def format_loc(loc: Sequence[str | int]) -> str:
    """Render a key path: `engine.runtimes.crun[0]`; keys that are not bare are quoted."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        key = part if _BARE.fullmatch(part) else json.dumps(part)
        out = f"{out}.{key}" if out else key
    return out


def key_at(text: str, number: int) -> tuple[str, ...] | None:
    """The key path that line `number` (1-based) defines or is inside, for a syntax error's message.

    The table header in force plus the line's own key: a value that spans lines is credited to
    the key that opened it. None when the line is before any key (or cannot be parsed).
    """
    table: tuple[str, ...] = ()
    current: tuple[str, ...] | None = None
    state = _ValueState()
    for index, line in enumerate(text.splitlines(), start=1):
        if state.busy:
            state.scan(line, 0)
        else:
            stripped = line.strip()
            if stripped.startswith("["):
                header = _header(stripped)
                if header is not None:
                    table = current = header
            elif stripped and not stripped.startswith("#"):
                parts, rest = _key(line)
                if parts is not None:
                    current = (*table, *parts)
                    state.scan(line, rest)
                elif index == number:
                    current = table or None
        if index == number:
            return current
    return None


def too_deep_line(text: str, limit: int) -> int | None:
    """The first line where arrays and inline tables nest deeper than `limit`, or whose key or
    header has more than `limit` dotted parts: where a parser that gave up on nesting stopped."""
    state = _ValueState()
    for number, line in enumerate(text.splitlines(), start=1):
        state.scan(line, 0)
        if state.deepest > limit or line.count(".") > limit:
            return number
    return None


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Map each table header's and key's path, and their prefixes, to the first line naming it."""
    found: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    state = _ValueState()
    for number, line in enumerate(text.splitlines(), start=1):
        if state.busy:
            state.scan(line, 0)
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("["):
            header = _header(stripped)
            if header is not None:
                table = header
                _record(found, table, number)
            continue
        parts, rest = _key(line)
        if parts is None:
            continue
        _record(found, (*table, *parts), number)
        state.scan(line, rest)
    return found


def _record(found: dict[tuple[str, ...], int], path: tuple[str, ...], number: int) -> None:
    """Record `path` and its prefixes (tables a header or dotted key defines implicitly)."""
    for end in range(len(path), 0, -1):
        if found.setdefault(path[:end], number) != number:
            break


def _header(stripped: str) -> tuple[str, ...] | None:
    double = stripped.startswith("[[")
    inner = stripped[2:] if double else stripped[1:]
    parts, end = _key_parts(inner, 0)
    if parts is None:
        return None
    close = "]]" if double else "]"
    rest = inner[end:].lstrip()
    if not rest.startswith(close):
        return None
    tail = rest[len(close) :].strip()
    if tail and not tail.startswith("#"):
        return None
    return tuple(parts)


def _key(line: str) -> tuple[tuple[str, ...] | None, int]:
    """Parse `key = ` at the start of `line`; return the key parts and where the value starts."""
    parts, end = _key_parts(line, 0)
    if parts is None:
        return None, 0
    while end < len(line) and line[end] in " \t":
        end += 1
    if end >= len(line) or line[end] != "=":
        return None, 0
    return tuple(parts), end + 1


def _key_parts(text: str, pos: int) -> tuple[list[str] | None, int]:
    """Parse a dotted key from `text[pos:]`; return its parts and the index after it."""
    parts: list[str] = []
    while True:
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        if pos >= len(text):
            return None, pos
        char = text[pos]
        if char == '"':
            end = _basic_string_end(text, pos)
            if end is None:
                return None, pos
            parts.append(_decode_basic(text[pos:end]))
            pos = end
        elif char == "'":
            end = text.find("'", pos + 1)
            if end < 0:
                return None, pos
            parts.append(text[pos + 1 : end])
            pos = end + 1
        else:
            match = _BARE.match(text, pos)
            if match is None:
                return None, pos
            parts.append(match.group())
            pos = match.end()
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        if pos < len(text) and text[pos] == ".":
            pos += 1
            continue
        return parts, pos


def _basic_string_end(text: str, pos: int) -> int | None:
    """Return the index after the basic string starting at `text[pos] == '"'`."""
    index = pos + 1
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == '"':
            return index + 1
        index += 1
    return None


def _decode_basic(quoted: str) -> str:
    try:
        value = json.loads(quoted)
    except ValueError:
        return quoted[1:-1]
    return value if isinstance(value, str) else quoted[1:-1]


class _ValueState:
    """Track open brackets and multi-line strings across the lines of one value."""

    __slots__ = ("deepest", "depth", "string")

    def __init__(self) -> None:
        self.depth = 0
        self.deepest = 0
        self.string: str | None = None  # the open multi-line delimiter, if any

    @property
    def busy(self) -> bool:
        return self.depth > 0 or self.string is not None

    def scan(self, line: str, pos: int) -> None:
        index = pos
        while index < len(line):
            if self.string is not None:
                end = self._close_multiline(line, index)
                if end is None:
                    return
                index = end
                self.string = None
                continue
            char = line[index]
            if line.startswith(('"""', "'''"), index):
                self.string = line[index : index + 3]
                index += 3
            elif char == '"':
                index = _basic_string_end(line, index) or len(line)
            elif char == "'":
                end = line.find("'", index + 1)
                index = len(line) if end < 0 else end + 1
            elif char == "#":
                return
            else:
                if char in "[{":
                    self.depth += 1
                    self.deepest = max(self.deepest, self.depth)
                elif char in "]}":
                    self.depth = max(0, self.depth - 1)
                index += 1

    def _close_multiline(self, line: str, index: int) -> int | None:
        delimiter = self.string
        assert delimiter is not None
        while index < len(line):
            if delimiter == '"""' and line[index] == "\\":
                index += 2
                continue
            if line.startswith(delimiter, index):
                end = index + 3
                # A closing delimiter may be followed by up to two more quotes of its kind.
                while end < len(line) and line[end] == delimiter[0] and end - index < 5:
                    end += 1
                return end
            index += 1
        return None
