"""Seccomp: turn a Docker-format profile into the runtime-spec `linux.seccomp` object.

The rules are podman 4.3.1's (containers/common v0.50.1, `pkg/seccomp/seccomp_linux.go`,
`setupSeccomp`), checked against the config.json that podman writes on this Debian host:

- `architectures` is copied as is; from `archMap` only the first entry whose `architecture` is
  the native one counts, followed by its `subArchitectures`. Giving both keys is an error. Only
  amd64, arm64, s390x and the mips64 family have a native entry (podman's `nativeToSeccomp`);
  elsewhere `archMap` gives nothing and the runtime uses the native architecture alone.
- `defaultErrno` / `errno` (a name from podman's table, or a decimal number) win over
  `defaultErrnoRet` / `errnoRet`.
- A rule is dropped if the architecture is in `excludes.arches`, or any of `excludes.caps` is in
  the bounding set, or the architecture is not in a non-empty `includes.arches`, or one of
  `includes.caps` is missing. Architectures there are libseccomp names (amd64, x86, x32, arm64),
  not uname's; capabilities compare exactly (CAP_SYS_ADMIN).
- Rules keep their order and are never merged; `name` (one syscall) may stand for `names`.
- Empty values are left out as Go's `omitempty` does: errnoRet when unset, args when empty, an
  argument's valueTwo when 0, architectures/flags/syscalls when empty.

Where ocimux differs on purpose:

- `minKernel` ("4.8") in includes/excludes is honoured as Docker does (moby
  `profiles/seccomp`): `includes.minKernel` keeps the rule only on that kernel or newer,
  `excludes.minKernel` drops it there. podman 4.3.1 ignores the key and keeps every such rule.
- A profile is checked before use. podman hands unknown actions and operators to the runtime,
  drops rules without names silently, and runs a container unconfined if the profile has neither
  defaultAction nor syscalls; ocimux rejects each of those, naming the file and the field.

Whether to apply seccomp at all (`--privileged`, `seccomp=unconfined`: podman writes no
`linux.seccomp`) is the caller's decision.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import re
import stat
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Final, NoReturn

from ocimux.base.errors import InvalidArgumentError

__all__ = ["DEFAULT_PROFILE_PATH", "load_profile", "to_oci"]

#: the profile podman uses when containers.conf names none (package golang-github-containers-common)
DEFAULT_PROFILE_PATH: Final = "/usr/share/containers/seccomp.json"

_MAX_PROFILE_BYTES: Final = 4 << 20
_U32: Final = 2**32
_U64: Final = 2**64
_ACTIONS: Final = frozenset(
    f"SCMP_ACT_{a}"
    for a in "KILL KILL_PROCESS KILL_THREAD TRAP ERRNO TRACE ALLOW LOG NOTIFY".split()
)
_OPERATORS: Final = frozenset(
    f"SCMP_CMP_{op}" for op in ("NE", "LT", "LE", "EQ", "GE", "GT", "MASKED_EQ")
)
#: errno names podman accepts (containers/common errno_list.go); values are this host's
_ERRNO_NAMES: Final = frozenset(
    "EPERM ENOENT ESRCH EIO ENXIO E2BIG ENOEXEC EBADF ECHILD EDEADLK ENOMEM EACCES EFAULT ENOTBLK "
    "EBUSY EEXIST EXDEV ENODEV ENOTDIR EISDIR EINVAL ENFILE EMFILE ENOTTY ETXTBSY EFBIG ENOSPC "
    "ESPIPE EROFS EMLINK EPIPE EDOM ERANGE EAGAIN EINPROGRESS EALREADY ENOTSOCK EDESTADDRREQ "
    "EMSGSIZE EPROTOTYPE ENOPROTOOPT EPROTONOSUPPORT ESOCKTNOSUPPORT EOPNOTSUPP EPFNOSUPPORT "
    "EAFNOSUPPORT EADDRINUSE EADDRNOTAVAIL ENETDOWN ENETUNREACH ENETRESET ECONNABORTED "
    "ECONNRESET ENOBUFS EISCONN ENOTCONN ESHUTDOWN ETOOMANYREFS ETIMEDOUT ECONNREFUSED ELOOP "
    "ENAMETOOLONG EHOSTDOWN EHOSTUNREACH ENOTEMPTY EUSERS EDQUOT ESTALE EREMOTE ENOLCK ENOSYS "
    "EILSEQ ENOMEDIUM EMEDIUMTYPE EOVERFLOW ECANCELED EIDRM ENOMSG ENOTSUP EBADMSG "
    "ENOTRECOVERABLE EOWNERDEAD".split()
)
#: libseccomp's native architecture name -> the archMap key podman looks for
_NATIVE_TO_SCMP: Final = {
    "amd64": "SCMP_ARCH_X86_64",
    "arm64": "SCMP_ARCH_AARCH64",
    "mips64": "SCMP_ARCH_MIPS64",
    "mips64n32": "SCMP_ARCH_MIPS64N32",
    "mipsel64": "SCMP_ARCH_MIPSEL64",
    "mipsel64n32": "SCMP_ARCH_MIPSEL64N32",
    "s390x": "SCMP_ARCH_S390X",
}
#: uname -m -> libseccomp's name, where they differ
_MACHINE_TO_NATIVE: Final = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    **dict.fromkeys(("i386", "i486", "i586", "i686"), "x86"),
    **dict.fromkeys(("armv6l", "armv7l", "armv8l"), "arm"),
}
_KERNEL: Final = re.compile(r"([0-9]+)\.([0-9]+)")
_JSON_TYPES: Final = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number"}


def load_profile(path: str | Path) -> dict[str, Any]:
    """Read the Docker-format seccomp profile at `path` and check it; return it unchanged.

    Checks what `to_oci` relies on: one JSON object (UTF-8, at most 4 MiB, a regular file) with
    a known defaultAction, errno names podman knows, `architectures` or `archMap` (not both),
    `syscalls` a list of rules each with names, a known action, args with a known op and index
    0-5, and includes/excludes with lists of strings and a minKernel like "4.8". Other keys
    (comment, ...) are ignored, as podman does.
    Raises InvalidArgumentError, one line naming the file and what is wrong.
    """
    where = f"seccomp profile {path}"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        _fail(where, "does not exist", "give an existing file, or seccomp=unconfined")
    except OSError as exc:
        _fail(where, f"cannot be read: {exc.strerror}")
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            _fail(where, "is not a regular file", "give a JSON file")
        if st.st_size > _MAX_PROFILE_BYTES:
            _fail(where, f"is {st.st_size} bytes; a profile is at most {_MAX_PROFILE_BYTES}")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(_MAX_PROFILE_BYTES + 1)
    except OSError as exc:
        _fail(where, f"cannot be read: {exc.strerror}")
    finally:
        os.close(fd)
    if len(data) > _MAX_PROFILE_BYTES:
        _fail(where, f"is larger than {_MAX_PROFILE_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        _fail(where, f"is not UTF-8 text (byte {exc.start})")
    try:
        profile = json.loads(text)
    except json.JSONDecodeError as exc:
        _fail(where, f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}")
    except RecursionError:
        _fail(where, "is nested too deeply to read")
    _check_profile(profile, where)
    return profile


def to_oci(
    profile: dict[str, Any],
    *,
    capabilities: Iterable[str],
    arch: str | None = None,
    kernel: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Return the runtime-spec `linux.seccomp` object podman would write for `profile`.

    `profile` is a Docker-format profile (as `load_profile` returns; it is checked again here).
    `capabilities` is the container's bounding set (names like CAP_SYS_ADMIN, not a single
    string); includes/excludes.caps are matched against it. `arch` is libseccomp's name of the
    native architecture (amd64, arm64, x86, s390x; default: this machine's). `kernel` is
    (major, minor) for minKernel (default: parsed from `os.uname().release`, only if a rule has
    one). The result has defaultAction, then defaultErrnoRet, architectures, flags, listenerPath,
    listenerMetadata and syscalls where set; each syscall is {names, action, errnoRet?, args?}.
    The caller decides whether to apply seccomp at all (podman writes none for --privileged).
    Raises InvalidArgumentError if the profile is malformed or the kernel release cannot be read,
    TypeError if `capabilities` is a string.
    """
    if isinstance(capabilities, str):
        raise TypeError("capabilities must be an iterable of names, not a string")
    _check_profile(profile, "seccomp profile")
    caps = frozenset(capabilities)
    native = arch if arch is not None else _native_arch()
    versions: list[tuple[int, int]] = [kernel] if kernel is not None else []

    def running_kernel() -> tuple[int, int]:
        if not versions:
            versions.append(_kernel_version(os.uname().release))
        return versions[0]

    out: dict[str, Any] = {"defaultAction": profile["defaultAction"]}
    default_errno = _errno(profile.get("defaultErrno"), profile.get("defaultErrnoRet"))
    if default_errno is not None:
        out["defaultErrnoRet"] = default_errno
    arches = list(profile.get("architectures") or ())
    wanted = _NATIVE_TO_SCMP.get(native)
    for entry in profile.get("archMap") or ():
        if wanted is not None and entry["architecture"] == wanted:
            arches += [entry["architecture"], *(entry.get("subArchitectures") or ())]
            break
    if arches:
        out["architectures"] = arches
    if profile.get("flags"):
        out["flags"] = list(profile["flags"])
    for key in ("listenerPath", "listenerMetadata"):
        if profile.get(key):
            out[key] = profile[key]
    rules = [
        _oci_rule(rule)
        for rule in profile.get("syscalls") or ()
        if _applies(rule, caps, native, running_kernel)
    ]
    if rules:
        out["syscalls"] = rules
    return out


