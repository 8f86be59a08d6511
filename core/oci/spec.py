"""OCI runtime-spec `config.json` documents: the default one, run-time overrides, users, env.

`default_spec` returns what the reference OCI runtime's `spec` command (1.1 series) writes, with
the rootfs, command, environment, user and terminal filled in, and two deliberate differences
(each safer, and what 1.2 writes):

- no `ambient` capabilities: with them a non-root user would get CAP_KILL and friends in its
  effective set; podman and docker leave ambient empty too;
- `root.path` is absolute, so the document works wherever the bundle is.

Like 1.1, it asks for no cgroup namespace (1.1's `spec` lists pid, network, ipc, uts, mount).

Environment entries are `KEY=VALUE`; a key is one or more characters other than `=`, whitespace
and control characters (docker's rule is looser, POSIX's stricter). Values may hold anything but
NUL. Later entries override earlier ones with the same key, keeping the first one's position.
"""

from __future__ import annotations

import copy
import json
import os
import re
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final, TypeAlias

from ocimux.base.errors import InvalidArgumentError, RuntimeCommandError
from ocimux.base.signals import SIGTERM, STOP_SIGNAL_ANNOTATION, parse_signal

from .rootfs import resolve_in_rootfs

__all__ = [
    "exec_process",
    "DEFAULT_CAPABILITIES",
    "DEFAULT_ENV",
    "OCI_VERSION",
    "STOP_SIGNAL_ANNOTATION",
    "User",
    "default_spec",
    "merge_env",
    "parse_user",
    "read_db",
    "resolve_env",
    "stop_signal",
    "with_overrides",
]

#: uid, gid, additional gids
User: TypeAlias = tuple[int, int, tuple[int, ...]]

#: the runtime-spec version the default document claims (what 1.1's `spec` writes)
OCI_VERSION: Final = "1.0.2-dev"
DEFAULT_ENV: Final = (
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "TERM=xterm",
)
DEFAULT_CAPABILITIES: Final = ("CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE")
_MAX_ID: Final = 2**32 - 2  # (uid_t)-1 means "no change" to the kernel
_ENV_KEY: Final = re.compile(r"[^=\x00-\x20\x7f]+")
_HOSTNAME: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
_MAX_DB_BYTES: Final = 4 << 20
_NUMBER: Final = re.compile(r"[0-9]{1,20}")
_NAMESPACES: Final = ("pid", "network", "ipc", "uts", "mount")
_MASKED: Final = (
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
)
_READONLY: Final = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
_NND: Final = ("nosuid", "noexec", "nodev")
#: destination, type, source, options: the reference runtime's default mounts, in its order
_MOUNTS: Final[tuple[tuple[str, str, str, tuple[str, ...]], ...]] = (
    ("/proc", "proc", "proc", ()),
    ("/dev", "tmpfs", "tmpfs", ("nosuid", "strictatime", "mode=755", "size=65536k")),
    (
        "/dev/pts",
        "devpts",
        "devpts",
        ("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"),
    ),
    ("/dev/shm", "tmpfs", "shm", (*_NND, "mode=1777", "size=65536k")),
    ("/dev/mqueue", "mqueue", "mqueue", _NND),
    ("/sys", "sysfs", "sysfs", (*_NND, "ro")),
    ("/sys/fs/cgroup", "cgroup", "cgroup", (*_NND, "relatime", "ro")),
)


def _mounts() -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = []
    for dest, kind, source, options in _MOUNTS:
        mount: dict[str, Any] = {"destination": dest, "type": kind, "source": source}
        if options:
            mount["options"] = list(options)
        mounts.append(mount)
    return mounts


