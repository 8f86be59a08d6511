"""Per-container locks: re-entrancy, timeouts, exclusion across processes and threads, files."""

from __future__ import annotations

import fcntl
import os
import stat
import threading
import time
from pathlib import Path

import pytest
from ocimux.base.errors import InvalidArgumentError, StoreError
from ocimux.engine._locks import ContainerLocks
from ocimux.engine.store import ContainerRecord, Store

CID = "0123456789abcdef" * 4


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "state" / "state.db") as s:
        yield s


def lock_path(store: Store, cid: str = CID) -> Path:
    return store.path.parent / "locks" / f"{cid}.lock"


def locked_elsewhere(path: Path) -> bool:
    """Return whether someone holds `path`'s flock (tried from a fresh open file)."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_lock_files_and_directory_are_private(store: Store) -> None:
    old = os.umask(0)
    try:
        with store.lock(CID, timeout=1):
            path = lock_path(store)
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    finally:
        os.umask(old)


def test_lock_is_held_inside_and_released_after(store: Store) -> None:
    with store.lock(CID, timeout=1):
        assert locked_elsewhere(lock_path(store))
    assert not locked_elsewhere(lock_path(store))


def test_lock_is_released_when_the_block_raises(store: Store) -> None:
    with pytest.raises(KeyError), store.lock(CID, timeout=1):
        raise KeyError("boom")
    assert not locked_elsewhere(lock_path(store))


def test_lock_is_reentrant_in_one_thread(store: Store) -> None:
    with store.lock(CID, timeout=0):
        with store.lock(CID, timeout=0):
            with store.lock(CID, timeout=0):
                pass
            assert locked_elsewhere(lock_path(store))
        assert locked_elsewhere(lock_path(store))  # still held by the outer block
    assert not locked_elsewhere(lock_path(store))


def test_reentrant_across_two_stores_on_one_directory(store: Store) -> None:
    with Store(store.path) as other, store.lock(CID, timeout=0), other.lock(CID, timeout=0):
        pass


def test_reentrant_whether_the_path_is_relative_or_absolute(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(store.path.parent.parent)
    relative = Path(store.path.parent.name) / store.path.name
    with Store(relative) as other, store.lock(CID, timeout=0), other.lock(CID, timeout=0):
        pass


def test_different_containers_do_not_exclude_each_other(store: Store) -> None:
    with store.lock("one", timeout=0), store.lock("two", timeout=0):
        assert locked_elsewhere(lock_path(store, "one"))
        assert locked_elsewhere(lock_path(store, "two"))


def test_timeout_error_message(store: Store) -> None:
    with store.lock(CID, timeout=0):
        pass
    fd = os.open(lock_path(store), os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        started = time.monotonic()
        with pytest.raises(StoreError) as info, store.lock(CID, timeout=0.25):
            pytest.fail("lock acquired while held elsewhere")
        assert 0.2 < time.monotonic() - started < 2
        assert str(info.value) == (
            "container 0123456789ab is busy: another ocimux process holds its lock (waited 0.25s)"
        )
    finally:
        os.close(fd)


def test_another_thread_waits_for_the_lock(store: Store) -> None:
    events: list[str] = []
    held = threading.Event()

    def other() -> None:
        held.wait()
        with store.lock(CID, timeout=5):
            events.append("other")

    thread = threading.Thread(target=other)
    thread.start()
    with store.lock(CID, timeout=1):
        held.set()
        time.sleep(0.2)
        events.append("main")
    thread.join(5)
    assert events == ["main", "other"]


def test_another_thread_times_out(store: Store) -> None:
    errors: list[BaseException] = []

    def other() -> None:
        try:
            with store.lock(CID, timeout=0.05):
                pass
        except StoreError as exc:
            errors.append(exc)

    with store.lock(CID, timeout=1):
        thread = threading.Thread(target=other)
        thread.start()
        thread.join(5)
    assert len(errors) == 1


# --- lock files of removed containers ----------------------------------------------------------


def test_removing_a_locked_container_removes_its_lock_file(store: Store) -> None:
    store.add_container(ContainerRecord(CID, "web", "runc", "/b", "stopped"))
    with store.lock(CID, timeout=1):
        assert store.remove_container(CID)
        assert not lock_path(store).exists()
    assert not lock_path(store).exists()


def test_removing_an_unlocked_container_keeps_its_lock_file(store: Store) -> None:
    store.add_container(ContainerRecord(CID, "web", "runc", "/b", "stopped"))
    with store.lock(CID, timeout=1):
        pass
    assert store.remove_container(CID)
    assert lock_path(store).exists()  # unlinking it unlocked could let two holders in


def test_remove_lock_file_requires_the_lock(store: Store) -> None:
    with pytest.raises(RuntimeError, match="without holding the lock"):
        ContainerLocks(lock_path(store).parent).remove_lock_file(CID)


def test_a_waiter_survives_the_removal_of_the_lock_file(store: Store) -> None:
    """The waiter opened the file before the unlink; it must lock the new file, not the dead one."""
    waiter_has_it = threading.Event()
    release_waiter = threading.Event()

    def waiter() -> None:
        with store.lock(CID, timeout=5):
            waiter_has_it.set()
            release_waiter.wait(5)

    with store.lock(CID, timeout=1):
        thread = threading.Thread(target=waiter)
        thread.start()
        time.sleep(0.2)  # the waiter has opened the old file and is polling
        ContainerLocks(lock_path(store).parent).remove_lock_file(CID)
    assert waiter_has_it.wait(5)
    try:
        path = lock_path(store)
        assert path.exists()  # the waiter recreated the file ...
        assert locked_elsewhere(path)  # ... and holds the live one
        with pytest.raises(StoreError), store.lock(CID, timeout=0.05):
            pass
    finally:
        release_waiter.set()
        thread.join(5)


@pytest.mark.parametrize("cid", ["", "../x", "a/b", ".", "..", ".hidden", "a\0b"])
def test_ids_that_cannot_name_a_lock_file(store: Store, cid: str) -> None:
    with pytest.raises(InvalidArgumentError), store.lock(cid, timeout=0):
        pass
