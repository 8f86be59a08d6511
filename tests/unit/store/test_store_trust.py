"""Trusted state only: directories and database of the caller's own, deletions only inside ours.

Also: a new database appears complete or not at all (an empty file is an error, never a fresh
store), and the lock file of a container removed while another process waited is not left.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from ocimux.base.errors import ContainerNotFoundError, StoreError
from ocimux.base.trust import check_owned, inside_containers_dir
from ocimux.engine.store import ContainerRecord, Store

CID = "0123456789abcdef" * 4
OTHER_UID = 65534  # nobody

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")


def test_world_writable_state_directory_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "s"
    state.mkdir()
    state.chmod(0o777)
    with pytest.raises(StoreError) as info:
        Store(state / "ocimux.db")
    assert str(info.value) == (
        f"state directory {state} is writable by other users (mode 0777); chmod 700 it,"
        " or set [ocimux] state_dir to a directory of your own"
    )
    assert list(state.iterdir()) == []  # nothing made in it


def test_group_writable_state_directory_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "s"
    state.mkdir()
    state.chmod(0o770)
    with pytest.raises(StoreError, match=r"writable by its group \(mode 0770\)"):
        Store(state / "ocimux.db")


@needs_root
def test_state_directory_of_another_user_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "s"
    state.mkdir(mode=0o700)
    os.chown(state, OTHER_UID, OTHER_UID)
    with pytest.raises(StoreError, match=r"belongs to .*uid 65534.*not to you"):
        Store(state / "ocimux.db")


def test_database_writable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ocimux.db"
    Store(path).close()
    path.chmod(0o666)
    with pytest.raises(StoreError) as info:
        Store(path)
    assert "state database" in str(info.value) and "mode 0666" in str(info.value)
    assert "chmod 600 it" in str(info.value)


@needs_root
def test_database_of_another_user_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ocimux.db"
    Store(path).close()
    os.chown(path, OTHER_UID, OTHER_UID)
    with pytest.raises(StoreError, match="state database .* belongs to"):
        Store(path)


def test_zero_length_database_is_an_error_not_a_fresh_store(tmp_path: Path) -> None:
    path = tmp_path / "ocimux.db"
    path.touch(mode=0o600)
    with pytest.raises(StoreError) as info:
        Store(path)
    message = str(info.value)
    assert message.startswith(f"state database {path} is empty (no ocimux schema)")
    assert "ocimux system repair" in message
    assert path.stat().st_size == 0  # left as found


def test_new_database_is_complete_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "ocimux.db"
    Store(path).close()
    left = sorted(p.name for p in tmp_path.iterdir() if p.name not in ("locks", ".reserve"))
    assert left == ["ocimux.db"]  # .reserve: room for rm -f on a full disk (_reserve.py)
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT value FROM meta").fetchone() == (str(Store.SCHEMA_VERSION),)
    finally:
        db.close()


def test_a_database_that_appears_meanwhile_is_not_replaced(tmp_path: Path) -> None:
    """The link never replaces: whoever linked first wins, the others' records stay."""
    path = tmp_path / "ocimux.db"
    with Store(path) as first:
        first.add_container(ContainerRecord(CID, "kept", "runc", "/b", "created"))
    store = Store.__new__(Store)
    object.__setattr__(store, "path", path)  # a second opener that lost the race
    Store._create(store)
    with Store(path) as again:
        assert [r.name for r in again.list_containers()] == ["kept"]


def test_check_owned_passes_missing_and_private_paths(tmp_path: Path) -> None:
    check_owned(tmp_path / "missing", "run directory", "[ocimux] run_dir")
    (tmp_path / "d").mkdir(mode=0o755)
    check_owned(tmp_path / "d", "run directory", "[ocimux] run_dir")
    (tmp_path / "w").mkdir()
    (tmp_path / "w").chmod(0o1777)  # sticky does not make a shared directory ours
    with pytest.raises(StoreError, match=r"run directory .* writable by other users"):
        check_owned(tmp_path / "w", "run directory", "[ocimux] run_dir")


def test_only_direct_children_of_the_containers_directory_may_be_deleted(tmp_path: Path) -> None:
    containers = tmp_path / "containers"
    (containers / CID / "deeper").mkdir(parents=True)
    outside = tmp_path / "precious"
    outside.mkdir()
    (containers / "escape").symlink_to(outside)
    assert inside_containers_dir(containers / CID, containers)
    assert not inside_containers_dir(outside, containers)
    assert not inside_containers_dir(containers / "escape", containers)  # symlink out
    assert not inside_containers_dir(containers / CID / "deeper", containers)
    assert not inside_containers_dir(containers / CID / ".." / ".." / "precious", containers)
    assert not inside_containers_dir(containers, containers)
    assert not inside_containers_dir(containers / "missing", containers)


@needs_root
def test_a_directory_of_another_user_is_not_deleted(tmp_path: Path) -> None:
    containers = tmp_path / "containers"
    (containers / CID).mkdir(parents=True)
    os.chown(containers / CID, OTHER_UID, OTHER_UID)
    assert not inside_containers_dir(containers / CID, containers)


def test_lock_file_of_a_container_removed_meanwhile_is_unlinked(tmp_path: Path) -> None:
    with Store(tmp_path / "ocimux.db") as store:
        lock_file = tmp_path / "locks" / f"{CID}.lock"
        with pytest.raises(ContainerNotFoundError):
            with store.lock(CID, 1):
                assert lock_file.exists()
                store.get_container(CID)  # what a waiter finds after an `rm` ran
        assert not lock_file.exists()


def test_lock_file_of_a_recorded_container_stays(tmp_path: Path) -> None:
    with Store(tmp_path / "ocimux.db") as store:
        store.add_container(ContainerRecord(CID, "c", "runc", "/b", "created"))
        lock_file = tmp_path / "locks" / f"{CID}.lock"
        with pytest.raises(ContainerNotFoundError):
            with store.lock(CID, 1):
                raise ContainerNotFoundError("an exec session's container, say")
        assert lock_file.exists()
