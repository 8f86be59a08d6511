"""Many `ocimux` processes at once keep the store consistent."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

WORKER = r"""
import sys
from ocimux.cli import main
worker, count, rootfs = sys.argv[1], int(sys.argv[2]), sys.argv[3]
failures = 0
for i in range(count):
    name = f"w{worker}-{i}"
    if main(["create", "--runtime", "mock", "--name", name, "--rootfs", rootfs, "--", "true"]) != 0:
        failures += 1
    if main(["ps", "-a", "-q"]) != 0:
        failures += 1
    if i % 2 == 0 and main(["rm", "-f", name]) != 0:
        failures += 1
sys.exit(min(failures, 100))
"""


def test_eight_processes_creating_and_deleting_fifty_containers_each(
    ocimux, ocimux_env, rootfs: Path
):
    def worker(n: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", WORKER, str(n), "50", str(rootfs)],
            capture_output=True,
            text=True,
            env=ocimux_env,
            timeout=600,
        )

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(worker, range(8)))
    for r in results:
        assert r.returncode == 0, r.stderr[-3000:]
    recs = json.loads(ocimux("ps", "-a", "--format", "json").stdout)
    names = sorted(r["name"] for r in recs)
    expected = sorted(f"w{w}-{i}" for w in range(8) for i in range(50) if i % 2 == 1)
    assert names == expected
    assert all(r["status"] == "created" for r in recs)
    containers = Path(ocimux_env["CONTAINERS_CONF"]).parent / "state" / "lib" / "containers"
    assert sorted(p.name for p in containers.iterdir()) == sorted(r["id"] for r in recs)
    # clean up: remove the rest concurrently too
    ids = [r["id"] for r in recs]
    with ThreadPoolExecutor(8) as pool:
        outs = list(
            pool.map(
                lambda chunk: ocimux("rm", "-f", *chunk, timeout=300), [ids[i::8] for i in range(8)]
            )
        )
    assert all(o.returncode == 0 for o in outs), [o.stderr for o in outs if o.returncode]
    assert json.loads(ocimux("ps", "-a", "--format", "json").stdout) == []
