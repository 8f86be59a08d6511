"""One small file per container under the front's `--root`: which backend has it.

`<root>/ocimux/containers/<id>` holds tab-separated lines: `phase`, `backend`, `binary`,
`root`, then one `flag` line per backend global flag and one `refuse VERB WHY` per verb the
backend cannot do. Every verb after `create` reads this one file and execs
`binary flags --root root verb...`. A shim v2 backend's record (`kind shim`) names the shim
binary, the container's directory as `root`, and `x KEY VALUE` lines: the shim's address and
namespace, the engine's bundle, the relay's pid (shimfront.py). Plain lines, not JSON: the hot path imports neither json
(which imports re) nor dataclasses nor pathlib.

`phase` is "creating" from before the backend's create until it succeeded, "created" after,
and "deleting" from before the backend's delete: a record in another phase than "created"
may have no backend container behind it, so the front asks the backend before trusting it.
"""

from __future__ import annotations

import os

__all__ = [
    "Record", "all_records", "backend_root", "check_id", "load", "record_path", "remove", "save",
]  # fmt: skip

_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+.-")
FORMAT = "ocimux-oci record 1"


def check_id(cid: str) -> str:
    """`cid` if it is a container id runc accepts (`^[\\w+-\\.]+$`), else ValueError.

    Also refused: `.` and `..`, and more than 1024 characters (a file name must hold it).
    """
    if not cid or len(cid) > 1024 or cid in (".", "..") or not _ID_CHARS.issuperset(cid):
        raise ValueError(f"invalid id format: {cid}")
    return cid


class Record:
    __slots__ = ("backend", "binary", "extra", "flags", "kind", "phase", "refuse", "root")

    def __init__(
        self,
        backend: str,
        binary: str,
        root: str,
        flags: list[str],
        phase: str = "creating",
        refuse: dict[str, str] | None = None,
        kind: str = "cli",
        extra: dict[str, str] | None = None,
    ) -> None:
        self.backend = backend
        self.binary = binary
        self.root = root
        self.flags = flags
        self.phase = phase
        #: verb -> why the backend cannot do it (a capability ocimux knows to be missing)
        self.refuse = refuse or {}
        #: "cli" (a runc-compatible binary, exec'd) or "shim" (a shim v2 binary, over ttrpc)
        self.kind = kind
        #: the shim kind's own fields (address, namespace, bundle, relay...)
        self.extra = extra or {}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Record) and all(
            getattr(self, k) == getattr(other, k) for k in self.__slots__
        )

    def __repr__(self) -> str:
        return f"Record({', '.join(f'{k}={getattr(self, k)!r}' for k in self.__slots__)})"

    def dump(self) -> str:
        fields = (self.backend, self.binary, self.root, *self.flags,
                  *(t for pair in (*self.refuse.items(), *self.extra.items()) for t in pair))  # fmt: skip
        for text in fields:
            if any(c in str(text) for c in "\t\n"):
                raise ValueError(f"a tab or newline in a record field: {text!r}")
        lines = [FORMAT, f"phase\t{self.phase}", f"backend\t{self.backend}",
                 f"binary\t{self.binary}", f"root\t{self.root}"]  # fmt: skip
        lines += [f"flag\t{flag}" for flag in self.flags]
        lines += [f"refuse\t{verb}\t{why}" for verb, why in self.refuse.items()]
        if self.kind != "cli":
            lines.append(f"kind\t{self.kind}")
        lines += [f"x\t{key}\t{value}" for key, value in self.extra.items()]
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str) -> Record:
        lines = text.split("\n")
        if lines[0] != FORMAT:
            raise ValueError("not an ocimux-oci record")
        fields: dict[str, str] = {}
        flags: list[str] = []
        refuse: dict[str, str] = {}
        extra: dict[str, str] = {}
        for line in lines[1:]:
            key, _, value = line.partition("\t")
            if key == "flag":
                flags.append(value)
            elif key == "refuse":
                verb, _, why = value.partition("\t")
                refuse[verb] = why
            elif key == "x":
                name, _, value = value.partition("\t")
                extra[name] = value
            elif key:
                fields[key] = value
        return cls(fields["backend"], fields["binary"], fields["root"], flags,
                   fields["phase"], refuse, fields.get("kind", "cli"), extra)  # fmt: skip


def records_dir(root: str) -> str:
    return os.path.join(root, "ocimux", "containers")


def backend_root(root: str, backend: str) -> str:
    """The backend's own `--root`, under ours (a name with `/` is a path: keep its basename)."""
    return os.path.join(root, "ocimux", "backends", os.path.basename(backend))


def record_path(root: str, cid: str) -> str:
    return os.path.join(records_dir(root), check_id(cid))


def load(root: str, cid: str) -> Record | None:
    """The container's record, or None if the front has none."""
    try:
        with open(record_path(root, cid), encoding="utf-8") as fh:
            return Record.parse(fh.read())
    except FileNotFoundError:
        return None


def save(root: str, cid: str, record: Record) -> None:
    """Write the record whole (temp file + rename, mode 0600), as base.files.write_atomic does
    but without its pathlib (~6 ms on every create and delete)."""
    os.makedirs(records_dir(root), mode=0o700, exist_ok=True)
    target = record_path(root, cid)
    tmp = os.path.join(records_dir(root), f".{cid}.{os.urandom(6).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        try:
            os.write(fd, record.dump().encode())
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise


def remove(root: str, cid: str) -> None:
    try:
        os.unlink(record_path(root, cid))
    except FileNotFoundError:
        pass


def all_records(root: str) -> dict[str, Record]:
    """Every container id the front knows under `root`, with its record."""
    out: dict[str, Record] = {}
    try:
        names = sorted(os.listdir(records_dir(root)))
    except FileNotFoundError:
        return out
    for name in names:
        if name.startswith("."):
            continue  # a record being written
        try:
            with open(os.path.join(records_dir(root), name), encoding="utf-8") as fh:
                out[name] = Record.parse(fh.read())
        except (OSError, ValueError, KeyError):
            continue  # removed meanwhile, or not ours
    return out