def _native_arch() -> str:
    """Return libseccomp's name for this machine's architecture (amd64, arm64, x86, ...).

    Maps `platform.machine()` (x86_64 -> amd64, aarch64 -> arm64, i686 -> x86, armv7l -> arm,
    little-endian mips64 -> mipsel64); other names (s390x, ppc64le, riscv64) are the same in
    both and pass through.
    """
    machine = platform.machine()
    if machine.startswith("mips") and sys.byteorder == "little" and "el" not in machine:
        machine = machine.replace("mips", "mipsel", 1)
    return _MACHINE_TO_NATIVE.get(machine, machine)


def _applies(
    rule: dict[str, Any],
    caps: frozenset[str],
    arch: str,
    running_kernel: Callable[[], tuple[int, int]],
) -> bool:
    """True if `rule` survives the includes/excludes filters, in podman's order, then minKernel."""
    excludes = rule.get("excludes") or {}
    includes = rule.get("includes") or {}
    if arch in (excludes.get("arches") or ()):
        return False
    if any(c in caps for c in excludes.get("caps") or ()):
        return False
    if includes.get("arches") and arch not in includes["arches"]:
        return False
    if any(c not in caps for c in includes.get("caps") or ()):
        return False
    if excludes.get("minKernel") and running_kernel() >= _kernel_version(excludes["minKernel"]):
        return False
    if includes.get("minKernel") and running_kernel() < _kernel_version(includes["minKernel"]):
        return False
    return True


