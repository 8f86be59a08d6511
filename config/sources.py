"""Where each value of the merged configuration came from: a file and line, a variable, a default.

For `ocimux config show --sources`. The loader calls `add_file` after merging each file, so an
array in append mode (`{append = true}`) lists every contributor, podman's built-in value first
when the first file appended to it. `finish` then credits each value of the final data to the
`OCIMUX_*` variable that set it, else to the files, else to ocimux's defaults.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .builtins import BUILTIN_ARRAYS
from .lines import key_lines, line_in
from .merge import Merger
from .search import ENV_PREFIX, NON_CONFIG_VARIABLES

__all__ = ["SourceMap", "leaves"]

Loc = tuple[str, ...]


def leaves(data: Mapping[str, Any], loc: Loc = ()) -> Iterator[tuple[Loc, Any]]:
    """Yield (key path, value) for every value that is not a non-empty table, in order."""
    for key, value in data.items():
        here = (*loc, key)
        if isinstance(value, dict) and value:
            yield from leaves(value, here)
        else:
            yield here, value


class SourceMap:
    """Collects, per key path, the places that set its value."""

    def __init__(self) -> None:
        self._origins: dict[Loc, str] = {}

    def add_file(self, path: str, text: str, data: Mapping[str, Any], merger: Merger) -> None:
        """Credit every value of one file's (kept) `data`, just merged by `merger`, to `path`."""
        index = key_lines(text)
        for loc, _value in leaves(data):
            line = line_in(index, loc)
            here = f"{path}:{line}" if line else path
            if merger.appending(loc):
                before = self._origins.get(loc) or ("built-in" if loc in BUILTIN_ARRAYS else None)
                here = f"{before} + {here}" if before else here
            self._origins[loc] = here

    def finish(self, data: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
        """Map the dotted key of every value of the final `data` to where it came from."""
        variables = {
            tuple(name[len(ENV_PREFIX) :].lower().split("__")): name
            for name in environ
            if name.upper().startswith(ENV_PREFIX) and name not in NON_CONFIG_VARIABLES
        }
        out: dict[str, str] = {}
        for loc, _value in leaves(data):
            origin = next(
                (variables[loc[:end]] for end in range(len(loc), 0, -1) if loc[:end] in variables),
                None,
            )
            out[".".join(loc)] = origin or self._origins.get(loc) or "default"
        return out
