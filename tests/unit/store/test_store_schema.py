"""Store: the file on disk — modes, schema version, damaged and foreign files, a busy database."""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from pathlib import Path

import pytest
from ocimux.base.errors import StoreError
from ocimux.base.ids import new_id
from ocimux.engine.store import ContainerRecord, Store


def rec(name: str = "web") -> ContainerRecord:
    return ContainerRecord(id=new_id(), name=name, runtime="runc", bundle="/b", status="created")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def no_umask():
    """Clear the umask, so the modes checked come from ocimux and not from the umask."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_new_database_file_and_directory_modes(tmp_path: Path, no_umask: None) -> None:
    path = tmp_path / "a" / "state" / "state.db"
    with Store(path) as store:
        store.add_container(rec())
        assert mode(path.parent) == 0o700
        for suffix in ("", "-wal", "-shm"):
            assert mode(Path(f"{path}{suffix}")) == 0o600, suffix


def test_an_existing_directory_keeps_its_mode(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    with Store(tmp_path / "state.db"):
        pass
    assert mode(tmp_path) == 0o755


def test_journal_is_wal_and_schema_recorded(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Store(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
        str(Store.SCHEMA_VERSION),
    )
    db.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(StoreError) as info:
        Store(path)
    assert str(info.value) == (
        f"state database {path} has schema 7, newer than this ocimux understands (1);"
        " upgrade ocimux"
    )


@pytest.mark.parametrize(
    "content",
    [
        b"this is not a database\n" * 200,
        bytes(range(256)) * 16,
        b"SQLite format 3\0" + b"\xff" * 4080,
    ],
    ids=["text", "binary", "bad-header"],
)
def test_damaged_file_is_reported(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(content)
    with pytest.raises(StoreError) as info:
        Store(path)
    message = str(info.value)
    assert str(path) in message
    assert "damaged or not an SQLite database" in message
    assert "move it aside" in message
    assert path.read_bytes() == content  # left for the user to inspect


def test_a_foreign_sqlite_database_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE photos (id INTEGER)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="not ocimux's state"):
        Store(path)
    db = sqlite3.connect(path)
    assert db.execute("SELECT name FROM sqlite_master").fetchall() == [("photos",)]
    db.close()


def test_a_directory_that_cannot_be_made(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError, match="cannot create state database"):
        Store(tmp_path / "file" / "state.db")


def hold_write_lock(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    return db


def test_a_busy_database_becomes_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Store(path).close()
    holder = hold_write_lock(path)
    try:
        with Store(path, busy_timeout=0.2) as store:
            started = time.monotonic()
            with pytest.raises(StoreError) as info:
                store.add_container(rec())
            assert 0.15 < time.monotonic() - started < 5
            assert str(info.value) == (
                f"state database {path} is locked: another process kept it busy for more than"
                " 0.2s; retry, or look for a stuck ocimux process"
            )
            # Readers never wait for a writer, and the failed write left no transaction open.
            assert store.list_containers() == []
            holder.execute("ROLLBACK")
            store.add_container(rec())
            assert len(store.list_containers()) == 1
    finally:
        holder.close()


def test_opening_an_existing_database_does_not_wait_for_writers(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with Store(path) as store:
        store.add_container(rec())
    holder = hold_write_lock(path)
    try:
        started = time.monotonic()
        with Store(path, busy_timeout=5) as store:
            assert len(store.list_containers()) == 1
        assert time.monotonic() - started < 1
    finally:
        holder.close()


def test_open_and_list_a_thousand_containers_is_fast(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with Store(path) as store:
        for i in range(1000):
            store.add_container(
                ContainerRecord(
                    id=new_id(),
                    name=f"c{i}",
                    runtime="crun",
                    bundle=f"/run/ocimux/{i}",
                    status="running",
                    config={"command": ["sleep", "inf"], "env": {"PATH": "/bin"}},
                )
            )
    started = time.perf_counter()
    with Store(path) as store:
        assert len(store.list_containers()) == 1000
    assert time.perf_counter() - started < 0.5  # about 5 ms here; generous for slow CI
