"""`ocimux system repair` removes runc-shim's event sink once its run directory is deleted.

The shim v2 runtime starts one event sink per runtime run directory
(`python -m ocimux.plugins.shimv2.events --dir <run_dir>/runtimes/<name>`), which works in that
directory. Deleting the directory left the sink serving a socket nobody could reach, and
neither `system check` nor `system repair` listed it (issue 13, repair). Repair now finds it,
strictly inside this instance's run directory: another instance's orphaned sink is left alone.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest

from tests.integration.conftest import Oci, Runner, alive, wait_until

SINK = "ocimux.plugins.shimv2.events"

pytestmark = [
    pytest.mark.requires_root,
    pytest.mark.requires_runtime("containerd-shim-runc-v2"),
    pytest.mark.requires_runtime("runc"),
]


def _sinks(directory: Path) -> list[int]:
    """Live event sinks started with `--dir directory`."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if SINK.encode() in argv and os.fsencode(directory) in argv and alive(int(entry)):
            out.append(int(entry))
    return out


def _start_sink(directory: Path) -> list[int]:
    directory.mkdir(parents=True, mode=0o700)
    subprocess.run([sys.executable, "-I", "-m", SINK, "--dir", str(directory)], check=True)
    return wait_until(lambda: _sinks(directory), 5, f"a sink in {directory}")


@pytest.fixture
def shim(ocimux: Runner, ocimux_env: dict[str, str], busybox_rootfs: Path) -> Iterator[Oci]:
    """The CLI bound to runc-shim; teardown kills (by pid) any sink of this test still alive."""
    conf = Path(ocimux_env["CONTAINERS_CONF"])
    helper = Oci(ocimux, "runc-shim", busybox_rootfs, conf, conf.parent / "state", ocimux_env)
    yield helper
    left = helper.run("ps", "-a", "-q").stdout.split()
    if left:
        helper.run("rm", "-f", "-t", "0", *left, timeout=120)
    for pid in _sinks(helper.runtime_root()) + _sinks(conf.parent / "other" / "runc-shim"):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_repair_kills_the_event_sink_of_a_deleted_run_directory(shim: Oci) -> None:
    root = shim.runtime_root()
    shim.ok(*shim.new("run", "true", name="once", flags=["--rm"]))
    [sink] = wait_until(lambda: _sinks(root), 5, "runc-shim's event sink")
    assert shim.ok("system", "check").startswith("nothing to repair")  # a live one is no orphan
    # another instance's sink whose directory went too: not this instance's to judge
    other_dir = shim.conf.parent / "other" / "runc-shim"
    [other] = _start_sink(other_dir)
    shutil.rmtree(other_dir)

    shutil.rmtree(root)
    check = shim("system", "check")
    assert check.returncode == 1, check.stdout + check.stderr
    assert check.stdout == f"orphan event sink pid {sink} ({root}): kill it\n"
    assert alive(sink)

    repaired = shim("system", "repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert repaired.stdout == f"orphan event sink pid {sink} ({root}): done\n"
    assert not alive(sink)
    assert alive(other)  # strictly this instance's run directory
    assert shim.ok("system", "check").startswith("nothing to repair")
