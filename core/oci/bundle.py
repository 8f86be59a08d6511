"""OCI bundles: reading one a user hands us (`--bundle`), and writing one for a container.

A bundle is a directory holding `config.json` (a runtime-spec document) and usually the rootfs
that its `root.path` names, relative to the bundle or absolute. Reading checks only what ocimux
itself relies on; the runtime checks the rest. Every error is an InvalidArgumentError naming the
file and what to do.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from ocimux.base.errors import InvalidArgumentError
from ocimux.base.files import private_dir

__all__ = ["CONFIG_NAME", "load_bundle", "write_bundle"]

CONFIG_NAME: Final = "config.json"
_MAX_CONFIG_BYTES: Final = 16 << 20
_OCI_VERSION: Final = re.compile(r"1\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?")
_HINT: Final = "give the directory that holds config.json and the rootfs"


def load_bundle(bundle_dir: Path) -> tuple[dict[str, Any], Path]:
    """Read `<bundle_dir>/config.json` and return (spec, rootfs), rootfs absolute and real.

    Checks that the document is a JSON object with a 1.x `ociVersion`, a `process` whose `args`
    is a non-empty list of strings (and whose `env`, if present, is a list of strings), and a
    `root.path` naming an existing directory. A relative `root.path` is resolved against the
    bundle; symlinks are resolved with os.path.realpath, even one pointing outside the bundle,
    as long as it ends at a real directory. The returned spec's `root.path` is that real path,
    so later code never follows a link that might change. Raises InvalidArgumentError (naming
    the path and what to do) for a missing bundle or config.json, a file that is not JSON (with
    line and column), and each failed check.
    """
    bundle = Path(os.path.abspath(bundle_dir))
    if not bundle.is_dir():
        what = "is not a directory" if os.path.lexists(bundle) else "does not exist"
        raise InvalidArgumentError(f"bundle {bundle} {what}", hint=_HINT)
    config = bundle / CONFIG_NAME
    spec = _read_config(config)
    if not isinstance(spec.get("ociVersion"), str) or not _OCI_VERSION.fullmatch(
        spec["ociVersion"]
    ):
        raise _bad(config, "ociVersion", spec.get("ociVersion"), 'a 1.x version such as "1.0.2"')
    proc = spec.get("process")
    if not isinstance(proc, dict):
        raise _bad(config, "process", proc, "an object with args, env and cwd")
    args = proc.get("args")
    if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
        raise _bad(config, "process.args", args, 'a non-empty list of strings, e.g. ["sh"]')
    if not args[0]:
        raise _bad(config, "process.args", args, "a list whose first item names the program")
    env = proc.get("env")
    if env is not None and not (isinstance(env, list) and all(isinstance(e, str) for e in env)):
        raise _bad(config, "process.env", env, 'a list of "KEY=VALUE" strings')
    root = spec.get("root")
    raw = root.get("path") if isinstance(root, dict) else None
    if not isinstance(raw, str) or not raw:
        raise _bad(config, "root.path", raw, "the rootfs directory, relative to the bundle")
    rootfs = _real_rootfs(bundle / raw, config)  # an absolute `raw` replaces `bundle`
    root["path"] = str(rootfs)  # type: ignore[index]  # root is a dict: checked above
    return spec, rootfs


def write_bundle(dest_dir: Path, spec: Mapping[str, Any]) -> Path:
    """Write `spec` as `<dest_dir>/config.json` (mode 0600) and return dest_dir, absolute.

    `dest_dir` is created with mode 0700 (parents as needed) if missing; an existing one keeps
    its mode. `root.path` is written absolute (a relative one is taken relative to dest_dir);
    `spec` itself is not changed. The file is written to a temporary name and renamed over
    config.json, so a reader sees the old document or the new one, never a torn one (it is not
    fsynced: a container does not outlive a crash of the host either). Raises
    InvalidArgumentError if `spec` has no `root.path`, cannot be encoded as JSON, or the file
    cannot be written.
    """
    root = spec.get("root") if isinstance(spec, Mapping) else None
    raw = root.get("path") if isinstance(root, Mapping) else None
    if not isinstance(raw, str) or not raw:
        raise InvalidArgumentError("cannot write a bundle: the spec has no root.path")
    dest = Path(os.path.abspath(dest_dir))
    doc = {**spec, "root": {**root, "path": os.path.abspath(dest / raw)}}  # type: ignore[dict-item]
    write_json(dest / CONFIG_NAME, doc)
    return dest


def _read_config(config: Path) -> dict[str, Any]:
    try:
        st = os.stat(config)
    except FileNotFoundError:
        raise InvalidArgumentError(
            f"bundle {config.parent} has no {CONFIG_NAME}",
            hint="create one (an OCI runtime's `spec` command writes a default) and set process.args",
        ) from None
    except OSError as exc:
        raise InvalidArgumentError(f"cannot read {config}: {exc.strerror}") from exc
    if not stat.S_ISREG(st.st_mode):
        raise InvalidArgumentError(f"{config} is not a regular file", hint="make it a file")
    if st.st_size > _MAX_CONFIG_BYTES:
        raise InvalidArgumentError(
            f"{config} is {st.st_size} bytes; a runtime spec is at most {_MAX_CONFIG_BYTES}"
        )
    try:
        with open(config, "rb") as f:
            text = f.read(_MAX_CONFIG_BYTES + 1).decode("utf-8")
    except OSError as exc:
        raise InvalidArgumentError(f"cannot read {config}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidArgumentError(
            f"{config} is not UTF-8 text (byte {exc.start})", hint="fix or regenerate it"
        ) from None
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgumentError(
            f"{config} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
            hint="fix the file",
        ) from None
    except RecursionError:
        raise InvalidArgumentError(f"{config} is nested too deeply to read") from None
    if not isinstance(spec, dict):
        raise InvalidArgumentError(
            f"{config} holds a JSON {_json_type(spec)}, not an object",
            hint="a runtime spec is one object with ociVersion, process and root",
        )
    return spec


def _real_rootfs(path: Path, config: Path) -> Path:
    """Return the real directory `path` leads to, or raise saying why it does not."""
    where = f"(root.path in {config})"
    if not os.path.lexists(path):
        raise InvalidArgumentError(
            f"rootfs {path} {where} does not exist", hint="create it or fix root.path"
        )
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except OSError as exc:
        target = f" ({real})" if real != str(path) else ""
        raise InvalidArgumentError(
            f"rootfs {path}{target} {where} cannot be reached: {exc.strerror}",
            hint="a symlinked rootfs must lead to an existing directory",
        ) from None
    if not stat.S_ISDIR(st.st_mode):
        raise InvalidArgumentError(
            f"rootfs {real} {where} is not a directory", hint="fix root.path"
        )
    return Path(real)


def _bad(config: Path, field: str, value: object, expected: str) -> InvalidArgumentError:
    shown = "missing" if value is None else f"invalid ({_short(value)})"
    return InvalidArgumentError(f"{config}: {field} is {shown}", hint=f"it must be {expected}")


def _short(value: object) -> str:
    text = json.dumps(value) if not isinstance(value, str | int | float) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _json_type(value: object) -> str:
    names = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def write_json(target: Path, doc: Any) -> None:
    """Write `doc` as JSON to `target` (mode 0600) atomically: temp file, then rename.

    The parent directory is created 0700 if missing. Raises InvalidArgumentError if `doc` is
    not JSON or the file cannot be written.
    """
    try:
        data = json.dumps(doc, indent=2, allow_nan=False).encode() + b"\n"
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"cannot write {target}: not JSON: {exc}") from exc
    tmp = target.with_name(f".{target.name}.{os.urandom(6).hex()}.tmp")
    try:
        private_dir(target.parent)
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
        )
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise InvalidArgumentError(f"cannot write {target}: {exc.strerror or exc}") from exc
