"""Where one key of the merged configuration was set: an `OCIMUX_*` variable, or a file and line.

For messages about a value found wrong after loading (a `[containers]` default that cannot be
honoured when a container is created): the warm path keeps no per-key sources, so this reads
the loaded files again, last first, and finds the key's line (`lines.py`). Errors only: cheap
enough there, never on the hot path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from .lines import key_lines
from .search import ENV_PREFIX

__all__ = ["key_origin"]


def key_origin(
    files: Sequence[str], loc: Sequence[str], environ: Mapping[str, str] | None = None
) -> tuple[str | None, int | None]:
    """Return (file or variable, line or None) that set `loc` (e.g. ("containers", "userns")).

    A variable wins over the files, as when loading; of the files, the last that sets the key.
    (None, None) when neither does (an unreadable file is passed over).
    """
    env = os.environ if environ is None else environ
    wanted = (ENV_PREFIX + "__".join(loc)).upper()
    for name in env:
        if name.upper() == wanted:
            return name, None
    for path in reversed(files):
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except OSError:
            continue
        line = key_lines(text).get(tuple(loc))
        if line is not None:
            return path, line
    return None, None
