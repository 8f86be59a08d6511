"""The state store: containers and exec sessions in one SQLite database, plus per-container locks.

Several `ocimux` processes may use one database at once; none corrupts or loses a record:

- the journal is WAL, so readers never wait for a writer;
- every write is one `BEGIN IMMEDIATE` transaction, so concurrent writers queue on SQLite's
  busy timeout instead of failing, and `update_*` (read, modify, write) is atomic;
- names are unique by constraint, exec sessions reference their container (ON DELETE CASCADE);
- `lock(cid)` serialises whole operations on one container across processes (`_locks`).

The database and its directory are created 0600 and 0700. A `meta` table holds the schema
version; a database from a newer ocimux is refused rather than misread. Opening is on the CLI's
hot path (`ocimux ps`), so this module imports little and creates the schema only when missing.

Every failure of SQLite becomes a StoreError naming the database and what to do.
"""

from __future__ import annotations

import json
import os
import pwd
import sqlite3
import threading
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar, final

from ocimux.base.errors import (
    ConflictError,
    ContainerNotFoundError,
    ExecSessionNotFoundError,
    StoreError,
)
from ocimux.base.files import private_dir
from ocimux.base.trust import check_owned

from ._locks import ContainerLocks
from ._reserve import DiskReserve, state_disk_full

if TYPE_CHECKING:
    from collections.abc import Iterator
    from contextlib import AbstractContextManager

    from ocimux.interface.options import Status

__all__ = ["ContainerRecord", "ExecRecord", "Store"]

#: characters of an id shown in messages, as `ocimux ps` shows them
SHORT_ID: Final = 12


@dataclass(slots=True)
class ContainerRecord:
    """One container as the store keeps it.

    `config` must be JSON-serialisable; tuples come back as lists."""

    id: str
    name: str
    #: name of the runtime that created it; every later call goes there
    runtime: str
    #: the container's bundle directory
    bundle: str
    status: Status
    pid: int = 0
    exit_code: int | None = None
    #: epoch seconds
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    #: pid of the monitor (conmon) watching the container
    monitor_pid: int | None = None
    #: command, env, stdin, terminal, stop_signal, stop_timeout, rootfs, annotations,
    #: auto_remove, ...
    config: dict[str, Any] = field(default_factory=dict)
    #: why the status is "unknown"
    status_reason: str = ""


@dataclass(slots=True)
class ExecRecord:
    """One exec session of a container. `process` must be JSON-serialisable."""

    id: str
    container_id: str
    #: "created", "running" or "stopped"
    status: str
    pid: int = 0
    exit_code: int | None = None
    #: args, env, cwd, user, terminal, privileged, stdin
    process: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    finished_at: float | None = None


_R = TypeVar("_R", "ContainerRecord", "ExecRecord")

_SCHEMA: Final = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    """CREATE TABLE containers (
        id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, runtime TEXT NOT NULL,
        bundle TEXT NOT NULL, status TEXT NOT NULL, pid INTEGER NOT NULL, exit_code INTEGER,
        created_at REAL NOT NULL, started_at REAL, finished_at REAL, monitor_pid INTEGER,
        config TEXT NOT NULL, status_reason TEXT NOT NULL)""",
    """CREATE TABLE exec_sessions (
        id TEXT PRIMARY KEY,
        container_id TEXT NOT NULL REFERENCES containers (id) ON DELETE CASCADE,
        status TEXT NOT NULL, pid INTEGER NOT NULL, exit_code INTEGER, process TEXT NOT NULL,
        created_at REAL NOT NULL, finished_at REAL)""",
    "CREATE INDEX exec_sessions_container ON exec_sessions (container_id)",
)


