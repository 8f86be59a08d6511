"""Reading a bundle's `config.json` for the mock: the process to run, its rootfs, annotations.

The mock runs processes on the host without namespaces, so it reads only `process.args`,
`process.env`, `process.cwd`, `root.path` and `annotations`; everything else in the spec
(user, capabilities, mounts, limits) is ignored. `root.path` may be relative to the bundle
(runtime-spec). The rootfs is just the directory the process starts in: commands are
resolved on the host, through the process's own `PATH`.
"""

from __future__ import annotations

import errno as _errno
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ocimux.command import exec_error, resolve_command
from ocimux.errors import CommandNotFoundError, CommandNotInvocableError

__all__ = [
    "ProcessSpec",
    "SpecError",
    "classify_exec_error",
    "command_error",
    "env_map",
    "load_spec",
    "merge_env",
    "read_annotations",
    "resolve_cwd",
]


class SpecError(ValueError):
    """config.json is missing, unreadable, or lacks what the mock needs."""


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """The parts of a runtime spec the mock uses. `rootfs` is absolute."""

    args: tuple[str, ...]
    env: tuple[str, ...]
    cwd: str
    rootfs: Path
    annotations: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> bytes:
        """Render as a minimal config.json (what the shim reads for an exec session)."""
        doc = {
            "ociVersion": "1.0.2",
            "process": {"args": list(self.args), "env": list(self.env), "cwd": self.cwd},
            "root": {"path": str(self.rootfs)},
        }
        return json.dumps(doc).encode()


def _load_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise SpecError(f"{path} does not exist") from None
    except OSError as exc:
        raise SpecError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise SpecError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise SpecError(f"{path} does not hold a JSON object")
    return doc


def load_spec(path: Path) -> ProcessSpec:
    """Parse the spec at `path`; raise SpecError naming the file and the missing field."""
    doc = _load_json(path)
    process = doc.get("process")
    if not isinstance(process, dict):
        raise SpecError(f"{path}: `process` is missing")
    args = process.get("args")
    if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
        raise SpecError(f"{path}: `process.args` must be a non-empty list of strings")
    env = process.get("env") or []
    if not isinstance(env, list) or not all(isinstance(e, str) for e in env):
        raise SpecError(f"{path}: `process.env` must be a list of strings")
    cwd = process.get("cwd") or "/"
    if not isinstance(cwd, str):
        raise SpecError(f"{path}: `process.cwd` must be a string")
    root = doc.get("root")
    if not isinstance(root, dict) or not isinstance(root.get("path"), str) or not root["path"]:
        raise SpecError(f"{path}: `root.path` is missing")
    rootfs = Path(root["path"])
    if not rootfs.is_absolute():
        rootfs = path.parent / rootfs
    annotations = doc.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise SpecError(f"{path}: `annotations` must be an object")
    return ProcessSpec(
        tuple(args), tuple(env), cwd, rootfs, {str(k): str(v) for k, v in annotations.items()}
    )


def read_annotations(path: Path) -> dict[str, str]:
    """Return the spec's annotations; {} when the file is missing or unreadable.

    Tolerant on purpose: fault injection reads this before every operation, and a container
    whose config has gone must still be deletable.
    """
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    annotations = doc.get("annotations") if isinstance(doc, dict) else None
    if not isinstance(annotations, dict):
        return {}
    return {str(k): str(v) for k, v in annotations.items()}


def resolve_cwd(rootfs: Path, cwd: str) -> Path:
    """Return `<rootfs>/<cwd>` if that directory exists, else the rootfs itself."""
    candidate = rootfs / cwd.lstrip("/")
    return candidate if candidate.is_dir() else rootfs


def env_map(entries: Iterable[str]) -> dict[str, str]:
    """Turn `KEY=VALUE` entries into a dict; a later key wins, entries without `=` are dropped."""
    out: dict[str, str] = {}
    for entry in entries:
        key, sep, value = entry.partition("=")
        if sep and key:
            out[key] = value
    return out


def merge_env(base: Iterable[str], extra: Iterable[str]) -> tuple[str, ...]:
    """Return `base` with `extra` applied on top (same key: `extra` wins), as `KEY=VALUE`."""
    merged = env_map(base)
    merged.update(env_map(extra))
    return tuple(f"{k}={v}" for k, v in merged.items())


def classify_exec_error(command: str, exc: OSError) -> tuple[int, str]:
    """Map a failed exec to a shell's exit status and runc's message (`ocimux.command`)."""
    error = exec_error(command, exc)
    return error.exit_code, error.detail


def command_error(command: str, env: Mapping[str, str], cwd: Path) -> OSError | None:
    """Return the error `os.execvpe(command, ..., env)` would raise from `cwd`, or None.

    Checks without executing, with `ocimux.command`'s rules. The mock runs host processes
    (no chroot), so the lookup's root is the host's `/`. Failures only the exec itself finds
    (ENOEXEC, a bad interpreter) are left to it.
    """
    try:
        resolve_command("/", [command], env, str(cwd))
    except (CommandNotFoundError, CommandNotInvocableError) as exc:
        cause = exc.__cause__
        return cause if isinstance(cause, OSError) else OSError(_errno.ENOENT, exc.detail)
    return None
