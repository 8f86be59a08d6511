"""Which runtime a name or a path means, and what the `runtime_supports_*` lists decide.

Issue 15: item 5 (a configured name without a plugin of its own inherited the plugin's
`json_errors`, so a runtime that does not know `--log-format` failed to create), item 7 (a
runtime given by absolute path was "unknown"; an unknown default went unreported) and the
`OCIMUX_ENGINE__RUNTIME=MyRt` part of item 8.

No processes: plugins are classes in a module planted in `sys.modules`; the binaries are
plain files with the execute bit, never run.
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from ocimux.base.errors import InvalidArgumentError, RuntimeNotFoundError
from ocimux.config import Config, load_config
from ocimux.engine._entries import PluginEntry
from ocimux.engine.registry import Registry
from ocimux.interface.capabilities import Capabilities, Capability
from ocimux.interface.runtime import Runtime

MODULE = "ocimux_runtime_choice_fixture_plugins"

#: what the test CLI plugin declares: every list-controlled capability yes, as runc does JSON
DECLARED = Capabilities(
    json_errors=Capability(True, "declared", "accepts --log-format=json"),
    kvm=Capability(True, "declared", "test plugin says yes"),
    no_cgroups=Capability(True, "declared", "test plugin says yes"),
)


def _noop(self: Any, *args: Any, **kwargs: Any) -> None:
    return None


def plugin(name: str, binary: str) -> type:
    namespace: dict[str, Any] = {m: _noop for m in Runtime.__abstractmethods__}
    namespace.update(
        {"capabilities": DECLARED, "binary": binary, "__module__": MODULE, "__qualname__": name}
    )
    return type(name, (Runtime,), namespace)


CLASSES = {"Cli": plugin("Cli", "cli"), "Crun": plugin("Crun", "crun")}


@pytest.fixture(autouse=True)
def module(monkeypatch: pytest.MonkeyPatch) -> None:
    mod = types.ModuleType(MODULE)
    for name, cls in CLASSES.items():
        setattr(mod, name, cls)
    monkeypatch.setitem(sys.modules, MODULE, mod)


def executable(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return str(path)


def registry(tmp_path: Path, engine: dict[str, Any] | None = None, **ocimux: Any) -> Registry:
    """Plugins `cli` (the default CLI plugin) and `crun`; `engine` is the `[engine]` table."""
    entries = [
        PluginEntry("cli", f"{MODULE}:Cli", "dist-cli 1.0"),
        PluginEntry("crun", f"{MODULE}:Crun", "dist-crun 1.0"),
    ]
    table = {
        "state_dir": str(tmp_path / "lib"),
        "run_dir": str(tmp_path / "run"),
        "default_cli_plugin": "cli",
        **ocimux,
    }
    return Registry(Config({"engine": engine or {}, "ocimux": table}), entries)


def caps(reg: Registry, name: str) -> Capabilities:
    return reg.capabilities(reg.get(name), probe=False)


# --- item 5: the runtime_supports_* lists -------------------------------------------------------

RUNTIMES = {"myrt": ["/opt/myrt"], "youki": ["/opt/youki"], "krun": ["/opt/krun"]}


def test_a_name_driven_by_another_plugin_takes_podmans_builtin_json_list(tmp_path: Path) -> None:
    reg = registry(tmp_path, {"runtimes": RUNTIMES})
    assert reg.plugin_for("myrt") == "cli" and reg.plugin_for("youki") == "cli"
    myrt = caps(reg, "myrt").json_errors
    assert (myrt.value, myrt.source) == (False, "configured"), myrt
    assert myrt.reason == (
        "runtime_supports_json is not set; podman's built-in runtime_supports_json "
        "does not list myrt"
    )
    youki = caps(reg, "youki").json_errors
    assert (youki.value, youki.source) == (True, "configured"), youki
    assert "podman's built-in runtime_supports_json lists youki" in youki.reason
    # the plugin's own runtime keeps what the plugin declares
    assert caps(reg, "cli").json_errors == DECLARED.json_errors


def test_kvm_and_nocgroups_builtins_decide_for_names_of_another_plugin(tmp_path: Path) -> None:
    reg = registry(tmp_path, {"runtimes": {**RUNTIMES, "kata-qemu": ["/opt/kq"]}})
    assert caps(reg, "myrt").kvm.value is False and caps(reg, "myrt").no_cgroups.value is False
    assert caps(reg, "kata-qemu").kvm.value is True
    assert caps(reg, "krun").no_cgroups.value is True and caps(reg, "krun").kvm.value is True
    assert "runtime_supports_nocgroups is not set" in caps(reg, "myrt").no_cgroups.reason
    assert (
        caps(reg, "cli").kvm == DECLARED.kvm and caps(reg, "cli").no_cgroups == DECLARED.no_cgroups
    )


def test_a_list_that_is_set_decides_for_every_runtime_plugins_included(tmp_path: Path) -> None:
    reg = registry(tmp_path, {"runtimes": RUNTIMES, "runtime_supports_json": ["myrt"]})
    assert caps(reg, "myrt").json_errors == Capability(
        True, "configured", "runtime_supports_json lists myrt"
    )
    for name in ("youki", "cli", "crun"):
        got = caps(reg, name).json_errors
        assert got == Capability(False, "configured", "not listed in runtime_supports_json"), name


def test_an_explicit_plugin_for_a_name_makes_it_not_the_plugins_own(tmp_path: Path) -> None:
    # `crun` driven by the cli plugin: podman's built-in list (which names crun) decides
    reg = registry(tmp_path, {"runtimes": {"crun": ["/opt/crun"]}}, runtime_plugins={"crun": "cli"})
    got = caps(reg, "crun").json_errors
    assert got.value is True and "built-in runtime_supports_json lists crun" in got.reason


# --- item 7: a runtime given by absolute path ---------------------------------------------------


@pytest.fixture
def binaries(tmp_path: Path) -> dict[str, str]:
    real = executable(tmp_path / "usr" / "bin" / "crun")
    link = tmp_path / "link" / "crun"
    link.parent.mkdir()
    link.symlink_to(real)
    return {
        "real": real,
        "link": str(link),
        "copy": executable(tmp_path / "copy" / "crun"),
        "myrt": executable(tmp_path / "opt" / "myrt"),
    }


def test_the_path_of_a_known_runtimes_binary_names_that_runtime(
    tmp_path: Path, binaries: dict[str, str]
) -> None:
    reg = registry(tmp_path, {"runtimes": {"crun": [binaries["real"]]}})
    assert reg.get("crun").path == binaries["real"]
    assert reg.resolve(binaries["real"]) == "crun"
    assert reg.resolve(binaries["link"]) == "crun"  # the same file through a symlink
    assert reg.resolve(binaries["real"].replace("/bin/", "/bin//")) == "crun"  # normalised


def test_another_binary_is_a_runtime_of_its_own_named_by_its_path(
    tmp_path: Path, binaries: dict[str, str]
) -> None:
    reg = registry(tmp_path, {"runtimes": {"crun": [binaries["real"]]}})
    copy = binaries["copy"]
    assert reg.resolve(copy) == copy
    runtime = reg.get(copy)
    assert (runtime.name, runtime.path, type(runtime)) == (copy, copy, CLASSES["Crun"])
    assert reg.plugin_for(copy) == "crun"
    own = reg.get("crun").context.state_dir
    assert runtime.context.state_dir != own and runtime.context.state_dir.parent == own.parent
    assert runtime.context.state_dir.name.startswith("crun@")
    # another process (a new Registry) finds the same runtime and state from the recorded name
    again = registry(tmp_path, {"runtimes": {"crun": [binaries["real"]]}}).get(copy)
    assert (again.path, again.context.state_dir) == (copy, runtime.context.state_dir)


def test_a_path_without_a_plugin_of_its_basename_is_driven_by_the_default_cli_plugin(
    tmp_path: Path, binaries: dict[str, str]
) -> None:
    reg = registry(tmp_path)
    myrt = binaries["myrt"]
    assert reg.resolve(myrt) == myrt and reg.plugin_for(myrt) == "cli"
    assert reg.get(myrt).path == myrt
    # configured by its basename, as podman looks it up: the built-in json list lacks myrt
    assert caps(reg, myrt).json_errors.value is False
    listed = registry(
        tmp_path, {"runtime_supports_json": ["myrt"], "runtimes_flags": {"myrt": ["x=1"]}}
    )
    assert caps(listed, myrt).json_errors.reason == "runtime_supports_json lists myrt"
    assert listed.get(myrt).context.flags == ("--x=1",)


def test_a_path_runtime_of_a_plugins_basename_keeps_the_plugins_declaration(
    tmp_path: Path, binaries: dict[str, str]
) -> None:
    reg = registry(tmp_path)
    assert caps(reg, binaries["copy"]).json_errors == DECLARED.json_errors


def test_a_path_whose_binary_vanished_is_not_installed_and_never_searched_in_path(
    tmp_path: Path, binaries: dict[str, str]
) -> None:
    reg = registry(tmp_path)
    gone = str(tmp_path / "gone" / "crun")
    runtime = reg.get(gone)  # a record of a container whose binary was removed since
    assert runtime.path is None
    assert runtime.unavailable_reason() == f"not installed: {gone} not found in {gone}"


@pytest.mark.parametrize(
    ("given", "error", "detail"),
    [
        ("bin/crun", InvalidArgumentError, "a relative path names no runtime"),
        ("./crun", InvalidArgumentError, "a relative path names no runtime"),
        ("{tmp}/nonexistent/crun", RuntimeNotFoundError, "not a runtime binary: No such file"),
        ("{tmp}/usr/bin", RuntimeNotFoundError, "not a runtime binary: not a regular file"),
        ("{tmp}/plain", RuntimeNotFoundError, "not a runtime binary: not executable"),
    ],
)
def test_a_bad_path_is_a_one_line_error(
    tmp_path: Path, binaries: dict[str, str], given: str, error: type, detail: str
) -> None:
    (tmp_path / "plain").write_text("")
    reg = registry(tmp_path, {"runtimes": {"crun": [binaries["real"]]}})
    with pytest.raises(error) as info:
        reg.resolve(given.format(tmp=tmp_path))
    text = str(info.value)
    assert detail in text and "\n" not in text, text
    assert "absolute path" in text  # says what to give instead


def test_a_default_given_by_path_is_resolved(tmp_path: Path, binaries: dict[str, str]) -> None:
    engine = {"runtimes": {"crun": [binaries["real"]]}, "runtime": binaries["link"]}
    assert registry(tmp_path, engine).default_name() == "crun"
    engine["runtime"] = binaries["copy"]
    assert registry(tmp_path, engine).default_name() == binaries["copy"]


# --- an unknown default -----------------------------------------------------------------------


def test_an_unknown_default_runtime_is_an_error_naming_it(tmp_path: Path) -> None:
    reg = registry(tmp_path, {"runtime": "nonexistent"})
    with pytest.raises(RuntimeNotFoundError) as info:
        reg.default_name()
    text = str(info.value)
    assert "runtime nonexistent: unknown runtime, named as the default ([engine] runtime)" in text
    assert "known runtimes: cli, crun" in text and "\n" not in text


def test_a_default_path_that_is_not_a_binary_is_an_error_naming_the_setting(
    tmp_path: Path,
) -> None:
    missing = str(tmp_path / "nonexistent")
    with pytest.raises(RuntimeNotFoundError) as info:
        registry(tmp_path, {"runtime": missing}).default_name()
    assert "default runtime ([engine] runtime): not a runtime binary" in str(info.value)
    with pytest.raises(RuntimeNotFoundError, match="a relative path names no runtime"):
        registry(tmp_path, {"runtime": "x/crun"}).default_name()


# --- item 8: a name in another case -------------------------------------------------------------


def test_a_name_in_another_case_finds_the_one_runtime_it_matches(tmp_path: Path) -> None:
    reg = registry(tmp_path, {"runtimes": {"myrt": ["/opt/myrt"]}, "runtime": "MyRt"})
    assert reg.default_name() == "myrt"
    assert reg.resolve("MYRT") == "myrt" and reg.resolve("CRUN") == "crun"
    assert reg.resolve("nonexistent") == "nonexistent"  # unknown: get reports it
    with pytest.raises(RuntimeNotFoundError, match="unknown runtime 'MyRt'"):
        reg.get("MyRt")  # a recorded name is looked up exactly


def test_an_exact_name_wins_and_an_ambiguous_case_matches_none(tmp_path: Path) -> None:
    reg = registry(tmp_path, {"runtimes": {"myrt": ["/a"], "MyRt": ["/b"]}})
    assert reg.resolve("MyRt") == "MyRt" and reg.resolve("myrt") == "myrt"
    assert reg.resolve("MYRT") == "MYRT"  # two candidates: none is chosen
    with pytest.raises(RuntimeNotFoundError):
        registry(
            tmp_path, {"runtimes": {"myrt": ["/a"], "MyRt": ["/b"]}, "runtime": "MYRT"}
        ).default_name()


def test_variables_define_a_lower_cased_runtime_that_the_default_in_any_case_finds(
    tmp_path: Path,
) -> None:
    conf = tmp_path / "containers.conf"
    conf.write_text(f'[ocimux]\nstate_dir = "{tmp_path}/lib"\nrun_dir = "{tmp_path}/run"\n')
    config = load_config(
        conf,
        {"OCIMUX_ENGINE__RUNTIMES__MyRt": '["/opt/myrt"]', "OCIMUX_ENGINE__RUNTIME": "MyRt"},
    )
    assert config.runtime_names == ("myrt",) and config.default_runtime == "MyRt"
    entries = [PluginEntry("runc", f"{MODULE}:Cli", "dist-cli 1.0")]
    assert Registry(config, entries).default_name() == "myrt"


def test_binaries_fixture_files_are_what_the_tests_say(binaries: dict[str, str]) -> None:
    assert os.path.samefile(binaries["real"], binaries["link"])
    assert not os.path.samefile(binaries["real"], binaries["copy"])
    assert all(os.access(p, os.X_OK) for p in binaries.values())
