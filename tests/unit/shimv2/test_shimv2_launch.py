"""TTRPC_ADDRESS as a shim can dial it: a unix socket path must fit in 107 bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
from ocimux.base.errors import RuntimeCommandError
from ocimux.plugins.shimv2.launch import MAX_SOCKET_PATH, ShimCommand


def _command(events: Path) -> ShimCommand:
    return ShimCommand(
        binary="containerd-shim-runc-v2",
        namespace="ocimux",
        address="/x/containerd.sock",
        events=str(events),
        runtime="runc-shim",
    )


def test_a_short_events_path_is_given_as_is() -> None:
    events = Path("/run/ocimux/runtimes/runc-shim/events.sock")
    env = _command(events)._env("c", Path("/var/lib/ocimux/containers/c"))
    assert env["TTRPC_ADDRESS"] == str(events)


def test_a_deep_run_dir_gets_a_path_relative_to_the_bundle_the_shim_runs_in() -> None:
    # under pytest-xdist's deeper temp dirs the absolute path passed 107 bytes and the shim
    # dropped every event without a word
    base = Path("/tmp/pytest-of-root/pytest-331/popen-gw0/test_ocimux_never_runs_runc_it0/state")
    events = base / "run" / "runtimes" / "runc-shim" / "events.sock"
    bundle = base / "lib" / "containers" / ("a" * 64)
    assert len(str(events)) > MAX_SOCKET_PATH
    address = _command(events)._env("c", bundle)["TTRPC_ADDRESS"]
    assert address == "../../../run/runtimes/runc-shim/events.sock"
    assert (bundle / address).resolve() == events.resolve()


def test_a_path_that_fits_neither_way_is_refused_naming_the_setting() -> None:
    deep = Path("/" + "/".join(["d" * 50] * 3))
    with pytest.raises(RuntimeCommandError) as err:
        _command(deep / "events.sock")._env("c", Path("/" + "e" * 120))
    assert "longer than a unix socket allows" in str(err.value)
    assert "run_dir" in str(err.value)
