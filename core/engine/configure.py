"""Building a new container's spec during `Dispatcher.create`: the document, then its config.

`build_spec` is create's step 4: the default document for a rootfs and command, or the user's
bundle with overrides. `configure_spec` then applies everything beyond the command: it refuses
a containers.conf `[containers]` value ocimux cannot honour (`containersconf.py`), and what the
chosen runtime cannot honour (a capability question: one line naming the option or key, the
runtime, the capability and why), then lets `specbuilder.apply_config` change the spec. Nothing
has been created when either raises. Only `create` imports this module (with the spec
builders, about 25 ms): the other verbs never build a spec.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocimux.base.errors import CapabilityError, InvalidArgumentError, OcimuxError
from ocimux.base.signals import STOP_SIGNAL_ANNOTATION
from ocimux.oci import bundle as bundles
from ocimux.oci import spec as specs
from ocimux.oci.containerconfig import ContainerConfig
from ocimux.oci.containerdefaults import defaults_from_table
from ocimux.oci.specbuilder import Applied, apply_config, required_capabilities

from . import containersconf

if TYPE_CHECKING:
    from ocimux.config import Config
    from ocimux.interface.capabilities import Capabilities
    from ocimux.interface.runtime import Runtime

    from .newcontainer import NewContainer

__all__ = [
    "GENERATED_FILES",
    "build_spec",
    "configure_spec",
    "log_size_max",
    "write_generated",
]

#: the files a container's bundle holds for bind mounts into it (specmounts.py makes them)
GENERATED_FILES = ("hostname", "hosts", "resolv.conf")

#: fields that do not touch the runtime spec, so they combine with `--bundle`
_NOT_IN_SPEC = {"labels": (), "pidfile": None, "stop_signal": None}


def build_spec(new: NewContainer) -> tuple[dict[str, Any], Path]:
    """The spec document and the resolved rootfs of `new`, before its `ContainerConfig`.

    From `--rootfs` and the command (the default document), or from the user's `--bundle`
    with the command, env, cwd, user, terminal and annotations given as overrides. Raises
    InvalidArgumentError for a missing rootfs, both or neither of them given, a bad user.
    """
    if (new.bundle is None) == (new.rootfs is None):
        raise InvalidArgumentError("give exactly one of --bundle DIR or --rootfs DIR")
    if new.rootfs is not None:
        rootfs = Path(new.rootfs).resolve()
        if not rootfs.is_dir():
            raise InvalidArgumentError(f"rootfs {new.rootfs} is not a directory")
        user = specs.parse_user(new.user, rootfs) if new.user else (0, 0, ())
        spec = specs.default_spec(
            rootfs=rootfs,
            args=new.args,
            env=specs.resolve_env(new.env, os.environ),
            cwd=new.cwd or "/",
            user=user,
            terminal=new.terminal,
            annotations=new.annotations,
        )
        return spec, rootfs
    spec, rootfs = bundles.load_bundle(Path(new.bundle))  # type: ignore[arg-type]
    user = specs.parse_user(new.user, rootfs) if new.user else None
    spec = specs.with_overrides(
        spec,
        args=new.args or None,
        env=specs.resolve_env(new.env, os.environ),
        cwd=new.cwd,
        user=user,
        terminal=new.terminal or None,
        annotations=new.annotations or None,
    )
    spec.setdefault("root", {})["path"] = str(rootfs)
    return spec, rootfs


def configure_spec(
    caps: Capabilities,
    config: Config,
    new: NewContainer,
    spec: dict[str, Any],
    rootfs: Path,
    runtime: Runtime,
    cid: str,
    name: str,
) -> Applied:
    """Check that `runtime` can honour `new.config`, then apply it (and the defaults) to `spec`.

    `caps` are the runtime's merged capabilities, `config` the configuration (its
    `[containers]` defaults). With `--bundle` the user's config.json is used as it is: an
    option that would change it is refused, naming it, and the defaults do not apply (though
    a value ocimux cannot honour is refused all the same). Raises ConfigError,
    CapabilityError or InvalidArgumentError. The returned `Applied` holds the config with the
    defaults resolved (`Applied.config`, None with `--bundle`), what the record keeps.
    """
    cfg = new.config
    try:
        defaults = containersconf.load_defaults(config)
    except OcimuxError as exc:
        raise exc.add_context(container=name, verb="create") from None
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
            spec.setdefault("annotations", {})[STOP_SIGNAL_ANNOTATION] = str(cfg.stop_signal)
        if new.restore_image is not None:
            return _carried(spec, Path(new.bundle), runtime.container_dir(cid))
        return Applied()
    no_cgroups = new.no_cgroups or defaults.cgroups == "disabled"
    containersconf.check_needs(
        cfg, defaults, caps, config, runtime=runtime.name, name=name, no_cgroups=no_cgroups
    )

    def can(capability: str) -> bool:
        if capability == "resource_limits" and no_cgroups:
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


def log_size_max(container: ContainerConfig, config: Config) -> int:
    """The container's own cap on its log, else containers.conf `log_size_max` (-1: none)."""
    if container.log_size_max is not None:
        return container.log_size_max
    # only this key: a container restored must not fail on another one changed since
    table = config.containers_table
    wanted = {"log_size_max": table["log_size_max"]} if "log_size_max" in table else {}
    ignore = config.ignored_container_defaults
    return defaults_from_table(wanted, config.files, ignore=ignore).log_size_max
