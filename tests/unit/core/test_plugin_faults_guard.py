"""The guard around every runtime, and the CLI's error lines: no processes, fake plugins.

A fake plugin here is a `Runtime` subclass built from `Runtime.__abstractmethods__` (so it
stays concrete whatever the interface's verbs are called), plus the methods a test needs.
Its module is this file's, so its frames count as the plugin's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ocimux import cli
from ocimux.base.errors import InvalidArgumentError, OcimuxError, PluginError, PluginFaultError
from ocimux.cli._report import debug_requested, internal_error, report_error, set_debug
from ocimux.engine.guard import PluginOrigin, fault, guard, locate, origin_of
from ocimux.interface.capabilities import Capabilities
from ocimux.interface.runtime import Runtime, RuntimeContext

THIS_FILE = str(Path(__file__))


def _noop(self: Any, *args: Any, **kwargs: Any) -> None:
    return None


def plugin_class(name: str = "FakeRuntime", base: type = Runtime, **methods: Any) -> type:
    """A concrete plugin class: every abstract method a no-op, then `methods`."""
    namespace: dict[str, Any] = {m: _noop for m in base.__abstractmethods__}
    namespace.update(methods, capabilities=Capabilities(), __module__=__name__)
    return type(name, (base,), namespace)


def build(cls: type, name: str = "fake") -> Runtime:
    runtime = cls(
        RuntimeContext(name=name, path=None, state_dir=Path("/x"), containers_dir=Path("/y"))
    )
    origin = origin_of(cls, name, f"{__name__}:{cls.__name__}", "ocimux-fake 1.0")
    return guard(runtime, origin)


def _line_of(marker: str) -> int:
    """The line of this file holding `marker` (where a fake plugin raises)."""
    lines = Path(__file__).read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if marker in line and "_line_of" not in line)


def raises_key_error(self: Any, cid: str) -> None:
    raise KeyError(cid)  # MARK-key-error


def raises_in_json(self: Any) -> Any:
    return json.loads("{not json")  # MARK-json


def raises_ocimux_error(self: Any) -> None:
    raise InvalidArgumentError("the plugin's own message", runtime=self.name)


def broken_pipe(self: Any) -> None:
    raise BrokenPipeError("the reader left")


def interrupted(self: Any) -> None:
    raise KeyboardInterrupt


def outer(self: Any) -> str:
    return self.inner("c1")


# --- the guard ---------------------------------------------------------------------------------


def test_an_exception_of_the_plugin_becomes_one_plugin_fault_naming_where() -> None:
    runtime = build(plugin_class(poke=raises_key_error))
    with pytest.raises(PluginFaultError) as info:
        runtime.poke("c1")
    err = info.value
    assert isinstance(err, PluginError) and isinstance(err, OcimuxError)
    assert (err.runtime, err.distribution, err.call) == ("fake", "ocimux-fake 1.0", "poke")
    assert err.entry_point == f"{__name__}:FakeRuntime"
    assert err.location == f"{THIS_FILE}:{_line_of('MARK-key-error')}"
    assert isinstance(err.__cause__, KeyError) and err.__cause__.args == ("c1",)
    line = str(err)
    assert "\n" not in line and line.startswith("runtime fake: plugin ocimux-fake 1.0 raised")
    assert "KeyError: 'c1' in poke()" in line and err.location in line
    assert "a bug in the plugin" in line and "--debug" in line
    assert err.exit_code == 125


def test_the_location_is_the_plugins_line_not_the_library_it_called() -> None:
    runtime = build(plugin_class(parse=raises_in_json))
    with pytest.raises(PluginFaultError) as info:
        runtime.parse()
    assert isinstance(info.value.__cause__, json.JSONDecodeError)
    assert info.value.location == f"{THIS_FILE}:{_line_of('MARK-json')}"


def test_ocimux_errors_and_peers_leaving_and_interrupts_pass_unchanged() -> None:
    runtime = build(
        plugin_class(own=raises_ocimux_error, pipe=broken_pipe, stop=interrupted),
    )
    with pytest.raises(InvalidArgumentError) as info:
        runtime.own()
    assert type(info.value) is InvalidArgumentError and "own message" in str(info.value)
    with pytest.raises(BrokenPipeError):
        runtime.pipe()
    with pytest.raises(KeyboardInterrupt):
        runtime.stop()


def test_a_nested_call_reports_the_innermost_method_once() -> None:
    runtime = build(plugin_class(outer=outer, inner=raises_key_error))
    with pytest.raises(PluginFaultError) as info:
        runtime.outer()
    assert info.value.call == "inner"
    assert isinstance(info.value.__cause__, KeyError)  # not wrapped a second time


def test_guarding_keeps_the_class_values_and_inherited_methods() -> None:
    cls = plugin_class(echo=lambda self, x: ("echo", x))
    runtime = build(cls)
    assert type(runtime) is cls and isinstance(runtime, Runtime)
    assert runtime.echo(3) == ("echo", 3)
    assert runtime.echo.__wrapped__ is not None
    # methods inherited from Runtime are guarded too, private ones are not
    assert "unavailable_reason" in vars(runtime) and "_unsupported" not in vars(runtime)
    assert runtime.unavailable_reason() is None
    again = guard(runtime, PluginOrigin("other", None, None))
    assert again is runtime and again.echo is runtime.echo  # guarding twice changes nothing


def test_a_fault_outside_the_plugins_code_says_so() -> None:
    # the plugin's class lives in another package: this file's frames are "ocimux's" here
    cls = plugin_class(poke=raises_key_error)
    origin = PluginOrigin("fake", "elsewhere:Fake", "elsewhere 1.0", ("elsewhere",))
    runtime = guard(cls(RuntimeContext("fake", None, Path("/x"), Path("/y"))), origin)
    with pytest.raises(PluginFaultError) as info:
        runtime.poke("c1")
    assert info.value.location == f"{THIS_FILE}:{_line_of('MARK-key-error')}"
    assert "(ocimux code called by the plugin)" in str(info.value)


def test_origin_packages_skip_ocimux_core_and_keep_plugins_shipped_inside_it() -> None:
    base = type("Shipped", (Runtime,), {"__module__": "ocimux.plugins.fakeshipped.runtime"})
    cls = type("Third", (base,), {"__module__": "vendor_pkg.runtime"})
    origin = origin_of(cls, "third", "vendor_entry.mod:Third", "vendor 2.0")
    assert origin.packages == ("vendor_pkg", "ocimux.plugins.fakeshipped", "vendor_entry")


def test_locate_without_a_traceback_and_fault_without_a_message() -> None:
    assert locate(None, ("x",)) == (None, False)
    err = fault(PluginOrigin("rt", None, None), ValueError())
    assert err.location is None and "its plugin raised ValueError" in str(err)


# --- the CLI's lines and --debug ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [
        (True, None, True),
        (False, None, False),
        (False, "1", True),
        (False, "yes", True),
        (False, "0", False),
        (False, "false", False),
        (False, "No", False),
        (False, "", False),
    ],
)
def test_debug_is_the_flag_or_the_variable(flag: bool, value: str | None, expected: bool) -> None:
    environ = {} if value is None else {"OCIMUX_DEBUG": value}
    assert debug_requested(flag, environ) is expected


def _fault() -> PluginFaultError:
    runtime = build(plugin_class(poke=raises_key_error))
    try:
        runtime.poke("c9")
    except PluginFaultError as exc:
        return exc
    raise AssertionError("no fault")


def test_report_error_is_one_line_and_debug_adds_the_original_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = _fault()
    set_debug(False)
    report_error(err)
    assert capsys.readouterr().err == f"Error: {err}\n"
    set_debug(True)
    try:
        report_error(err)
    finally:
        set_debug(False)
    out = capsys.readouterr().err.splitlines()
    assert out[0] == "Traceback (most recent call last):"
    assert f'  File "{THIS_FILE}", line {_line_of("MARK-key-error")}, in raises_key_error' in out
    assert "KeyError: 'c9'" in out and out[-1] == f"Error: {err}"


def test_an_unexpected_exception_in_ocimux_is_one_line_and_125(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ocimux.cli import _commands

    def dispatch(args: Any) -> int:
        raise ZeroDivisionError("bug\nin two lines")  # MARK-internal

    monkeypatch.setattr(_commands, "dispatch", dispatch)
    monkeypatch.delenv("OCIMUX_DEBUG", raising=False)
    assert cli.main(["ps"]) == 125
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(
        "Error: unexpected error: ZeroDivisionError: bug"
    )
    assert f"{THIS_FILE}:{_line_of('MARK-internal')}" in err and "please report it" in err
    try:
        assert cli.main(["--debug", "ps"]) == 125
    finally:
        set_debug(False)
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and "Error: unexpected error" in err
    assert internal_error(ValueError()).startswith("Error: unexpected error: ValueError")


def test_internal_errors_are_not_swallowed_when_they_are_interrupts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ocimux.cli import _commands

    def dispatch(args: Any) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(_commands, "dispatch", dispatch)
    assert cli.main(["ps"]) == 130