def _oci_rule(rule: dict[str, Any]) -> dict[str, Any]:
    names = [rule["name"]] if rule.get("name") else list(rule["names"])
    out: dict[str, Any] = {"names": names, "action": rule["action"]}
    errno_ret = _errno(rule.get("errno"), rule.get("errnoRet"))
    if errno_ret is not None:
        out["errnoRet"] = errno_ret
    args = []
    for arg in rule.get("args") or ():
        doc = {"index": arg.get("index", 0), "value": arg.get("value", 0)}
        if arg.get("valueTwo"):
            doc["valueTwo"] = arg["valueTwo"]
        doc["op"] = arg["op"]
        args.append(doc)
    if args:
        out["args"] = args
    return out


def _errno(name: str | None, number: int | None) -> int | None:
    """The errno a name ("EPERM" or "1") stands for; `number` if there is no name (podman)."""
    if not name:
        return number
    return int(name) if name.isdecimal() else getattr(errno, name)


def _kernel_version(text: str) -> tuple[int, int]:
    """(major, minor) of "4.8" or "6.1.0-13-amd64", as Docker reads them; raise if neither."""
    found = _KERNEL.match(text)
    if found is None:
        _fail("seccomp:", f"kernel release {text!r} does not start with a version like 4.8")
    return int(found.group(1)), int(found.group(2))


# -- checking -------------------------------------------------------------------------------


def _check_profile(profile: object, where: str) -> None:
    """Raise InvalidArgumentError, naming `where` and the field, unless `profile` is usable."""
    if not isinstance(profile, dict):
        _fail(where, f"holds a JSON {_json_type(profile)}, not an object")
    action = profile.get("defaultAction")
    if action is None:
        _fail(where, "has no defaultAction", "add one, e.g. SCMP_ACT_ERRNO")
    if profile.get("architectures") and profile.get("archMap"):
        _fail(where, "has both architectures and archMap", "use one of them")
    where = f"{where}:"
    _check_choice(action, _ACTIONS, where, "defaultAction")
    _check_errno(profile, "defaultErrno", "defaultErrnoRet", where)
    for i, arch in enumerate(_list(profile, "architectures", where, "architectures")):
        _check_arch(arch, where, f"architectures[{i}]")
    for i, entry in enumerate(_list(profile, "archMap", where, "archMap")):
        at = f"archMap[{i}]"
        if not isinstance(entry, dict):
            _fail(where, f"{at} is a JSON {_json_type(entry)}, not an object")
        _check_arch(entry.get("architecture"), where, f"{at}.architecture")
        for j, sub in enumerate(_list(entry, "subArchitectures", where, at)):
            _check_arch(sub, where, f"{at}.subArchitectures[{j}]")
    for i, flag in enumerate(_list(profile, "flags", where, "flags")):
        _check_str(flag, where, f"flags[{i}]")
    for key in ("listenerPath", "listenerMetadata"):
        if profile.get(key) is not None:
            _check_str(profile[key], where, key)
    for i, rule in enumerate(_list(profile, "syscalls", where, "syscalls")):
        _check_rule(rule, where, f"syscalls[{i}]")


