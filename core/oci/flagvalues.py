"""Parsing podman's option values (`-v`, `--mount`, `--tmpfs`, `--memory`, `--ulimit`, ...).

The CLI and the Docker API share these, so `-v /a:/b:ro` and Docker's `Binds: ["/a:/b:ro"]` mean
the same thing. Each parser returns a value of `containerconfig.py` or raises
InvalidArgumentError with one line naming the option, the bad value and what is accepted.
Meanings follow podman 4 (`podman run --help`, containers/common's `pkg/parse`, docker/go-units).
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Iterable, Mapping
from typing import Final

from ocimux.base.errors import InvalidArgumentError
from ocimux.base.linuxcaps import normalize_capability

from .containerconfig import NETWORK_MODES, Device, Mount, Ulimit

__all__ = [
    "parse_capabilities",
    "parse_cpus",
    "parse_device",
    "parse_env_file",
    "parse_labels",
    "parse_mount",
    "parse_network",
    "parse_pids_limit",
    "parse_security_opt",
    "parse_size",
    "parse_sysctl",
    "parse_tmpfs",
    "parse_ulimit",
    "parse_volume",
    "SecurityOpts",
]

_SIZE: Final = re.compile(r"(\d+(?:\.\d+)?) ?([kmgtp])?i?b?", re.IGNORECASE)
_UNITS: Final = {None: 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_PROPAGATION: Final = frozenset(
    {"shared", "rshared", "slave", "rslave", "private", "rprivate", "unbindable", "runbindable"}
)
_FLAG_PAIRS: Final = {
    "nosuid": "suid",
    "nodev": "dev",
    "noexec": "exec",
    "suid": "nosuid",
    "dev": "nodev",
    "exec": "noexec",
}
#: podman's `--ulimit` names (RLIMIT_<NAME>)
ULIMIT_NAMES: Final = frozenset(
    "as core cpu data fsize locks memlock msgqueue nice nofile nproc rss rtprio rttime "
    "sigpending stack".split()
)
#: sysctls with their own namespace (runc's and podman's list); net.* needs a network namespace
_IPC_SYSCTLS: Final = frozenset(
    "kernel.msgmax kernel.msgmnb kernel.msgmni kernel.sem kernel.shmall kernel.shmmax "
    "kernel.shmmni kernel.shm_rmid_forced".split()
)
_MAX_ENV_FILE: Final = 1 << 20


def _bad(option: str, value: object, why: str, hint: str | None = None) -> InvalidArgumentError:
    return InvalidArgumentError(f"invalid {option} {value!r}: {why}", hint=hint)


def _absolute(option: str, value: str, path: str, what: str) -> str:
    if not path.startswith("/") or "\x00" in path:
        raise _bad(option, value, f"the {what} {path!r} must be an absolute path")
    return os.path.normpath(path)


# --- sizes and numbers -----------------------------------------------------------------------


def parse_size(value: str | int, option: str = "--memory") -> int:
    """Return the bytes `value` means: `512`, `64k`, `64m`, `1g`, `1.5G`, `64MiB`, `64mb`.

    Units are binary (go-units RAMInBytes, which podman uses). An int is taken as bytes.
    Raises for anything else, a negative value, or more than 2**63-1 bytes.
    """
    if isinstance(value, bool):
        raise _bad(option, value, "use a size such as 64m or 1g")
    if isinstance(value, int):
        number = value
    else:
        match = _SIZE.fullmatch(value.strip()) if isinstance(value, str) else None
        if match is None:
            raise _bad(option, value, "use a number with an optional unit b, k, m, g, t or p")
        unit = match.group(2).lower() if match.group(2) else None
        number = int(float(match.group(1)) * _UNITS[unit])
    if number < 0 or number > 2**63 - 1:
        raise _bad(option, value, "out of range")
    return number


def parse_cpus(value: str | float) -> tuple[int, int]:
    """Return (quota, period) in microseconds for `--cpus N` (period 100000, as podman).

    N must be a finite number > 0 and at most the host's CPU count.
    """
    try:
        cpus = float(value)
    except (TypeError, ValueError):
        raise _bad("--cpus", value, "use a number of CPUs such as 0.5 or 2") from None
    available = os.cpu_count() or 1
    if not math.isfinite(cpus) or cpus <= 0:
        raise _bad("--cpus", value, "it must be a number greater than 0")
    if cpus > available:
        raise _bad(
            "--cpus", value, f"this host has only {available} CPUs", hint=f"use 0.01 to {available}"
        )
    period = 100_000
    return max(1000, round(cpus * period)), period


def parse_pids_limit(value: str | int) -> int:
    """`--pids-limit`: a positive number, or -1 (or 0) for unlimited, returned as -1."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise _bad("--pids-limit", value, "use a whole number (-1 for unlimited)") from None
    if number < -1 or number > 2**63 - 1:
        raise _bad("--pids-limit", value, "use a positive number, or -1 for unlimited")
    return -1 if number in (0, -1) else number


