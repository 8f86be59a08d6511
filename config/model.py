"""The pydantic models of a containers.conf file and of the merged settings.

Imported only by the cold path (`load_config`), never by `import ocimux.config`.

`ConfigFile` describes one file. Validate it with `strict=True`: TOML values are typed, so a
string where an integer belongs is an error, as it is for podman's TOML decoder. Every table
podman knows is accepted; `[engine]` keys are checked against podman's full key list
(ENGINE_KEYS: go.podman.io/common `pkg/config/config.go` EngineConfig as vendored in podman 5.8,
plus the Debian file's keys and a few legacy ones), and only the keys ocimux reads are typed.
`[ocimux]` is ocimux's own table, checked completely. No field has a default: an absent key
stays absent (`exclude_unset`), and `Config` in `view.py` owns the defaults.

`Settings` is the same shape as a pydantic-settings `BaseSettings`: its init values are the
merged files and its environment source, `OCIMUX_` variables with `__` between levels, wins
over them. It validates in lax mode, since variables are strings (`OCIMUX_ENGINE__STOP_TIMEOUT=30`);
arrays and tables are JSON. Names are case-insensitive, so keys that come from a variable's name
are lower-cased (`OCIMUX_ENGINE__RUNTIMES__MyRt` sets runtime `myrt`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, create_model
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars

from .podman_keys import DESTINATION_KEYS, LEGACY_KEYS, PODMAN_KEYS, SUBNET_POOL_KEYS

__all__ = [
    "CAPABILITY_KEYS",
    "ENGINE_KEYS",
    "TOP_LEVEL_TABLES",
    "CapabilityOverrides",
    "ConfigFile",
    "EngineTable",
    "OcimuxTable",
    "Settings",
    "settings_from",
]

#: Largest accepted number of seconds (uint32; far beyond any sane timeout).
MAX_SECONDS = 2**32 - 1

#: Every `[engine]` key podman knows (`podman_keys.py`), plus legacy ones and the plural
#: `runtime_supports_nocgroups` of podman's documentation. Those ocimux reads are typed in
#: `_TypedEngine`; the rest are checked against podman's type and ignored.
ENGINE_KEYS: tuple[str, ...] = tuple(
    sorted({*PODMAN_KEYS["engine"], *LEGACY_KEYS["engine"], "runtime_supports_nocgroups"})
)

#: Top-level tables podman knows, besides `[engine]`.
PODMAN_TABLES: tuple[str, ...] = tuple(table for table in PODMAN_KEYS if table != "engine")

#: Every top-level table a file may have.
TOP_LEVEL_TABLES: tuple[str, ...] = ("engine", *PODMAN_TABLES, "ocimux")

# fmt: off
#: The keys of `[ocimux.capabilities.<name>]`.
CAPABILITY_KEYS: tuple[str, ...] = (
    "checkpoint", "json_errors", "no_cgroups", "kvm", "pause", "update_resources", "exec",
    "terminal", "isolation", "resource_limits", "devices", "privileged", "seccomp", "host_network",
    "umask", "domainname",
)
# fmt: on


def _string_array(value: Any) -> list[Any]:
    """Accept an array of strings, possibly with `{append = true|false}` markers."""
    if not isinstance(value, list):
        raise PydanticCustomError("string_array", "Input should be an array of strings")
    for item in value:
        if isinstance(item, str):
            continue
        if isinstance(item, dict) and len(item) == 1 and isinstance(item.get("append"), bool):
            continue
        raise PydanticCustomError(
            "string_array",
            "Array items should be strings or {append = true}, not {item}",
            {"item": repr(item)[:60]},
        )
    return value


def _container_keys(value: list[Any]) -> list[Any]:
    """`[ocimux] ignore_container_defaults`: each item a `[containers]` key podman knows."""
    for item in value:
        if isinstance(item, str) and item not in PODMAN_KEYS["containers"]:
            raise PydanticCustomError(
                "container_key",
                "{item} is not a [containers] key podman knows",
                {"item": repr(item)[:60]},
            )
    return value


def _absolute(value: str) -> str:
    if not os.path.isabs(value):
        raise PydanticCustomError("absolute_path", "Path should be absolute")
    return value


_Strict = ConfigDict(extra="forbid")

#: A containers.conf string array (attributedstring.Slice): strings and append markers.
StringArray = Annotated[list[Any], PlainValidator(_string_array)]
AbsolutePath = Annotated[str, AfterValidator(_absolute)]
ContainerKeys = Annotated[list[Any], PlainValidator(_string_array), AfterValidator(_container_keys)]
Name = Annotated[str, Field(min_length=1)]
Seconds = Annotated[float, Field(allow_inf_nan=False, le=MAX_SECONDS)]


Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]


def _table(name: str, keys: Mapping[str, str]) -> type[BaseModel]:
    """A strict model of one podman table: each key typed as podman's decoder types it."""
    fields: dict[str, Any] = {key: (_PODMAN_TYPES[kind] | None, None) for key, kind in keys.items()}
    return create_model(name, __config__=_Strict, **fields)  # type: ignore[call-overload]


