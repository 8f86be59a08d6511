"""The Registry with broken plugins, the capability rules, a broken runtime's containers.

No processes: plugins are classes in a module planted in `sys.modules` for the test, found
through `PluginEntry` values as the entry points would give them; the configuration is a
`Config` built from a plain dict.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest
from ocimux.base.errors import InvalidArgumentError, PluginError, PluginFaultError
from ocimux.config import Config
from ocimux.engine._entries import PluginEntry
from ocimux.engine.reconcile import broken_view
from ocimux.engine.registry import Registry
from ocimux.engine.store import ContainerRecord
from ocimux.interface.capabilities import Capabilities, Capability, resolve
from ocimux.interface.runtime import API_VERSION, Runtime

MODULE = "ocimux_fault_fixture_plugins"


def _noop(self: Any, *args: Any, **kwargs: Any) -> None:
    return None


def plugin(name: str, **attrs: Any) -> type:
    """A concrete plugin class in MODULE: every abstract method a no-op, then `attrs`."""
    namespace: dict[str, Any] = {m: _noop for m in Runtime.__abstractmethods__}
    namespace.update({"capabilities": Capabilities(), "__module__": MODULE, **attrs})
    return type(name, (Runtime,), namespace)


def raising_init(self: Any, context: Any) -> None:
    raise OSError("no such socket")  # MARK-init


def raising_unavailable(self: Any) -> str | None:
    raise RuntimeError("cannot tell")


def refusing_init(self: Any, context: Any) -> None:
    raise InvalidArgumentError("[ocimux.plugins.own] mode must be strict or relaxed")


Abstract = plugin("Abstract")
Abstract.__abstractmethods__ = frozenset({"state"})  # as if `state` were left unimplemented
CLASSES = {
    "Good": plugin("Good"),
    "Abstract": Abstract,
    "Future": plugin("Future", api_version=API_VERSION + 1),
    "Past": plugin("Past", api_version=API_VERSION - 1),
    "NoVersion": plugin("NoVersion", api_version=None),
    "BoolVersion": plugin("BoolVersion", api_version=True),
    "RaisingInit": plugin("RaisingInit", __init__=raising_init),
    "OwnError": plugin("OwnError", __init__=refusing_init),
    "BadCaps": plugin("BadCaps", capabilities={"terminal": True}),
    "Flaky": plugin("Flaky", unavailable_reason=raising_unavailable),
}


@pytest.fixture
def module(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    mod = types.ModuleType(MODULE)
    for name, cls in CLASSES.items():
        setattr(mod, name, cls)
    mod.NotAClass = object()
    monkeypatch.setitem(sys.modules, MODULE, mod)
    return mod


def registry(tmp_path: Path, data: dict[str, Any] | None = None, **extra: str) -> Registry:
    """A Registry over one entry per class of CLASSES (runtime name = lower-case class name)."""
    entries = [
        PluginEntry(name.lower(), f"{MODULE}:{name}", f"dist-{name.lower()} 1.0")
        for name in CLASSES
    ]
    entries += [PluginEntry(n, t, f"dist-{n} 1.0") for n, t in extra.items()]
    base = {"ocimux": {"state_dir": str(tmp_path / "lib"), "run_dir": str(tmp_path / "run")}}
    for table, values in (data or {}).items():
        base.setdefault(table, {}).update(values)
    return Registry(Config(base), entries)


# --- building a runtime: every failure is a report, never a traceback ----------------------------


@pytest.mark.parametrize(
    ("name", "detail", "fix"),
    [
        (
            "abstract",
            "Abstract does not implement state (abstract in ocimux runtime API",
            "implement it",
        ),
        (
            "future",
            f"targets ocimux runtime API version {API_VERSION + 1}; this ocimux supports version {API_VERSION}",
            f"upgrade ocimux to one that supports API {API_VERSION + 1}",
        ),
        (
            "past",
            f"targets ocimux runtime API version {API_VERSION - 1}",
            f"install a version of dist-past 1.0 written for API {API_VERSION}",
        ),
        (
            "noversion",
            "declares no runtime API version (api_version = None)",
            f"`api_version = {API_VERSION}`",
        ),
        ("boolversion", "declares no runtime API version (api_version = True)", "api_version"),
        ("badcaps", "BadCaps.capabilities is not an ocimux.Capabilities", "Capabilities(...)"),
        ("notaclass", "is not a subclass of ocimux.Runtime", "uninstall dist-notaclass 1.0"),
        (
            "missing",
            "plugin failed to import: ModuleNotFoundError",
            "fix or uninstall dist-missing 1.0",
        ),
    ],
)
def test_a_broken_plugin_is_listed_broken_with_the_fix(
    module: types.ModuleType, tmp_path: Path, name: str, detail: str, fix: str
) -> None:
    reg = registry(
        tmp_path,
        notaclass=f"{MODULE}:NotAClass",
        missing="ocimux_fault_fixture_no_such_module:Runtime",
    )
    report = reg.describe(name)
    assert report.status == "broken", report
    assert detail in report.error and fix in report.error, report.error
    assert report.distribution == f"dist-{name} 1.0"
    with pytest.raises(PluginError) as info:
        reg.get(name)
    assert detail in str(info.value) and "\n" not in str(info.value)
    # the others still build and list
    assert reg.describe("good").status == "ok"
    assert reg.get("good").name == "good"


def test_a_constructor_that_raises_is_a_fault_naming_its_line(
    module: types.ModuleType, tmp_path: Path
) -> None:
    reg = registry(tmp_path)
    with pytest.raises(PluginFaultError) as info:
        reg.get("raisinginit")
    err = info.value
    lines = Path(__file__).read_text().splitlines()
    mark = next(i for i, line in enumerate(lines, 1) if "# MARK-init" in line)
    assert err.location == f"{__file__}:{mark}" and err.call == "__init__"
    assert "OSError: no such socket" in str(err) and "dist-raisinginit 1.0" in str(err)
    # the failure is remembered: the constructor is not run again in this process
    assert reg.describe("raisinginit").status == "broken"
    with pytest.raises(PluginFaultError) as again:
        reg.get("raisinginit")
    assert again.value is err


def test_a_constructor_raising_an_ocimux_error_keeps_its_message(
    module: types.ModuleType, tmp_path: Path
) -> None:
    reg = registry(tmp_path)
    with pytest.raises(InvalidArgumentError, match="mode must be strict or relaxed"):
        reg.get("ownerror")
    report = reg.describe("ownerror")
    assert report.status == "broken" and "mode must be strict" in report.error


def test_the_runtime_handed_out_is_guarded_and_the_same_each_time(
    module: types.ModuleType, tmp_path: Path
) -> None:
    reg = registry(tmp_path)
    flaky = reg.get("flaky")
    assert reg.get("flaky") is flaky and type(flaky) is CLASSES["Flaky"]
    with pytest.raises(PluginFaultError) as info:
        flaky.unavailable_reason()
    assert info.value.distribution == "dist-flaky 1.0" and info.value.call == "unavailable_reason"
    report = reg.describe("flaky")
    assert report.status == "broken" and "RuntimeError: cannot tell" in report.error


def test_the_default_skips_a_runtime_whose_plugin_fails(
    module: types.ModuleType, tmp_path: Path
) -> None:
    reg = registry(tmp_path, {"ocimux": {"runtime_preference": ["abstract", "flaky", "good"]}})
    assert reg.default_name() == "good"


# --- capabilities: configuration cannot turn on what the plugin declares false -----------------

DECLARED = Capabilities(
    terminal=Capability(False, "declared", "no pseudo-terminals here"),
    pause=Capability(True, "declared", "SIGSTOP"),
    checkpoint=Capability(False, "declared", "not probed yet"),
    kvm=Capability(False, "declared", "no VM"),
)


def test_config_cannot_turn_on_a_capability_declared_false() -> None:
    configured = [
        (
            "terminal",
            Capability(True, "configured", "[ocimux.capabilities.rt] sets terminal = true"),
        )
    ]
    caps = resolve(DECLARED, [], configured, runtime="rt")
    terminal = caps.terminal
    assert (terminal.value, terminal.source) == (False, "declared")
    assert terminal.reason.startswith(
        "[ocimux.capabilities.rt] sets terminal = true: refused for runtime rt"
    )
    assert "declares terminal not implemented (no pseudo-terminals here)" in terminal.reason
    assert "configuration can only turn a capability off" in terminal.reason


def test_config_may_turn_off_anything_and_turn_on_what_is_not_declared_false() -> None:
    configured = [
        ("pause", Capability(False, "configured", "[ocimux.capabilities.rt] sets pause = false")),
        ("devices", Capability(True, "configured", "[ocimux.capabilities.rt] sets devices = true")),
    ]
    caps = resolve(DECLARED, [], configured, runtime="rt")
    assert (caps.pause.value, caps.pause.source) == (False, "configured")
    assert (caps.devices.value, caps.devices.source) == (True, "configured")  # only defaulted


def test_a_declared_false_whose_method_is_implemented_is_provisional() -> None:
    configured = [("checkpoint", Capability(True, "configured", "sets checkpoint = true"))]
    caps = resolve(DECLARED, [], configured, runtime="rt", implemented={"checkpoint"})
    assert (caps.checkpoint.value, caps.checkpoint.source) == (True, "configured")
    unimplemented = {"checkpoint": "Rt does not implement checkpoint"}
    caps = resolve(DECLARED, [], configured, runtime="rt", unimplemented=unimplemented)
    assert caps.checkpoint.value is False
    assert "refused for runtime rt, Rt does not implement checkpoint" in caps.checkpoint.reason


def test_a_probe_is_the_plugins_own_word_and_may_turn_on_a_declared_false() -> None:
    probed = [("kvm", Capability(True, "probed", "found /dev/kvm"))]
    caps = resolve(DECLARED, probed, [], runtime="rt")
    assert (caps.kvm.value, caps.kvm.source) == (True, "probed")
    caps = resolve(DECLARED, probed, [], runtime="rt", unimplemented={"kvm": "no method"})
    assert (caps.kvm.value, caps.kvm.reason) == (False, "no method")


def test_the_registry_refuses_config_lists_and_tables_naming_key_and_runtime(
    module: types.ModuleType, tmp_path: Path
) -> None:
    module.NoTerm = plugin("NoTerm", capabilities=DECLARED)
    reg = registry(
        tmp_path,
        {
            "engine": {"runtime_supports_kvm": ["noterm"]},
            "ocimux": {"capabilities": {"noterm": {"terminal": True, "pause": False}}},
        },
        noterm=f"{MODULE}:NoTerm",
    )
    caps = reg.capabilities(reg.get("noterm"), probe=False)
    assert (
        caps.terminal.value is False
        and "[ocimux.capabilities.noterm] sets terminal = true" in caps.terminal.reason
    )
    assert caps.kvm.value is False and caps.kvm.reason.startswith(
        "runtime_supports_kvm lists noterm: refused"
    )
    assert (caps.pause.value, caps.pause.source) == (False, "configured")
    report = reg.describe("noterm")
    assert report.status == "ok"
    assert "refused" in report.capabilities["terminal"]["reason"]


# --- a broken runtime's containers ------------------------------------------------------------


def test_a_broken_runtimes_container_lists_unknown_with_why_and_is_not_changed() -> None:
    rec = ContainerRecord(
        id="c" * 64, name="web", runtime="rt", bundle="/b", status="running", pid=7
    )
    err = PluginFaultError("plugin x 1.0 raised KeyError: 'a' in state() at /p.py:3", runtime="rt")
    view = broken_view(rec, err)
    assert (view.status, view.pid, view.name) == ("unknown", 7, "web")
    assert (
        view.status_reason
        == "runtime rt failed: plugin x 1.0 raised KeyError: 'a' in state() at /p.py:3"
    )
    assert rec.status == "running" and rec.status_reason == ""  # the stored record is untouched


def test_abstract_fixture_really_is_abstract() -> None:
    with pytest.raises(TypeError):
        Abstract(None)  # type: ignore[arg-type]
