"""`python -m ocimux.cli`: the `ocimux` command line."""

from __future__ import annotations

from .program import entry

entry()