def default_spec(
    *,
    rootfs: Path,
    args: Sequence[str],
    env: Sequence[str] = (),
    cwd: str = "/",
    user: User = (0, 0, ()),
    terminal: bool = False,
    hostname: str | None = None,
    annotations: Mapping[str, str] | None = None,
    readonly_rootfs: bool = False,
) -> dict[str, Any]:
    """Return a fresh runtime-spec document running `args` in `rootfs` (see the module docstring).

    `env` is merged over DEFAULT_ENV by key (use `resolve_env` first for `-e KEY`). `cwd` must be
    absolute. `user` is (uid, gid, additional gids); empty additional gids are left out, as Go's
    omitempty does. `hostname` None leaves `hostname` out (the uts namespace keeps the host's
    name). `rootfs` is made absolute but not checked. The result shares nothing with the
    arguments or other calls. Raises InvalidArgumentError for empty `args` ("a container needs a
    command"), a malformed env entry, a relative `cwd`, an out-of-range id, a bad hostname or
    annotation.
    """
    caps = list(DEFAULT_CAPABILITIES)
    spec: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": _bool(terminal, "terminal"),
            "user": _user_doc(user),
            "args": _args(args),
            "env": merge_env(DEFAULT_ENV, env),
            "cwd": _cwd(cwd),
            "capabilities": {"bounding": caps, "effective": caps[:], "permitted": caps[:]},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": os.path.abspath(rootfs), "readonly": _bool(readonly_rootfs, "readonly")},
    }
    if hostname is not None:
        if not isinstance(hostname, str) or not _HOSTNAME.fullmatch(hostname):
            raise InvalidArgumentError(
                f"invalid hostname {hostname!r}: use up to 64 letters, digits, '.', '-' and '_'"
            )
        spec["hostname"] = hostname
    spec["mounts"] = _mounts()
    if annotations:
        spec["annotations"] = _annotations(annotations)
    spec["linux"] = {
        "resources": {"devices": [{"allow": False, "access": "rwm"}]},
        "namespaces": [{"type": t} for t in _NAMESPACES],
        "maskedPaths": list(_MASKED),
        "readonlyPaths": list(_READONLY),
    }
    return spec


def exec_process(bundle: Path, options: Any) -> dict[str, Any]:
    """The runtime-spec `process` of an exec session: the container's, with the session's overrides.

    `options` is an `ExecOptions` (args, env, cwd, user resolved in the container's rootfs,
    terminal).
    """
    container_spec = _container_spec(bundle / "config.json")
    rootfs = Path(container_spec["root"]["path"])
    user = parse_user(options.user, rootfs) if options.user else None
    process = with_overrides(
        container_spec,
        args=options.args,
        env=options.env,
        cwd=options.cwd,
        user=user,
        terminal=options.terminal,
    )["process"]
    if getattr(options, "privileged", False):
        # podman's exec --privileged: every capability the container may hold at all
        bounding = list((process.get("capabilities") or {}).get("bounding") or [])
        process["capabilities"] = {
            "bounding": bounding, "effective": bounding[:], "permitted": bounding[:],
        }  # fmt: skip
    return process


def _container_spec(path: Path) -> dict[str, Any]:
    """The container's own config.json, which every exec session starts from.

    Raises RuntimeCommandError (one line, what to do) when it was removed or damaged behind
    ocimux's back: without it no runtime can build the session's process.
    """
    try:
        doc = json.loads(path.read_bytes())
        if not isinstance(doc, dict) or not isinstance(doc["root"]["path"], str):
            raise ValueError("no root.path")
        if not isinstance(doc["process"], dict):
            raise ValueError("no process")
    except FileNotFoundError:
        problem = "is missing"
    except OSError as exc:
        problem = f"cannot be read ({exc.strerror})"
    except (ValueError, KeyError, TypeError):
        problem = "is damaged (not a runtime spec)"
    else:
        return doc
    raise RuntimeCommandError(
        f"its bundle's config.json {problem}: {path}",
        verb="exec",
        hint="it was changed outside ocimux; remove the container with `ocimux rm -f` and create it again",
    )