# --- mounts ----------------------------------------------------------------------------------


def parse_volume(value: str) -> Mount:
    """`-v SRC:DST[:OPTS]` (and Docker's Binds): a bind mount of an existing host path.

    OPTS, comma-separated: `ro`/`rw`, a propagation (`rprivate`, `shared`, ...), `nosuid`,
    `nodev`, `noexec` (and their opposites), `bind`/`rbind` (default rbind, as podman), `z`/`Z`
    (SELinux relabelling: accepted and without effect on a host without SELinux), `nocopy`
    (meaningful only for named volumes: accepted, no effect on a bind). Named volumes (SRC not
    absolute), anonymous volumes (`-v DST`), and `O`/`U`/`idmap` are refused.
    """
    if not isinstance(value, str) or not value:
        raise _bad("--volume", value, "use SRC:DST[:OPTIONS]")
    parts = value.split(":")
    if len(parts) == 1:
        raise _bad(
            "--volume",
            value,
            "anonymous volumes are not supported (ocimux has no volume store)",
            hint="bind a host directory: -v /host/dir:/dst",
        )
    if len(parts) > 3:
        raise _bad("--volume", value, "too many ':' (use SRC:DST[:OPTIONS])")
    src, dst = parts[0], parts[1]
    opts = parts[2].split(",") if len(parts) == 3 else []
    if not src.startswith("/"):
        raise _bad(
            "--volume",
            value,
            f"{src!r} is not an absolute host path; named volumes are not supported",
            hint="bind a host directory: -v /host/dir:/dst",
        )
    return _bind("--volume", value, src, dst, opts)


def _bind(option: str, value: str, src: str, dst: str, opts: list[str]) -> Mount:
    src = _absolute(option, value, src, "source")
    dst = _absolute(option, value, dst, "destination")
    if dst == "/":
        raise _bad(option, value, "cannot mount over the container's root")
    if not os.path.exists(src):
        raise _bad(option, value, f"the source {src} does not exist on the host")
    options = _mount_options(option, value, opts, bind=True)
    return Mount("bind", dst, src, options)


def _mount_options(option: str, value: str, opts: Iterable[str], *, bind: bool) -> tuple[str, ...]:
    rw: str | None = None
    propagation: str | None = None
    kind = "rbind"
    flags: list[str] = []
    extra: list[str] = []
    for raw in opts:
        opt = raw.strip()
        if not opt or opt in ("z", "Z", "nocopy", "copy"):
            continue  # SELinux labels (no SELinux here) and named-volume copying: no effect
        if opt in ("ro", "rw"):
            if rw is not None and rw != opt:
                raise _bad(option, value, "both ro and rw given")
            rw = opt
        elif opt in _PROPAGATION:
            if propagation is not None and propagation != opt:
                raise _bad(option, value, f"two propagations given ({propagation}, {opt})")
            propagation = opt
        elif opt in _FLAG_PAIRS:
            if _FLAG_PAIRS[opt] in flags:
                raise _bad(option, value, f"both {opt} and {_FLAG_PAIRS[opt]} given")
            flags.append(opt)
        elif bind and opt in ("bind", "rbind"):
            kind = opt
        elif not bind and re.fullmatch(
            r"(size=\d+[kmgKMG%]?|mode=[0-7]{1,4}|nr_inodes=\d+[kmgKMG]?)", opt
        ):
            extra.append(opt)
        elif opt in ("O", "U", "idmap") or opt.startswith("idmap="):
            raise _bad(option, value, f"option {opt!r} is not supported by ocimux")
        else:
            raise _bad(option, value, f"unknown mount option {opt!r}")
    out = [kind] if bind else []
    out.append(rw or "rw")
    out.extend(flags)
    out.extend(extra)
    out.append(propagation or "rprivate")
    return tuple(out)


