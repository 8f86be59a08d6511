"""One small JSON file per container under the front's `--root`: which backend has it.

`<root>/ocimux/containers/<id>.json` = {"backend", "binary", "root", "flags", "phase"}.
Every verb after `create` reads this one file and execs `binary flags --root root verb...`.
`phase` is "creating" from before the backend's create until it succeeded, "created" after,
and "deleting" from before the backend's delete: a record in another phase than "created"
may have no backend container behind it, so the front asks the backend before trusting it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ocimux.base.files import private_dir, write_atomic

__all__ = ["Record", "check_id", "load", "record_path", "remove", "save", "all_records"]

#: runc's own rule for ids (libcontainer: `^[\w+-\.]+$`), without `/`, `.` and `..`
_ID = re.compile(r"[A-Za-z0-9_+.-]{1,1024}")


def check_id(cid: str) -> str:
    """`cid` if it is a container id runc accepts, else ValueError (runc: "invalid id format")."""
    if not _ID.fullmatch(cid) or cid in (".", ".."):
        raise ValueError(f"invalid id format: {cid}")
    return cid


@dataclass
class Record:
    backend: str
    binary: str
    root: str
    flags: list[str]
    phase: str = "creating"
    #: verb -> why the backend cannot do it (a capability ocimux knows to be missing)
    refuse: dict[str, str] = field(default_factory=dict)


def records_dir(root: str) -> Path:
    return Path(root) / "ocimux" / "containers"


def backend_root(root: str, backend: str) -> str:
    """The backend's own `--root`, under ours (a name with `/` is a path: keep its basename)."""
    return os.path.join(root, "ocimux", "backends", os.path.basename(backend))


def record_path(root: str, cid: str) -> Path:
    return records_dir(root) / f"{check_id(cid)}.json"


def load(root: str, cid: str) -> Record | None:
    """The container's record, or None if the front has none."""
    try:
        data = json.loads(record_path(root, cid).read_bytes())
    except FileNotFoundError:
        return None
    return Record(**data)


def save(root: str, cid: str, record: Record) -> None:
    private_dir(records_dir(root))
    write_atomic(record_path(root, cid), json.dumps(asdict(record)).encode())


def remove(root: str, cid: str) -> None:
    record_path(root, cid).unlink(missing_ok=True)


def all_records(root: str) -> dict[str, Record]:
    """Every container id the front knows under `root`, with its record."""
    out: dict[str, Record] = {}
    try:
        names = sorted(os.listdir(records_dir(root)))
    except FileNotFoundError:
        return out
    for name in names:
        if name.endswith(".json") and not name.startswith("."):
            try:
                out[name[:-5]] = Record(**json.loads((records_dir(root) / name).read_bytes()))
            except (OSError, ValueError, TypeError):
                continue  # removed meanwhile, or not ours
    return out
