"""The runtime spec's `mounts` for a container: podman's defaults, the user's, generated files.

`mounts_of` starts from the document's default mounts (runc's `spec` set, with podman's options
for /proc and /dev; /dev/shm sized by `shm_size`, the host's with `ipcns = "host"`, none with
`"none"`), drops a default where the user mounts something at the same place, adds the
read-only tmpfs mounts, the generated /etc/hostname, /etc/hosts (and /etc/resolv.conf with the
host's network) bound from the bundle, the timezone, then the user's binds and tmpfs and
containers.conf's `volumes` and `mounts` (where the user mounts nothing at their destination),
and sorts the whole list by depth so a mount never hides one made inside it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Final

from ocimux.base.errors import InvalidArgumentError

from .containerconfig import ContainerConfig, Mount
from .containerdefaults import DEFAULT_SHM_SIZE, ContainerDefaults
from .spec import read_db

__all__ = ["mounts_of", "spec_mount"]

_READ_ONLY_TMPFS: Final = ("/dev/shm", "/run", "/tmp", "/var/tmp")


def mounts_of(
    base: list[dict[str, Any]],
    cfg: ContainerConfig,
    defaults: ContainerDefaults,
    hostname: str,
    files: dict[str, str],
    bundle_dir: Path,
    name: str,
    *,
    generate: bool = True,
    rootfs: Path | None = None,
) -> list[dict[str, Any]]:
    """The spec's mount list (see the module docstring); `generate` False leaves out the
    generated /etc files (a runtime without a mount namespace could not bind them).

    Each generated file bound from the bundle is added to `files` (bundle-relative name ->
    content): the create writes them there. `rootfs` is read for `base_hosts_file = "image"`."""
    for m in cfg.mounts:  # the parsers check these; the Python API may build Mounts directly
        if m.type not in ("bind", "tmpfs") or not m.destination.startswith("/"):
            raise InvalidArgumentError(
                f"invalid mount {m.type} at {m.destination!r}: a bind or tmpfs at an absolute path"
            )
        if m.type == "bind" and not (m.source.startswith("/") and os.path.exists(m.source)):
            raise InvalidArgumentError(
                f"invalid mount at {m.destination}: the source {m.source!r} does not exist on the host"
            )
    dests = [m.destination for m in cfg.mounts]
    duplicate = next((d for d in dests if dests.count(d) > 1), None)
    if duplicate:
        raise InvalidArgumentError(f"two mounts at {duplicate}: each destination takes one")
    # podman's containers.conf volumes and mounts: where the container mounts nothing itself
    configured = [m for m in defaults.mounts if m.destination not in dests]
    user = sorted((*cfg.mounts, *configured), key=lambda m: len(Path(m.destination).parts))
    taken = {m.destination for m in user}
    out = []
    for mount in base:
        dest = mount.get("destination")
        if dest in taken:
            continue
        mount = dict(mount)
        if dest == "/dev/shm":
            if defaults.ipcns == "none":
                continue  # podman: a private IPC namespace without a /dev/shm mount
            mount = _shm(mount, cfg, defaults)
        elif dest == "/proc":
            mount["options"] = ["nosuid", "noexec", "nodev"]
        elif dest == "/dev" and "noexec" not in mount.get("options", []):
            mount["options"] = ["nosuid", "noexec", *mount.get("options", [])[1:]]
        elif dest in ("/sys", "/sys/fs/cgroup") and cfg.privileged:
            mount["options"] = [o for o in mount.get("options", []) if o != "ro"]
        out.append(mount)
    if cfg.read_only and cfg.read_only_tmpfs:
        for dest in _READ_ONLY_TMPFS:
            if dest not in taken and not any(m.get("destination") == dest for m in out):
                out.append(
                    spec_mount(Mount("tmpfs", dest, "tmpfs", ("rw", "nosuid", "nodev", "rprivate")))
                )
    generated = {"/etc/hostname": ("hostname", f"{hostname}\n")}
    no_hosts = cfg.no_hosts if cfg.no_hosts is not None else defaults.no_hosts
    if not no_hosts:
        generated["/etc/hosts"] = ("hosts", _hosts(cfg, defaults, hostname, name, rootfs))
    if cfg.network == "host":
        generated["/etc/resolv.conf"] = ("resolv.conf", _read_host("/etc/resolv.conf"))
    # podman (libpod generateSpec): with a read-only root its generated files are read-only too
    gen_opts = ("bind", "rprivate", *(("ro", "nosuid", "noexec", "nodev") if cfg.read_only else ()))
    for dest, (filename, content) in generated.items() if generate else ():
        if dest in taken:
            continue
        files[filename] = content
        out.append(spec_mount(Mount("bind", dest, str(bundle_dir / filename), gen_opts)))
    tz = cfg.tz if cfg.tz is not None else (defaults.tz or None)
    if tz and "/etc/localtime" not in taken:
        out.append(
            spec_mount(Mount("bind", "/etc/localtime", _zone_file(tz), ("bind", "ro", "rprivate")))
        )
    out += [spec_mount(m) for m in user]
    # parents before what is mounted inside them (podman's sortMounts; stable within a depth),
    # so a user's /etc or /run does not hide the generated /etc/hosts or a default mount
    out.sort(key=lambda m: len(Path(m.get("destination") or "/").parts))
    return out


def spec_mount(m: Mount) -> dict[str, Any]:
    return {
        "destination": m.destination,
        "type": m.type,
        "source": m.source,
        "options": list(m.options),
    }


_LOOPBACK: Final = (
    "127.0.0.1\tlocalhost localhost.localdomain localhost4 localhost4.localdomain4\n"
    "::1\tlocalhost localhost.localdomain localhost6 localhost6.localdomain6\n"
)


def _hosts(
    cfg: ContainerConfig, d: ContainerDefaults, hostname: str, name: str, rootfs: Path | None
) -> str:
    """/etc/hosts: a base (`base_hosts_file`), loopback, host.containers.internal, the container.

    Unset, the base is the host's file with `--network host` and none otherwise (ocimux's own
    default: a container has no network but loopback); "none" has no base, "image" is the
    rootfs's /etc/hosts, a path that file's entries (go.podman.io/common etchosts).
    """
    if d.base_hosts_file == "image" and rootfs is not None:
        base = "".join(f"{':'.join(r)}\n" for r in read_db(rootfs, "/etc/hosts"))
    elif d.base_hosts_file not in ("", "none", "image"):
        base = _read_host(d.base_hosts_file)
    elif d.base_hosts_file == "" and cfg.network == "host":
        base = _read_host("/etc/hosts")
    else:
        base = ""
    if base and not base.endswith("\n"):
        base += "\n"
    if not any(_names_localhost(line) for line in base.splitlines()):
        base += _LOOPBACK  # podman adds localhost when the base lacks it
    if d.host_containers_internal_ip not in ("", "none"):
        base += f"{d.host_containers_internal_ip}\thost.containers.internal host.docker.internal\n"
    names = " ".join(dict.fromkeys((hostname, name)))
    return f"{base}127.0.1.1\t{names}\n"


def _names_localhost(line: str) -> bool:
    fields = line.split("#", 1)[0].split()
    return len(fields) > 1 and "localhost" in fields[1:]


def _shm(mount: dict[str, Any], cfg: ContainerConfig, d: ContainerDefaults) -> dict[str, Any]:
    """/dev/shm: the host's with `ipcns = "host"` (podman binds it), else a tmpfs of shm_size."""
    if d.ipcns == "host":
        return spec_mount(
            Mount(
                "bind", "/dev/shm", "/dev/shm", ("rbind", "nosuid", "noexec", "nodev", "rprivate")
            )
        )
    if cfg.shm_size in (None, DEFAULT_SHM_SIZE):
        return mount  # the default spec's size=65536k
    options = [o for o in mount.get("options") or [] if not o.startswith("size=")]
    return {**mount, "options": [*options, f"size={cfg.shm_size}"]}


def _read_host(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read(1 << 20)
    except OSError:
        return ""


def _zone_file(tz: str) -> str:
    if tz == "local":
        path = os.path.realpath("/etc/localtime")
    elif re.fullmatch(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*", tz):
        path = f"/usr/share/zoneinfo/{tz}"
    else:
        raise InvalidArgumentError(f"invalid --tz {tz!r}: use local or a zone such as Europe/Paris")
    if not os.path.isfile(path):
        raise InvalidArgumentError(
            f"invalid --tz {tz!r}: {path} does not exist on the host", hint="apt install tzdata"
        )
    return path
