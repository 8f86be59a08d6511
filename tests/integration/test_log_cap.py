"""The container log is capped: `--log-opt max-size` and containers.conf `log_size_max`.

A container writing `yes` used to fill the state disk in seconds (issue 13, item 4). Now every
monitor (conmon's `--log-size-max`, the shim v2 I/O monitor, the mock's shim) replaces the log
by an empty file before a line would take it past the cap, as conmon 2.1 does, so the file
stays under the cap and `ocimux logs` shows the most recent output.
"""

from __future__ import annotations

import calendar
import os
import re
import time
from pathlib import Path

import pytest

from tests.integration.conftest import Oci, one_line, runtime_params
from tests.integration.test_shimv2 import SHIM, shim  # noqa: F401 - the runc-shim fixture

LOG_RUNTIMES = [*runtime_params(), pytest.param("mock", id="mock", marks=pytest.mark.requires_root)]

#: what the container prints, line after line, as fast as it can
WORD = "ocimux-flood"


def _watch(log: Path, seconds: float) -> tuple[int, set[int]]:
    """The largest size the log had while sampled for `seconds`, and the inodes it had."""
    biggest, inodes = 0, set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            st = os.stat(log)
        except FileNotFoundError:
            continue
        biggest = max(biggest, st.st_size)
        inodes.add(st.st_ino)
        time.sleep(0.005)
    return biggest, inodes


def _flood(oci: Oci, *flags: str) -> str:
    out = oci.ok(*oci.new("run", "yes", WORD, flags=["-d", *flags]))
    return out.strip()


def _check_capped(oci: Oci, cid: str, cap: int) -> None:
    started = time.time()
    log = oci.containers_dir / cid / "ctr.log"
    biggest, inodes = _watch(log, 2.0)
    assert 0 < biggest <= cap, f"the log reached {biggest} bytes (cap {cap})"
    assert len(inodes) > 1, "the log never turned over: is the container writing?"
    left = [p.name for p in log.parent.iterdir() if p.name.startswith("ctr.log")]
    assert set(left) <= {"ctr.log", "ctr.log.tmp"}, left
    # `logs` reads what is kept: the lines since the last turn-over (0 to `cap` bytes), so
    # look a few times; the first line may be the end of a split one, the last unfinished
    for _ in range(20):
        lines = oci.ok("logs", cid).splitlines()
        if len(lines) > 10:
            break
    assert len(lines) > 10 and set(lines[1:-1]) == {WORD}, lines[:3]
    # and they are recent: what the container wrote at first was dropped
    for _ in range(100):
        first = log.read_bytes()[:19].decode()
        if len(first) == 19:
            break
        time.sleep(0.01)
    stamp = calendar.timegm(time.strptime(first, "%Y-%m-%dT%H:%M:%S"))  # UTC
    assert stamp >= int(started) + 1, f"the log still starts at {first}: nothing was dropped"
    oci.ok("rm", "-f", "-t", "0", cid)


@pytest.mark.parametrize("runtime", LOG_RUNTIMES, indirect=True)
def test_log_opt_max_size_caps_the_log(oci: Oci) -> None:
    cid = _flood(oci, "--log-opt", "max-size=100k")
    rec = oci.record(cid)
    assert rec["config"]["container"]["log_size_max"] == 100_000  # decimal, as podman reads it
    _check_capped(oci, cid, 100_000)


@pytest.mark.requires_root
@pytest.mark.requires_runtime(SHIM)
@pytest.mark.requires_runtime("runc")
def test_log_opt_max_size_caps_the_shim_v2_monitors_log(shim: Oci) -> None:  # noqa: F811
    cid = _flood(shim, "--log-opt", "max-size=100k")
    _check_capped(shim, cid, 100_000)


@pytest.mark.parametrize("runtime", runtime_params(("crun",)), indirect=True)
def test_containers_conf_log_size_max_applies(oci: Oci) -> None:
    oci.edit_conf(lambda text: text + "[containers]\nlog_size_max = 20000\n")
    _check_capped(oci, _flood(oci), 20_000)


@pytest.mark.parametrize("runtime", runtime_params(("crun",)), indirect=True)
def test_unknown_log_opt_is_refused_before_anything_runs(oci: Oci) -> None:
    done = oci(*oci.new("run", "true", name="bad", flags=["--log-opt", "max-file=3"]))
    assert done.returncode == 125
    assert re.match(r"Error: unsupported --log-opt 'max-file'", one_line(done.stderr))
    done = oci(*oci.new("run", "true", name="bad", flags=["--log-opt", "max-size=1k"]))
    assert done.returncode == 125
    assert "at least 8192 bytes" in one_line(done.stderr)
    assert oci.ps() == []
