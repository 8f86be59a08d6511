"""Which backend a new container goes to, and that backend's binary and global flags.

The backend is the bundle's annotation `io.ocimux.runtime`, else the global `--backend`, else
`[ocimux.oci] default_backend`, else ocimux's default runtime. Its binary and flags come from
ocimux's configuration and Registry through the warm-path cache (no pydantic, no stevedore
unless the configuration or the installed plugins changed).
"""

from __future__ import annotations

import os
import sys

from . import routecache
from .knowngaps import BINARY_GAPS
from .report import FrontError

#: the front's own command name: never a backend
FRONT_NAME = "ocimux-oci"

__all__ = [
    "ANNOTATION",
    "FRONT_NAME",
    "Backend",
    "bundle_annotation",
    "choose",
    "is_the_front",
    "resolve",
]

ANNOTATION = "io.ocimux.runtime"
# (this module is imported only by the verbs that route: create, restore, features, spec)


class Backend:
    """A backend: its name, binary, the global flags it needs on every call
    (`[engine.runtimes_flags]`, the plugin's own) and verb -> why it cannot do that verb.
    A plain class: dataclasses costs ~10 ms to import on create's warm path.

    `kind` "shim": `binary` is a shim v2 binary and `shim` holds what starting it needs
    (namespace, create options as hex, environment, debug, timeout): shimfront.py.
    """

    __slots__ = ("binary", "flags", "kind", "name", "refuse", "shim")

    def __init__(
        self, name: str, binary: str, flags: tuple[str, ...], refuse: dict[str, str],
        kind: str = "cli", shim: dict[str, object] | None = None,
    ) -> None:  # fmt: skip
        self.name, self.binary, self.flags, self.refuse = name, binary, flags, refuse
        self.kind, self.shim = kind, shim or {}


