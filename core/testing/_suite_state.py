"""Contract tests on state kept outside the process, the monitor, and capabilities.

Collected through `suite.py`.
"""

from __future__ import annotations

import io
import os
import signal
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
from ocimux.base.errors import CapabilityError, ContainerNotFoundError, OcimuxError, StateError
from ocimux.interface.options import (
    CheckpointOptions,
    ExecOptions,
    Resources,
    RestoreOptions,
    StdStreams,
)
from ocimux.oci.containerconfig import ContainerConfig, Device, Limits
from ocimux.testing.calls import record_calls
from ocimux.testing.kit import Kit

__all__ = [
    "test_checkpoint_matches_declared_capability",
    "test_dead_monitor_makes_status_unknown",
    "test_declared_no_capabilities_are_refused_before_anything_runs",
    "test_pause_and_unpause",
    "test_second_process_drives_the_container",
    "test_update_resources",
]

LOOP = "while :; do sleep 0.1; done"


# --- a second process -------------------------------------------------------------------------


def test_second_process_drives_the_container(ocimux_kit: Kit) -> None:
    """`ocimux start/inspect/kill/rm` in other processes drive a container this one created.

    Catches state a plugin keeps in a class or module (shared by every Dispatcher of one
    process, lost in the next): every `ocimux` command is a new process.
    """
    kit = ocimux_kit
    rec = kit.create("sh", "-c", LOOP)
    started = kit.cli("start", rec.id)
    assert started.returncode == 0, (
        f"a second process could not start the container: {started.stderr.strip()}"
    )
    seen = kit.cli("inspect", rec.id).json()[0]
    assert seen["status"] == "running", (
        f"a second process sees the started container as {seen['status']}"
        f" ({seen.get('status_reason')})"
    )
    assert seen["pid"] == rec.pid, (
        f"a second process sees pid {seen['pid']}, the creating Dispatcher recorded {rec.pid}"
    )
    killed = kit.cli("kill", "-s", "KILL", rec.id)
    assert killed.returncode == 0, (
        f"a second process does not know the container's pid: kill failed: {killed.stderr.strip()}"
    )
    done = kit.wait_status(rec.id, "stopped", what="SIGKILL from a second process did not end it")
    assert done.exit_code == 137
    removed = kit.cli("rm", rec.id)
    assert removed.returncode == 0, f"a second process could not remove it: {removed.stderr}"
    with pytest.raises(ContainerNotFoundError):
        kit.dispatcher.inspect(rec.id)


# --- the monitor ------------------------------------------------------------------------------


def test_dead_monitor_makes_status_unknown(ocimux_kit: Kit) -> None:
    """Kill the container's monitor: its status reads `unknown` with a reason; `rm -f` works.

    The monitor is the pid `create` returned as `CreateResult.monitor_pid` (recorded by the
    Dispatcher); a runtime that returns none is skipped.
    """
    kit = ocimux_kit
    rec = kit.detach("sh", "-c", LOOP)
    monitor = kit.second.inspect(rec.id).monitor_pid
    if not monitor:
        kit.skip(f"runtime {kit.runtime} returns no monitor pid from create (monitor_pid)")
    if monitor in (rec.pid, os.getpid(), 1):
        kit.skip(f"runtime {kit.runtime}'s monitor pid {monitor} is not a separate process")
    os.kill(monitor, signal.SIGKILL)
    seen = kit.wait_status(
        rec.id,
        "unknown",
        what=f"after its monitor (pid {monitor}) was killed the container must read unknown",
    )
    assert seen.status_reason, "status unknown without a reason"
    kit.second.delete(rec.id, force=True)
    with pytest.raises(ContainerNotFoundError):
        kit.fresh().inspect(rec.id)


# --- capabilities -----------------------------------------------------------------------------


def test_pause_and_unpause(ocimux_kit: Kit) -> None:
    kit = ocimux_kit
    kit.require("pause")
    d = kit.second
    rec = kit.detach("sh", "-c", LOOP)
    assert d.pause(rec.id).status == "paused"
    assert kit.fresh().inspect(rec.id).status == "paused"
    with pytest.raises(StateError):
        d.pause(rec.id)
    assert d.unpause(rec.id).status == "running"
    assert kit.fresh().inspect(rec.id).status == "running"
    assert d.stop(rec.id, timeout=0).status == "stopped"


def test_update_resources(ocimux_kit: Kit) -> None:
    kit = ocimux_kit
    kit.require("update_resources")
    rec = kit.detach("sleep", "30")
    kit.second.update(rec.id, Resources(pids_limit=256))
    assert kit.second.inspect(rec.id).status == "running"
    kit.second.stop(rec.id, timeout=0)


