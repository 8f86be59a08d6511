"""The contract every ocimux runtime plugin must meet; run it with the kit's pytest plugin:

    pytest -p ocimux.testing.plugin --pyargs ocimux.testing.suite --ocimux-runtime NAME

A test needing a capability the runtime declares false is skipped with that capability's
reason. Containers run `sh`, `sleep` and `echo` from the rootfs (busybox by default).
"""

from __future__ import annotations

import io
import signal
import time
from pathlib import Path

import pytest
from ocimux.errors import (
    CapabilityError,
    ContainerNotFoundError,
    InvalidArgumentError,
    StateError,
)
from ocimux.options import CheckpointOptions, ExecOptions, Resources, RestoreOptions, StdStreams
from ocimux.store import ContainerRecord
from ocimux.testing.plugin import Kit

#: a shell loop that ignores SIGTERM; prints "ready" once the trap is set
IGNORE_TERM = "trap '' TERM; echo ready; while :; do sleep 0.1; done"
#: a loop that keeps running until killed
LOOP = "while :; do sleep 0.1; done"


def _stopped(kit: Kit, ref: str, timeout: float = 10.0) -> ContainerRecord:
    return kit.wait_status(ref, "stopped", timeout)


# --- lifecycle and the state machine -------------------------------------------------------


def test_create_start_exit_states(ocimux_kit: Kit) -> None:
    d = ocimux_kit.dispatcher
    rec = d.create(ocimux_kit.new("sh", "-c", "sleep 0.5; exit 5"))
    assert rec.status == "created"
    assert rec.runtime == ocimux_kit.runtime
    assert d.inspect(rec.id).status == "created"
    assert d.start(rec.id).status == "running"
    assert d.inspect(rec.id).status in ("running", "stopped")
    done = _stopped(ocimux_kit, rec.id)
    assert done.exit_code == 5
    assert rec.id in {r.id for r in d.list()}
    d.delete(rec.id)
    with pytest.raises(ContainerNotFoundError):
        d.inspect(rec.id)


def test_start_twice_is_a_state_error(ocimux_kit: Kit) -> None:
    rec = ocimux_kit.detach("sleep", "5")
    with pytest.raises(StateError):
        ocimux_kit.dispatcher.start(rec.id)
    ocimux_kit.dispatcher.stop(rec.id, timeout=0)


def test_pause_of_stopped_container_never_reaches_runtime(
    ocimux_kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = ocimux_kit.dispatcher
    rec = ocimux_kit.detach("true")
    _stopped(ocimux_kit, rec.id)
    runtime = d.registry.get(ocimux_kit.runtime)
    calls: list[str] = []
    for verb in ("pause_container", "unpause_container", "start_container"):
        monkeypatch.setattr(runtime, verb, lambda *a, _v=verb, **k: calls.append(_v))
    with pytest.raises(StateError):
        d.pause(rec.id)
    with pytest.raises(StateError):
        d.unpause(rec.id)
    with pytest.raises(StateError):
        d.start(rec.id)
    assert calls == []


# --- exit codes and signals ----------------------------------------------------------------


@pytest.mark.parametrize("code", [0, 3])
def test_exit_code_is_reported(ocimux_kit: Kit, code: int) -> None:
    done = ocimux_kit.run("sh", "-c", f"exit {code}")
    assert done.code == code, done.stderr


def test_sigkill_gives_137(ocimux_kit: Kit) -> None:
    rec = ocimux_kit.detach("sleep", "30")
    ocimux_kit.dispatcher.kill(rec.id, signal.SIGKILL)
    assert _stopped(ocimux_kit, rec.id).exit_code == 137


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGTERM, 42), (signal.SIGUSR1, 43)], ids=["TERM", "USR1"]
)
def test_kill_signal_reaches_trap(ocimux_kit: Kit, sig: signal.Signals, code: int) -> None:
    name = sig.name.removeprefix("SIG")
    rec = ocimux_kit.detach("sh", "-c", f"trap 'exit {code}' {name}; {LOOP}")
    time.sleep(0.5)  # let the shell set its trap
    ocimux_kit.dispatcher.kill(rec.id, sig)
    assert _stopped(ocimux_kit, rec.id).exit_code == code


def test_stop_escalates_to_sigkill(ocimux_kit: Kit) -> None:
    rec = ocimux_kit.detach("sh", "-c", IGNORE_TERM)
    time.sleep(0.5)  # let the shell set its trap
    timeout = 1.0
    start = time.monotonic()
    done = ocimux_kit.dispatcher.stop(rec.id, timeout=timeout)
    took = time.monotonic() - start
    assert took < timeout + 5, f"stop took {took:.1f}s"
    assert done.status == "stopped"
    assert done.exit_code == 137