def with_overrides(
    spec: Mapping[str, Any],
    *,
    args: Sequence[str] | None = None,
    env: Sequence[str] = (),
    cwd: str | None = None,
    user: User | None = None,
    terminal: bool | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Return a deep copy of `spec` with run-time overrides applied; `spec` is not changed.

    None (or empty) leaves a field as it is. `args` replaces `process.args`; `env` is merged over
    `process.env` by key; `user` replaces uid, gid and additionalGids (other user fields such as
    umask stay); `annotations` are merged by key. Raises InvalidArgumentError if `spec` has no
    `process` object or an override is invalid (same rules as `default_spec`).
    """
    new = copy.deepcopy(dict(spec))
    proc = new.get("process")
    if not isinstance(proc, dict):
        raise InvalidArgumentError("the spec has no `process` object to apply overrides to")
    if args is not None:
        proc["args"] = _args(args)
    if env:
        proc["env"] = merge_env(proc.get("env") or (), env)
    if cwd is not None:
        proc["cwd"] = _cwd(cwd)
    if user is not None:
        kept = {k: v for k, v in (proc.get("user") or {}).items() if k != "additionalGids"}
        proc["user"] = {**kept, **_user_doc(user)}
    if terminal is not None:
        proc["terminal"] = _bool(terminal, "terminal")
    if annotations:
        old = new.get("annotations") or {}
        new["annotations"] = {**old, **_annotations(annotations)}
    return new


def stop_signal(spec: Mapping[str, Any]) -> int:
    """Return the signal that stops this container: its stopSignal annotation, else SIGTERM.

    The annotation `org.opencontainers.image.stopSignal` may hold a name or a number (see
    `signals.parse_signal`). Raises InvalidArgumentError, naming the annotation, if it is invalid.
    """
    annotations = spec.get("annotations") or {}
    value = annotations.get(STOP_SIGNAL_ANNOTATION) if isinstance(annotations, Mapping) else None
    if value is None:
        return SIGTERM
    try:
        return parse_signal(value)
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(f"annotation {STOP_SIGNAL_ANNOTATION}: {exc.detail}") from None


# --- environment -----------------------------------------------------------------------------


def merge_env(base: Sequence[str], overrides: Sequence[str]) -> list[str]:
    """Return `base` then `overrides` as one list in which each key appears once.

    A later entry replaces the value of an earlier one with the same key, at the earlier one's
    position. Every entry must be `KEY=VALUE` (InvalidArgumentError otherwise, naming it).
    """
    merged: dict[str, str] = {}
    for item in (*_env_list(base), *_env_list(overrides)):
        key, value = _split_env(item)
        merged[key] = value
    return [f"{k}={v}" for k, v in merged.items()]


def resolve_env(items: Sequence[str], environ: Mapping[str, str]) -> list[str]:
    """Turn `-e` arguments into `KEY=VALUE` entries, taking bare keys from `environ`.

    `KEY=VALUE` is kept as it is; `KEY` becomes `KEY=<environ[KEY]>`, or is dropped if `environ`
    has no KEY (as podman and docker do); `PREFIX*` expands to every `environ` entry whose key
    starts with PREFIX (podman's extension). Order is kept. Raises InvalidArgumentError for an
    invalid key or entry.
    """
    out: list[str] = []
    for item in _env_list(items):
        if "=" in item:
            _split_env(item)
            out.append(item)
        elif item.endswith("*"):
            prefix = item[:-1]
            if prefix:
                _check_env_key(prefix, item)
            out.extend(f"{k}={v}" for k, v in environ.items() if k.startswith(prefix))
        else:
            _check_env_key(item, item)
            if item in environ:
                out.append(f"{item}={environ[item]}")
    return out


def _env_list(items: Sequence[str]) -> Sequence[str]:
    if isinstance(items, str | bytes) or not isinstance(items, Sequence):
        raise InvalidArgumentError(f"env must be a list of KEY=VALUE strings, not {items!r}")
    return items


def _split_env(item: object) -> tuple[str, str]:
    if not isinstance(item, str):
        raise InvalidArgumentError(f"invalid env entry {item!r}: use a KEY=VALUE string")
    key, sep, value = item.partition("=")
    if not sep:
        raise InvalidArgumentError(
            f"invalid env entry {item!r}: use KEY=VALUE (a bare KEY is taken from the caller's "
            "environment only on the command line)"
        )
    _check_env_key(key, item)
    if "\x00" in value:
        raise InvalidArgumentError(f"invalid env entry {item!r}: the value contains a NUL byte")
    return key, value


def _check_env_key(key: str, item: str) -> None:
    if not _ENV_KEY.fullmatch(key):
        raise InvalidArgumentError(
            f"invalid env entry {item!r}: the key must be non-empty, without '=', spaces "
            "or control characters"
        )


# --- users -----------------------------------------------------------------------------------


def parse_user(value: str, rootfs: Path | None) -> User:
    """Resolve a `--user` value to (uid, gid, additional gids) through the rootfs's own files.

    `value` is `user` or `user:group`, each a number or a name. Names are looked up in
    `<rootfs>/etc/passwd` and `<rootfs>/etc/group`, resolved as the container would see them
    (never the host's files). Without a group, the gid is the user's in passwd, else 0. The
    additional gids are the other groups that list the user's name as a member. With `rootfs`
    None only numbers are accepted. Raises InvalidArgumentError naming the user (or group) and
    the rootfs if a name is unknown, a number is out of range (0..4294967294), or `value` is
    malformed.
    """
    if not isinstance(value, str) or not value or value.count(":") > 1:
        raise InvalidArgumentError(f"invalid user {value!r}: use user, uid, user:group or uid:gid")
    user_part, sep, group_part = value.partition(":")
    if not user_part or (sep and not group_part):
        raise InvalidArgumentError(f"invalid user {value!r}: use user, uid, user:group or uid:gid")
    if rootfs is None:
        for part, what in ((user_part, "user"), (group_part, "group")):
            if part and not _is_number(part):
                raise InvalidArgumentError(
                    f"cannot look up {what} name {part!r} of user {value!r} without a rootfs",
                    hint="use a numeric uid[:gid]",
                )
    passwd = read_db(rootfs, "/etc/passwd") if rootfs is not None else []
    if _is_number(user_part):
        uid = _id(user_part, "uid", value)
        entry = next((e for e in passwd if len(e) > 3 and e[2] == user_part), None)
    else:
        entry = next((e for e in passwd if len(e) > 3 and e[0] == user_part), None)
        if entry is None or not _is_number(entry[2]):
            raise InvalidArgumentError(
                f"unknown user {user_part!r}: not in {rootfs}/etc/passwd",
                hint="use a numeric uid or add the user to the image",
            )
        uid = _id(entry[2], "uid", value)
    gid = _id(entry[3], "gid", value) if entry is not None and _is_number(entry[3]) else 0
    groups = read_db(rootfs, "/etc/group") if rootfs is not None else []
    if _is_number(group_part):
        gid = _id(group_part, "gid", value)
    elif group_part:
        found = next((g for g in groups if len(g) > 2 and g[0] == group_part), None)
        if found is None or not _is_number(found[2]):
            raise InvalidArgumentError(
                f"unknown group {group_part!r} of user {value!r}: not in {rootfs}/etc/group",
                hint="use a numeric gid or add the group to the image",
            )
        gid = _id(found[2], "gid", value)
    extra: set[int] = set()
    if entry is not None:
        for g in groups:
            if len(g) > 3 and _is_number(g[2]) and entry[0] in g[3].split(","):
                extra.add(_id(g[2], "gid", value))
    extra.discard(gid)
    return uid, gid, tuple(sorted(extra))


def read_db(rootfs: Path, path: str) -> list[list[str]]:
    """Return the colon-separated records of `path` inside `rootfs` ([] if it does not exist)."""
    host_path = resolve_in_rootfs(rootfs, path)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(host_path, flags)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise InvalidArgumentError(f"cannot read {path} in {rootfs}: {exc.strerror}") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InvalidArgumentError(f"{path} in {rootfs} is not a regular file")
        data = os.read(fd, _MAX_DB_BYTES)
    finally:
        os.close(fd)
    records = []
    for line in data.decode(errors="replace").splitlines():
        if line and not line.startswith(("#", "+", "-")):
            records.append(line.split(":"))
    return records


def _is_number(text: str) -> bool:
    return _NUMBER.fullmatch(text) is not None


def _id(text: str, what: str, value: str) -> int:
    number = int(text)
    if number > _MAX_ID:
        raise InvalidArgumentError(f"invalid user {value!r}: {what} {number} is out of range")
    return number


def _user_doc(user: User) -> dict[str, Any]:
    try:
        uid, gid, extra = user
        ids = [uid, gid, *extra]
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"invalid user {user!r}: expected (uid, gid, additional gids)"
        ) from None
    if not all(type(i) is int and 0 <= i <= _MAX_ID for i in ids):
        raise InvalidArgumentError(f"invalid user {user!r}: ids must be integers 0..{_MAX_ID}")
    doc: dict[str, Any] = {"uid": uid, "gid": gid}
    if extra:
        doc["additionalGids"] = list(extra)
    return doc


# --- small validators ------------------------------------------------------------------------


def _args(args: Sequence[str]) -> list[str]:
    if isinstance(args, str | bytes):
        raise InvalidArgumentError(f"the command must be a list of arguments, not {args!r}")
    if not args or not args[0]:
        raise InvalidArgumentError("a container needs a command", hint="give the program to run")
    if not all(isinstance(a, str) and "\x00" not in a for a in args):
        raise InvalidArgumentError(f"invalid command {list(args)!r}: every argument is a string")
    return list(args)


def _cwd(cwd: str) -> str:
    if not isinstance(cwd, str) or not cwd.startswith("/") or "\x00" in cwd:
        raise InvalidArgumentError(f"invalid working directory {cwd!r}: it must be absolute")
    return cwd


def _bool(value: bool, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgumentError(f"{what} must be true or false, not {value!r}")
    return value


def _annotations(annotations: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(annotations, Mapping):
        raise InvalidArgumentError(f"annotations must be a mapping, not {annotations!r}")
    for k, v in annotations.items():
        if not isinstance(k, str) or not k or not isinstance(v, str):
            raise InvalidArgumentError(
                f"invalid annotation {k!r}={v!r}: keys and values are strings"
            )
    return dict(annotations)
