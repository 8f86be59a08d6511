"""Several ocimux processes on one database at once: nothing lost, nothing failed.

Eight processes each run 50 containers through add → update → (lookup, list) → remove, and
all increment one shared counter under a container lock (a read-modify-write that loses
updates unless the lock excludes the other processes)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from ocimux.base.ids import new_id
from ocimux.engine.store import ContainerRecord, Store

WORKERS = 8
PER_WORKER = 50

WORKER = """
import sys, time
from pathlib import Path
from ocimux.base.errors import ContainerNotFoundError
from ocimux.base.ids import new_id
from ocimux.engine.store import ContainerRecord, ExecRecord, Store

path, go, worker, keep = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
while not go.exists():
    time.sleep(0.002)
with Store(path) as store:
    counter = store.lookup("counter").id
    for i in range(int(sys.argv[5])):
        name = f"w{worker}-{i}"
        cid = new_id()
        store.add_container(ContainerRecord(
            cid, name, f"rt{worker % 3}", "/b/" + name, "created",
            created_at=time.time(), config={"worker": worker, "i": i}))
        store.add_exec(ExecRecord(new_id(), cid, "created"))
        rec = store.update_container(cid, status="running", pid=1000 + i, started_at=time.time())
        assert rec.status == "running" and rec.config == {"worker": worker, "i": i}, rec
        assert store.lookup(name).id == cid
        assert store.lookup(cid[:20]).name == name
        assert cid in {r.id for r in store.list_containers()}
        store.list_containers(runtime="rt0")
        with store.lock(counter, timeout=30):
            n = store.get_container(counter).config["n"]
            store.update_container(counter, config={"n": n + 1})
        with store.lock(cid, timeout=30):
            store.update_container(cid, status="stopped", exit_code=i % 7, finished_at=time.time())
            if i >= keep:
                assert store.remove_container(cid)
        if i >= keep:
            assert store.list_execs(cid) == []
            try:
                store.lookup(name)
            except ContainerNotFoundError:
                pass
            else:
                raise AssertionError(name + " still there")
print("ok", flush=True)
"""


def run_workers(path: Path, keep: int) -> None:
    go = path.parent / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(path), str(go), str(w), str(keep), str(PER_WORKER)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for w in range(WORKERS)
    ]
    time.sleep(0.3)  # let them all reach the barrier, so they really run at once
    go.touch()
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    failures = [out for p, out in zip(procs, outputs, strict=True) if p.returncode or out != "ok\n"]
    assert failures == []


@pytest.mark.parametrize("keep", [0, PER_WORKER // 2], ids=["remove-all", "keep-half"])
def test_processes_at_once_lose_nothing(tmp_path: Path, keep: int) -> None:
    path = tmp_path / "state" / "state.db"
    counter = ContainerRecord(new_id(), "counter", "mock", "/b", "created", config={"n": 0})
    with Store(path) as store:
        store.add_container(counter)

    started = time.monotonic()
    run_workers(path, keep)
    elapsed = time.monotonic() - started

    with Store(path) as store:
        assert store.get_container(counter.id).config == {"n": WORKERS * PER_WORKER}
        left = [r for r in store.list_containers() if r.id != counter.id]
        assert sorted(r.name for r in left) == sorted(
            f"w{w}-{i}" for w in range(WORKERS) for i in range(keep)
        )
        assert all(r.status == "stopped" and r.exit_code == r.config["i"] % 7 for r in left)
        assert {e.container_id for e in store.list_execs()} == {r.id for r in left}
        assert len(store.list_execs()) == len(left)
        # Removed containers took their lock files with them; the others' stay.
        want_locks = sorted(f"{r.id}.lock" for r in [counter, *left])
    assert sorted(p.name for p in (path.parent / "locks").iterdir()) == want_locks
    assert elapsed < 60