def _check_rule(rule: object, where: str, at: str) -> None:
    if not isinstance(rule, dict):
        _fail(where, f"{at} is a JSON {_json_type(rule)}, not an object")
    name, names = rule.get("name"), rule.get("names")
    if name and names:
        _fail(where, f"{at} has both name and names", "use names")
    if name:
        _check_str(name, where, f"{at}.name")
    elif not names:
        _fail(where, f"{at} has no names", "list the syscalls it applies to")
    for j, item in enumerate(_list(rule, "names", where, at)):
        _check_str(item, where, f"{at}.names[{j}]")
    _check_choice(rule.get("action"), _ACTIONS, where, f"{at}.action")
    _check_errno(rule, "errno", "errnoRet", where, at)
    for j, arg in enumerate(_list(rule, "args", where, at)):
        aat = f"{at}.args[{j}]"
        if not isinstance(arg, dict):
            _fail(where, f"{aat} is a JSON {_json_type(arg)}, not an object")
        _check_int(arg.get("index", 0), 6, where, f"{aat}.index")
        _check_int(arg.get("value", 0), _U64, where, f"{aat}.value")
        _check_int(arg.get("valueTwo", 0), _U64, where, f"{aat}.valueTwo")
        _check_choice(arg.get("op"), _OPERATORS, where, f"{aat}.op")
    for key in ("includes", "excludes"):
        block = rule.get(key)
        if block is None:
            continue
        if not isinstance(block, dict):
            _fail(where, f"{at}.{key} is a JSON {_json_type(block)}, not an object")
        for field in ("caps", "arches"):
            for j, item in enumerate(_list(block, field, where, f"{at}.{key}")):
                _check_str(item, where, f"{at}.{key}.{field}[{j}]")
        min_kernel = block.get("minKernel")
        if min_kernel is not None and (
            not isinstance(min_kernel, str) or not _KERNEL.match(min_kernel)
        ):
            _fail(where, f"{at}.{key}.minKernel {_show(min_kernel)} is not a version like 4.8")


def _list(doc: dict[str, Any], key: str, where: str, at: str) -> list[Any]:
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        path = key if at == key else f"{at}.{key}"
        _fail(where, f"{path} is a JSON {_json_type(value)}, not a list")
    return value


def _check_errno(
    doc: dict[str, Any], name_key: str, number_key: str, where: str, at: str = ""
) -> None:
    prefix = f"{at}." if at else ""
    name = doc.get(name_key)
    if name is not None:
        _check_str(name, where, f"{prefix}{name_key}")
        if name and not (
            (name.isascii() and name.isdecimal() and int(name) < _U32) or name in _ERRNO_NAMES
        ):
            _fail(where, f"{prefix}{name_key} {name!r} is not an errno", "use e.g. EPERM or 1")
    if doc.get(number_key) is not None:
        _check_int(doc[number_key], _U32, where, f"{prefix}{number_key}")


def _check_arch(value: object, where: str, at: str) -> None:
    if not isinstance(value, str) or not value.startswith("SCMP_ARCH_"):
        _fail(where, f"{at} {_show(value)} is not an architecture", "use e.g. SCMP_ARCH_X86_64")


def _check_choice(value: object, choices: frozenset[str], where: str, at: str) -> None:
    if not isinstance(value, str) or value not in choices:
        shown = "is missing" if value is None else f"{_show(value)} is unknown"
        _fail(where, f"{at} {shown}", f"use one of {', '.join(sorted(choices))}")


def _check_str(value: object, where: str, at: str) -> None:
    if not isinstance(value, str):
        _fail(where, f"{at} is a JSON {_json_type(value)}, not a string")


def _check_int(value: object, limit: int, where: str, at: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < limit:
        _fail(where, f"{at} {_show(value)} is not an integer from 0 to {limit - 1}")


def _show(value: object) -> str:
    text = json.dumps(value, default=repr)
    return text if len(text) <= 60 else text[:57] + "..."


def _json_type(value: object) -> str:
    if isinstance(value, float):
        return "number"
    return "null" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)


def _fail(where: str, problem: str, hint: str | None = None) -> NoReturn:
    raise InvalidArgumentError(f"{where} {problem}", hint=hint)
