"""Per-container locks across processes: another process is kept out, waited for, outlived;
a forked child does not inherit its parent's lock."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ocimux.base.errors import StoreError
from ocimux.engine.store import Store

from tests.unit.store.test_store_locks import CID, lock_path, locked_elsewhere


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "state" / "state.db") as s:
        yield s


HOLDER = """
import sys
from pathlib import Path
from ocimux.engine.store import Store
with Store(Path(sys.argv[1])) as store, store.lock(sys.argv[2], timeout=5):
    print("held", flush=True)
    sys.stdin.read()
"""


def start_holder(store: Store) -> subprocess.Popen[str]:
    """Start a process that holds CID's lock until its stdin is closed."""
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(store.path), CID],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline() == "held\n"
    return child


def test_lock_excludes_another_process(store: Store) -> None:
    child = start_holder(store)
    try:
        with pytest.raises(StoreError, match="is busy"), store.lock(CID, timeout=0.2):
            pytest.fail("lock acquired while another process holds it")
    finally:
        child.communicate("", timeout=10)  # closing its stdin lets it go
    assert child.returncode == 0
    with store.lock(CID, timeout=0):
        pass


def test_lock_waits_for_another_process_to_finish(store: Store) -> None:
    child = start_holder(store)
    let_go = threading.Event()

    def release_soon() -> None:
        time.sleep(0.3)
        let_go.set()
        assert child.stdin is not None
        child.stdin.close()

    thread = threading.Thread(target=release_soon)
    thread.start()
    with store.lock(CID, timeout=10):
        assert let_go.is_set()  # acquired only after the child was told to let go
    thread.join(5)
    assert child.wait(10) == 0


def test_lock_dies_with_its_holder(store: Store) -> None:
    child = start_holder(store)
    child.kill()
    child.wait(10)
    with store.lock(CID, timeout=1):
        pass


def test_a_forked_child_does_not_inherit_the_lock(store: Store) -> None:
    with store.lock(CID, timeout=1):
        pid = os.fork()
        if pid == 0:  # child: must wait for the parent like anyone else
            try:
                with store.lock(CID, timeout=0.1):
                    os._exit(1)
            except StoreError:
                os._exit(0)
            except BaseException:
                os._exit(2)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert locked_elsewhere(lock_path(store))  # the child did not release ours
