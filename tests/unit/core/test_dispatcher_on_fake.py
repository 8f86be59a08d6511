"""The Dispatcher over the in-memory runtime (tests/unit/fake_runtime.py): no process at all.

The lifecycle and its exit codes, stop's escalation to SIGKILL, a runtime failure that names
the container, and routing by the record: every verb reaches the runtime that created it.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
from ocimux.base.errors import RuntimeCommandError
from ocimux.engine.dispatcher import Dispatcher, NewContainer
from ocimux.engine.session import open_dispatcher

from tests.unit.fake_runtime import FAIL, FakeRuntime, with_fake_runtime


@pytest.fixture
def dispatcher(ocimux_env: dict[str, str]) -> Iterator[Dispatcher]:
    """A Dispatcher of this test's own state whose registry also has `fake` and `fake2`."""
    d = with_fake_runtime(open_dispatcher(), "fake", "fake2")
    yield d
    d.store.close()


def _fake(d: Dispatcher, name: str = "fake") -> FakeRuntime:
    return cast("FakeRuntime", d.registry.get(name))


def _new(rootfs: Path, *args: str, **kw: object) -> NewContainer:
    return NewContainer(args=args, rootfs=rootfs, runtime="fake", **kw)  # type: ignore[arg-type]


def test_create_start_stop_delete(dispatcher: Dispatcher, rootfs: Path) -> None:
    rec = dispatcher.create(_new(rootfs, "sleep", "inf", name="web"))
    assert (rec.name, rec.runtime, rec.status) == ("web", "fake", "created")
    assert dispatcher.start("web").status == "running"
    stopped = dispatcher.stop("web", timeout=5)
    assert (stopped.status, stopped.exit_code) == ("stopped", 128 + signal.SIGTERM)
    dispatcher.delete("web")
    assert dispatcher.list() == []
    assert _fake(dispatcher).record(rec.id) is None
    verbs = [call[0] for call in _fake(dispatcher).calls() if call[1] == rec.id]
    assert verbs[:3] == ["create", "start", "kill"] and verbs[-1] == "delete"


@pytest.mark.parametrize(("args", "code"), [(("true",), 0), (("false",), 1), (("exit", "7"), 7)])
def test_the_exit_code_reaches_the_record(
    dispatcher: Dispatcher, rootfs: Path, args: tuple[str, ...], code: int
) -> None:
    rec = dispatcher.create(_new(rootfs, *args))
    dispatcher.start(rec.id)
    after = dispatcher.inspect(rec.id)
    assert (after.status, after.exit_code) == ("stopped", code)


def test_stop_escalates_to_sigkill_when_the_signal_is_ignored(
    dispatcher: Dispatcher, rootfs: Path
) -> None:
    rec = dispatcher.create(_new(rootfs, "ignore", "TERM"))
    dispatcher.start(rec.id)
    stopped = dispatcher.stop(rec.id, timeout=0.1)
    assert (stopped.status, stopped.exit_code) == ("stopped", 128 + signal.SIGKILL)
    sent = [call[3][0] for call in _fake(dispatcher).calls() if call[0] == "kill"]
    assert sent == [signal.SIGTERM, signal.SIGKILL]


def test_a_failing_start_names_the_container_and_leaves_it_created(
    dispatcher: Dispatcher, rootfs: Path
) -> None:
    rec = dispatcher.create(_new(rootfs, "sleep", "inf", name="bad", annotations={FAIL: "start"}))
    with pytest.raises(RuntimeCommandError, match="injected failure of start") as info:
        dispatcher.start("bad")
    assert info.value.container in (rec.id, "bad")
    assert dispatcher.inspect("bad").status == "created"
    dispatcher.delete("bad", force=True, timeout=0)
    assert dispatcher.list() == []


def test_every_verb_goes_to_the_runtime_that_created_the_container(
    dispatcher: Dispatcher, rootfs: Path
) -> None:
    one = dispatcher.create(_new(rootfs, "sleep", "inf"))
    two = dispatcher.create(NewContainer(args=("sleep", "inf"), rootfs=rootfs, runtime="fake2"))
    for rec in (one, two):
        dispatcher.start(rec.id)
        dispatcher.kill(rec.id, signal.SIGKILL)
        dispatcher.delete(rec.id)
    assert {c[1] for c in _fake(dispatcher, "fake").calls()} == {one.id}
    assert {c[1] for c in _fake(dispatcher, "fake2").calls()} == {two.id}
