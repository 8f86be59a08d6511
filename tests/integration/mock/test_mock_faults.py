"""Fault injection in the mock runtime: annotations and plugin options that fail or hang ops."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from ocimux.base.errors import InvalidArgumentError, RuntimeCommandError, RuntimeTimeoutError
from ocimux.engine import stopping
from ocimux.engine.execs import _start_detached
from ocimux.interface.options import ExecOptions, Resources
from ocimux.plugins.mock.faults import FAIL_MESSAGE, FAIL_ON, FAIL_STATUS, HANG_ON, Faults

if TYPE_CHECKING:
    from conftest import Harness
    from ocimux.plugins.mock import MockRuntime


def _sleepers() -> list[int]:
    """Our child processes running the hang command (other test runs may have their own)."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                cmdline = Path(entry.path, "cmdline").read_bytes()
                stat = Path(entry.path, "stat").read_bytes()
            except OSError:
                continue
            ppid = int(stat[stat.rfind(b")") + 2 :].split()[1])
            if b"time.sleep(86400)" in cmdline and ppid == os.getpid():
                found.append(int(entry.name))
    return found


def _create(mock: Harness, cid: str, annotations: dict[str, str]) -> Path:
    bundle = mock.bundle(cid, ["sleep", "30"], annotations=annotations)
    mock.runtime.create(mock.request(cid, bundle))
    return bundle


def test_fail_on_create_leaves_no_monitor_and_no_files(mock: Harness) -> None:
    with pytest.raises(RuntimeCommandError) as info:
        _create(mock, "c1", {FAIL_ON: "create"})
    err = info.value
    assert (err.detail, err.exit_status, err.verb, err.container, err.runtime) == (
        "injected failure",
        1,
        "create",
        "c1",
        "mock",
    )
    assert str(err) == "create c1 on mock failed (exit 1): injected failure"
    assert os.listdir(mock.containers / "c1") == ["config.json"]
    assert mock.runtime.state("c1").status == "unknown"


def test_fail_message_and_status_are_honoured(mock: Harness) -> None:
    mock.create("c1", ["sleep", "30"])
    mock.set_annotations("c1", {FAIL_ON: "start", FAIL_MESSAGE: "boom", FAIL_STATUS: "42"})
    with pytest.raises(RuntimeCommandError) as info:
        mock.runtime.start("c1")
    assert (info.value.detail, info.value.exit_status) == ("boom", 42)
    assert str(info.value) == "start c1 on mock failed (exit 42): boom"
    assert mock.runtime.state("c1").status == "created"  # nothing was done
    mock.set_annotations("c1", {})  # read afresh at every operation
    mock.runtime.start("c1")
    assert mock.runtime.state("c1").status == "running"


@pytest.mark.parametrize(
    ("op", "call"),
    [
        ("kill", lambda rt: rt.kill("c1", signal.SIGKILL)),
        ("stop", lambda rt: stopping.stop(rt, "c1", 0)),  # the engine's SIGKILL fails
        ("stop", lambda rt: stopping.stop(rt, "c1", 10)),  # the engine's SIGTERM fails
        ("delete", lambda rt: rt.delete("c1")),
        ("pause", lambda rt: rt.pause("c1")),
        ("state", lambda rt: rt.state("c1")),
        ("exec", lambda rt: _start_detached(rt, "c1", "e1", ExecOptions(args=("true",)))),
        ("update", lambda rt: rt.update("c1", Resources(memory=1))),
    ],
)
def test_fail_on_each_operation_does_nothing(
    mock: Harness, op: str, call: Callable[[MockRuntime], object]
) -> None:
    result = mock.run("c1", ["sleep", "30"])
    mock.set_annotations("c1", {FAIL_ON: f"create, {op}"})
    with pytest.raises(RuntimeCommandError) as info:
        call(mock.runtime)
    assert (info.value.verb, info.value.detail) == (op, "injected failure")
    assert mock.alive(result.pid)
    assert mock.processes("c1") == [result.pid]
    assert not (mock.containers / "c1" / "exec").exists()


def test_fail_on_unpause(mock: Harness) -> None:
    mock.run("c1", ["sleep", "30"])
    mock.runtime.pause("c1")
    mock.set_annotations("c1", {FAIL_ON: "unpause"})
    with pytest.raises(RuntimeCommandError, match="unpause c1 on mock failed"):
        mock.runtime.resume("c1")
    assert mock.runtime.state("c1").status == "paused"


def test_plugin_option_fails_every_container(mock: Harness) -> None:
    mock.runtime = mock.make_runtime(fail_on="create", fail_message="runtime-wide")
    for cid in ("c1", "c2"):
        with pytest.raises(RuntimeCommandError, match="runtime-wide"):
            _create(mock, cid, {})
        assert os.listdir(mock.containers / cid) == ["config.json"]
    mock.runtime = mock.make_runtime(fail_on=["start"])
    mock.create("c3", ["sleep", "30"])
    with pytest.raises(RuntimeCommandError, match="injected failure"):
        mock.runtime.start("c3")


def test_hang_on_start_times_out_naming_the_command(mock: Harness) -> None:
    mock.runtime = mock.make_runtime(timeout=1.0)
    mock.create("c1", ["sleep", "30"])
    mock.set_annotations("c1", {HANG_ON: "start"})
    seen: set[int] = set()
    watching = threading.Event()

    def watch() -> None:  # the hang is a real process, like a stuck runtime binary
        while not watching.is_set():
            seen.update(_sleepers())
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.monotonic()
    try:
        with pytest.raises(RuntimeTimeoutError) as info:
            mock.runtime.start("c1")
    finally:
        watching.set()
        watcher.join()
    elapsed = time.monotonic() - started
    assert len(seen) == 1
    assert 1.0 <= elapsed < 1.0 + 2.0
    err = info.value
    assert err.argv is not None and err.argv[0] == sys.executable
    assert "time.sleep(86400)" in str(err) and "hung for 1s" in str(err)
    assert (err.container, err.runtime, err.verb, err.timeout) == ("c1", "mock", "start", 1.0)
    assert _sleepers() == []
    assert mock.runtime.state("c1").status == "created"


def test_hang_on_create_leaves_nothing(mock: Harness) -> None:
    mock.runtime = mock.make_runtime(timeout=0.5)
    with pytest.raises(RuntimeTimeoutError, match="hung for 0.5s") as info:
        _create(mock, "c1", {HANG_ON: "create"})
    assert info.value.verb == "create"
    assert os.listdir(mock.containers / "c1") == ["config.json"]
    assert _sleepers() == []


def test_malformed_faults_are_reported(mock: Harness) -> None:
    with pytest.raises(InvalidArgumentError, match="unknown operation.*frobnicate"):
        _create(mock, "c1", {FAIL_ON: "frobnicate"})
    assert os.listdir(mock.containers / "c1") == ["config.json"]
    mock.create("c2", ["sleep", "30"])
    mock.set_annotations("c2", {FAIL_ON: "kill", FAIL_STATUS: "many"})
    with pytest.raises(InvalidArgumentError, match="ocimux.mock/fail-status must be an integer"):
        mock.runtime.kill("c2", signal.SIGKILL)


def test_faults_load_merges_annotations_and_options() -> None:
    faults = Faults.load(
        {FAIL_ON: "Start, kill", FAIL_STATUS: "3"}, {"fail_on": "delete", "hang_on": ["pause"]}
    )
    assert faults.fail_on == {"start", "kill", "delete"}
    assert faults.hang_on == {"pause"}
    assert (faults.message, faults.status) == ("injected failure", "3")
    assert Faults.load({}, {}).fail_on == frozenset()
