"""What a runtime can do, and where each answer came from.

Every answer is a `Capability`: a value, its source and a reason. Sources, weakest first:

- "default"    nobody said anything; the answer is no.
- "declared"   the plugin's class says so (`Runtime.capabilities`).
- "probed"     measured from the binary (`Runtime.probes`), cached per binary.
- "configured" containers.conf said so (`runtime_supports_*` lists, `[ocimux.capabilities.NAME]`).

`merge()` applies them in that order; a later source replaces an earlier one field by field.
`resolve()` is the Registry's merge of all three, with the two rules that keep configuration
from promising what a plugin does not do. Core code asks about a capability by name, never
about a runtime's name.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Literal

__all__ = ["CAPABILITY_NAMES", "Capabilities", "Capability", "Source", "merge", "resolve"]

Source = Literal["default", "declared", "probed", "configured"]


@dataclass(frozen=True, slots=True)
class Capability:
    """One answer: can the runtime do it, who says so, and why (always given when False)."""

    value: bool
    source: Source = "declared"
    reason: str = ""

    def __bool__(self) -> bool:
        return self.value

    def as_dict(self) -> dict[str, object]:
        return {"value": self.value, "source": self.source, "reason": self.reason}


def _no(reason: str = "not declared by the plugin") -> Capability:
    return Capability(False, "default", reason)


@dataclass(frozen=True, slots=True)
class Capabilities:
    """The named capabilities of one runtime. A plugin overrides only where it differs.

    Fields (each a `Capability`):
    """

    #: checkpoint and restore a container (CRIU or the runtime's own)
    checkpoint: Capability = field(default_factory=_no)
    #: write errors as JSON records to a log file (`--log-format=json --log FILE`)
    json_errors: Capability = field(default_factory=_no)
    #: run without cgroups (`--cgroup-manager=disabled`)
    no_cgroups: Capability = field(default_factory=_no)
    #: isolate with a hardware virtual machine
    kvm: Capability = field(default_factory=_no)
    #: freeze and thaw a container
    pause: Capability = field(default_factory=_no)
    #: change CPU, memory and pids limits of a running container
    update_resources: Capability = field(default_factory=_no)
    #: run extra processes in a container
    exec: Capability = field(default_factory=_no)
    #: give a container or exec session a pseudo-terminal
    terminal: Capability = field(default_factory=_no)
    #: isolate processes at all (namespaces, a sandbox or a VM): mounts, capabilities, users,
    #: hostname, sysctls, ulimits, a read-only root
    isolation: Capability = field(default_factory=_no)
    #: apply cgroup limits given at create (memory, CPU, pids)
    resource_limits: Capability = field(default_factory=_no)
    #: make host device nodes available in a container (`--device`)
    devices: Capability = field(default_factory=_no)
    #: run a privileged container (all capabilities, host devices, no confinement)
    privileged: Capability = field(default_factory=_no)
    #: apply the spec's seccomp filter (`linux.seccomp`)
    seccomp: Capability = field(default_factory=_no)
    #: share the host's network namespace (`--network host`)
    host_network: Capability = field(default_factory=_no)
    #: set the process's file mode creation mask (`process.user.umask`, `--umask`)
    umask: Capability = field(default_factory=_no)
    #: set the NIS domain name (`domainname`, `--domainname`)
    domainname: Capability = field(default_factory=_no)

    def __iter__(self) -> Iterator[tuple[str, Capability]]:
        for f in fields(self):
            yield f.name, getattr(self, f.name)

    def get(self, name: str) -> Capability:
        """Return the named capability; raise KeyError for a name that is not one."""
        if name not in CAPABILITY_NAMES:
            raise KeyError(name)
        return getattr(self, name)

    def as_dict(self) -> dict[str, dict[str, object]]:
        return {name: cap.as_dict() for name, cap in self}

    @classmethod
    def from_dict(cls, data: dict[str, dict[str, object]]) -> Capabilities:
        """Rebuild from `as_dict()` output (e.g. a cache); unknown names are dropped."""
        kwargs = {
            name: Capability(
                bool(d["value"]), d.get("source", "declared"), str(d.get("reason", ""))
            )  # type: ignore[arg-type]
            for name, d in data.items()
            if name in CAPABILITY_NAMES
        }
        return cls(**kwargs)


CAPABILITY_NAMES: frozenset[str] = frozenset(f.name for f in fields(Capabilities))


def merge(declared: Capabilities, *layers: Iterable[tuple[str, Capability]]) -> Capabilities:
    """Apply `layers` (e.g. probed, then configured answers) over `declared`, in order.

    Each layer is a sequence of (name, Capability); a later one wins. Unknown names raise
    KeyError so a typo in a plugin's probe or in config is noticed, not ignored.
    """
    result = declared
    for layer in layers:
        updates = {}
        for name, cap in layer:
            if name not in CAPABILITY_NAMES:
                raise KeyError(f"unknown capability {name!r}")
            updates[name] = cap
        if updates:
            result = replace(result, **updates)
    return result


def resolve(
    declared: Capabilities,
    probed: Iterable[tuple[str, Capability]] = (),
    configured: Iterable[tuple[str, Capability]] = (),
    *,
    runtime: str,
    unimplemented: Mapping[str, str] | None = None,
    implemented: Collection[str] = (),
) -> Capabilities:
    """Merge declared, probed and configured answers (later wins), then apply two rules.

    1. What the plugin's class does not implement is no, whatever a probe or the
       configuration says: `unimplemented` maps such a capability to why (e.g. "MockRuntime
       does not implement checkpoint").
    2. Configuration may turn any capability off, but on only if the plugin does not declare
       it false: a declared false says the plugin's code does not do it (forcing `terminal`
       on would let `run -t` "work" with no terminal). The exception is `implemented`: the
       capabilities whose method the class does implement, where a declared false only means
       "not established" (checkpoint before `criu check`), which a probe or the operator may
       settle.

    A refused answer is no, source "declared", and its reason names the configuration that
    asked (its key and the runtime) and the plugin's own reason, in one line.
    """
    configured = list(configured)
    merged = merge(declared, probed, configured)
    set_by_config = {name: cap for name, cap in configured if cap}
    refused = []
    for name, cap in merged:
        if not cap:
            continue
        why = (unimplemented or {}).get(name)
        own = declared.get(name)
        if why is None and name in set_by_config and name not in implemented:
            if own.source == "declared" and not own:
                why = f"the plugin declares {name} not implemented ({own.reason or 'no reason given'})"
        if why is None:
            continue
        if name in set_by_config and cap.source == "configured":
            why = (
                f"{cap.reason}: refused for runtime {runtime}, {why}; configuration can only turn "
                "a capability off"
            )
        refused.append((name, Capability(False, "declared", why)))
    return merge(merged, refused)
