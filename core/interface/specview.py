"""A typed, read-only view of a bundle's `config.json` (OCI runtime-spec), for runtime authors.

`SpecView.load(bundle)` reads the file once and checks the type of every field it exposes; a
problem is one InvalidArgumentError naming the file and the field (`process.args`, `mounts[2].
destination`, ...). Nothing is ever written back. Names follow the runtime-spec's JSON, in Python
spelling (`noNewPrivileges` → `no_new_privileges`); what the view does not type is still in `raw`,
a deep read-only copy of the whole document.

Required, as every runtime needs them: `process`, `process.args` (non-empty) and `root.path`.
Anything else may be absent and gets the runtime-spec's default (`cwd` "/", uid and gid 0, no
terminal, empty lists). `root.path` is made absolute against the bundle, as runtimes do.

Public: a plugin imports `SpecView` (and the small records it returns) from here.
"""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from ocimux.base.errors import InvalidArgumentError

from .options import Resources

__all__ = [
    "CapabilitySets",
    "ConsoleSize",
    "Mount",
    "Namespace",
    "ProcessUser",
    "Rlimit",
    "SpecView",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ProcessUser:
    """`process.user`: the ids the process runs as; `umask` None when the spec sets none."""

    uid: int = 0
    gid: int = 0
    additional_gids: tuple[int, ...] = ()
    umask: int | None = None


@dataclass(frozen=True, slots=True)
class ConsoleSize:
    """`process.consoleSize`: the terminal's size in characters."""

    height: int
    width: int


@dataclass(frozen=True, slots=True)
class Rlimit:
    """One `process.rlimits` entry, e.g. `Rlimit("RLIMIT_NOFILE", 1024, 1024)`."""

    type: str
    soft: int
    hard: int


@dataclass(frozen=True, slots=True)
class CapabilitySets:
    """`process.capabilities`: each set in the spec's order (`CAP_KILL`, ...); absent is ()."""

    bounding: tuple[str, ...] = ()
    effective: tuple[str, ...] = ()
    inheritable: tuple[str, ...] = ()
    permitted: tuple[str, ...] = ()
    ambient: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Mount:
    """One `mounts` entry; `source` and `type` are None when the spec leaves them out."""

    destination: str
    source: str | None = None
    type: str | None = None
    options: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Namespace:
    """One `linux.namespaces` entry; `path` names an existing namespace to join."""

    type: str
    path: str | None = None


@dataclass(frozen=True, slots=True)
class SpecView:
    """What a runtime needs from `<bundle>/config.json`, typed and frozen. See `load`."""

    #: the file this view was read from
    path: Path
    args: tuple[str, ...]
    #: `KEY=VALUE` entries, in the spec's order (see `environ` for a mapping)
    env: tuple[str, ...]
    cwd: str
    user: ProcessUser
    terminal: bool
    console_size: ConsoleSize | None
    rlimits: tuple[Rlimit, ...]
    capabilities: CapabilitySets
    no_new_privileges: bool
    #: `root.path`, absolute (a relative one is taken against the bundle)
    root_path: Path
    root_readonly: bool
    hostname: str | None
    mounts: tuple[Mount, ...]
    namespaces: tuple[Namespace, ...]
    #: `linux.resources` memory, cpu and pids limits, as `Runtime.update` receives them
    resources: Resources
    annotations: Mapping[str, str]
    #: whether `linux.seccomp` asks for a seccomp filter
    has_seccomp: bool
    #: the whole document, read-only (dicts as mappings, lists as tuples)
    raw: Mapping[str, Any]

    @property
    def bundle(self) -> Path:
        return self.path.parent

    @property
    def environ(self) -> dict[str, str]:
        """`env` as a dict; a later entry wins, one without `=` is left out (a fresh copy)."""
        out: dict[str, str] = {}
        for entry in self.env:
            key, sep, value = entry.partition("=")
            if sep and key:
                out[key] = value
        return out

    def has_namespace(self, kind: str) -> bool:
        """Whether `linux.namespaces` lists `kind` ("pid", "network", "user", ...)."""
        return any(ns.type == kind for ns in self.namespaces)

    @classmethod
    def load(cls, bundle: str | os.PathLike[str]) -> SpecView:
        """Read `<bundle>/config.json` once and return its view.

        Raises InvalidArgumentError naming the file and the field when the file is missing,
        unreadable, not JSON, not an object, lacks `process`, `process.args` or `root.path`,
        or holds a field of the wrong type.
        """
        path = Path(os.path.abspath(os.fspath(bundle))) / "config.json"
        try:
            doc = json.loads(path.read_bytes())
        except FileNotFoundError:
            raise _error(path, "", "does not exist") from None
        except OSError as exc:
            raise _error(path, "", f"cannot be read: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise _error(path, "", f"is not valid JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise _error(path, "", "does not hold a JSON object")
        return _parse(path, doc)


def _parse(path: Path, doc: dict[str, Any]) -> SpecView:
    r = _Reader(path)
    process = r.get(doc, "process", dict, required=True)
    args = r.strings(process, "process.args", required=True)
    if not args:
        raise _error(path, "process.args", "must name a command (it is empty)")
    cwd = r.get(process, "process.cwd", str) or "/"
    if not posixpath.isabs(cwd):
        raise _error(path, "process.cwd", f"must be absolute, not {cwd!r}")
    root = r.get(doc, "root", dict, required=True)
    root_path = r.get(root, "root.path", str, required=True)
    if not root_path:
        raise _error(path, "root.path", "is empty")
    size = r.get(process, "process.consoleSize", dict)
    linux = r.get(doc, "linux", dict) or {}
    return SpecView(
        path=path,
        args=args,
        env=r.strings(process, "process.env"),
        cwd=cwd,
        user=_user(r, r.get(process, "process.user", dict)),
        terminal=r.get(process, "process.terminal", bool) or False,
        console_size=None
        if size is None
        else ConsoleSize(
            r.get(size, "process.consoleSize.height", int, required=True),
            r.get(size, "process.consoleSize.width", int, required=True),
        ),
        rlimits=tuple(
            Rlimit(
                r.get(item, f"{where}.type", str, required=True),
                r.get(item, f"{where}.soft", int, required=True),
                r.get(item, f"{where}.hard", int, required=True),
            )
            for where, item in r.objects(process, "process.rlimits")
        ),
        capabilities=_capabilities(r, r.get(process, "process.capabilities", dict)),
        no_new_privileges=r.get(process, "process.noNewPrivileges", bool) or False,
        root_path=Path(os.path.abspath(path.parent / root_path)),
        root_readonly=r.get(root, "root.readonly", bool) or False,
        hostname=r.get(doc, "hostname", str),
        mounts=tuple(
            Mount(
                r.get(item, f"{where}.destination", str, required=True),
                r.get(item, f"{where}.source", str),
                r.get(item, f"{where}.type", str),
                r.strings(item, f"{where}.options"),
            )
            for where, item in r.objects(doc, "mounts")
        ),
        namespaces=tuple(
            Namespace(
                r.get(item, f"{where}.type", str, required=True), r.get(item, f"{where}.path", str)
            )
            for where, item in r.objects(linux, "linux.namespaces")
        ),
        resources=_resources(r, r.get(linux, "linux.resources", dict) or {}),
        annotations=MappingProxyType(_annotations(r, r.get(doc, "annotations", dict) or {})),
        has_seccomp=r.get(linux, "linux.seccomp", dict) is not None,
        raw=_frozen(doc),
    )


def _user(r: _Reader, user: dict[str, Any] | None) -> ProcessUser:
    if user is None:
        return ProcessUser()
    gids = r.get(user, "process.user.additionalGids", list) or []
    for index, gid in enumerate(gids):
        r.check(gid, f"process.user.additionalGids[{index}]", int)
    return ProcessUser(
        uid=r.get(user, "process.user.uid", int, required=True),
        gid=r.get(user, "process.user.gid", int, required=True),
        additional_gids=tuple(gids),
        umask=r.get(user, "process.user.umask", int),
    )


def _capabilities(r: _Reader, caps: dict[str, Any] | None) -> CapabilitySets:
    if caps is None:
        return CapabilitySets()
    sets = {
        name: r.strings(caps, f"process.capabilities.{name}")
        for name in ("bounding", "effective", "inheritable", "permitted", "ambient")
    }
    return CapabilitySets(**sets)


def _resources(r: _Reader, res: dict[str, Any]) -> Resources:
    memory = r.get(res, "linux.resources.memory", dict) or {}
    cpu = r.get(res, "linux.resources.cpu", dict) or {}
    pids = r.get(res, "linux.resources.pids", dict) or {}
    return Resources(
        memory=r.get(memory, "linux.resources.memory.limit", int),
        memory_swap=r.get(memory, "linux.resources.memory.swap", int),
        cpu_shares=r.get(cpu, "linux.resources.cpu.shares", int),
        cpu_quota=r.get(cpu, "linux.resources.cpu.quota", int),
        cpu_period=r.get(cpu, "linux.resources.cpu.period", int),
        cpuset_cpus=r.get(cpu, "linux.resources.cpu.cpus", str),
        pids_limit=r.get(pids, "linux.resources.pids.limit", int),
    )


def _annotations(r: _Reader, annotations: dict[str, Any]) -> dict[str, str]:
    for key, value in annotations.items():
        r.check(value, f"annotations.{key}", str)
    return dict(annotations)


class _Reader:
    """Typed field access that names the file and the dotted field in every error."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def check(self, value: object, where: str, kind: type[T]) -> T:
        # bool is an int to Python, never to the runtime-spec
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise _error(self.path, where, f"must be {_NAMES[kind]}, not {_json_type(value)}")
        return value

    def get(
        self, obj: Mapping[str, Any], where: str, kind: type[T], *, required: bool = False
    ) -> Any:
        """`obj[last part of where]` checked to be `kind`; None if absent (or null) and optional."""
        value = obj.get(where.rpartition(".")[2])
        if value is None:
            if required:
                raise _error(self.path, where, "is missing")
            return None
        return self.check(value, where, kind)

    def strings(
        self, obj: Mapping[str, Any], where: str, *, required: bool = False
    ) -> tuple[str, ...]:
        items = self.get(obj, where, list, required=required) or []
        return tuple(self.check(item, f"{where}[{i}]", str) for i, item in enumerate(items))

    def objects(self, obj: Mapping[str, Any], where: str) -> list[tuple[str, dict[str, Any]]]:
        items = self.get(obj, where, list) or []
        return [
            (f"{where}[{i}]", self.check(item, f"{where}[{i}]", dict))
            for i, item in enumerate(items)
        ]


_NAMES: dict[type, str] = {
    dict: "an object", list: "an array", str: "a string", int: "an integer", bool: "a boolean",
}  # fmt: skip


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float):
        return "a number with a fraction"
    return _NAMES.get(type(value), type(value).__name__)


def _error(path: Path, where: str, problem: str) -> InvalidArgumentError:
    subject = f"{path}: {where}" if where else str(path)
    return InvalidArgumentError(
        f"{subject} {problem}", hint="the bundle's config.json is not a valid runtime spec"
    )


def _frozen(value: Any) -> Any:
    """A deep read-only copy: dicts become MappingProxyType, lists tuples."""
    if isinstance(value, dict):
        return MappingProxyType({key: _frozen(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(_frozen(item) for item in value)
    return value
