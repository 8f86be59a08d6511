"""Copy-on-write layers: one overlayfs mount per container over a shared, read-only rootfs.

A layer directory holds `upper/` (what the container wrote), `work/` (overlayfs's scratch
space) and `merged/`, where `lowerdir=<rootfs>,upperdir=upper,workdir=work` is mounted; the
container's `root.path` is `merged`. Nothing written in `merged` reaches the rootfs. The
directory is never called `rootfs`: containerd-shim-runc-v2 unmounts `<bundle>/rootfs` on
delete.

The mount is made in this process's mount namespace with mount(2) (through ctypes, no
subprocess), before the runtime creates the container, so the runtime and its monitor see
it. Mounting needs CAP_SYS_ADMIN (root). Removing a layer first unmounts it and then checks
`/proc/self/mountinfo` again: a directory with anything still mounted at or under it is never
deleted (deleting through a live overlay writes whiteouts; through a bind mount it would
destroy whatever is bound).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat
import time
from pathlib import Path
from typing import Any, Final

from ocimux.base.errors import InvalidArgumentError, OcimuxError
from ocimux.base.files import private_dir
from ocimux.base.linuxcaps import effective_has

__all__ = [
    "LAYER",
    "MERGED",
    "has_privilege",
    "is_mounted",
    "mount_layer",
    "mount_options",
    "parse_mount_points",
    "remove_with_layer",
    "unmount_layer",
]

#: the layer's directory inside a container's directory
LAYER: Final = "layer"
#: the mount point inside a layer directory (the container's root.path)
MERGED: Final = "merged"

_MNT_DETACH: Final = 2
_UMOUNT_NOFOLLOW: Final = 8
#: mount(2) copies at most one page of options; the string and its NUL must fit
_MAX_OPTIONS: Final = 4095
#: characters overlayfs's option parser treats specially (separators and their escape)
_SPECIAL: Final = (",", ":", "\\")
_BUSY_RETRIES: Final = 20
_BUSY_WAIT: Final = 0.05
_OCTAL: Final = re.compile(rb"\\([0-7]{3})")
_NEED_ROOT: Final = (
    "use `--rootfs DIR` without `:O` (the container then writes into DIR), or run ocimux as root"
)


def mount_options(lower: str, upper: str, work: str) -> bytes:
    """The overlayfs option string for one lower directory, as mount(2) takes it.

    The paths must be absolute. Raises InvalidArgumentError (naming the path) if one holds
    `,`, `:` or a backslash (overlayfs would split or unescape it: refused rather than
    escaped), and if the string would not fit in the page mount(2) copies.
    """
    for what, path in (("rootfs", lower), ("layer", upper), ("layer", work)):
        if not os.path.isabs(path):
            raise InvalidArgumentError(f"overlay {what} path {path!r} is not absolute")
        bad = sorted({c for c in _SPECIAL if c in path})
        if bad:
            raise InvalidArgumentError(
                f"cannot use {path!r} in an overlay layer: it contains {' '.join(map(repr, bad))}",
                hint=f"move or link the {what} to a path without ',' ':' or '\\'",
            )
    data = os.fsencode(f"lowerdir={lower},upperdir={upper},workdir={work}")
    if len(data) > _MAX_OPTIONS:
        raise InvalidArgumentError(
            f"overlay options for rootfs {lower!r} are {len(data)} bytes; mount(2) takes at most {_MAX_OPTIONS}",
            hint="use shorter paths for the rootfs and [ocimux] state_dir",
        )
    return data


def parse_mount_points(mountinfo: bytes) -> list[str]:
    """The mount points listed in a `/proc/<pid>/mountinfo` text, octal escapes undone.

    The kernel writes space, tab, newline and backslash in a path as `\\040`, `\\011`,
    `\\012`, `\\134`; the results are decoded as file names are (`os.fsdecode`).
    """
    points = []
    for line in mountinfo.splitlines():
        fields = line.split(b" ")
        if len(fields) > 4:
            raw = _OCTAL.sub(lambda m: bytes([int(m.group(1), 8)]), fields[4])
            points.append(os.fsdecode(raw))
    return points


def _mount_points() -> list[str]:
    with open("/proc/self/mountinfo", "rb") as fh:
        return parse_mount_points(fh.read())


def is_mounted(path: Path) -> bool:
    """Whether something is mounted at `path` (its real path) in this mount namespace."""
    return os.path.realpath(path) in _mount_points()


def has_privilege(status: str) -> bool:
    """Whether a `/proc/<pid>/status` text shows CAP_SYS_ADMIN in the effective set."""
    return bool(effective_has("CAP_SYS_ADMIN", status))


def _privileged() -> bool:
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            return has_privilege(fh.read())
    except OSError:
        return os.geteuid() == 0


def remove_with_layer(directory: Path, keep_upper: Path | None = None) -> None:
    """Remove a container's directory, unmounting its layer first (`unmount_layer`).

    Raises OcimuxError, deleting nothing, while the layer is still mounted: a removal never
    goes through a live mount.
    """
    unmount_layer(directory / LAYER, keep_upper=keep_upper)
    shutil.rmtree(directory, ignore_errors=True)


def mount_layer(lower: Path, layer_dir: Path, upper_from: Path | None = None) -> Path:
    """Mount a fresh copy-on-write layer over `lower` in `layer_dir`; return its merged path.

    `lower` must be an existing directory and must not overlap `layer_dir` (neither inside
    the other). `layer_dir` must not exist yet; its missing parents are made 0700. Afterwards
    `layer_dir` (0700) holds `upper/` (with the mode and owner of `lower`'s root, so the
    container's `/` looks like the image's), `work/` (0700) and `merged/`, where the overlay is
    mounted. Without CAP_SYS_ADMIN (not root) there is no overlayfs: `upper/` is then a full
    copy of `lower` and `merged` a symlink to it (same meaning, slower). With `upper_from` (an upper directory `unmount_layer` kept), that directory becomes
    `upper/` instead of a fresh one, so what the container wrote is there again (a re-create).
    On failure nothing is left behind. Raises InvalidArgumentError for a bad path
    (see `mount_options`), OcimuxError without CAP_SYS_ADMIN or when mount(2) fails.
    """
    lower_real = os.path.realpath(lower)
    if not os.path.isdir(lower_real):
        raise InvalidArgumentError(f"rootfs {lower} is not a directory")
    layer = Path(os.path.realpath(layer_dir))
    upper, work, merged = layer / "upper", layer / "work", layer / MERGED
    data = mount_options(lower_real, str(upper), str(work))
    if _overlaps(lower_real, str(layer)):
        raise InvalidArgumentError(
            f"cannot layer rootfs {lower_real} over {layer}: one is inside the other",
            hint="keep the rootfs outside ocimux's state directory",
        )
    privileged = _privileged()
    private_dir(layer.parent)
    try:
        layer.mkdir(mode=0o700)
    except FileExistsError:
        raise OcimuxError(
            f"layer directory {layer} already exists", hint="remove the container and retry"
        ) from None
    try:
        st = os.stat(lower_real)
        if not privileged:
            # no overlayfs without CAP_SYS_ADMIN: the layer is a private copy of the rootfs
            # (slower to make, the same meaning: nothing the container writes reaches `lower`)
            if upper_from is not None and os.path.isdir(upper_from):
                os.replace(upper_from, upper)
            else:
                try:
                    shutil.copytree(lower_real, upper, symlinks=True)
                except (OSError, shutil.Error) as exc:
                    raise OcimuxError(
                        f"cannot copy rootfs {lower_real} into the container's layer "
                        f"(without root the layer is a copy): {str(exc)[:200]}",
                        hint="run as root for an overlay layer, or use --rootfs DIR without :O",
                    ) from None
            merged.symlink_to("upper")
            return merged
        for directory in (work, merged):
            directory.mkdir(mode=0o700)
        if upper_from is not None and os.path.isdir(upper_from):
            os.replace(upper_from, upper)
        else:
            upper.mkdir(mode=0o700)
            os.chown(upper, st.st_uid, st.st_gid)
            os.chmod(upper, stat.S_IMODE(st.st_mode))
        _mount(merged, data, lower_real)
    except BaseException:
        _remove(layer)
        raise
    return merged


def unmount_layer(layer_dir: Path, keep_upper: Path | None = None) -> None:
    """Unmount `layer_dir/merged` if mounted, then delete `layer_dir`; nothing to do if absent.

    A busy mount is retried for about a second, then detached (MNT_DETACH). Before deleting,
    `/proc/self/mountinfo` is read again: if anything is still mounted at or under
    `layer_dir`, raises OcimuxError naming it and deletes nothing. With `keep_upper`, the upper
    directory (what the container wrote) is moved there first, for `mount_layer(upper_from=)`.
    Also raises OcimuxError
    when unmounting is not permitted or the directory cannot be removed.
    """
    if not os.path.lexists(layer_dir):
        return
    merged = Path(os.path.realpath(layer_dir)) / MERGED
    for _ in range(8):  # a mount stacked on another (never made here, but possible)
        if not is_mounted(merged):
            break
        _umount(merged)
    upper = Path(layer_dir) / "upper"
    if keep_upper is not None and not is_mounted(merged) and os.path.isdir(upper):
        shutil.rmtree(keep_upper, ignore_errors=True)
        os.replace(upper, keep_upper)
    _remove(Path(layer_dir))


def _overlaps(a: str, b: str) -> bool:
    return a == b or a.startswith(b.rstrip("/") + "/") or b.startswith(a.rstrip("/") + "/")


def _libc() -> Any:
    # lazy: ~2 ms, only mounting and unmounting a layer need it
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = (
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_ulong,
        ctypes.c_char_p,
    )
    libc.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)
    return libc


def _errno() -> int:
    # lazy: as in _libc
    import ctypes

    return ctypes.get_errno()


def _mount(merged: Path, data: bytes, lower: str) -> None:
    libc = _libc()
    if libc.mount(b"overlay", os.fsencode(merged), b"overlay", 0, data) == 0:
        return
    err = _errno()
    if err == errno.EPERM:
        raise OcimuxError(
            f"cannot mount the overlay layer at {merged}: {os.strerror(err)} (layers need root)",
            hint=_NEED_ROOT,
        )
    hint = (
        "load the overlay module (modprobe overlay)"
        if err == errno.ENODEV
        else "keep [ocimux] state_dir on a filesystem overlayfs accepts as upper layer (ext4, xfs, tmpfs)"
    )
    raise OcimuxError(
        f"cannot mount the overlay layer over rootfs {lower} at {merged}: {os.strerror(err)}",
        hint=hint,
    )


def _umount(merged: Path) -> None:
    libc = _libc()
    target = os.fsencode(merged)
    for attempt in range(_BUSY_RETRIES + 1):
        flags = _UMOUNT_NOFOLLOW | (_MNT_DETACH if attempt == _BUSY_RETRIES else 0)
        if libc.umount2(target, flags) == 0:
            return
        err = _errno()
        if err in (errno.EINVAL, errno.ENOENT):
            return  # not (or no longer) a mount point
        if err != errno.EBUSY:
            hint = _NEED_ROOT if err == errno.EPERM else None
            raise OcimuxError(
                f"cannot unmount the overlay layer at {merged}: {os.strerror(err)}", hint=hint
            )
        if attempt < _BUSY_RETRIES:
            time.sleep(_BUSY_WAIT)


def _remove(layer: Path) -> None:
    """Delete `layer` unless anything is mounted at or under it."""
    real = os.path.realpath(layer)
    live = [p for p in _mount_points() if p == real or p.startswith(real + "/")]
    if live:
        raise OcimuxError(
            f"cannot remove layer {layer}: {live[0]} is still mounted",
            hint=f"unmount it (umount -l {live[0]}) and retry",
        )
    try:
        shutil.rmtree(layer)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise OcimuxError(f"cannot remove layer {layer}: {exc.strerror} ({exc.filename})") from exc