class _Table(Generic[_R]):
    """How a record type maps to its table: a column per field, in field order; one is JSON."""

    __slots__ = ("columns", "insert", "json_column", "json_index", "name", "record", "select")

    def __init__(self, name: str, record: type[_R], json_column: str) -> None:
        self.name = name
        self.record = record
        self.json_column = json_column
        self.columns = tuple(f.name for f in fields(record))
        self.json_index = self.columns.index(json_column)
        self.select = f"SELECT {', '.join(self.columns)} FROM {name}"
        marks = ", ".join("?" * len(self.columns))
        self.insert = f"INSERT INTO {name} ({', '.join(self.columns)}) VALUES ({marks})"

    def decode(self, row: tuple[Any, ...]) -> _R:
        """Return the record a row of `select` holds."""
        values = list(row)
        values[self.json_index] = json.loads(values[self.json_index])
        return self.record(*values)  # positional: twice as fast as by keyword

    def encode(self, rec: _R) -> list[Any]:
        """Return the values `insert` takes for `rec`."""
        return [self._value(name, getattr(rec, name)) for name in self.columns]

    def assignments(self, changes: dict[str, Any], fixed: tuple[str, ...]) -> tuple[str, list[Any]]:
        """Return `col = ?, ...` and its values; TypeError for an unknown or a fixed field."""
        for key in changes:
            if key not in self.columns:
                raise TypeError(f"{self.record.__name__} has no field {key!r}")
            if key in fixed:
                raise TypeError(f"{self.record.__name__}.{key} cannot be changed")
        values = [self._value(key, value) for key, value in changes.items()]
        return ", ".join(f"{key} = ?" for key in changes), values

    def _value(self, column: str, value: Any) -> Any:
        return json.dumps(value, separators=(",", ":")) if column == self.json_column else value


_CONTAINERS: Final = _Table[ContainerRecord]("containers", ContainerRecord, "config")
_EXECS: Final = _Table[ExecRecord]("exec_sessions", ExecRecord, "process")
_ORDER: Final = " ORDER BY created_at, rowid"
_NOT_FOUND_HINT: Final = "see `ocimux ps -a`"


def _name_taken(name: str, owner: str) -> ConflictError:
    return ConflictError(
        f"name {name!r} is already used by container {owner[:SHORT_ID]}",
        hint="choose another name or remove it",
    )


def _uri_path(path: Path) -> str:
    """`path` (made absolute) as the path of an SQLite `file:` URI."""
    text = os.fspath(path.absolute())
    return text.replace("%", "%25").replace("?", "%3f").replace("#", "%23")


