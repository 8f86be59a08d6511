"""`Config`: a light, immutable, typed view over the validated and merged configuration.

No pydantic here: the warm CLI path rebuilds a `Config` from its JSON cache with
`Config.from_dict` and reads it through these properties. The data is the plain dict
`load_config` produced (only keys some file or variable set, plus the resolved `state_dir` and
`run_dir`); every default lives in this module.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final, final

from .builtins import CONMON_ENV_VARS, CONMON_PATHS
from .search import home_dir, xdg_dir

__all__ = [
    "DEFAULT_CGROUP_MANAGER",
    "DEFAULT_CLI_PLUGIN",
    "DEFAULT_SHIM_PLUGIN",
    "DEFAULT_COMMAND_TIMEOUT",
    "DEFAULT_CONMON_ENV_VARS",
    "DEFAULT_CONMON_PATHS",
    "DEFAULT_DETACH_KEYS",
    "DEFAULT_LOCK_TIMEOUT",
    "DEFAULT_RUNTIME_PREFERENCE",
    "DEFAULT_STOP_TIMEOUT",
    "MAX_STOP_TIMEOUT",
    "SUPPORTS_KINDS",
    "Config",
    "default_run_dir",
    "default_state_dir",
]

#: podman's conmon candidates (go.podman.io/common `pkg/config/default.go`).
DEFAULT_CONMON_PATHS: Final = CONMON_PATHS
DEFAULT_CONMON_ENV_VARS: Final = CONMON_ENV_VARS
DEFAULT_STOP_TIMEOUT: Final = 10
#: The longest stop timeout, in seconds (uint32, as podman's command line takes it).
MAX_STOP_TIMEOUT: Final = 2**32 - 1
DEFAULT_DETACH_KEYS: Final = "ctrl-p,ctrl-q"
DEFAULT_CGROUP_MANAGER: Final = "cgroupfs"
DEFAULT_COMMAND_TIMEOUT: Final = 60.0
DEFAULT_LOCK_TIMEOUT: Final = 60.0
#: podman's order for choosing the default runtime when `[engine] runtime` is unset
#: (go.podman.io/common `pkg/config/default.go` findRuntime).
DEFAULT_RUNTIME_PREFERENCE: Final = ("crun", "runc", "runj", "kata", "runsc", "ocijail")
#: The plugin that drives a name in [engine.runtimes] that has no plugin of its own.
DEFAULT_CLI_PLUGIN: Final = "runc"
DEFAULT_SHIM_PLUGIN: Final = "runc-shim"

#: `supports_*` kind → the `[engine]` keys that list it (both nocgroup spellings count: podman's
#: code reads the singular, its documentation and sample file say the plural).
SUPPORTS_KINDS: Final[Mapping[str, tuple[str, ...]]] = {
    "json": ("runtime_supports_json",),
    "kvm": ("runtime_supports_kvm",),
    "nocgroups": ("runtime_supports_nocgroup", "runtime_supports_nocgroups"),
}

#: Other spellings `supports_is_set` accepts: the singular, and the capability names.
_SUPPORTS_ALIASES: Final = {
    "nocgroup": "nocgroups",
    "no_cgroups": "nocgroups",
    "json_errors": "json",
}


def default_state_dir(environ: Mapping[str, str], euid: int | None = None) -> Path:
    """Return the default `[ocimux] state_dir`.

    `/var/lib/ocimux` for root (euid 0), else `$XDG_DATA_HOME/ocimux`, else
    `~/.local/share/ocimux` (`~` is `$HOME`, else the password database's entry).
    """
    if (os.geteuid() if euid is None else euid) == 0:
        return Path("/var/lib/ocimux")
    data_home = xdg_dir(environ, "XDG_DATA_HOME") or home_dir(environ) / ".local" / "share"
    return data_home / "ocimux"


def default_run_dir(environ: Mapping[str, str], euid: int | None = None) -> Path:
    """Return the default `[ocimux] run_dir`.

    `/run/ocimux` for root (euid 0), else `$XDG_RUNTIME_DIR/ocimux`, else `/tmp/ocimux-<euid>`.
    """
    uid = os.geteuid() if euid is None else euid
    if uid == 0:
        return Path("/run/ocimux")
    runtime_dir = xdg_dir(environ, "XDG_RUNTIME_DIR")
    return runtime_dir / "ocimux" if runtime_dir else Path(f"/tmp/ocimux-{uid}")


@final
class Config:
    """The configuration ocimux runs with, read-only.

    Build it with `load_config()` (cold path, validates) or `Config.from_dict(cached)` (warm
    path, trusts a dict that `to_dict` produced). `Config(data, files)` copies `data`, so
    later changes to the caller's dict do not show; values returned are copies or immutable.
    """

    __slots__ = ("_data", "_files", "_warnings")

    _data: dict[str, Any]
    _files: tuple[str, ...]
    _warnings: tuple[str, ...]

    def __init__(
        self, data: Mapping[str, Any], files: Sequence[str] = (), warnings: Sequence[str] = ()
    ) -> None:
        object.__setattr__(self, "_data", copy.deepcopy(dict(data)))
        object.__setattr__(self, "_files", tuple(files))
        object.__setattr__(self, "_warnings", tuple(warnings))

    # ---- construction and serialisation ---------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Return `{"data": ..., "files": [...], "warnings": [...]}`, JSON-able; `from_dict` rebuilds an equal Config."""
        return {
            "data": copy.deepcopy(self._data),
            "files": list(self._files),
            "warnings": list(self._warnings),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Config:
        """Rebuild a Config from `to_dict()`'s output (e.g. read back from a JSON cache)."""
        return cls(d.get("data") or {}, tuple(d.get("files") or ()), tuple(d.get("warnings") or ()))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Config is read-only (cannot set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Config is read-only (cannot delete {name!r})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Config):
            return NotImplemented
        return (
            self._data == other._data
            and self._files == other._files
            and self._warnings == other._warnings
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Config(files={list(self._files)!r}, default_runtime={self.default_runtime!r})"

    @property
    def files(self) -> tuple[str, ...]:
        """The files loaded, in load order (missing optional files are not listed)."""
        return self._files

    @property
    def warnings(self) -> tuple[str, ...]:
        """One line per key or table the files hold that ocimux does not know (file:line: key: ...).

        Loading shows them once, when the files are read afresh (not on a warm-cache call).
        """
        return self._warnings

    # ---- [engine] ---------------------------------------------------------------------------

    @property
    def default_runtime(self) -> str | None:
        """`engine.runtime`, or None if unset or empty."""
        return self._engine.get("runtime") or None

    @property
    def runtime_names(self) -> tuple[str, ...]:
        """The names in `[engine.runtimes]`, in the order the files defined them."""
        return tuple(self._engine.get("runtimes") or ())

    @property
    def runtime_preference(self) -> tuple[str, ...]:
        """The names to try, in order, for the default runtime when `engine.runtime` is unset.

        `ocimux.runtime_preference` if given, else podman's order (crun, runc, runj, kata,
        runsc, ocijail); then the other names of `[engine.runtimes]` in file order; each name
        once. The caller skips the ones it cannot use.
        """
        configured = self._ocimux.get("runtime_preference")
        first = DEFAULT_RUNTIME_PREFERENCE if configured is None else tuple(configured)
        return tuple(dict.fromkeys((*first, *self.runtime_names)))

    def runtime_paths(self, name: str) -> tuple[str, ...]:
        """The candidate paths of runtime `name` (`[engine.runtimes]`); empty if none."""
        return tuple((self._engine.get("runtimes") or {}).get(name) or ())

    def runtime_flags(self, name: str) -> tuple[str, ...]:
        """The global flags of runtime `name` (`[engine.runtimes_flags]`) as argv items.

        podman writes them without dashes (`"log-format=json"`); each becomes `--log-format=json`.
        A flag that already starts with `-` is kept as is; empty strings are dropped.
        """
        flags = (self._engine.get("runtimes_flags") or {}).get(name) or ()
        return tuple(flag if flag.startswith("-") else f"--{flag}" for flag in flags if flag)

    @property
    def supports_json(self) -> frozenset[str]:
        """Runtimes listed in `runtime_supports_json` (accept `--log-format=json`)."""
        return self._supports("json")

    @property
    def supports_kvm(self) -> frozenset[str]:
        """Runtimes listed in `runtime_supports_kvm` (isolate with a virtual machine)."""
        return self._supports("kvm")

    @property
    def supports_nocgroups(self) -> frozenset[str]:
        """Runtimes in `runtime_supports_nocgroup` or `runtime_supports_nocgroups` (the union)."""
        return self._supports("nocgroups")

    def supports_is_set(self, kind: str) -> bool:
        """Tell whether any file or variable gave the `runtime_supports_<kind>` list at all.

        `kind` is "json", "kvm" or "nocgroups" ("nocgroup", and the capability names
        "json_errors" and "no_cgroups", work too). Raises ValueError for anything else.
        """
        return any(key in self._engine for key in self._supports_keys(kind))

    @property
    def conmon_paths(self) -> tuple[str, ...]:
        """`engine.conmon_path`: conmon candidates, first existing wins (podman's list by default)."""
        return self._strings("conmon_path", DEFAULT_CONMON_PATHS)

    @property
    def conmon_env_vars(self) -> tuple[str, ...]:
        """`engine.conmon_env_vars`: `NAME=value` items for conmon's environment."""
        return self._strings("conmon_env_vars", DEFAULT_CONMON_ENV_VARS)

    @property
    def stop_timeout(self) -> int:
        """`engine.stop_timeout`: seconds between the stop signal and SIGKILL (default 10).

        podman's type is an unsigned integer that its decoder fills from any TOML integer, a
        negative one wrapping round to about 2**64: so below 0 or above MAX_STOP_TIMEOUT reads
        as MAX_STOP_TIMEOUT (136 years), in effect no limit.
        """
        value = self._engine.get("stop_timeout")
        if value is None:
            return DEFAULT_STOP_TIMEOUT
        value = int(value)
        return MAX_STOP_TIMEOUT if value < 0 or value > MAX_STOP_TIMEOUT else value

    @property
    def detach_keys(self) -> str:
        """`engine.detach_keys` (default "ctrl-p,ctrl-q"; "" disables detaching)."""
        value = self._engine.get("detach_keys")
        return DEFAULT_DETACH_KEYS if value is None else str(value)

    @property
    def engine_init_path(self) -> str | None:
        """`engine.init_path`: the init binary when `[containers] init_path` is unset (podman's
        current key; None if unset or empty)."""
        return self._engine.get("init_path") or None

    @property
    def cgroup_manager(self) -> str:
        """`engine.cgroup_manager`: "systemd" or "cgroupfs" (default "cgroupfs")."""
        return str(self._engine.get("cgroup_manager") or DEFAULT_CGROUP_MANAGER)

    # ---- [containers] -----------------------------------------------------------------------

    @property
    def containers_table(self) -> dict[str, Any]:
        """A copy of the merged `[containers]` table (the defaults of every container)."""
        return copy.deepcopy(self._data.get("containers") or {})

    @property
    def ignored_container_defaults(self) -> tuple[str, ...]:
        """`ocimux.ignore_container_defaults`: `[containers]` keys every container runs without
        (neither applied nor refused; `ocimux info` lists those set)."""
        value = self._ocimux.get("ignore_container_defaults") or ()
        return tuple(item for item in value if isinstance(item, str))

    # ---- [ocimux] ---------------------------------------------------------------------------

    @property
    def state_dir(self) -> Path:
        """`ocimux.state_dir`: persistent state (load_config stores the resolved default)."""
        value = self._ocimux.get("state_dir")
        return Path(value) if value else default_state_dir(os.environ)

    @property
    def run_dir(self) -> Path:
        """`ocimux.run_dir`: per-boot files (load_config stores the resolved default)."""
        value = self._ocimux.get("run_dir")
        return Path(value) if value else default_run_dir(os.environ)

    @property
    def command_timeout(self) -> float:
        """`ocimux.command_timeout`: seconds a runtime command may take (default 60, > 0)."""
        value = self._ocimux.get("command_timeout")
        return DEFAULT_COMMAND_TIMEOUT if value is None else float(value)

    @property
    def lock_timeout(self) -> float:
        """`ocimux.lock_timeout`: seconds to wait for a container's lock (default 60)."""
        value = self._ocimux.get("lock_timeout")
        return DEFAULT_LOCK_TIMEOUT if value is None else float(value)

    @property
    def oci_default_backend(self) -> str | None:
        """`ocimux.oci.default_backend`: `ocimux-oci`'s backend when nothing else names one."""
        value = (self._ocimux.get("oci") or {}).get("default_backend")
        return str(value) if value else None

    @property
    def default_cli_plugin(self) -> str:
        """`ocimux.default_cli_plugin`: the plugin for runtime names without one (default "runc")."""
        return str(self._ocimux.get("default_cli_plugin") or DEFAULT_CLI_PLUGIN)

    @property
    def default_shim_plugin(self) -> str:
        """`ocimux.default_shim_plugin`: the plugin for configured shim v2 binaries (default "runc-shim")."""
        return str(self._ocimux.get("default_shim_plugin") or DEFAULT_SHIM_PLUGIN)

    def runtime_plugin(self, name: str) -> str | None:
        """The plugin `[ocimux.runtime_plugins]` assigns to runtime `name`, or None."""
        return (self._ocimux.get("runtime_plugins") or {}).get(name)

    def plugin_options(self, name: str) -> dict[str, Any]:
        """A copy of the free-form table `[ocimux.plugins.<name>]` (empty if absent)."""
        return copy.deepcopy((self._ocimux.get("plugins") or {}).get(name) or {})

    def capability_overrides(self, name: str) -> dict[str, bool]:
        """Capabilities `[ocimux.capabilities.<name>]` forces on or off (only those given)."""
        table = (self._ocimux.get("capabilities") or {}).get(name) or {}
        return {key: bool(value) for key, value in table.items() if value is not None}

    @property
    def hooks_enabled(self) -> bool:
        """`ocimux.hooks_enabled`: whether hook plugins are loaded (default True)."""
        value = self._ocimux.get("hooks_enabled")
        return True if value is None else bool(value)

    # ---- helpers ----------------------------------------------------------------------------

    @property
    def _engine(self) -> dict[str, Any]:
        return self._data.get("engine") or {}

    @property
    def _ocimux(self) -> dict[str, Any]:
        return self._data.get("ocimux") or {}

    def _strings(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self._engine.get(key)
        return default if value is None else tuple(value)

    @staticmethod
    def _supports_keys(kind: str) -> tuple[str, ...]:
        keys = SUPPORTS_KINDS.get(_SUPPORTS_ALIASES.get(kind, kind))
        if keys is None:
            raise ValueError(f"unknown supports kind {kind!r}; use one of {sorted(SUPPORTS_KINDS)}")
        return keys

    def _supports(self, kind: str) -> frozenset[str]:
        names: set[str] = set()
        for key in self._supports_keys(kind):
            names.update(self._engine.get(key) or ())
        return frozenset(names)