def parse_tmpfs(value: str) -> Mount:
    """`--tmpfs DST[:OPTS]`: a tmpfs, by default `rw,noexec,nosuid,nodev` (podman's)."""
    if not isinstance(value, str) or not value:
        raise _bad("--tmpfs", value, "use DST[:OPTIONS]")
    dst, _, opts = value.partition(":")
    dst = _absolute("--tmpfs", value, dst, "destination")
    if dst == "/":
        raise _bad("--tmpfs", value, "cannot mount over the container's root")
    given = [o for o in opts.split(",") if o] if opts else []
    defaults = [d for d in ("noexec", "nosuid", "nodev") if _FLAG_PAIRS[d] not in given]
    return Mount(
        "tmpfs", dst, "tmpfs", _mount_options("--tmpfs", value, [*given, *defaults], bind=False)
    )


def parse_mount(value: str) -> Mount:
    """`--mount type=bind|tmpfs,...` with podman's keys.

    bind: `source|src`, `destination|dst|target`, `ro|readonly[=true|false]`,
    `bind-propagation`, `relabel` (no SELinux: no effect), `bind-nonrecursive`.
    tmpfs: `destination`, `tmpfs-size`, `tmpfs-mode`, `ro`, `noexec`... Other types (volume,
    image, devpts, glob) are refused.
    """
    if not isinstance(value, str) or not value:
        raise _bad("--mount", value, "use type=bind,source=SRC,destination=DST[,ro]")
    fields: dict[str, str] = {}
    flags: list[str] = []
    for item in value.split(","):
        key, sep, val = item.partition("=")
        key = key.strip().lower()
        if not key:
            continue
        if key in fields:
            raise _bad("--mount", value, f"{key} given twice")
        if sep:
            fields[key] = val
        else:
            flags.append(key)
    kind = fields.pop("type", None)
    if kind is None:
        raise _bad("--mount", value, "it needs type=bind or type=tmpfs")
    if kind not in ("bind", "tmpfs"):
        raise _bad(
            "--mount", value, f"type={kind} is not supported (ocimux has no volume or image store)",
            hint="use type=bind or type=tmpfs",
        )  # fmt: skip
    dst = fields.pop("destination", None) or fields.pop("dst", None) or fields.pop("target", None)
    if not dst:
        raise _bad("--mount", value, "it needs destination=PATH")
    opts: list[str] = []
    ro = fields.pop("readonly", None) or fields.pop("ro", None)
    for flag in flags:
        if flag in ("ro", "readonly"):
            ro = "true"
        elif flag in ("rw", "z", "Z", "relabel") or flag in _FLAG_PAIRS:
            opts.append(flag)
        elif flag == "bind-nonrecursive" and kind == "bind":
            opts.append("bind")
        else:
            raise _bad("--mount", value, f"unknown option {flag!r}")
    if ro is not None:
        if ro.lower() not in ("true", "false", "1", "0"):
            raise _bad("--mount", value, f"readonly={ro!r}: use true or false")
        opts.append("ro" if ro.lower() in ("true", "1") else "rw")
    fields.pop("relabel", None)
    if kind == "bind":
        src = fields.pop("source", None) or fields.pop("src", None)
        if not src:
            raise _bad("--mount", value, "a bind needs source=PATH")
        if "bind-propagation" in fields:
            opts.append(fields.pop("bind-propagation"))
        if fields:
            raise _bad("--mount", value, f"unknown key {sorted(fields)[0]!r} for type=bind")
        return _bind("--mount", value, src, dst, opts)
    if "tmpfs-size" in fields:
        opts.append(f"size={parse_size(fields.pop('tmpfs-size'), '--mount tmpfs-size')}")
    if "tmpfs-mode" in fields:
        mode = fields.pop("tmpfs-mode")
        if not re.fullmatch(r"[0-7]{1,4}", mode):
            raise _bad("--mount", value, f"tmpfs-mode={mode!r}: use an octal mode such as 1777")
        opts.append(f"mode={int(mode, 8):o}")
    if fields:
        raise _bad("--mount", value, f"unknown key {sorted(fields)[0]!r} for type=tmpfs")
    dst = _absolute("--mount", value, dst, "destination")
    if dst == "/":
        raise _bad("--mount", value, "cannot mount over the container's root")
    defaults = [d for d in ("noexec", "nosuid", "nodev") if _FLAG_PAIRS[d] not in opts]
    return Mount(
        "tmpfs", dst, "tmpfs", _mount_options("--mount", value, [*opts, *defaults], bind=False)
    )