_PODMAN_TYPES: dict[str, Any] = {
    "string": str,
    "bool": bool,
    "int": Int64,
    # podman 4.3.1's decoder takes any integer for uint and uint64 (a negative one wraps)
    "uint": Int64,
    "uint16": Annotated[int, Field(ge=0, le=2**16 - 1)],
    "uint32": Annotated[int, Field(ge=0, le=2**32 - 1)],
    "strings": StringArray,
    "map_strings": dict[str, list[str]],
    "map_string": dict[str, str],
    "size": str | Int64,
}
_PODMAN_TYPES["destinations"] = dict[str, _table("Destination", DESTINATION_KEYS)]  # type: ignore[valid-type]
_PODMAN_TYPES["subnet_pools"] = list[_table("SubnetPool", SUBNET_POOL_KEYS)]  # type: ignore[valid-type]


class _TypedEngine(BaseModel):
    """The `[engine]` keys ocimux reads (podman-oci.md §3), typed as ocimux needs them."""

    model_config = _Strict

    runtime: str | None = None
    runtimes: dict[str, list[str]] | None = None
    runtimes_flags: dict[str, list[str]] | None = None
    runtime_supports_json: StringArray | None = None
    runtime_supports_kvm: StringArray | None = None
    # podman's code reads the singular; its documentation and sample file say the plural.
    runtime_supports_nocgroup: StringArray | None = None
    runtime_supports_nocgroups: StringArray | None = None
    conmon_path: StringArray | None = None
    conmon_env_vars: StringArray | None = None
    # podman's uint: any integer; below 0 or above MAX_SECONDS means no limit (view.py)
    stop_timeout: Int64 | None = None
    detach_keys: str | None = None
    cgroup_manager: Literal["systemd", "cgroupfs"] | None = None
    # the init binary when [containers] init_path is unset (podman's FindInitBinary)
    init_path: str | None = None


#: `[engine]`: the typed keys, every other podman key with podman's type, legacy keys as `Any`.
EngineTable = create_model(
    "EngineTable",
    __base__=_TypedEngine,
    **{  # type: ignore[call-overload]
        key: (_PODMAN_TYPES[kind] | None, None)
        for key, kind in PODMAN_KEYS["engine"].items()
        if key not in _TypedEngine.model_fields
    },
    **{key: (Any, None) for key in LEGACY_KEYS["engine"]},  # type: ignore[call-overload]
)


def _podman_table(table: str) -> type[BaseModel]:
    legacy = {key: "any" for key in LEGACY_KEYS.get(table, ())}
    return _table(f"{table.capitalize()}Table", {**PODMAN_KEYS[table], **legacy})


_PODMAN_TYPES["any"] = Any
ContainersTable = _podman_table("containers")
MachineTable = _podman_table("machine")
NetworkTable = _podman_table("network")
SecretsTable = _podman_table("secrets")
ConfigmapsTable = _podman_table("configmaps")
FarmsTable = _podman_table("farms")
PodmanshTable = _podman_table("podmansh")