# --- pause, exec, attach, resources --------------------------------------------------------


def test_pause_and_unpause(ocimux_kit: Kit) -> None:
    ocimux_kit.require("pause")
    d = ocimux_kit.dispatcher
    rec = ocimux_kit.detach("sh", "-c", LOOP)
    assert d.pause(rec.id).status == "paused"
    assert d.inspect(rec.id).status == "paused"
    with pytest.raises(StateError):
        d.pause(rec.id)
    assert d.unpause(rec.id).status == "running"
    assert d.inspect(rec.id).status == "running"
    assert d.stop(rec.id, timeout=0).status == "stopped"


def test_exec_splits_output_and_returns_code(ocimux_kit: Kit) -> None:
    ocimux_kit.require("exec")
    rec = ocimux_kit.detach("sleep", "30")
    out, err = io.BytesIO(), io.BytesIO()
    code = ocimux_kit.dispatcher.exec(
        rec.id,
        ExecOptions(args=("sh", "-c", "echo eout; echo eerr >&2; exit 4")),
        StdStreams(stdout=out, stderr=err),
    )
    assert (code, out.getvalue(), err.getvalue()) == (4, b"eout\n", b"eerr\n")
    assert ocimux_kit.dispatcher.inspect(rec.id).status == "running"
    ocimux_kit.dispatcher.stop(rec.id, timeout=0)


def test_exec_in_stopped_container_is_a_state_error(ocimux_kit: Kit) -> None:
    ocimux_kit.require("exec")
    rec = ocimux_kit.detach("true")
    _stopped(ocimux_kit, rec.id)
    with pytest.raises(StateError):
        ocimux_kit.dispatcher.exec(
            rec.id, ExecOptions(args=("true",)), StdStreams(io.BytesIO(), io.BytesIO())
        )


def test_foreground_run_streams_stdout_and_stderr_apart(ocimux_kit: Kit) -> None:
    done = ocimux_kit.run("sh", "-c", "echo out; echo err >&2; echo out2; exit 7")
    assert (done.code, done.stdout, done.stderr) == (7, b"out\nout2\n", b"err\n")
    # auto_remove: nothing is left
    assert ocimux_kit.dispatcher.list() == []


def test_update_resources(ocimux_kit: Kit) -> None:
    ocimux_kit.require("update_resources")
    rec = ocimux_kit.detach("sleep", "30")
    ocimux_kit.dispatcher.update(rec.id, Resources(pids_limit=256))
    assert ocimux_kit.dispatcher.inspect(rec.id).status == "running"
    ocimux_kit.dispatcher.stop(rec.id, timeout=0)


# --- errors for bad references ---------------------------------------------------------------


@pytest.mark.parametrize("verb", ["inspect", "start", "kill", "stop", "delete"])
def test_unknown_container_is_not_found(ocimux_kit: Kit, verb: str) -> None:
    with pytest.raises(ContainerNotFoundError):
        getattr(ocimux_kit.dispatcher, verb)("no-such-container-0123")


def test_bad_name_is_invalid_and_leaves_nothing(ocimux_kit: Kit) -> None:
    with pytest.raises(InvalidArgumentError):
        ocimux_kit.dispatcher.create(ocimux_kit.new("true", name="bad name/!"))
    assert ocimux_kit.dispatcher.list() == []


# --- declared capabilities match behaviour ----------------------------------------------------


def test_checkpoint_matches_declared_capability(ocimux_kit: Kit, tmp_path: Path) -> None:
    d = ocimux_kit.dispatcher
    cap = ocimux_kit.capability("checkpoint")
    rec = ocimux_kit.detach("sh", "-c", LOOP)
    images = tmp_path / "checkpoint"
    if not cap:
        with pytest.raises(CapabilityError) as info:
            d.checkpoint(rec.id, CheckpointOptions(image_path=images))
        assert info.value.capability == "checkpoint"
        assert d.inspect(rec.id).status == "running"
        assert not images.exists() or not any(images.iterdir())
        d.stop(rec.id, timeout=0)
        return
    images.mkdir()
    done = d.checkpoint(rec.id, CheckpointOptions(image_path=images))
    assert done.status == "stopped"
    assert any(images.iterdir()), "checkpoint wrote no images"
    restored = d.restore(rec.id, RestoreOptions(image_path=images))
    assert restored.status == "running"
    assert d.inspect(rec.id).status == "running"
    assert d.stop(rec.id, timeout=0).status == "stopped"