# --- limits, sysctls, devices ----------------------------------------------------------------


def parse_ulimit(value: str) -> Ulimit:
    """`--ulimit NAME=SOFT[:HARD]`; -1 or `unlimited` means no limit; soft must not exceed hard."""
    if not isinstance(value, str):
        raise _bad("--ulimit", value, "use NAME=SOFT[:HARD]")
    name, sep, limits = value.partition("=")
    name = name.strip().lower().removeprefix("rlimit_")
    if not sep or not limits:
        raise _bad("--ulimit", value, "use NAME=SOFT[:HARD], e.g. nofile=1024:2048")
    if name not in ULIMIT_NAMES:
        raise _bad(
            "--ulimit",
            value,
            f"unknown limit {name!r}",
            hint=f"use one of {', '.join(sorted(ULIMIT_NAMES))}",
        )
    soft_text, _, hard_text = limits.partition(":")
    soft = _limit(soft_text, value)
    hard = _limit(hard_text, value) if hard_text else soft
    if soft != -1 and (hard == -1 or soft <= hard) or soft == hard:
        return Ulimit(name, soft, hard)
    raise _bad("--ulimit", value, f"the soft limit {soft} is above the hard limit {hard}")


def _limit(text: str, value: str) -> int:
    text = text.strip()
    if text in ("-1", "unlimited"):
        return -1
    if not re.fullmatch(r"\d{1,19}", text):
        raise _bad("--ulimit", value, f"{text!r} is not a number (use -1 for unlimited)")
    return int(text)


def parse_sysctl(value: str, network: str = "none") -> tuple[str, str]:
    """`--sysctl NAME=VALUE`: only namespaced sysctls, so the host is never changed.

    Allowed: the IPC ones (`kernel.msg*`, `kernel.sem`, `kernel.shm*`), `fs.mqueue.*`, and
    `net.*` unless the container shares the host's network. Anything else is refused.
    """
    if not isinstance(value, str):
        raise _bad("--sysctl", value, "use NAME=VALUE")
    name, sep, val = value.partition("=")
    name = name.strip().replace("/", ".")
    if not sep or not name:
        raise _bad("--sysctl", value, "use NAME=VALUE, e.g. net.ipv4.ip_forward=1")
    if name in _IPC_SYSCTLS or name.startswith("fs.mqueue."):
        return name, val
    if name.startswith("net."):
        if network == "host":
            raise _bad(
                "--sysctl", value, "net.* sysctls would change the host's network (--network host)"
            )
        return name, val
    raise _bad(
        "--sysctl",
        value,
        "not a namespaced sysctl: setting it would change the host",
        hint="only kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.* and net.* are allowed",
    )


def parse_device(value: str) -> Device:
    """`--device HOST[:CONTAINER][:PERMS]`: a host device node (character or block)."""
    if not isinstance(value, str) or not value:
        raise _bad("--device", value, "use HOST[:CONTAINER][:PERMISSIONS]")
    parts = value.split(":")
    if len(parts) > 3:
        raise _bad("--device", value, "too many ':'")
    host = parts[0]
    container = host
    perms = "rwm"
    if len(parts) == 2:
        if re.fullmatch(r"[rwm]{1,3}", parts[1]):
            perms = parts[1]
        else:
            container = parts[1]
    elif len(parts) == 3:
        container, perms = parts[1], parts[2]
    host = _absolute("--device", value, host, "host path")
    container = _absolute("--device", value, container, "container path")
    if not re.fullmatch(r"[rwm]{1,3}", perms) or len(set(perms)) != len(perms):
        raise _bad("--device", value, f"permissions {perms!r}: use a combination of r, w and m")
    try:
        st = os.stat(host)
    except OSError as exc:
        raise _bad("--device", value, f"{host}: {exc.strerror}") from None
    if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        raise _bad("--device", value, f"{host} is not a device node")
    return Device(host, container, perms)


def parse_network(value: str) -> str:
    """`--network none|host`; ocimux has no network stack, so any other mode is refused."""
    if value in NETWORK_MODES:
        return value
    raise _bad(
        "--network",
        value,
        "ocimux has no network stack: only none (a private loopback) and host are supported",
    )