def _glob_literal(text: str) -> str:
    """Return a GLOB pattern matching `text` literally."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


@final
class Store:
    """The state database at `path` and the container locks beside it (`<dir>/locks/`).

    One SQLite connection per Store, opened at once; calls from several threads are serialised.
    Raises StoreError if the database cannot be created or opened, is damaged, is not ocimux's,
    or has a newer schema. Use as a context manager, or call `close()`."""

    SCHEMA_VERSION: Final = 1

    def __init__(self, path: Path, *, busy_timeout: float = 30.0) -> None:
        #: the database file
        self.path: Final = Path(path)
        #: how long a write waits for another process's write to finish, in seconds
        self.busy_timeout: Final = busy_timeout
        self._locks: Final = ContainerLocks(self.path.parent / "locks")
        self._mutex: Final = threading.Lock()
        #: room kept for the writes that free room when the disk fills up (`_reserve`)
        self._reserve: Final = DiskReserve(self.path.parent)
        self._db: Final = self._open_with_room()
        try:
            self._check_schema()
        except BaseException:
            self._db.close()
            raise
        self._reserve.keep()

    def close(self) -> None:
        """Close the database connection (idempotent). Locks being held stay held."""
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- containers ---------------------------------------------------------------------------

    def add_container(self, rec: ContainerRecord) -> None:
        """Record a new container. Raises ConflictError if its id or its name is taken."""
        with self._transaction("BEGIN IMMEDIATE") as db:
            for cid, name in db.execute(
                "SELECT id, name FROM containers WHERE id = ? OR name = ?", (rec.id, rec.name)
            ):
                if cid == rec.id:
                    raise ConflictError(
                        f"id {cid[:SHORT_ID]} is already used by container {name!r}",
                        hint="choose another id or remove it",
                    )
                raise _name_taken(name, cid)
            db.execute(_CONTAINERS.insert, _CONTAINERS.encode(rec))

    def get_container(self, cid: str) -> ContainerRecord:
        """Return the container with full id `cid`. Raises ContainerNotFoundError."""
        with self._transaction("BEGIN") as db:
            return self._get_container(db, cid)

    def lookup(self, ref: str) -> ContainerRecord:
        """Return the container `ref` names: by exact id, else exact name, else unique id prefix.

        Raises ConflictError (listing up to 5 short ids) if `ref` is a prefix of several ids,
        ContainerNotFoundError if it matches nothing (an empty `ref` matches nothing)."""
        if not ref:
            raise ContainerNotFoundError("no container with name or id ''", hint=_NOT_FOUND_HINT)
        with self._transaction("BEGIN") as db:
            select = _CONTAINERS.select
            row = db.execute(f"{select} WHERE id = ?", (ref,)).fetchone()
            row = row or db.execute(f"{select} WHERE name = ?", (ref,)).fetchone()
            if row is None:
                # The primary key's index serves a GLOB whose pattern starts with a literal.
                rows = db.execute(
                    f"{select} WHERE id GLOB ? ORDER BY id LIMIT 6", (_glob_literal(ref) + "*",)
                ).fetchall()
                if len(rows) > 1:
                    shown = ", ".join(r[0][:SHORT_ID] for r in rows[:5])
                    more = ", ..." if len(rows) > 5 else ""
                    raise ConflictError(
                        f"id prefix {ref!r} matches several containers ({shown}{more})",
                        hint="give more of the id, or the name",
                    )
                row = rows[0] if rows else None
        if row is None:
            raise ContainerNotFoundError(
                f"no container with name or id {ref!r}", hint=_NOT_FOUND_HINT
            )
        return _CONTAINERS.decode(row)

    def list_containers(self, *, runtime: str | None = None) -> list[ContainerRecord]:
        """Return every container (or those of `runtime`), oldest first."""
        with self._transaction("BEGIN") as db:
            if runtime is None:
                rows = db.execute(_CONTAINERS.select + _ORDER)
            else:
                rows = db.execute(f"{_CONTAINERS.select} WHERE runtime = ?{_ORDER}", (runtime,))
            return [_CONTAINERS.decode(row) for row in rows]

    def update_container(self, cid: str, **changes: Any) -> ContainerRecord:
        """Set the given ContainerRecord fields of container `cid` atomically; return the result.

        Raises TypeError for an unknown field or `id`, ConflictError if a new `name` is taken,
        ContainerNotFoundError if there is no such container."""
        assignments, values = _CONTAINERS.assignments(changes, fixed=("id",))
        with self._transaction("BEGIN IMMEDIATE") as db:
            if "name" in changes:
                row = db.execute(
                    "SELECT id FROM containers WHERE name = ? AND id != ?", (changes["name"], cid)
                ).fetchone()
                if row is not None:
                    raise _name_taken(changes["name"], row[0])
            if changes:
                db.execute(f"UPDATE containers SET {assignments} WHERE id = ?", [*values, cid])
            return self._get_container(db, cid)

    def remove_container(self, cid: str) -> bool:
        """Forget container `cid` and its exec sessions; return False if there was none.

        If the calling thread holds the container's lock, its lock file is removed too."""
        with self._transaction("BEGIN IMMEDIATE") as db:
            removed = db.execute("DELETE FROM containers WHERE id = ?", (cid,)).rowcount > 0
        if removed and self._locks.holds(cid):
            self._locks.remove_lock_file(cid)
        return removed

    def drop_lock_file(self, cid: str) -> None:
        """Unlink `cid`'s lock file while holding its lock (for an id that never got a record)."""
        if self._locks.holds(cid):
            self._locks.remove_lock_file(cid)

    def lock(self, cid: str, timeout: float) -> AbstractContextManager[None]:
        """Return a context manager holding container `cid`'s lock across processes.

        Waits up to `timeout` seconds, then raises StoreError ("container ... is busy").
        Re-entrant within a thread; see `ocimux.engine._locks` for the details. When the outermost
        hold ends with ContainerNotFoundError (the container was removed while this process
        waited for its lock) its lock file, made afresh by the wait, is unlinked before the
        lock is released: lock files do not pile up behind removed containers."""
        if self._locks.holds(cid):
            return self._locks.hold(cid, timeout)
        return self._lock_dropping_orphan(cid, timeout)

    @contextmanager
    def _lock_dropping_orphan(self, cid: str, timeout: float) -> Iterator[None]:
        with self._locks.hold(cid, timeout):
            try:
                yield
            except ContainerNotFoundError:
                # Safe under the held lock: a waiter re-checks the inode after locking (_locks).
                with suppress(StoreError, sqlite3.ProgrammingError):
                    with self._transaction("BEGIN") as db:
                        row = db.execute("SELECT 1 FROM containers WHERE id = ?", (cid,))
                        gone = row.fetchone() is None
                    if gone:
                        self._locks.remove_lock_file(cid)
                raise

    # --- exec sessions ------------------------------------------------------------------------

    def add_exec(self, rec: ExecRecord) -> None:
        """Record a new exec session. Raises ContainerNotFoundError if its container does not
        exist, ConflictError if its id is taken."""
        with self._transaction("BEGIN IMMEDIATE") as db:
            self._get_container(db, rec.container_id)
            if db.execute("SELECT 1 FROM exec_sessions WHERE id = ?", (rec.id,)).fetchone():
                raise ConflictError(
                    f"exec session id {rec.id[:SHORT_ID]} is already used",
                    hint="choose another id",
                )
            db.execute(_EXECS.insert, _EXECS.encode(rec))

    def get_exec(self, sid: str) -> ExecRecord:
        """Return the exec session with id `sid`. Raises ExecSessionNotFoundError."""
        with self._transaction("BEGIN") as db:
            return self._get_exec(db, sid)

    def list_execs(self, cid: str | None = None) -> list[ExecRecord]:
        """Return every exec session, or container `cid`'s (none if it is unknown), oldest first."""
        with self._transaction("BEGIN") as db:
            if cid is None:
                rows = db.execute(_EXECS.select + _ORDER)
            else:
                rows = db.execute(f"{_EXECS.select} WHERE container_id = ?{_ORDER}", (cid,))
            return [_EXECS.decode(row) for row in rows]

    def update_exec(self, sid: str, **changes: Any) -> ExecRecord:
        """Set the given ExecRecord fields of session `sid` atomically; return the result.

        Raises TypeError for an unknown field, `id` or `container_id`; ExecSessionNotFoundError."""
        assignments, values = _EXECS.assignments(changes, fixed=("id", "container_id"))
        with self._transaction("BEGIN IMMEDIATE") as db:
            if changes:
                db.execute(f"UPDATE exec_sessions SET {assignments} WHERE id = ?", [*values, sid])
            return self._get_exec(db, sid)

    def remove_exec(self, sid: str) -> bool:
        """Forget exec session `sid`; return False if there was none."""
        with self._transaction("BEGIN IMMEDIATE") as db:
            return db.execute("DELETE FROM exec_sessions WHERE id = ?", (sid,)).rowcount > 0

    # --- internals ----------------------------------------------------------------------------

    def _get_container(self, db: sqlite3.Connection, cid: str) -> ContainerRecord:
        row = db.execute(f"{_CONTAINERS.select} WHERE id = ?", (cid,)).fetchone()
        if row is None:
            raise ContainerNotFoundError(f"no container with id {cid!r}", hint=_NOT_FOUND_HINT)
        return _CONTAINERS.decode(row)

    def _get_exec(self, db: sqlite3.Connection, sid: str) -> ExecRecord:
        row = db.execute(f"{_EXECS.select} WHERE id = ?", (sid,)).fetchone()
        if row is None:
            raise ExecSessionNotFoundError(
                f"no exec session with id {sid!r}", hint="it may have finished and been removed"
            )
        return _EXECS.decode(row)

    def _not_yours(self, exc: OSError) -> StoreError:
        """Another user's state: say whose, and what to do instead."""
        owner = "another user"
        for candidate in (self.path, *self.path.parents):
            try:
                uid = candidate.stat().st_uid
            except OSError:
                continue
            try:
                owner = f"user {pwd.getpwuid(uid).pw_name} (uid {uid})"
            except KeyError:
                owner = f"uid {uid}"
            break
        return StoreError(
            f"state directory {self.path.parent} belongs to {owner} and is not accessible to you "
            f"({exc.strerror})",
            hint="run ocimux as that user, or set [ocimux] state_dir to a directory of your own",
        )

    def _open(self, *, exclusive: bool = False) -> sqlite3.Connection:
        """Check the directory and file are the caller's; create the database if missing; connect.

        `exclusive`: in exclusive locking mode, with no `-shm` index (`_open_with_room`).

        A new database is built complete (schema, WAL) in a temporary file beside it and then
        linked into place, never replacing one: so `path` names either nothing or a finished
        ocimux database, and an empty or schemaless file there is an error, not a fresh store.
        """
        setting = "[ocimux] state_dir"
        check_owned(self.path.parent, "state directory", setting)
        try:
            private_dir(self.path.parent)
        except PermissionError as exc:
            raise self._not_yours(exc) from exc
        except OSError as exc:
            raise StoreError(
                f"cannot create state database {self.path}: {exc.strerror}",
                hint="check the permissions of its directory",
            ) from exc
        if not os.path.lexists(self.path):
            self._create()
        check_owned(self.path, "state database", setting)
        try:
            # mode=rw: never create the file here (an empty one would pass for a new store).
            # Never open-and-close it with os.open either: closing any descriptor of it drops
            # every POSIX lock this process holds on it, including those of other connections
            # (SQLite's "how to corrupt" §2.2), which corrupted WAL under load.
            db = sqlite3.connect(
                f"file:{_uri_path(self.path)}?mode=rw",
                uri=True,
                timeout=self.busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        try:
            if exclusive:  # before any statement that reads: SQLite then never maps a `-shm`
                db.execute("PRAGMA locking_mode = EXCLUSIVE")
            db.execute("PRAGMA foreign_keys = ON")
            # WAL with synchronous=NORMAL never corrupts; a power cut may lose the last commits,
            # but it also ends every container they describe.
            db.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as exc:
            db.close()  # a failed connection keeps its locks, which would refuse the next one
            raise self._error(exc) from exc
        return db

    def _create(self) -> None:
        """Build a new database in a temporary file and link it to `path` unless one is there.

        Concurrent first openers each build their own; the first link wins, the others find
        a complete database and drop theirs.
        """
        tmp = self.path.with_name(f".{self.path.name}.new-{os.getpid()}-{os.urandom(4).hex()}")
        try:
            os.close(os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
            db = sqlite3.connect(tmp, isolation_level=None)
            try:
                db.execute("BEGIN IMMEDIATE")
                for statement in _SCHEMA:
                    db.execute(statement)
                db.execute(
                    "INSERT INTO meta VALUES ('schema_version', ?)", (str(self.SCHEMA_VERSION),)
                )
                db.execute("COMMIT")
                # persistent in the file: every later opener finds WAL on
                db.execute("PRAGMA journal_mode = WAL")
            finally:
                db.close()  # the last connection: checkpoints and removes tmp's -wal and -shm
            fd = os.open(tmp, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                pass  # a concurrent opener linked its own first
        except PermissionError as exc:
            raise self._not_yours(exc) from exc
        except OSError as exc:
            raise StoreError(
                f"cannot create state database {self.path}: {exc.strerror}",
                hint="check the permissions of its directory and the free disk space",
            ) from exc
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        finally:
            for suffix in ("", "-wal", "-shm", "-journal"):
                with suppress(OSError):
                    os.unlink(f"{tmp}{suffix}")

    def _check_schema(self) -> None:
        """Refuse a database that is not ocimux's, not finished, or of another schema."""
        with self._transaction("BEGIN") as db:
            version = self._schema_version(db)
        if version is None:
            raise StoreError(
                f"state database {self.path} is empty (no ocimux schema): ocimux never leaves"
                " one so, and containers it recorded may still be running",
                hint="move it aside, then run `ocimux system repair` to remove what it recorded",
            )
        if version > self.SCHEMA_VERSION:
            raise StoreError(
                f"state database {self.path} has schema {version}, newer than this ocimux"
                f" understands ({self.SCHEMA_VERSION}); upgrade ocimux"
            )
        if version < self.SCHEMA_VERSION:  # no older schema has existed yet
            raise StoreError(
                f"state database {self.path} has schema {version}, older than any this ocimux"
                f" can migrate to {self.SCHEMA_VERSION}",
                hint="move it aside to start with an empty state",
            )

    def _schema_version(self, db: sqlite3.Connection) -> int | None:
        """Return the schema version recorded in `meta`, or None for an empty database."""
        tables = {
            name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if "meta" not in tables:
            if tables:
                raise StoreError(
                    f"{self.path} is an SQLite database, but not ocimux's state (no meta table)",
                    hint="move it aside, or choose another state directory",
                )
            return None
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        try:
            return int(row[0])
        except (TypeError, ValueError):
            raise StoreError(
                f"state database {self.path} records no valid schema version ({row!r})",
                hint="move it aside to start with an empty state",
            ) from None

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        """Run the block in one transaction (`begin` starts it), serialised with other threads.

        Commits when the block ends normally, else rolls back. SQLite failures become
        StoreErrors; misuse (a closed store, an unbindable value) stays a ProgrammingError.

        On a full disk (`_reserve`): a write releases the reserve first when the disk is
        nearly full; a BEGIN that fails for want of space releases it and begins again; a
        block or COMMIT that fails so releases it for the next try and raises "the state disk
        is full". A read needs no new space once its connection has begun."""
        with self._mutex:
            db = self._db
            try:
                if begin != "BEGIN" and self._reserve.nearly_full():
                    self._reserve.release()
                try:
                    db.execute(begin)
                except sqlite3.OperationalError as exc:
                    if not (self._disk_full(exc) and self._reserve.release()):
                        raise
                    db.execute(begin)
                try:
                    yield db
                    db.execute("COMMIT")
                finally:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
            except (sqlite3.ProgrammingError, sqlite3.InterfaceError):
                raise
            except sqlite3.Error as exc:
                if self._disk_full(exc):
                    self._reserve.release()  # room for the next try (rm -f frees more)
                raise self._error(exc) from exc

    def _open_with_room(self) -> sqlite3.Connection:
        """`_open` and a first read (which makes the connection's 32 KiB `-shm` index), again
        after releasing the reserve if the disk was too full for it.

        With no reserve left (a container flooding the disk eats it within milliseconds) and
        no `-shm` to share, the last try takes the database in exclusive locking mode: its
        index is then in memory, so reads work (`ps`) and `rm -f` can reach the container
        whose removal frees the disk. Other processes wait for this one meanwhile.
        """
        for exclusive in (False, False, True):
            db: sqlite3.Connection | None = None
            try:
                db = self._open(exclusive=exclusive)
                db.execute("SELECT count(*) FROM sqlite_master").fetchone()
                return db
            except StoreError as exc:  # from `_open`
                cause = exc.__cause__
                if not (isinstance(cause, sqlite3.Error) and self._disk_full(cause)) or exclusive:
                    raise
            except sqlite3.Error as exc:  # from the first statements
                db.close()  # type: ignore[union-attr]
                if not self._disk_full(exc) or exclusive:
                    raise self._error(exc) from exc
            self._reserve.release()
        raise AssertionError("unreachable")

    def _disk_full(self, exc: sqlite3.Error) -> bool:
        """Whether SQLite failed for want of space: SQLITE_FULL, or an I/O error (a `-shm`
        or `-wal` it could not extend) while the disk is nearly full."""
        code = getattr(exc, "sqlite_errorname", None) or ""
        if code.startswith("SQLITE_FULL"):
            return True
        return code.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN")) and self._reserve.nearly_full()

    def _error(self, exc: sqlite3.Error) -> StoreError:
        """Translate an SQLite failure into a StoreError naming the database and what to do."""
        code = getattr(exc, "sqlite_errorname", None) or ""
        if self._disk_full(exc):
            return state_disk_full(self.path.parent)
        if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return StoreError(
                f"state database {self.path} is locked: another process kept it busy for more"
                f" than {self.busy_timeout:g}s",
                hint="retry, or look for a stuck ocimux process",
            )
        if code.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")):
            return StoreError(
                f"state database {self.path} is damaged or not an SQLite database ({exc})",
                hint="move it aside to start with an empty state (running containers are then"
                " forgotten), or restore it from a backup",
            )
        return StoreError(
            f"state database {self.path} cannot be used: {exc}",
            hint="check the permissions of the file and its directory, and the free disk space",
        )
