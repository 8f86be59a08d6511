"""containers.conf `[containers]` checked at create: applied, or refused before anything runs.

DESIGN's "applied or refused, never dropped" for the keys every container gets:

- `load_defaults` refuses each configured value ocimux cannot honour (`containerkeys.refusals`:
  userns = "auto", log_driver = "journald", ...) and each it cannot use (a volume whose source
  is missing), as one ConfigError naming the key, its file and line, the value, why, and what
  to do: change it, or list the key in `[ocimux] ignore_container_defaults`;
- `check_needs` refuses a configured value the chosen runtime cannot honour (the mock's
  `read_only = true`), as the run flag is refused (CapabilityError naming the key);
- `notes` is what `ocimux info` says: the keys set but ignored on purpose, and the refusals.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ocimux.base.errors import CapabilityError, ConfigError, InvalidArgumentError
from ocimux.config.keyorigin import key_origin
from ocimux.oci.containerdefaults import (
    DEFAULT_SHM_SIZE,
    ContainerDefaults,
    DefaultValueError,
    defaults_from_table,
)
from ocimux.oci.containerkeys import KeyRefusal, default_needs, refusals

if TYPE_CHECKING:
    from ocimux.config import Config
    from ocimux.interface.capabilities import Capabilities
    from ocimux.oci.containerconfig import ContainerConfig

__all__ = ["check_needs", "load_defaults", "notes"]

_OPT_OUT = "[ocimux] ignore_container_defaults"


def _shown(value: Any) -> str:
    """A value as TOML would write it: "auto", true, ["a"]."""
    return json.dumps(value)


def _where(config: Config, key: str) -> tuple[str | None, int | None]:
    return key_origin(config.files, ("containers", key))


def _located(config: Config, key: str) -> str:
    path, line = _where(config, key)
    return f"{path}:{line}" if path and line else path or "containers.conf"


def _refusal_error(config: Config, refusal: KeyRefusal, more: int = 0) -> ConfigError:
    path, line = _where(config, refusal.key)
    also = f" (and {more} more refused key{'s' if more > 1 else ''}: see `ocimux info`)"
    return ConfigError(
        f"{_shown(refusal.value)} cannot be honoured: {refusal.why}{also if more else ''}",
        path=path or "containers.conf",
        line=line,
        key=f"[containers] {refusal.key}",
        hint=f'{refusal.todo}, or add "{refusal.key}" to {_OPT_OUT} to run every container '
        "without it",
    )


def load_defaults(config: Config) -> ContainerDefaults:
    """The `[containers]` defaults every new container gets; raises ConfigError for a refusal.

    Keys in `[ocimux] ignore_container_defaults` count as unset.
    """
    table = config.containers_table
    ignore = config.ignored_container_defaults
    found = refusals(table, ignore)
    if found:
        raise _refusal_error(config, found[0], len(found) - 1)
    try:
        return defaults_from_table(
            table, config.files, engine_init_path=config.engine_init_path, ignore=ignore
        )
    except DefaultValueError as exc:
        raise _refusal_error(
            config, KeyRefusal(exc.key, exc.value, exc.why, "correct it")
        ) from None


def check_needs(
    asked: ContainerConfig,
    defaults: ContainerDefaults,
    caps: Capabilities,
    config: Config,
    *,
    runtime: str,
    name: str,
    no_cgroups: bool,
) -> None:
    """Refuse what the configured defaults need and the runtime lacks, or that contradicts
    the container's own options (CapabilityError, InvalidArgumentError)."""
    for capability, key in default_needs(asked, defaults):
        cap = caps.get(capability)
        if cap:
            continue
        table = config.containers_table
        key = next((k for k in key.split("/") if k in table), key.split("/")[0])
        shown = f" = {_shown(table[key])}" if key in table else ""
        error = CapabilityError(
            capability,
            cap.reason or "not supported",
            source=cap.source,
            container=name,
            runtime=runtime,
            verb="create",
            option=f"containers.conf [containers] {key}{shown} ({_located(config, key)})",
        )
        error.hint = (
            f'choose a runtime that can (see `ocimux runtimes`), or add "{key}" to {_OPT_OUT}'
        )
        raise error
    if defaults.ipcns in ("host", "none") and (
        asked.shm_size is not None or defaults.shm_size != DEFAULT_SHM_SIZE
    ):
        raise InvalidArgumentError(
            f"/dev/shm has no size of its own with containers.conf [containers] ipcns = "
            f'"{defaults.ipcns}" ({_located(config, "ipcns")}), so --shm-size and shm_size '
            "cannot be honoured",
            hint="leave the size out, or set ipcns to private",
        )
    if defaults.cgroup_conf and (no_cgroups or defaults.cgroups == "disabled"):
        raise InvalidArgumentError(
            f"containers.conf [containers] cgroup_conf ({_located(config, 'cgroup_conf')}) "
            "needs cgroups, and the container runs without (--no-cgroups or cgroups = "
            '"disabled")',
            hint=f'leave one out, or add "cgroup_conf" to {_OPT_OUT}',
        )


def notes(config: Config) -> list[str]:
    """`ocimux info`'s lines: each key set but ignored on purpose, and each refused value."""
    table = config.containers_table
    out = []
    for key in config.ignored_container_defaults:
        if key in table:
            out.append(
                f"[containers] {key} = {_shown(table[key])} ({_located(config, key)}) is not "
                f"applied: {_OPT_OUT} lists it"
            )
    found = refusals(table, config.ignored_container_defaults)
    for refusal in found:
        out.append(f"{_refusal_error(config, refusal)}; run and create fail until then")
    if not found:
        try:
            load_defaults(config)
        except ConfigError as exc:
            out.append(f"{exc}; run and create fail until then")
    return out
