"""README's "Every key" section names every key ocimux reads and every podman key it ignores.

The read keys come from the code (the typed `[engine]` model, the `[containers]` keys the spec
builder applies, the `[ocimux]` model); the ignored ones are podman's keys (`podman_keys.py`) minus
those. A key added to either side without the README changing fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

from ocimux.config.model import OcimuxTable, _TypedEngine
from ocimux.config.podman_keys import LEGACY_KEYS, PODMAN_KEYS
from ocimux.oci.containerdefaults import APPLIED_KEYS

README = Path(__file__).resolve().parents[3] / "README.md"


def section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("### Every key")
    return text[start : text.index("\n## ", start)]


def read_table() -> dict[str, set[str]]:
    """Table -> keys named in the first column of the read-keys table."""
    found: dict[str, set[str]] = {}
    for row in section().splitlines():
        if not row.startswith("| `"):
            continue
        first = row.split("|")[1]
        table = re.match(r"\s*`\[([a-z_.A-Z]+)\]", first)
        assert table, row
        name = table.group(1)
        keys = set(re.findall(r"`(?:\[[^\]]+\] )?([a-z_]+)`", first))
        if "." in name:  # a table of its own: `[engine.runtimes]`
            name, key = name.split(".")[:2]
            keys.add(key)
        found.setdefault(name, set()).update(keys)
    return found


def ignored_lists() -> dict[str, set[str]]:
    text = section()
    block = text[text.index("<!-- ignored-keys") : text.index("<!-- /ignored-keys -->")]
    found: dict[str, set[str]] = {}
    for line in block.splitlines():
        if not line.startswith("- `["):
            continue
        tables = re.findall(r"`\[([a-z]+)\]`", line.split(":", 1)[0])
        keys = set(re.findall(r"`([a-z_]+)`", line.split(":", 1)[1]))
        for table in tables:
            found.setdefault(table, set()).update(keys)
    return found


def test_every_key_ocimux_reads_is_in_the_table() -> None:
    table = read_table()
    assert table["engine"] == set(_TypedEngine.model_fields)
    assert table["containers"] == set(APPLIED_KEYS)
    assert table["ocimux"] == set(OcimuxTable.model_fields)


def test_every_podman_key_ocimux_ignores_is_listed() -> None:
    read = {"engine": set(_TypedEngine.model_fields), "containers": set(APPLIED_KEYS)}
    listed = ignored_lists()
    for table, keys in PODMAN_KEYS.items():
        assert listed.get(table, set()) == set(keys) - read.get(table, set()), table
    legacy_line = next(line for line in section().splitlines() if line.startswith("- legacy"))
    for keys in LEGACY_KEYS.values():
        for key in keys:
            assert f"`{key}`" in legacy_line, key