class CapabilityOverrides(BaseModel):
    """`[ocimux.capabilities.<runtime>]`: capabilities forced on or off by configuration."""

    model_config = _Strict

    checkpoint: bool | None = None
    json_errors: bool | None = None
    no_cgroups: bool | None = None
    kvm: bool | None = None
    pause: bool | None = None
    update_resources: bool | None = None
    exec: bool | None = None
    terminal: bool | None = None
    isolation: bool | None = None
    resource_limits: bool | None = None
    devices: bool | None = None
    privileged: bool | None = None
    seccomp: bool | None = None
    host_network: bool | None = None
    umask: bool | None = None
    domainname: bool | None = None


class OciFrontTable(BaseModel):
    """`[ocimux.oci]`: the `ocimux-oci` runtime command line."""

    model_config = _Strict

    #: the backend for a container whose bundle names none and no `--backend` was given
    default_backend: Name | None = None


class OcimuxTable(BaseModel):
    """`[ocimux]`: ocimux's own settings (podman ignores this table)."""

    model_config = _Strict

    state_dir: AbsolutePath | None = None
    run_dir: AbsolutePath | None = None
    command_timeout: Annotated[Seconds, Field(gt=0)] | None = None
    lock_timeout: Annotated[Seconds, Field(ge=0)] | None = None
    default_cli_plugin: Name | None = None
    default_shim_plugin: Name | None = None
    runtime_preference: StringArray | None = None
    hooks_enabled: bool | None = None
    #: unknown keys are errors, not warnings (for CI that wants the old strictness)
    strict_config: bool | None = None
    #: `[containers]` keys not to apply nor refuse: run as if unset (`ocimux info` lists them)
    ignore_container_defaults: ContainerKeys | None = None
    runtime_plugins: dict[str, Name] | None = None
    plugins: dict[str, dict[str, Any]] | None = None
    capabilities: dict[str, CapabilityOverrides] | None = None
    oci: OciFrontTable | None = None


class _Tables(BaseModel):
    """The top-level tables of a file, shared by `ConfigFile` and `Settings`."""

    model_config = _Strict

    engine: EngineTable | None = None  # type: ignore[valid-type]
    containers: ContainersTable | None = None  # type: ignore[valid-type]
    machine: MachineTable | None = None  # type: ignore[valid-type]
    network: NetworkTable | None = None  # type: ignore[valid-type]
    secrets: SecretsTable | None = None  # type: ignore[valid-type]
    configmaps: ConfigmapsTable | None = None  # type: ignore[valid-type]
    farms: FarmsTable | None = None  # type: ignore[valid-type]
    podmansh: PodmanshTable | None = None  # type: ignore[valid-type]
    ocimux: OcimuxTable | None = None


class ConfigFile(_Tables):
    """One containers.conf file (validate with `strict=True`)."""


_ENVIRON: ContextVar[Mapping[str, str]] = ContextVar("ocimux_config_environ")


class _EnvSource(EnvSettingsSource):
    """pydantic-settings' environment source, reading the mapping given to `settings_from`."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            _ENVIRON.get(), self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


class Settings(BaseSettings, _Tables):
    """The merged files (init values) overridden by `OCIMUX_*` variables; see `settings_from`."""

    model_config = SettingsConfigDict(
        env_prefix="OCIMUX_", env_nested_delimiter="__", extra="forbid"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read only the environment (first, so it wins) and the merged files; no dotenv."""
        return (_EnvSource(settings_cls), init_settings)


def settings_from(merged: dict[str, Any], environ: Mapping[str, str]) -> Settings:
    """Validate `merged` with the `OCIMUX_*` variables of `environ` applied over it.

    Raises pydantic's ValidationError or pydantic-settings' SettingsError; `validate.py`
    turns them into ConfigError.
    """
    token = _ENVIRON.set(environ)
    try:
        return Settings(**merged)
    finally:
        _ENVIRON.reset(token)