def bundle_annotation(bundle: str) -> str | None:
    """The bundle's `io.ocimux.runtime`, or None (a bundle we cannot read: the backend says why).

    A config.json that does not contain the name at all is not parsed: json imports re
    (~8 ms), more than the rest of a cached route costs.
    """
    try:
        with open(os.path.join(bundle, "config.json"), "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    if ANNOTATION.encode() not in raw:
        return None
    import json  # lazy: only a bundle that may carry the annotation

    try:
        spec = json.loads(raw)
    except ValueError:
        return None
    annotations = spec.get("annotations") if isinstance(spec, dict) else None
    value = annotations.get(ANNOTATION) if isinstance(annotations, dict) else None
    return value if isinstance(value, str) and value else None


def is_the_front(binary: str, program: str | None = None) -> bool:
    """Whether `binary` is ocimux-oci itself (by name, or the same file as the running program):
    routing to it would exec the front again and again."""
    if os.path.basename(binary) == FRONT_NAME:
        return True
    running = program if program is not None else sys.argv[0]
    try:
        return bool(running) and os.path.samefile(binary, running)
    except OSError:
        return False


def choose(annotation: str | None, flag: str | None, configured: str | None) -> str | None:
    """The backend name by precedence; None means ocimux's default runtime."""
    return annotation or flag or configured or None


def resolve(annotation: str | None, flag: str | None) -> Backend:
    """The backend for a new container, from the route cache when nothing changed.

    A cached route (routecache.py: keyed and stamped by the configuration's files, sys.path's
    plugins, the relevant variables and the binary) costs a few stats: a warm create imports
    neither the engine nor the Registry (~50-100 ms). `OCIMUX_NO_CACHE` skips it.
    """
    environ = os.environ
    use_cache = not environ.get("OCIMUX_NO_CACHE")
    if use_cache:
        route = routecache.load(annotation, flag, environ)
        if route is not None:
            return Backend(*route)
    backend = _resolve(annotation, flag)
    if use_cache and backend.kind == "cli":
        # lazy: the cold path only (the configuration's search path, to stamp it)
        from ocimux.base.errors import ConfigError
        from ocimux.config import config_sources

        try:
            sources = [str(path) for path in config_sources(None, environ)]
        except ConfigError:
            return backend  # a drop-in directory that cannot be listed: no cache
        route = (backend.name, backend.binary, backend.flags, backend.refuse)
        routecache.store(annotation, flag, environ, route, sources)
    return backend


def _resolve(annotation: str | None, flag: str | None) -> Backend:
    """Load ocimux's configuration and Registry and return the backend for a new container."""
    # lazy: the engine and Registry (~50-100 ms), only when the route is not cached
    from ocimux.base.errors import OcimuxError
    from ocimux.engine.registry import Registry
    from ocimux.engine.session import load_environment
    from ocimux.oci.runtime import OciCliRuntime
    from ocimux.plugins.shimv2.runtime import ShimV2Runtime

    try:
        config, entries, _hooks = load_environment()
        registry = Registry(config, entries)
        name = choose(annotation, flag, config.oci_default_backend) or registry.default_name()
        name = registry.resolve(name)
        runtime = registry.get(name)
        why = runtime.unavailable_reason()
        if why:
            raise FrontError(f"backend {name!r}: {why}")
        if isinstance(runtime, ShimV2Runtime):
            return _shim_backend(name, runtime, registry)
        if not isinstance(runtime, OciCliRuntime):
            raise FrontError(
                f"backend {name!r} is neither an OCI CLI runtime nor a shim v2 one "
                f"({type(runtime).__name__}): ocimux-oci cannot drive it; choose another backend"
            )
        cli = runtime.cli()
        if is_the_front(cli.path):
            raise FrontError(
                f"backend {name!r} is ocimux-oci itself (containers.conf shared with an engine "
                "that runs ocimux-oci by default?): name a real backend with [ocimux.oci] "
                "default_backend, --backend or the io.ocimux.runtime annotation"
            )
        refuse = _refusals(registry.capabilities(runtime, probe=True))
        refuse = _known_binary(os.path.basename(cli.path), refuse, own=name == type(runtime).binary)
    except OcimuxError as exc:
        raise FrontError(f"ocimux-oci: {exc}") from exc
    return Backend(name, cli.path, (*cli.flags, *cli.extra_global), refuse)


def _shim_backend(name: str, runtime: object, registry: object) -> Backend:
    """A shim v2 backend: its binary and what starting its shim needs (runtime.shim())."""
    shim = runtime.shim()  # type: ignore[attr-defined]
    options = runtime.create_options()  # type: ignore[attr-defined]
    refuse = _refusals(registry.capabilities(runtime, probe=True))  # type: ignore[attr-defined]
    return Backend(name, shim.binary, (), refuse, "shim", {
        "namespace": shim.namespace, "env": dict(shim.env or {}), "debug": shim.debug,
        "timeout": shim.timeout, "options_type": options["type_url"] if options else "",
        "options": options["value"].hex() if options else "",
    })  # fmt: skip


#: verb -> the capability it needs
NEEDS = {
    "checkpoint": "checkpoint",
    "pause": "pause",
    "resume": "pause",
    "update": "update_resources",
    "exec": "exec",
}


def _known_binary(base: str, refuse: dict[str, str], *, own: bool) -> dict[str, str]:
    """Adjust the plugin's answers for a binary it drives under a configured name."""
    if own or base not in BINARY_GAPS:  # the plugin's own binary: its answers stand
        return refuse
    lacks, has = BINARY_GAPS[base]
    out = {verb: why for verb, why in refuse.items() if verb not in has}
    return {**out, **lacks}


def _refusals(caps: object) -> dict[str, str]:
    out = {}
    for verb, name in NEEDS.items():
        answer = getattr(caps, name, None)
        if answer is not None and not answer:
            why = getattr(answer, "reason", "") or ""
            out[verb] = f"capability {name} is no" + (f" ({why})" if why else "")
    return out


def absolute_root(root: str | None, default: str) -> str:
    """`--root` made absolute (crun resolves a relative one against the bundle)."""
    return os.path.abspath(root or default)
