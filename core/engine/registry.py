"""The Registry: which runtimes exist, which plugin drives each, and building them on first use.

A runtime name comes from a plugin's entry point (group `ocimux.runtimes`) or from a key of
`[engine.runtimes]`. A configured name without a plugin of its own is driven by the plugin
named in `[ocimux.runtime_plugins]`, else by `[ocimux] default_shim_plugin` if its binary is a
containerd shim v2 (`containerd-shim-*-v2`), else by `[ocimux] default_cli_plugin` (podman drives
every configured name with one OCI-CLI implementation; ocimux does the same through a plugin).

A runtime may also be given by absolute path (`--runtime /usr/bin/crun`, `[engine] runtime =
"/opt/x/crun"`; podman(1): "name or absolute path"). `resolve()` turns what a user typed into
the name to build and record: a path that is the very binary the runtime of its basename
uses names that runtime; any other path is a runtime of its own, named by the path (podman
records the path too), configured by its basename (podman's rule: `runtime_supports_*`,
`[engine.runtimes_flags]`, `[ocimux.plugins.NAME]`), driven by the plugin its basename would
get (see `plugin_for`), with a state directory of its own. A name no runtime has matches the
one runtime whose name differs only in case (`OCIMUX_ENGINE__RUNTIMES__MyRt` defines `myrt`).

Listing names imports no plugin code. A plugin module is imported the first time one of its
runtimes is used, once per process. A plugin that fails to import, whose class is not a
`Runtime`, targets another `api_version`, leaves an abstract method unimplemented, or whose
constructor raises is reported (name, entry point, distribution, error, what to do) by
`describe()` and by `get()` for that name only; every other runtime keeps working. Two
distributions claiming one name is an error naming both. Every runtime `get()` hands out is
guarded (`guard.py`): an exception of the plugin's that is not an `OcimuxError` becomes one
`PluginFaultError` naming the plugin and where it raised.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, final

from ocimux.base.errors import (
    InvalidArgumentError,
    OcimuxError,
    PluginError,
    RuntimeNotFoundError,
)
from ocimux.config.builtins import BUILTIN_ARRAYS
from ocimux.config.view import SUPPORTS_KINDS
from ocimux.interface.capabilities import Capabilities, Capability, resolve
from ocimux.interface.runtime import API_VERSION, Runtime, RuntimeContext

from ._entries import BrokenPlugin, import_target
from .guard import fault, guard, locate, origin_of, package_of

if TYPE_CHECKING:
    from ocimux.config import Config

    from ._entries import PluginEntry

__all__ = ["RUNTIMES_GROUP", "Registry", "RuntimeReport"]

RUNTIMES_GROUP = "ocimux.runtimes"

#: containerd's name for a shim v2 binary (runtime `io.containerd.X.v2` → `containerd-shim-X-v2`);
#: a configured runtime whose binary is named so is driven by `[ocimux] default_shim_plugin`
SHIM_V2_BINARY = re.compile(r"^containerd-shim-[A-Za-z0-9+-]+-v2$")

#: config list → capability it configures (containers.conf `runtime_supports_*`)
_CONFIG_LISTS = (("json", "json_errors"), ("kvm", "kvm"), ("nocgroups", "no_cgroups"))


@dataclass(slots=True)
class RuntimeReport:
    """One row of `ocimux runtimes`: what we know of a runtime without running a container."""

    name: str
    plugin: str | None
    entry_point: str | None
    distribution: str | None
    path: str | None = None
    version: str | None = None
    monitor: str | None = None
    status: str = "ok"  # "ok", "not installed", "broken", "conflict"
    error: str | None = None
    default: bool = False
    capabilities: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "plugin": self.plugin,
            "entry_point": self.entry_point,
            "distribution": self.distribution,
            "path": self.path,
            "version": self.version,
            "monitor": self.monitor,
            "status": self.status,
            "error": self.error,
            "default": self.default,
            "capabilities": self.capabilities,
        }


@final
class Registry:
    """Maps runtime names to plugins and builds one `Runtime` per name per process."""

    def __init__(self, config: Config, entries: Iterable[PluginEntry]) -> None:
        self.config = config
        self._entries: dict[str, list[PluginEntry]] = {}
        for entry in entries:
            self._entries.setdefault(entry.name, []).append(entry)
        self._classes: dict[str, type[Runtime]] = {}
        self._runtimes: dict[str, Runtime] = {}
        self._failed: dict[str, PluginError] = {}
        #: runtime name -> why its plugin's class could not be built (its constructor raised)
        self._unbuilt: dict[str, PluginError] = {}
        self._capabilities: dict[tuple[str, bool], Capabilities] = {}

    # --- names ----------------------------------------------------------------------------

    def plugin_names(self) -> list[str]:
        """Names of installed runtime plugins (entry points), importing nothing."""
        return sorted(self._entries)

    def runtime_names(self) -> list[str]:
        """Every runtime name: plugins plus `[engine.runtimes]` keys."""
        return sorted(set(self._entries) | set(self.config.runtime_names))

    def plugin_for(self, name: str) -> str | None:
        """The plugin that drives runtime `name`, or None if nothing can.

        A runtime given by absolute path is driven as its basename would be, with that binary:
        by the plugin `[ocimux.runtime_plugins]` names for the basename, else the plugin of
        that name, else the default shim plugin for a shim v2 binary, else the default CLI one.
        """
        if os.path.isabs(name):
            return self._driver(_config_key(name), name)
        if (
            self.config.runtime_plugin(name)
            or name in self._entries
            or name in self.config.runtime_names
        ):
            paths = self.config.runtime_paths(name)
            return self._driver(name, paths[0] if paths else None)
        return None

    def _driver(self, key: str, binary: str | None) -> str:
        explicit = self.config.runtime_plugin(key)
        if explicit:
            return explicit
        if key in self._entries:
            return key
        if binary and SHIM_V2_BINARY.match(os.path.basename(binary)):
            return self.config.default_shim_plugin
        return self.config.default_cli_plugin

    def resolve(self, name: str) -> str:
        """The runtime a user means by `name` (`--runtime`, `[engine] runtime`, a hook's choice).

        A known name is itself. An absolute path names the runtime of its basename if that
        runtime's binary is this very file (same inode: a symlink or hard link counts, a copy
        does not), else the path (normalised) is a runtime of its own; the file must be an
        executable regular file. Any other name matches the one runtime whose name differs
        only in case. An unknown name comes back as given (`get` then reports it).

        Raises InvalidArgumentError for a relative path, RuntimeNotFoundError for a path that
        is not an executable file, and what `get` raises for the runtime of the basename.
        """
        if os.path.isabs(name):
            return self._resolve_path(os.path.normpath(name))
        if self.plugin_for(name) is not None:
            return name
        if "/" in name:
            raise InvalidArgumentError(
                "a relative path names no runtime",
                runtime=name,
                hint="give a runtime name (see `ocimux runtimes`) or the binary's absolute path",
            )
        folded = name.casefold()
        matches = [n for n in self.runtime_names() if n.casefold() == folded]
        return matches[0] if len(matches) == 1 else name

    def _resolve_path(self, path: str) -> str:
        hint = (
            "give the absolute path of a runtime binary, or a runtime name (see `ocimux runtimes`)"
        )
        try:
            mode = os.stat(path).st_mode
            why = None if stat.S_ISREG(mode) else "not a regular file"
        except OSError as exc:
            why = str(exc.strerror or exc)
        if why is None and not os.access(path, os.X_OK):
            why = "not executable"
        if why:
            raise RuntimeNotFoundError(f"not a runtime binary: {why}", runtime=path, hint=hint)
        base = _config_key(path)
        if self.plugin_for(base) is not None:
            known = self.get(base)
            if known.path and _same_file(known.path, path):
                return base
        return path

    def default_name(self) -> str:
        """The default runtime: `[engine] runtime`, else the first usable of the preference list.

        A configured default is `resolve`d (a path, a name in another case); one that names no
        runtime raises RuntimeNotFoundError, as podman refuses an unknown default on every
        command (here: on every command that needs the default).
        """
        configured = self.config.default_runtime
        if configured:
            return self._configured_default(configured)
        for name in self.config.runtime_preference:
            if self.plugin_for(name) is None:
                continue
            try:
                runtime = self.get(name)
            except (PluginError, RuntimeNotFoundError):
                continue
            try:
                if runtime.unavailable_reason() is None:
                    return name
            except OcimuxError:
                continue  # a plugin failing here must not hide the next choice
        raise RuntimeNotFoundError(
            "no usable runtime is installed",
            hint="install a runtime and its plugin, or set [engine] runtime (see `ocimux runtimes`)",
        )

    def _configured_default(self, configured: str) -> str:
        hint = (
            f"known runtimes: {', '.join(self.runtime_names()) or 'none'}; fix [engine] runtime "
            "(or OCIMUX_ENGINE__RUNTIME, or the global --runtime)"
        )
        try:
            name = self.resolve(configured)
        except (InvalidArgumentError, RuntimeNotFoundError) as exc:
            raise RuntimeNotFoundError(
                f"default runtime ([engine] runtime): {exc.detail}",
                runtime=configured,
                hint=exc.hint,
            ) from exc
        if self.plugin_for(name) is None:
            raise RuntimeNotFoundError(
                "unknown runtime, named as the default ([engine] runtime)",
                runtime=configured,
                hint=hint,
            )
        return name

    # --- loading --------------------------------------------------------------------------

    def plugin_class(self, plugin: str) -> type[Runtime]:
        """Import plugin `plugin` (once per process) and return its Runtime class."""
        if plugin in self._classes:
            return self._classes[plugin]
        entries = self._entries.get(plugin)
        if not entries:
            raise RuntimeNotFoundError(
                f"no runtime plugin named {plugin!r} is installed",
                runtime=plugin,
                hint=f"installed plugins: {', '.join(self.plugin_names()) or 'none'}",
            )
        if len(entries) > 1:
            both = " and ".join(f"{e.distribution} ({e.target})" for e in entries)
            raise PluginError(
                f"runtime plugin name {plugin!r} is claimed by {both}",
                runtime=plugin,
                hint="uninstall one of them",
            )
        if plugin in self._failed:
            raise self._failed[plugin]
        try:
            cls = _validate_class(entries[0], _import_target(entries[0]))
        except PluginError as exc:
            self._failed[plugin] = exc  # reported the same way for the rest of the process
            raise
        self._classes[plugin] = cls
        return cls

    def load_all(self) -> list[BrokenPlugin]:
        """Import every runtime plugin at once (through stevedore); return the broken ones.

        For reports such as `ocimux runtimes`; commands on one container never need it.
        """
        # lazy: stevedore, only to load every plugin
        from ._discovery import load_all

        single = {
            name: es[0]
            for name, es in self._entries.items()
            if len(es) == 1 and name not in self._classes
        }
        loaded, broken = load_all(RUNTIMES_GROUP, list(single.values()))
        for name, obj in loaded.items():
            try:
                self._classes[name] = _validate_class(single[name], obj)
            except PluginError as exc:
                self._failed[name] = exc
                broken.append(
                    BrokenPlugin(name, single[name].target, single[name].distribution, exc.detail)
                )
        for b in broken:
            self._failed.setdefault(
                b.name,
                PluginError(
                    f"plugin failed to import: {b.error}",
                    runtime=b.name,
                    entry_point=b.target,
                    distribution=b.distribution,
                    hint=f"fix or uninstall {b.distribution}",
                ),
            )
        return broken

    def get(self, name: str) -> Runtime:
        """Return the Runtime for `name`, building it on first use.

        Raises RuntimeNotFoundError for an unknown name and PluginError for a broken plugin.
        The runtime's binary may still be missing: see `Runtime.unavailable_reason()`.
        """
        if name in self._runtimes:
            return self._runtimes[name]
        plugin = self.plugin_for(name)
        if plugin is None:
            raise RuntimeNotFoundError(
                f"unknown runtime {name!r}",
                runtime=name,
                hint=f"known runtimes: {', '.join(self.runtime_names()) or 'none'}; see `ocimux runtimes`",
            )
        cls = self.plugin_class(plugin)
        if name in self._unbuilt:
            raise self._unbuilt[name]
        entry = self._entries[plugin][0]  # plugin_class made sure there is exactly one
        origin = origin_of(cls, name, entry.target, entry.distribution)
        try:
            runtime = cls(self._context(name, plugin, cls))
        except OcimuxError:
            raise  # the plugin's own message, e.g. a bad [ocimux.plugins.NAME] option
        except Exception as exc:  # noqa: BLE001 - a plugin's constructor is third-party code
            err = fault(origin, exc, "__init__")
            err.hint = f"report it to the plugin's authors, or uninstall {entry.distribution}"
            self._unbuilt[name] = err
            raise err from exc
        runtime._effective = lambda: self.capabilities(runtime, probe=False)
        self._runtimes[name] = guard(runtime, origin)
        return runtime

    def _context(self, name: str, plugin: str, cls: type[Runtime]) -> RuntimeContext:
        config = self.config
        key = _config_key(name)  # a runtime given by path is configured by its basename
        own = key == plugin  # else a configured name driven by another plugin (youki by runc's)
        if os.path.isabs(name):  # that binary and no other: never $PATH, never its name's paths
            candidates = [name] if cls.accepts_binary(name) else []
            fallback, wanted, searched = None, name if cls.binary else None, (name,)
        else:
            candidates = [p for p in config.runtime_paths(name) if cls.accepts_binary(p)]
            candidates = candidates or list(cls.default_paths if own else ())
            fallback = wanted = (cls.binary if own else name) if cls.binary else None
            searched = (*candidates, "$PATH")
        path = _resolve_binary(candidates, fallback) if fallback or candidates else None
        return RuntimeContext(
            name=name,
            path=path,
            state_dir=config.run_dir / "runtimes" / _state_dir_name(name),
            containers_dir=config.state_dir / "containers",
            flags=config.runtime_flags(key),
            options=config.plugin_options(key),
            command_timeout=config.command_timeout,
            conmon_path=_resolve_binary(config.conmon_paths, "conmon"),
            binary=wanted,
            searched=searched,
            run_dir=config.run_dir,
            cgroup_manager=config.cgroup_manager,
            conmon_env=config.conmon_env_vars,
        )

    # --- capabilities ---------------------------------------------------------------------

    def capabilities(self, runtime: Runtime, *, probe: bool = True) -> Capabilities:
        """Declared, then probed, then configured answers, in that order (later wins).

        Computed once per runtime per process. With `probe=False` the binary is not probed
        (the runtime's own choices on the hot path need only declared and configured answers).
        A capability whose operation the plugin's class does not implement is no, whatever a
        probe or the configuration says; configuration cannot turn on one the plugin declares
        false (`capabilities.resolve` states both rules).
        """
        key = (runtime.name, probe)
        if key not in self._capabilities:
            cls = type(runtime)
            self._capabilities[key] = resolve(
                cls.capabilities,
                self._probed(runtime) if probe else [],
                self._configured(runtime.name),
                runtime=runtime.name,
                unimplemented=_unimplemented(cls),
                implemented=_implemented(cls),
            )
        return self._capabilities[key]

    def _probed(self, runtime: Runtime) -> list[tuple[str, Capability]]:
        if runtime.path is None or not type(runtime).probes:
            return []
        # lazy: only a capability gate or `runtimes` probes
        from ocimux.interface.probes import probe_cached

        return probe_cached(runtime)

    def _configured(self, name: str) -> list[tuple[str, Capability]]:
        """The `runtime_supports_*` lists' and `[ocimux.capabilities.NAME]`'s answers.

        podman passes `--log-format=json` (and uses kvm, no cgroups) only for the names its
        lists give. A list some file or variable sets decides for every runtime, plugins'
        own included. A list nobody sets leaves a plugin's own runtime (name == plugin) to the
        plugin's declaration, but a name driven by another plugin (`myrt` by the default CLI
        plugin) gets podman's built-in list: the plugin declared what its own binary does,
        not what any binary it is handed does.
        """
        config = self.config
        key = _config_key(name)  # podman looks a runtime given by path up by its basename
        own = key == self.plugin_for(name)
        out = []
        for kind, capability in _CONFIG_LISTS:
            option = f"runtime_supports_{kind}"
            if key in getattr(config, f"supports_{kind}"):
                out.append((capability, Capability(True, "configured", f"{option} lists {key}")))
            elif config.supports_is_set(kind):
                # podman's meaning: a list that is given names every runtime with the feature
                out.append((capability, Capability(False, "configured", f"not listed in {option}")))
            elif not own:
                listed = key in _builtin_list(kind)
                said = f"lists {key}" if listed else f"does not list {key}"
                reason = f"{option} is not set; podman's built-in {option} {said}"
                out.append((capability, Capability(listed, "configured", reason)))
        for capability, value in config.capability_overrides(key).items():
            reason = f"[ocimux.capabilities.{key}] sets {capability} = {str(value).lower()}"
            out.append((capability, Capability(value, "configured", reason)))
        return out

    # --- reporting ------------------------------------------------------------------------

    def describe(self, name: str) -> RuntimeReport:
        """Report on one runtime, turning a broken plugin into a report, not an exception."""
        plugin = self.plugin_for(name)
        entries = self._entries.get(plugin or "", [])
        entry = entries[0] if entries else None
        report = RuntimeReport(
            name=name,
            plugin=plugin,
            entry_point=entry.target if entry else None,
            distribution=", ".join(e.distribution for e in entries) or None,
        )
        try:
            runtime = self.get(name)
            report.path = runtime.path
            reason = runtime.unavailable_reason()
        except RuntimeNotFoundError as exc:
            report.status = "not installed"
            report.error = exc.detail
            return report
        except OcimuxError as exc:  # broken: import, class, api_version, constructor, ...
            report.status = "conflict" if len(entries) > 1 else "broken"
            report.error = f"{exc.detail}; {exc.hint}" if exc.hint else exc.detail
            return report
        if reason:
            report.status, report.error = "not installed", reason
        else:
            try:
                info = runtime.info()
                report.version, report.monitor = info.version, info.monitor
            except Exception as exc:  # noqa: BLE001 - a report must not fail on one runtime
                report.error = f"runtime_info failed: {exc}"
        report.capabilities = self.capabilities(runtime).as_dict()
        if runtime.probe_failures:
            report.error = "; ".join(
                [*([report.error] if report.error else []), *runtime.probe_failures]
            )
        return report


#: capability -> the method a plugin must override to have it
_IMPLEMENTED_BY = {"checkpoint": "checkpoint", "pause": "pause",
                   "update_resources": "update", "exec": "exec"}  # fmt: skip


def _unimplemented(cls: type[Runtime]) -> dict[str, str]:
    """Capability -> why, for each whose method the class inherits unimplemented from Runtime."""
    return {
        cap: f"{cls.__name__} does not implement {method}"
        for cap, method in _IMPLEMENTED_BY.items()
        if getattr(cls, method, None) is getattr(Runtime, method)
    }


def _implemented(cls: type[Runtime]) -> frozenset[str]:
    """The capabilities whose method the class implements (a declared no there is provisional)."""
    return frozenset(_IMPLEMENTED_BY) - set(_unimplemented(cls))


def _import_target(entry: PluginEntry) -> Any:
    """Import `module:attr`; any failure becomes a PluginError naming entry point and distribution."""
    try:
        return import_target(entry.target)
    except Exception as exc:  # noqa: BLE001 - any failure of third-party code is reported
        module = entry.target.partition(":")[0]
        where, _inside = locate(exc.__traceback__, (package_of(module) or module,))
        at = f" (at {where})" if where else ""
        raise PluginError(
            f"plugin failed to import: {type(exc).__name__}: {exc}{at}",
            runtime=entry.name,
            entry_point=entry.target,
            distribution=entry.distribution,
            hint=f"fix or uninstall {entry.distribution}",
        ) from exc


def _validate_class(entry: PluginEntry, obj: Any) -> type[Runtime]:
    """Check a loaded entry point is a concrete Runtime subclass of our `api_version`, with
    `Capabilities`; warn if it declares no capabilities of its own."""

    def broken(detail: str, hint: str) -> PluginError:
        return PluginError(
            detail,
            runtime=entry.name,
            entry_point=entry.target,
            distribution=entry.distribution,
            hint=hint,
        )

    dist = entry.distribution
    if not (isinstance(obj, type) and issubclass(obj, Runtime)):
        raise broken(
            f"entry point {entry.target} is not a subclass of ocimux.Runtime",
            f"point the entry point at the plugin's Runtime class, or uninstall {dist}",
        )
    version = getattr(obj, "api_version", None)
    if not isinstance(version, int) or isinstance(version, bool):
        raise broken(
            f"{obj.__qualname__} declares no runtime API version (api_version = {version!r})",
            f"set `api_version = {API_VERSION}` on the class if it implements ocimux's runtime "
            f"API {API_VERSION}, or install a version of {dist} that does",
        )
    if version != API_VERSION:
        fix = (
            f"upgrade ocimux to one that supports API {version}, or install a version of {dist} "
            f"written for API {API_VERSION}"
            if version > API_VERSION
            else f"install a version of {dist} written for API {API_VERSION}"
        )
        raise broken(
            f"{obj.__qualname__} targets ocimux runtime API version {version}; this ocimux "
            f"supports version {API_VERSION}",
            fix,
        )
    missing = sorted(getattr(obj, "__abstractmethods__", ()))
    if missing:
        raise broken(
            f"{obj.__qualname__} does not implement {', '.join(missing)} (abstract in "
            f"ocimux runtime API {API_VERSION})",
            f"implement {'them' if len(missing) > 1 else 'it'} (see docs/plugins.md), or install "
            f"a version of {dist} written for API {API_VERSION}",
        )
    if not isinstance(getattr(obj, "capabilities", None), Capabilities):
        raise broken(
            f"{obj.__qualname__}.capabilities is not an ocimux.Capabilities",
            f"declare `capabilities = Capabilities(...)` on the class, or uninstall {dist}",
        )
    if "capabilities" not in vars(obj):
        warnings.warn(
            f"runtime plugin {entry.name!r} ({entry.distribution}) declares no capabilities of its own; "
            "set `capabilities` on its class",
            stacklevel=2,
        )
    return obj


def _config_key(name: str) -> str:
    """The name configuration knows runtime `name` by: a path's basename (podman's rule)."""
    return os.path.basename(name) if os.path.isabs(name) else name


def _state_dir_name(name: str) -> str:
    """The runtime's directory under `<run_dir>/runtimes`: its name, or for a runtime given by
    path its basename and a digest of the path (never the state of the basename's runtime)."""
    if not os.path.isabs(name):
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return f"{os.path.basename(name)}@{digest}"


def _builtin_list(kind: str) -> frozenset[str]:
    """podman's built-in `runtime_supports_<kind>` (both keys of the nocgroup(s) spellings)."""
    keys = SUPPORTS_KINDS[kind]
    return frozenset(n for key in keys for n in BUILTIN_ARRAYS.get(("engine", key), ()))


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _resolve_binary(candidates: Iterable[str], fallback: str | None) -> str | None:
    """First candidate that is a regular file, else `fallback` looked up in $PATH (podman's rule)."""
    for candidate in candidates:
        try:
            if Path(candidate).is_file():
                return candidate
        except OSError:
            continue
    if fallback:
        found = shutil.which(fallback)
        return os.path.abspath(found) if found else None
    return None
