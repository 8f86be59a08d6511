"""Find a container's command inside its root filesystem, as runc and a shell would.

A runtime that starts processes itself (a sandbox, a VM agent, the mock) must answer "not found"
(127) and "cannot invoke" (126) before it runs anything, with the words podman and runc use, so
that the CLI exits with the right code and the user reads a familiar line:

    exec: "nope": executable file not found in $PATH        127
    exec: "/bin/nope": stat /bin/nope: no such file or directory   127
    exec: "/etc/passwd": permission denied                 126
    exec: "/etc": is a directory                           126

Rules (runc's `exec.LookPath` after `chdir(cwd)` in the container, with a shell's 126):
- an argv[0] with a `/` is a path, relative to `cwd`; one without is looked up in the spec env's
  `PATH` (the default below when it has none; an empty entry is `cwd`, as in execvp);
- every symlink is resolved INSIDE the rootfs: an absolute target starts again at the rootfs,
  and `..` stops at it, so a link can never lead to a file of the host;
- a match must be a regular file with an execute bit; in a `PATH` search a directory is
  skipped (bash and Go do) and a non-executable file gives 126 unless a later entry has the
  command (execvp does). Whether the container's user may run it is the kernel's call, at exec.

Public: a plugin imports `resolve_command`, `exec_error` and `DEFAULT_PATH` from here.
"""

from __future__ import annotations

import errno as _errno
import os
import posixpath
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import CommandNotFoundError, CommandNotInvocableError, InvalidArgumentError

__all__ = ["DEFAULT_PATH", "ResolvedCommand", "exec_error", "resolve_command"]

#: the PATH a container gets when its spec's env has none (containerd's and podman's default)
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: symlinks followed in one lookup before giving up (Linux's MAXSYMLINKS)
MAX_SYMLINKS = 40

CommandError = CommandNotFoundError | CommandNotInvocableError


@dataclass(frozen=True, slots=True)
class ResolvedCommand:
    """A command found in a rootfs.

    `path` is what to exec inside the container (the match as found, absolute, symlinks kept,
    e.g. `/bin/sh`); `host_path` is where that file is on the host, every symlink resolved
    inside the rootfs (e.g. `<rootfs>/bin/busybox`); `args` are the argv, unchanged.
    """

    path: str
    host_path: Path
    args: tuple[str, ...]


def resolve_command(
    rootfs: str | os.PathLike[str],
    args: Sequence[str],
    env: Iterable[str] | Mapping[str, str] = (),
    cwd: str = "/",
) -> ResolvedCommand:
    """Find `args[0]` in `rootfs` for a process with environment `env` (the spec's `KEY=VALUE`
    list, or a mapping) and working directory `cwd` (inside the rootfs).

    Reads the file system only (stat, readlink); runs nothing. Raises CommandNotFoundError
    (127) or CommandNotInvocableError (126) with runc's message, its `__cause__` the OSError
    (ENOENT, EACCES, EISDIR) an exec would have met; InvalidArgumentError if `args` is empty.
    """
    if not args:
        raise InvalidArgumentError("process.args is empty: there is no command to run")
    command = args[0]
    root = Path(os.path.abspath(rootfs))
    cwd = posixpath.join("/", cwd)
    if "/" in command:
        inside = posixpath.normpath(posixpath.join(cwd, command))
        host, number = _lookup(root, inside)
        if number is None:
            return ResolvedCommand(inside, host, tuple(args))
        raise exec_error(command, OSError(number, os.strerror(number)))
    denied = False
    for entry in _path_of(env).split(":"):
        inside = posixpath.normpath(posixpath.join(cwd, entry or ".", command))
        host, number = _lookup(root, inside)
        if number is None:
            return ResolvedCommand(inside, host, tuple(args))
        denied = denied or number == _errno.EACCES  # a directory is skipped, not denied
    number = _errno.EACCES if denied else _errno.ENOENT
    raise exec_error(command, OSError(number, os.strerror(number)))


def exec_error(command: str, exc: OSError) -> CommandError:
    """Turn the OSError of a failed exec of `command` into the 126/127 error runc would report.

    ENOENT (and ENOTDIR, ELOOP) is 127: "executable file not found in $PATH" for a bare name,
    "stat <path>: no such file or directory" for a path. Anything else (EACCES, EISDIR,
    ENOEXEC, ...) is 126 with the system's reason. The OSError becomes the `__cause__`.
    """
    if exc.errno in (_errno.ENOENT, _errno.ENOTDIR, _errno.ELOOP):
        if "/" in command:
            detail = f'exec: "{command}": stat {command}: no such file or directory'
        else:
            detail = f'exec: "{command}": executable file not found in $PATH'
        error: CommandError = CommandNotFoundError(
            detail, hint="check the command and the PATH of its environment"
        )
    else:
        reason = (exc.strerror or os.strerror(exc.errno or _errno.EACCES)).lower()
        error = CommandNotInvocableError(
            f'exec: "{command}": {reason}', hint="check the file's mode and format"
        )
    error.__cause__ = exc
    return error


def _path_of(env: Iterable[str] | Mapping[str, str]) -> str:
    """The env's PATH (the last one wins, as in a process's environ); DEFAULT_PATH if none."""
    if isinstance(env, Mapping):
        return env.get("PATH", DEFAULT_PATH)
    found = DEFAULT_PATH
    for entry in env:
        key, sep, value = entry.partition("=")
        if sep and key == "PATH":
            found = value
    return found


def _lookup(root: Path, inside: str) -> tuple[Path, int | None]:
    """Resolve `inside` in `root`; return its host path and None if it is a runnable file,
    else the errno an exec would give (ENOENT, EISDIR, EACCES)."""
    try:
        host = _resolve_in_root(root, inside)
        mode = os.stat(host).st_mode
    except OSError as exc:
        return root, exc.errno or _errno.ENOENT
    if stat.S_ISDIR(mode):
        return host, _errno.EISDIR
    if not stat.S_ISREG(mode) or not mode & 0o111:
        return host, _errno.EACCES
    return host, None


def _resolve_in_root(root: Path, inside: str) -> Path:
    """The host path of `inside` with every symlink resolved as if `root` were `/`.

    Like `filepath-securejoin`: an absolute link target restarts at `root` and `..` never
    climbs above it. A missing component raises FileNotFoundError (ENOENT), a file used as a
    directory NotADirectoryError, more than MAX_SYMLINKS links ELOOP.
    """
    resolved: list[str] = []  # components below root, all real directories so far
    pending = [part for part in inside.split("/") if part][::-1]  # a stack, next on top
    links = 0
    while pending:
        part = pending.pop()
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        current = root.joinpath(*resolved, part)
        st = os.lstat(current)
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > MAX_SYMLINKS:
                raise OSError(_errno.ELOOP, os.strerror(_errno.ELOOP), str(current))
            target = os.readlink(current)
            if target.startswith("/"):
                resolved = []
            pending.extend(part for part in target.split("/")[::-1] if part)
            continue
        if pending and not stat.S_ISDIR(st.st_mode):
            raise NotADirectoryError(_errno.ENOTDIR, os.strerror(_errno.ENOTDIR), str(current))
        resolved.append(part)
    return root.joinpath(*resolved)
