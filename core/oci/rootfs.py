"""Root filesystems: resolving a path inside one, and building a minimal busybox one.

`resolve_in_rootfs` answers "which host file would the container see at this path?": symlinks are
followed as if the rootfs were `/`, so an image's `/etc/passwd -> /usr/lib/passwd` never reaches
the host's files and `..` never climbs out.

`build_busybox_rootfs` makes the smallest useful rootfs from the host's statically linked busybox
(Debian's busybox-static): the binary, a symlink per applet in `/bin`, the usual empty directories
and a few files in `/etc`. Tests and quick runs use it; it needs no image and no network.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import struct
from collections import deque
from pathlib import Path
from typing import Final

from ocimux.base import process
from ocimux.base.errors import InvalidArgumentError, OcimuxError

__all__ = ["BUSYBOX_CANDIDATES", "build_busybox_rootfs", "find_busybox", "resolve_in_rootfs"]

#: where a static busybox is looked for, before PATH
BUSYBOX_CANDIDATES: Final = ("/bin/busybox", "/usr/bin/busybox")
#: a file at the top of a rootfs this module built; a non-empty dest without it is never touched
MARKER: Final = ".ocimux-busybox-rootfs"
_MAX_SYMLINKS: Final = 40  # as the kernel's path walk (MAXSYMLINKS)
_PT_INTERP: Final = 3
_APPLET: Final = re.compile(r"[A-Za-z0-9_\[][A-Za-z0-9_.\[\]+-]*")
_DIRS: Final = (
    ("bin", 0o755),
    ("dev", 0o755),
    ("etc", 0o755),
    ("proc", 0o555),
    ("root", 0o700),
    ("run", 0o755),
    ("sys", 0o555),
    ("tmp", 0o1777),
    ("usr", 0o755),
    ("usr/bin", 0o755),
    ("var", 0o755),
)
_ETC: Final = (
    (
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    ),
    ("etc/group", "root:x:0:\nnobody:x:65534:\n"),
    ("etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"),
)


def resolve_in_rootfs(rootfs: Path, path: str) -> Path:
    """Return the host path of `path` as a process whose root is `rootfs` would resolve it.

    Every symlink on the way is followed inside `rootfs` (absolute targets restart at `rootfs`,
    `..` stops at it); a missing component ends the walk, so the result may not exist. Raises
    InvalidArgumentError after 40 symlinks (a loop). The caller should open the result with
    O_NOFOLLOW: a link created after this call is not resolved.
    """
    root = Path(os.path.abspath(rootfs))
    todo = deque(path.split("/"))
    done: list[str] = []
    links = 0
    while todo:
        part = todo.popleft()
        if part in ("", "."):
            continue
        if part == "..":
            if done:
                done.pop()
            continue
        here = root.joinpath(*done, part)
        try:
            is_link = stat.S_ISLNK(os.lstat(here).st_mode)
        except OSError:
            is_link = False  # missing (or unreadable): nothing more to resolve on this component
        if not is_link:
            done.append(part)
            continue
        links += 1
        if links > _MAX_SYMLINKS:
            raise InvalidArgumentError(
                f"too many levels of symbolic links resolving {path} in {root}"
            )
        target = os.readlink(here)
        if target.startswith("/"):
            done.clear()
        todo.extendleft(reversed(target.split("/")))
    return root.joinpath(*done)


def find_busybox(busybox: str | None = None) -> Path:
    """Return the statically linked busybox to use: `busybox` if given, else the first found.

    Without `busybox`, looks at BUSYBOX_CANDIDATES and then PATH, and returns the first static
    one. Raises InvalidArgumentError if none exists ("install busybox-static"), if the one given
    is missing, or if the only ones found are dynamically linked (a container rootfs has no
    libc to load them with).
    """
    if busybox is not None:
        path = Path(busybox)
        if not path.is_file():
            raise InvalidArgumentError(f"busybox not found at {path}; install busybox-static")
        _require_static(path)
        return path
    found: list[Path] = []
    for cand in (*BUSYBOX_CANDIDATES, shutil.which("busybox")):
        if cand and Path(cand).is_file() and Path(cand) not in found:
            found.append(Path(cand))
    if not found:
        looked = ", ".join(BUSYBOX_CANDIDATES)
        raise InvalidArgumentError(
            f"busybox not found (looked in {looked} and PATH); install busybox-static"
        )
    for path in found:
        if not _is_dynamic(path):
            return path
    raise _dynamic_error(found[0])


def build_busybox_rootfs(dest: Path, *, busybox: str | None = None) -> Path:
    """Make (or refresh) a minimal busybox rootfs in `dest` and return its absolute path.

    `dest` must be missing, an empty directory, or a rootfs this function built before (it leaves
    a marker file at its top); anything else raises InvalidArgumentError so a user's directory is
    never overwritten. `busybox` picks the binary (see `find_busybox`). Afterwards `dest` holds
    `bin/busybox` (0755), a symlink `bin/<applet> -> busybox` for every applet (`bin/sh`,
    `bin/echo`, ...), `usr/bin/env`, the directories dev etc proc root run sys tmp (1777) usr var,
    and `etc/passwd`, `etc/group`, `etc/hosts`. Idempotent: a rebuild replaces the binary
    atomically, adds missing links and files, and keeps files the user edited since.
    """
    source = find_busybox(busybox)
    applets = _list_applets(source)
    root = Path(os.path.abspath(dest))
    try:
        _claim(root)
        for name, mode in _DIRS:
            _ensure_dir(root / name, mode)
        _install_binary(source, root / "bin" / "busybox")
        for applet in applets:
            _ensure_symlink("busybox", root / "bin" / applet)
        if "env" in applets:
            _ensure_symlink("../../bin/busybox", root / "usr" / "bin" / "env")
        for rel, content in _ETC:
            _ensure_file(root / rel, content)
    except OSError as exc:
        raise InvalidArgumentError(
            f"cannot build a rootfs in {root}: {exc.strerror or exc} ({exc.filename})"
        ) from exc
    return root


def _claim(root: Path) -> None:
    """Make `root` ours: create it, or accept it if empty or already marked; then mark it."""
    try:
        root.mkdir(mode=0o755, parents=True)
    except FileExistsError:
        if not root.is_dir():
            raise InvalidArgumentError(
                f"cannot build a rootfs in {root}: it exists and is not a directory"
            ) from None
        entries = os.listdir(root)
        if entries and MARKER not in entries:
            raise InvalidArgumentError(
                f"cannot build a rootfs in {root}: it is not empty and was not built by ocimux",
                hint="choose a new or empty directory",
            ) from None
    marker = root / MARKER
    if not marker.exists():
        # Written first: an interrupted build is still recognised, and finished, next time.
        marker.write_text("minimal busybox rootfs built by ocimux; safe to rebuild\n")
        marker.chmod(0o644)


def _ensure_dir(path: Path, mode: int) -> None:
    try:
        path.mkdir(mode=mode)
    except FileExistsError:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            raise InvalidArgumentError(f"{path} exists and is not a directory") from None
    path.chmod(mode)  # mkdir's mode is cut by the umask; 1777 on tmp needs an explicit chmod


def _install_binary(source: Path, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(source, tmp)
        tmp.chmod(0o755)
        os.replace(tmp, target)  # a running container keeps the old inode
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _ensure_symlink(target: str, link: Path) -> None:
    if os.path.lexists(link):
        return  # ours from an earlier build, or something the user put there: keep it
    try:
        os.symlink(target, link)
    except FileExistsError:
        pass  # a concurrent build made it


def _ensure_file(path: Path, content: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as f:
        os.fchmod(fd, 0o644)
        f.write(content)


def _list_applets(busybox: Path) -> list[str]:
    """Return the applet names `busybox --list` prints; raise if it is not a working busybox."""
    argv = [str(busybox), "--list"]
    try:
        done = process.run(argv, timeout=10)
    except OSError as exc:
        raise InvalidArgumentError(f"cannot run {busybox}: {exc.strerror or exc}") from exc
    except OcimuxError as exc:
        raise InvalidArgumentError(f"{busybox} --list failed: {exc.detail}") from exc
    names = done.stdout.decode(errors="replace").split()
    if done.returncode != 0 or "sh" not in names:
        raise InvalidArgumentError(
            f"{busybox} --list failed (exit {done.returncode}) or lists no sh applet: "
            f"{done.stderr_text or 'no error output'}",
            hint="is it a busybox binary? install busybox-static",
        )
    return [n for n in names if n != "busybox" and _APPLET.fullmatch(n) and n not in (".", "..")]


def _require_static(path: Path) -> None:
    if _is_dynamic(path):
        raise _dynamic_error(path)


def _dynamic_error(path: Path) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"{path} is dynamically linked; install busybox-static",
        hint="a container rootfs has no dynamic loader or libc to run it with",
    )


def _is_dynamic(path: Path) -> bool:
    """Return whether the ELF executable at `path` names a program interpreter (PT_INTERP).

    Reads the ELF header and program headers only (no `file` command). Static-pie binaries
    (ET_DYN without PT_INTERP) count as static. Raises InvalidArgumentError for a file that
    is not a readable ELF executable.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if len(head) < 52 or head[:4] != b"\x7fELF" or head[4] not in (1, 2):
                raise InvalidArgumentError(f"{path} is not an ELF executable")
            order = "<" if head[5] == 1 else ">"
            if head[4] == 2:  # ELFCLASS64
                (phoff,) = struct.unpack_from(order + "Q", head, 0x20)
                phentsize, phnum = struct.unpack_from(order + "HH", head, 0x36)
            else:
                (phoff,) = struct.unpack_from(order + "I", head, 0x1C)
                phentsize, phnum = struct.unpack_from(order + "HH", head, 0x2A)
            if phentsize < 4 or phnum == 0 or phnum == 0xFFFF:
                raise InvalidArgumentError(f"{path} has no program headers we can read")
            f.seek(phoff)
            table = f.read(phentsize * phnum)
    except OSError as exc:
        raise InvalidArgumentError(f"cannot read {path}: {exc.strerror}") from exc
    if len(table) < phentsize * phnum:
        raise InvalidArgumentError(
            f"{path} ends before its program headers do (incomplete ELF file)"
        )
    types = (struct.unpack_from(order + "I", table, i * phentsize)[0] for i in range(phnum))
    return any(t == _PT_INTERP for t in types)