def test_checkpoint_matches_declared_capability(ocimux_kit: Kit, tmp_path: Path) -> None:
    kit = ocimux_kit
    d = kit.second
    cap = kit.capability("checkpoint")
    rec = kit.detach("sh", "-c", LOOP)
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
    restored = kit.fresh().restore(rec.id, RestoreOptions(image_path=images))
    assert restored.status == "running"
    assert kit.fresh().inspect(rec.id).status == "running"
    assert d.stop(rec.id, timeout=0).status == "stopped"


def _create_options(tmp_path: Path) -> dict[str, dict[str, object]]:
    """For each capability a create option needs: the NewContainer fields that ask for it."""
    profile = tmp_path / "seccomp.json"
    profile.write_text('{"defaultAction": "SCMP_ACT_ALLOW"}\n')
    config = {
        "isolation": ContainerConfig(hostname="kit"),
        "resource_limits": ContainerConfig(limits=Limits(pids_limit=256)),
        "devices": ContainerConfig(devices=(Device("/dev/null", "/dev/kit-null"),)),
        "privileged": ContainerConfig(privileged=True),
        "seccomp": ContainerConfig(seccomp=str(profile)),
        "host_network": ContainerConfig(network="host"),
        "umask": ContainerConfig(umask="0022"),
        "domainname": ContainerConfig(domainname="kit.example"),
    }
    return {
        "terminal": {"terminal": True},
        "no_cgroups": {"no_cgroups": True},
        **{name: {"config": cfg} for name, cfg in config.items()},
    }


def _verbs(tmp_path: Path) -> dict[str, Callable[..., object]]:
    """For each capability a verb on a running container needs: that verb."""
    return {
        "pause": lambda d, cid: d.pause(cid),
        "exec": lambda d, cid: d.exec(
            cid, ExecOptions(args=("true",)), StdStreams(io.BytesIO(), io.BytesIO())
        ),
        "update_resources": lambda d, cid: d.update(cid, Resources(pids_limit=256)),
        "checkpoint": lambda d, cid: d.checkpoint(
            cid, CheckpointOptions(image_path=tmp_path / "ck")
        ),
    }


def test_declared_no_capabilities_are_refused_before_anything_runs(
    ocimux_kit: Kit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each operation needing a capability the runtime lacks raises CapabilityError first.

    Create options (a terminal, no cgroups, isolation options, limits, devices, ...) leave no
    container behind; verbs on a running container (pause, exec, update, checkpoint) call
    nothing in the runtime beyond what reading its state calls, and leave it running.
    `kvm` and `json_errors` have no operation of their own and are not checked.
    """
    kit = ocimux_kit
    lacking = {name for name, cap in kit.capabilities if not cap}
    creates, verbs = _create_options(tmp_path), _verbs(tmp_path)
    checked = lacking & (set(creates) | set(verbs))
    if not checked:
        kit.skip(f"runtime {kit.runtime} declares every checked capability true")
    problems: list[str] = []

    def refused(cap: str, call: Callable[[], object]) -> bool:
        try:
            call()
        except CapabilityError as exc:
            if exc.capability in lacking:
                return True
            problems.append(f"{cap}: refused for {exc.capability}, which the runtime has")
        except OcimuxError as exc:
            problems.append(f"{cap}: {type(exc).__name__} instead of CapabilityError: {exc}")
        else:
            problems.append(f"{cap}: declared false, but the operation ran")
        return False

    for cap in sorted(checked & set(creates)):
        if refused(cap, partial(kit.create, "true", **creates[cap])):
            if kit.fresh().list():
                problems.append(f"{cap}: the refused create left a container")
        for rec in kit.second.list():
            kit.second.delete(rec.id, force=True, timeout=0)
    if checked & set(verbs):
        rec = kit.detach("sh", "-c", LOOP)
        d = kit.fresh()
        calls = record_calls(d.registry.get(kit.runtime), monkeypatch)
        d.inspect(rec.id)
        d.capabilities(d.registry.get(kit.runtime))
        reads = set(calls)
        for cap in sorted(checked & set(verbs)):
            calls.clear()
            if refused(cap, partial(verbs[cap], d, rec.id)) and not set(calls) <= reads:
                problems.append(
                    f"{cap}: the runtime was called first: {sorted(set(calls) - reads)}"
                )
            if (status := kit.fresh().inspect(rec.id).status) != "running":
                problems.append(f"{cap}: the container is {status} after the refusal")
        kit.second.stop(rec.id, timeout=0)
    assert not problems, (
        f"runtime {kit.runtime}: capabilities declared false were not refused before anything "
        "ran:\n  " + "\n  ".join(problems)
    )