def parse_capabilities(values: Iterable[str], option: str) -> tuple[str, ...]:
    """`--cap-add`/`--cap-drop`: names with or without CAP_, any case, comma lists, or ALL."""
    out: list[str] = []
    for value in values:
        for item in str(value).split(","):
            if not item.strip():
                continue
            name = normalize_capability(item)
            if name is None:
                raise _bad(option, item, "unknown capability", hint="see capabilities(7)")
            if name not in out:
                out.append(name)
    return tuple(out)


def parse_labels(items: Iterable[str], option: str = "--label") -> tuple[tuple[str, str], ...]:
    """`-l KEY=VALUE` (a bare KEY means an empty value, as in podman)."""
    out: dict[str, str] = {}
    for item in items:
        key, _, value = str(item).partition("=")
        if not key or "\x00" in item:
            raise _bad(option, item, "use KEY=VALUE")
        out[key] = value
    return tuple(out.items())


# --- security options ------------------------------------------------------------------------


class SecurityOpts:
    """What `--security-opt` items asked for: no_new_privileges, seccomp, mask, unmask."""

    __slots__ = ("mask", "no_new_privileges", "seccomp", "unmask")

    def __init__(self) -> None:
        self.no_new_privileges = False
        self.seccomp: str | None = None
        self.mask: list[str] = []
        self.unmask: list[str] = []


def parse_security_opt(values: Iterable[str]) -> SecurityOpts:
    """Parse `--security-opt` items (podman's spellings; Docker's `seccomp:x` too).

    `no-new-privileges[=true|false]`, `seccomp=unconfined|FILE`, `mask=/a:/b`,
    `unmask=ALL|/a:/b`, `label=disable` and `apparmor=unconfined` (this host has neither
    SELinux nor AppArmor: nothing to disable). Anything else, SELinux labels and AppArmor
    profiles included, is refused: it could not be applied here.
    """
    out = SecurityOpts()
    for value in values:
        key, sep, val = str(value).partition("=")
        if not sep and ":" in key and key.split(":", 1)[0] in ("seccomp", "label", "apparmor"):
            key, _, val = key.partition(":")
            sep = "="
        if key in ("no-new-privileges", "no_new_privileges"):
            if sep and val not in ("true", "false"):
                raise _bad("--security-opt", value, "use no-new-privileges[=true|false]")
            out.no_new_privileges = val != "false"
        elif key == "seccomp" and val:
            out.seccomp = "unconfined" if val == "unconfined" else _absolute(
                "--security-opt", value, val, "seccomp profile"
            )  # fmt: skip
        elif key == "mask" and val:
            out.mask += [_absolute("--security-opt", value, p, "path") for p in val.split(":") if p]
        elif key == "unmask" and val:
            out.unmask += [
                p if p == "ALL" else _absolute("--security-opt", value, p, "path")
                for p in val.split(":")
                if p
            ]
        elif (key, val) in (("label", "disable"), ("apparmor", "unconfined")):
            continue
        else:
            raise _bad(
                "--security-opt",
                value,
                "not supported here (this host has no SELinux or AppArmor)",
                hint="use no-new-privileges, seccomp=unconfined|FILE, mask=PATHS or unmask=PATHS",
            )
    return out


# --- env files -------------------------------------------------------------------------------


def parse_env_file(path: str, environ: Mapping[str, str]) -> list[str]:
    """Read an `--env-file` as podman does: `KEY=VALUE` lines; `#` comments and blank lines skip.

    A line holding only `KEY` takes KEY from `environ` (left out if unset); a key with spaces
    or control characters, or a line starting with `=`, is an error naming the file and line.
    """
    try:
        with open(path, "rb") as fh:
            data = fh.read(_MAX_ENV_FILE + 1)
    except OSError as exc:
        raise _bad("--env-file", path, exc.strerror or str(exc)) from None
    if len(data) > _MAX_ENV_FILE:
        raise _bad("--env-file", path, "larger than 1 MiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad("--env-file", path, "not UTF-8 text") from None
    out: list[str] = []
    # lines end at \n only (podman's bufio scanner), so a value may hold \f, \v or U+2028
    for number, raw in enumerate(text.split("\n"), 1):
        raw = raw.removesuffix("\r")
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not key or re.search(r"[\s\x00-\x1f\x7f]", key):
            raise InvalidArgumentError(
                f"invalid --env-file {path}: line {number} {raw!r} is not KEY=VALUE",
                hint="write one KEY=VALUE per line",
            )
        if sep:
            out.append(f"{key}={value}")
        elif key in environ:
            out.append(f"{key}={environ[key]}")
    return out
