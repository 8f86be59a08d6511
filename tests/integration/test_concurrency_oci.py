"""Many `ocimux` processes at once on real runtimes: serialised by the per-container lock."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.integration.conftest import Oci, runtime_params, wait_until

#: what losing a race may say: the container is gone, or its state forbids the operation now
ALLOWED_ERRORS = re.compile(
    r"no container with|half-done|cannot \w+ web on \w+: container is \w+"
    # a call that found the record just before a concurrent `rm` removed it
    r"|container web was removed meanwhile by another ocimux process"
)


def _cli(oci: Oci, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ocimux.cli", *args], env=oci.env, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)  # fmt: skip


def test_stop_rm_exec_pause_from_many_processes_at_once(oci: Oci) -> None:
    oci.detach("web", "sh", "-c", "trap '' TERM; while :; do sleep 0.1; done")
    calls = [("stop", "-t", "1", "web"), ("rm", "-f", "web"), ("exec", "web", "true"), ("pause", "web"),
             ("unpause", "web"), ("kill", "-s", "USR1", "web"), ("inspect", "web")] * 2  # fmt: skip
    with ThreadPoolExecutor(len(calls)) as pool:
        results = list(pool.map(lambda args: (args, _cli(oci, *args)), calls))
    removed = 0
    for args, done in results:
        assert "Traceback" not in done.stderr, (args, done.stderr)
        if done.returncode == 0:
            removed += args[0] == "rm"
            continue
        assert done.returncode == 125, (args, done.returncode, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), (args, done.stderr)
        assert ALLOWED_ERRORS.search(lines[0]), (args, lines[0])
    assert removed >= 1, "every rm -f failed"
    assert oci.ps() == []
    assert oci.runtime_list() == []
    wait_until(lambda: not oci.own_processes(), 5, "no monitor of the test to remain")


WORKER = r"""
import itertools, sys
from ocimux.cli import main
worker, count, rootfs = sys.argv[1], int(sys.argv[2]), sys.argv[3]
runtimes = sys.argv[4].split(",")
failures = []
for i, runtime in zip(range(count), itertools.cycle(runtimes)):
    name = f"w{worker}-{i}"
    if main(["run", "-d", "--runtime", runtime, "--name", name, "--rootfs", rootfs, "--", "sleep", "30"]) != 0:
        failures.append(f"run {name}")
    if main(["ps", "-a", "-q"]) != 0:
        failures.append("ps")
    if main(["rm", "-f", "-t", "0", name]) != 0:
        failures.append(f"rm {name}")
print("FAILURES", failures, file=sys.stderr)
sys.exit(1 if failures else 0)
"""


@pytest.mark.parametrize("runtime", runtime_params(("runc",)), indirect=True)
def test_200_containers_by_8_workers_across_runc_crun_and_mock(oci: Oci, tmp_path: Path) -> None:
    rootfs = str(oci.rootfs)
    runtimes = "runc,crun,mock"
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(
            lambda n: subprocess.run([sys.executable, "-c", WORKER, str(n), "25", rootfs, runtimes],
                                     env=oci.env, capture_output=True, text=True, timeout=900),
            range(8),
        ))  # fmt: skip
    for done in results:
        assert done.returncode == 0, done.stderr[-3000:]
        assert "Traceback" not in done.stderr
    assert json.loads(oci.ok("ps", "-a", "--format", "json")) == []
    for name in ("runc", "crun"):
        assert oci.runtime_list(name, binary=name) == []
    assert not oci.containers_dir.exists() or list(oci.containers_dir.iterdir()) == []
    wait_until(lambda: not oci.own_processes(), 10, "no monitor of the test to remain")
