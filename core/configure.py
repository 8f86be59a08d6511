"""Applying a new container's `ContainerConfig` during `Dispatcher.create`: check, then build.

`configure_spec` is create's step 4 for everything beyond the command: it refuses what the chosen
runtime cannot honour (a capability question, answered by the Registry: one line naming the
option, the runtime, the capability and why), then lets `specbuilder.apply_config` change the
spec. Nothing has been created when it raises.
"""

from __future__ import annotations

import os
from contextlib import suppress
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .containerconfig import ContainerConfig
from .errors import CapabilityError, InvalidArgumentError
from .specbuilder import Applied, apply_config, defaults_from_table, required_capabilities

if TYPE_CHECKING:
    from .dispatcher import Dispatcher, NewContainer
    from .runtime import Runtime

__all__ = [
    "GENERATED_FILES",
    "configure_spec",
    "remove_pidfile",
    "write_generated",
    "write_pidfile",
]

#: the files a container's bundle holds for bind mounts into it (specmounts.py makes them)
GENERATED_FILES = ("hostname", "hosts", "resolv.conf")

#: fields that do not touch the runtime spec, so they combine with `--bundle`
_NOT_IN_SPEC = {"labels": (), "pidfile": None, "stop_signal": None}


def configure_spec(
    d: Dispatcher,
    new: NewContainer,
    spec: dict[str, Any],
    rootfs: Path,
    runtime: Runtime,
    cid: str,
    name: str,
) -> Applied:
    """Check that `runtime` can honour `new.config`, then apply it (and the defaults) to `spec`.

    With `--bundle` the user's config.json is used as it is: an option that would change it is
    refused, naming it. Raises CapabilityError or InvalidArgumentError.
    """
    cfg = new.config
    caps = d.capabilities(runtime)
    for capability, option in required_capabilities(cfg, new.user):
        cap = caps.get(capability)
        if not cap:
            raise CapabilityError(
                capability,
                cap.reason or "not supported",
                source=cap.source,
                container=name,
                runtime=runtime.name,
                verb="create",
                option=option,
            )
    if new.no_cgroups and not cfg.limits.is_empty():
        raise InvalidArgumentError(
            "--memory, --cpus and --pids-limit need cgroups, and --no-cgroups was given",
            hint="leave out one or the other",
        )
    if new.bundle is not None:
        if replace(cfg, **_NOT_IN_SPEC) != ContainerConfig():
            raise InvalidArgumentError(
                "with --bundle the bundle's config.json is used as it is; container options "
                "such as --volume, --memory or --cap-add cannot change it",
                hint="set them in config.json, or use --rootfs",
            )
        if cfg.stop_signal is not None:
            spec.setdefault("annotations", {})["org.opencontainers.image.stopSignal"] = str(
                cfg.stop_signal
            )
        if new.restore_image is not None:
            return _carried(spec, Path(new.bundle), runtime.container_dir(cid))
        return Applied()
    defaults = defaults_from_table(d.config.containers_table)

    def can(capability: str) -> bool:
        if capability == "resource_limits" and new.no_cgroups:
            return False
        return bool(caps.get(capability))

    return apply_config(
        spec, cfg, cid=cid, name=name, rootfs=rootfs, bundle_dir=runtime.container_dir(cid),
        defaults=defaults, can=can,
    )  # fmt: skip


def _carried(spec: dict[str, Any], given: Path, bundle_dir: Path) -> Applied:
    """Generated files a given bundle brings (a `checkpoint --export` archive): bind them anew.

    A bind of `<old container dir>/hosts` (hostname, resolv.conf) is pointed at the new
    container's copy when the given bundle holds that file; other mounts stay as they are.
    """
    applied = Applied()
    for mount in spec.get("mounts") or []:
        source = str(mount.get("source") or "")
        name = os.path.basename(source)
        if mount.get("type") == "bind" and name in GENERATED_FILES and (given / name).is_file():
            applied.files[name] = (given / name).read_text(encoding="utf-8", errors="replace")
            mount["source"] = str(bundle_dir / name)
    return applied


def write_generated(bundle_dir: Path, applied: Applied) -> None:
    """Write the generated /etc files (hostname, hosts, resolv.conf) into the bundle, mode 0644.

    They are bind-mounted into the container, whose processes may run as any user.
    """
    for filename, content in applied.files.items():
        path = bundle_dir / filename
        fd = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644
        )
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
        os.chmod(path, 0o644)


def write_pidfile(path: str, pid: int) -> None:
    """Write the container's pid to `--pidfile PATH` (replacing the file), as podman does."""
    try:
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="ascii") as fh:
            fh.write(f"{pid}\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise InvalidArgumentError(f"cannot write --pidfile {path}: {exc.strerror}") from None


def remove_pidfile(config: dict[str, Any]) -> None:
    """Remove a container's `--pidfile` when the container is removed (podman does too)."""
    path = (config.get("container") or {}).get("pidfile")
    if path:
        with suppress(OSError):
            os.unlink(path)
