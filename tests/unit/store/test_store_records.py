"""Store: every field round-trips; lookup, conflicts, updates, exec sessions and their cascade."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from ocimux.base.errors import ConflictError, ContainerNotFoundError, ExecSessionNotFoundError
from ocimux.base.ids import new_id
from ocimux.engine.store import ContainerRecord, ExecRecord, Store


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "state" / "state.db") as s:
        yield s


def full_record(**overrides) -> ContainerRecord:
    """A container with every field away from its default."""
    values = dict(
        id=new_id(),
        name="web",
        runtime="crun",
        bundle="/run/ocimux/bundles/web",
        status="running",
        pid=2**31 - 1,
        exit_code=-1,
        created_at=1764403200.123456789,
        started_at=1764403201.5,
        finished_at=1764403299.25,
        monitor_pid=4242,
        config={
            "command": ["sh", "-c", "echo héllo ✓"],
            "env": {"PATH": "/bin", "EMPTY": ""},
            "stdin": True,
            "terminal": False,
            "stop_signal": 15,
            "stop_timeout": 10.5,
            "rootfs": "/rootfs",
            "annotations": {"a.b/c": "d"},
            "auto_remove": True,
            "nested": {"list": [1, 2.5, None, {"x": []}]},
        },
        status_reason="monitor 4242 died",
    )
    values.update(overrides)
    return ContainerRecord(**values)


def full_exec(cid: str, **overrides) -> ExecRecord:
    values = dict(
        id=new_id(),
        container_id=cid,
        status="stopped",
        pid=77,
        exit_code=137,
        process={"args": ["ls", "-l"], "env": ["A=1"], "cwd": "/", "user": "0:0", "terminal": True},
        created_at=1764403300.75,
        finished_at=1764403301.0,
    )
    values.update(overrides)
    return ExecRecord(**values)


# --- containers --------------------------------------------------------------------------------


def test_every_container_field_round_trips(store: Store) -> None:
    rec = full_record()
    store.add_container(rec)
    assert store.get_container(rec.id) == rec
    assert store.lookup("web") == rec
    assert store.list_containers() == [rec]


def test_defaults_round_trip(store: Store) -> None:
    rec = ContainerRecord(id="abc", name="plain", runtime="runc", bundle="/b", status="created")
    store.add_container(rec)
    got = store.get_container("abc")
    assert got == rec
    assert got.exit_code is None and got.started_at is None and got.monitor_pid is None
    assert got.config == {} and got.status_reason == ""


def test_round_trip_survives_reopening(tmp_path: Path) -> None:
    rec = full_record()
    with Store(tmp_path / "state.db") as first:
        first.add_container(rec)
        first.add_exec(full_exec(rec.id))
    with Store(tmp_path / "state.db") as second:
        assert second.get_container(rec.id) == rec
        assert len(second.list_execs(rec.id)) == 1


def test_tuples_in_config_come_back_as_lists(store: Store) -> None:
    store.add_container(full_record(config={"command": ("a", "b")}))
    assert store.lookup("web").config == {"command": ["a", "b"]}


def test_get_container_unknown(store: Store) -> None:
    with pytest.raises(ContainerNotFoundError, match="no container with id 'nope'"):
        store.get_container("nope")


def test_get_container_needs_the_full_id(store: Store) -> None:
    rec = full_record()
    store.add_container(rec)
    with pytest.raises(ContainerNotFoundError):
        store.get_container(rec.id[:12])


def test_name_conflict_names_the_owner(store: Store) -> None:
    first = full_record()
    store.add_container(first)
    with pytest.raises(ConflictError) as info:
        store.add_container(full_record(id=new_id()))
    assert str(info.value) == (
        f"name 'web' is already used by container {first.id[:12]}; choose another name or remove it"
    )
    assert len(store.list_containers()) == 1


def test_id_conflict(store: Store) -> None:
    first = full_record()
    store.add_container(first)
    with pytest.raises(
        ConflictError, match=rf"id {first.id[:12]} is already used by container 'web'"
    ):
        store.add_container(full_record(id=first.id, name="other"))
    assert [r.name for r in store.list_containers()] == ["web"]


def test_list_is_oldest_first_then_insertion_order(store: Store) -> None:
    store.add_container(full_record(id="c", name="c", created_at=30.0))
    store.add_container(full_record(id="a", name="a", created_at=10.0))
    store.add_container(full_record(id="b2", name="b2", created_at=20.0))
    store.add_container(full_record(id="b1", name="b1", created_at=20.0))
    assert [r.name for r in store.list_containers()] == ["a", "b2", "b1", "c"]


def test_list_by_runtime(store: Store) -> None:
    store.add_container(full_record(id="1", name="one", runtime="runc"))
    store.add_container(full_record(id="2", name="two", runtime="crun"))
    store.add_container(full_record(id="3", name="three", runtime="runc"))
    assert [r.name for r in store.list_containers(runtime="runc")] == ["one", "three"]
    assert store.list_containers(runtime="kata") == []
    assert len(store.list_containers()) == 3


# --- lookup ------------------------------------------------------------------------------------


@pytest.fixture
def three(store: Store) -> Store:
    for cid, name in [
        ("3f2a" + "0" * 60, "web"),
        ("3f91" + "1" * 60, "db"),
        ("a1" + "2" * 62, "3f2a"),
    ]:
        store.add_container(full_record(id=cid, name=name))
    return store


def test_lookup_by_full_id_name_and_prefix(three: Store) -> None:
    assert three.lookup("3f91" + "1" * 60).name == "db"
    assert three.lookup("db").name == "db"
    assert three.lookup("3f9").name == "db"
    assert three.lookup("a").name == "3f2a"


def test_lookup_prefers_a_name_to_an_id_prefix(three: Store) -> None:
    # "3f2a" is a prefix of web's id and the exact name of another container.
    assert three.lookup("3f2a").id.startswith("a1")
    assert three.lookup("3f2a0").name == "web"


def test_lookup_ambiguous_prefix_lists_the_matches(three: Store) -> None:
    with pytest.raises(ConflictError) as info:
        three.lookup("3f")
    message = str(info.value)
    assert "id prefix '3f' matches several containers" in message
    assert "3f2a00000000" in message and "3f9111111111" in message


def test_lookup_ambiguous_prefix_lists_at_most_five(store: Store) -> None:
    for i in range(8):
        store.add_container(full_record(id=f"ab{i}" + "0" * 61, name=f"n{i}"))
    with pytest.raises(ConflictError) as info:
        store.lookup("ab")
    message = str(info.value)
    assert message.count("ab") == 1 + 5  # the prefix, then five short ids
    assert ", ..." in message


def test_lookup_not_found(three: Store) -> None:
    with pytest.raises(ContainerNotFoundError) as info:
        three.lookup("x")
    assert str(info.value) == "no container with name or id 'x'; see `ocimux ps -a`"


@pytest.mark.parametrize("ref", ["", "*", "?", "[3]f", "3*", "%", "_"])
def test_lookup_takes_no_pattern(three: Store, ref: str) -> None:
    with pytest.raises(ContainerNotFoundError):
        three.lookup(ref)


# --- updates -----------------------------------------------------------------------------------

NEW_VALUES = {
    "name": "renamed",
    "runtime": "kata",
    "bundle": "/elsewhere",
    "status": "unknown",
    "pid": 99,
    "exit_code": 0,
    "created_at": 1.5,
    "started_at": None,
    "finished_at": None,
    "monitor_pid": None,
    "config": {"command": ["true"]},
    "status_reason": "",
}


@pytest.mark.parametrize("field", sorted(NEW_VALUES))
def test_update_each_field(store: Store, field: str) -> None:
    rec = full_record()
    store.add_container(rec)
    got = store.update_container(rec.id, **{field: NEW_VALUES[field]})
    assert getattr(got, field) == NEW_VALUES[field]
    assert store.get_container(rec.id) == got
    setattr(rec, field, NEW_VALUES[field])
    assert got == rec  # nothing else changed


def test_update_several_fields_at_once(store: Store) -> None:
    rec = full_record()
    store.add_container(rec)
    got = store.update_container(rec.id, status="stopped", exit_code=3, finished_at=5.0)
    assert (got.status, got.exit_code, got.finished_at) == ("stopped", 3, 5.0)


def test_update_nothing_returns_the_record(store: Store) -> None:
    rec = full_record()
    store.add_container(rec)
    assert store.update_container(rec.id) == rec


@pytest.mark.parametrize("field", ["colour", "id", "config_"])
def test_update_unknown_or_fixed_field(store: Store, field: str) -> None:
    rec = full_record()
    store.add_container(rec)
    with pytest.raises(TypeError, match=field):
        store.update_container(rec.id, **{field: "x"})
    assert store.get_container(rec.id) == rec


def test_update_unknown_container(store: Store) -> None:
    with pytest.raises(ContainerNotFoundError):
        store.update_container("nope", status="running")


def test_rename_to_a_taken_name(store: Store) -> None:
    web, db = full_record(), full_record(id=new_id(), name="db")
    store.add_container(web)
    store.add_container(db)
    with pytest.raises(
        ConflictError, match=rf"name 'db' is already used by container {db.id[:12]}"
    ):
        store.update_container(web.id, name="db")
    assert store.update_container(web.id, name="web").name == "web"  # its own name is fine


def test_a_failed_write_leaves_nothing_behind(store: Store) -> None:
    with pytest.raises(TypeError):
        store.add_container(full_record(config={"bad": object()}))
    assert store.list_containers() == []
    store.add_container(full_record())  # no transaction left open
    assert len(store.list_containers()) == 1


# --- exec sessions -----------------------------------------------------------------------------


def test_every_exec_field_round_trips(store: Store) -> None:
    rec = full_record()
    store.add_container(rec)
    session = full_exec(rec.id)
    store.add_exec(session)
    assert store.get_exec(session.id) == session
    assert store.list_execs(rec.id) == [session]
    assert store.list_execs() == [session]
    plain = ExecRecord(id="plain", container_id=rec.id, status="created")
    store.add_exec(plain)
    assert store.get_exec("plain") == plain


def test_exec_needs_its_container(store: Store) -> None:
    with pytest.raises(ContainerNotFoundError):
        store.add_exec(full_exec("nope"))
    assert store.list_execs() == []


def test_exec_id_conflict(store: Store) -> None:
    rec = full_record()
    store.add_container(rec)
    session = full_exec(rec.id)
    store.add_exec(session)
    with pytest.raises(ConflictError, match="exec session id"):
        store.add_exec(session)


def test_list_execs_per_container_oldest_first(store: Store) -> None:
    a, b = full_record(), full_record(id=new_id(), name="b")
    store.add_container(a)
    store.add_container(b)
    store.add_exec(full_exec(a.id, id="late", created_at=2.0))
    store.add_exec(full_exec(b.id, id="other", created_at=1.0))
    store.add_exec(full_exec(a.id, id="early", created_at=1.0))
    assert [e.id for e in store.list_execs(a.id)] == ["early", "late"]
    assert [e.id for e in store.list_execs()] == ["other", "early", "late"]
    assert store.list_execs("nope") == []


def test_update_exec(store: Store) -> None:
    rec = full_record()
    store.add_container(rec)
    session = full_exec(rec.id, status="running", exit_code=None, finished_at=None)
    store.add_exec(session)
    got = store.update_exec(session.id, status="stopped", exit_code=2, finished_at=9.0, process={})
    assert (got.status, got.exit_code, got.finished_at, got.process) == ("stopped", 2, 9.0, {})
    assert store.get_exec(session.id) == got
    for field in ("container_id", "id", "nope"):
        with pytest.raises(TypeError, match=field):
            store.update_exec(session.id, **{field: "x"})
    with pytest.raises(ExecSessionNotFoundError, match="no exec session with id 'nope'"):
        store.update_exec("nope", status="stopped")
    with pytest.raises(ExecSessionNotFoundError):
        store.get_exec("nope")


def test_remove_exec(store: Store) -> None:
    rec = full_record()
    store.add_container(rec)
    session = full_exec(rec.id)
    store.add_exec(session)
    assert store.remove_exec(session.id) is True
    assert store.remove_exec(session.id) is False
    assert store.get_container(rec.id) == rec


def test_removing_a_container_removes_its_exec_sessions(store: Store) -> None:
    a, b = full_record(), full_record(id=new_id(), name="b")
    store.add_container(a)
    store.add_container(b)
    for _ in range(3):
        store.add_exec(full_exec(a.id))
    kept = full_exec(b.id)
    store.add_exec(kept)
    assert store.remove_container(a.id) is True
    assert store.remove_container(a.id) is False
    assert store.list_execs() == [kept]
    with pytest.raises(ContainerNotFoundError):
        store.get_container(a.id)


# --- the Store object --------------------------------------------------------------------------


def test_close_is_idempotent(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    store.close()
    store.close()


def test_threads_may_share_a_store(store: Store) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(25):
                rec = full_record(id=new_id(), name=f"t{n}-{i}")
                store.add_container(rec)
                store.update_container(rec.id, status="stopped")
                store.lookup(rec.name)
                store.list_containers()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.list_containers()) == 100
