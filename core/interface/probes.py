"""Running a runtime's capability probes, cached per binary (path, size, mtime).

A probe is a function `probe(runtime) -> Iterable[(name, Capability)]` listed in the
plugin's `probes`; it may run the binary (`features`, `checkpoint --help`). Results are kept
in the user's cache directory so a probe runs once per binary version, not once per call.
A probe that raises never fails the command that asked: the capabilities it would have
measured keep their declared answers, the failure is shown by `ocimux runtimes`, and the
result is not cached, so the probe runs again next time.

The cache key is the binary's path, size and mtime, the probes' names and the runtime's flags.
A probe whose answer also depends on something else (another binary such as `criu` or
`nsenter`, the euid, the kernel) names it with `@probe(files=..., values=...)`; the key then
includes those files' stat data and those values, so a change is seen on the next call:

    @probe(files=[on_path("nsenter")], values=[euid])
    def probe_rootless(runtime): ...
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ocimux.base._cache import cache_dir, write_json

from .capabilities import CAPABILITY_NAMES, Capability

if TYPE_CHECKING:
    from .runtime import Runtime

__all__ = [
    "ProbeInputs",
    "euid",
    "kernel_release",
    "on_path",
    "probe",
    "probe_cached",
    "run_probes",
]

#: a host file a probe's answer depends on: a path, or a function of the runtime giving one
#: (None when there is no such file, e.g. a tool that is not installed)
FileInput = str | os.PathLike[str] | Callable[["Runtime"], "str | os.PathLike[str] | None"]
#: a value a probe's answer depends on, computed from the runtime (e.g. the euid)
ValueInput = Callable[["Runtime"], str]
P = TypeVar("P", bound=Callable[..., Iterable[tuple[str, Capability]]])


@dataclass(frozen=True, slots=True)
class ProbeInputs:
    """What a probe's answer depends on besides the runtime's binary and flags."""

    files: tuple[FileInput, ...] = ()
    values: tuple[ValueInput, ...] = ()


def probe(
    *, files: Iterable[FileInput] = (), values: Iterable[ValueInput] = ()
) -> Callable[[P], P]:
    """Declare what else a probe's answer depends on; the cached answer is keyed by them too.

    `files` are host paths (or functions of the runtime returning one, or None) whose stat
    data (size, mtime, inode, or "absent") joins the key; `values` are functions of the
    runtime whose strings join it. The probe itself is returned unchanged, with the inputs
    in its `cache_keys` attribute.
    """

    def mark(fn: P) -> P:
        fn.cache_keys = ProbeInputs(tuple(files), tuple(values))  # type: ignore[attr-defined]
        return fn

    return mark


def on_path(name: str) -> Callable[[Runtime], str | None]:
    """A file input: `name` as found on $PATH now (None if absent); a move is a change too."""

    def find(runtime: Runtime) -> str | None:
        return shutil.which(name)

    return find


def euid(runtime: Runtime) -> str:
    """A value input: the effective uid (root and rootless get different answers)."""
    return str(os.geteuid())


def kernel_release(runtime: Runtime) -> str:
    """A value input: the running kernel's release (`uname -r`)."""
    return os.uname().release


def _inputs_key(probes: Iterable[object], runtime: Runtime) -> str:
    """The extra part of the cache key: every declared input of every probe, as text."""
    parts: list[str] = []
    for fn in probes:
        inputs = getattr(fn, "cache_keys", None)
        if not isinstance(inputs, ProbeInputs):
            continue
        for item in inputs.files:
            parts.append(_file_key(item, runtime))
        for value in inputs.values:
            try:
                parts.append(f"={value(runtime)}")
            except Exception as exc:  # noqa: BLE001 - a broken input is a key, not a failure
                parts.append(f"=!{type(exc).__name__}")
    return ";".join(parts)


def _file_key(item: FileInput, runtime: Runtime) -> str:
    try:
        path = item(runtime) if callable(item) else item
    except Exception as exc:  # noqa: BLE001
        return f"!{type(exc).__name__}"
    if path is None:
        return "-"
    try:
        st = os.stat(path)
    except OSError:
        return f"{os.fspath(path)}:absent"
    return f"{os.fspath(path)}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"


def run_probes(runtime: Runtime) -> tuple[list[tuple[str, Capability]], list[str]]:
    """Run every probe of `runtime` now; return the answers and the failures (as messages).

    A probe that raises yields no answers: its capabilities keep their declared ones.
    """
    out: list[tuple[str, Capability]] = []
    failures: list[str] = []
    for probe in type(runtime).probes:
        try:
            for name, cap in probe(runtime):
                if name not in CAPABILITY_NAMES:
                    raise KeyError(f"probe {probe.__name__} returned unknown capability {name!r}")
                out.append((name, Capability(cap.value, "probed", cap.reason)))
        except Exception as exc:  # noqa: BLE001 - a broken probe must not break the runtime
            failures.append(f"probe {probe.__name__} failed: {exc}")
    return out, failures


def probe_cached(runtime: Runtime) -> list[tuple[str, Capability]]:
    """Probe results for `runtime`'s binary, from the cache when the binary is unchanged."""
    assert runtime.path is not None
    try:
        st = os.stat(runtime.path)
    except OSError:
        return []
    probes = ",".join(f"{p.__module__}.{p.__qualname__}" for p in type(runtime).probes)
    key = f"{runtime.path}|{st.st_size}|{st.st_mtime_ns}|{probes}|{runtime.context.flags}"
    inputs = _inputs_key(type(runtime).probes, runtime)
    if inputs:  # probes that declare none keep the key they always had
        key = f"{key}|{inputs}"
    path = cache_dir(os.environ) / f"probes-{os.geteuid()}.json"
    table = _read(path)
    if key in table:
        return [(n, Capability(bool(v), "probed", r)) for n, v, r in table[key]]
    results, failures = run_probes(runtime)
    runtime.probe_failures = failures
    if failures:
        return results  # not cached: a probe that failed (hung, crashed) is tried again next time
    table[key] = [[n, c.value, c.reason] for n, c in results]
    if not os.environ.get("OCIMUX_NO_CACHE"):
        write_json(path, table)
    return results


def _read(path: Path) -> dict[str, list[list]]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}
