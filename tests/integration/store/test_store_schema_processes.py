"""The store's file with other processes: eight first opens at once lose no record; importing
`ocimux.engine.store` in a fresh interpreter pulls in no heavy library."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from ocimux.engine.store import Store

CONCURRENT_OPEN = """
import sys, time
from pathlib import Path
from ocimux.base.ids import new_id
from ocimux.engine.store import ContainerRecord, Store
path, go, n = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
while not go.exists():
    time.sleep(0.002)
with Store(path) as store:
    store.add_container(ContainerRecord(new_id(), "c" + n, "runc", "/b", "created"))
    store.list_containers()
"""


@pytest.mark.parametrize("round_", range(3))
def test_first_open_by_several_processes_at_once(tmp_path: Path, round_: int) -> None:
    path, go = tmp_path / "state.db", tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT_OPEN, str(path), str(go), str(n)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(8)
    ]
    time.sleep(0.3)  # let them all reach the barrier
    go.touch()
    failures = [p.communicate(timeout=60)[1] for p in procs if p.wait(timeout=60) != 0]
    assert failures == []
    with Store(path) as store:
        assert sorted(r.name for r in store.list_containers()) == [f"c{n}" for n in range(8)]


def test_importing_the_store_stays_light() -> None:
    code = (
        "import sys, ocimux.engine.store; "
        "print(sorted(m for m in ('pydantic', 'pydantic_settings', 'stevedore', 'pluggy')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
