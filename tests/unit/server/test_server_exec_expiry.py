"""Exec instances of the Docker API are forgotten: with their container, and `EXEC_TTL` after they end."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from ocimux.base.errors import NotFoundError
from ocimux.server import exec_api
from ocimux.server.exec_api import EXEC_TTL, ExecEndpoints, ExecInstance


class FakeDispatcher:
    """Just what the sweep asks: does a container exist, has a detached session ended."""

    def __init__(self, containers: set[str], sessions: dict[str, str]) -> None:
        self.containers = containers
        self.sessions = sessions
        self.store = SimpleNamespace(get_container=self.get_container)
        self.asked: list[str] = []

    def get_container(self, cid: str) -> object:
        if cid not in self.containers:
            raise NotFoundError(f"no container {cid}")
        return object()

    def exec_inspect(self, session: str) -> object:
        self.asked.append(session)
        return SimpleNamespace(status=self.sessions[session])


def endpoints(d: FakeDispatcher, *entries: ExecInstance) -> ExecEndpoints:
    api = ExecEndpoints()
    api.d = d  # type: ignore[assignment]
    api.execs = {e.id: e for e in entries}
    api._lock = threading.Lock()
    return api


def instance(exec_id: str, container: str = "c1", **fields: object) -> ExecInstance:
    return ExecInstance(exec_id, container, options=None, attach_stdin=False, **fields)  # type: ignore[arg-type]


def test_ended_instances_go_after_the_ttl_and_not_before() -> None:
    now = time.monotonic()
    api = endpoints(
        FakeDispatcher({"c1"}, {}),
        instance("old", ended=now - EXEC_TTL - 1, exit_code=0),
        instance("recent", ended=now - 1, exit_code=0),
        instance("never-started"),
        instance("running", running=True, session="s1"),
    )
    api.sweep_execs(force=True)
    assert set(api.execs) == {"recent", "never-started", "running"}


def test_every_instance_of_a_removed_container_goes() -> None:
    api = endpoints(
        FakeDispatcher({"c2"}, {}),
        *(instance(f"e{i}", "c1") for i in range(100)),
        instance("other", "c2"),
    )
    api.forget_execs("c2")
    assert len(api.execs) == 100
    api.sweep_execs(force=True)  # c1 is gone from the store (removed by another client)
    assert api.execs == {}


def test_a_detached_instance_is_looked_at_once_old_then_expires() -> None:
    d = FakeDispatcher({"c1"}, {"s-young": "stopped", "s-old": "stopped", "s-live": "running"})
    api = endpoints(
        d,
        instance("young", session="s-young"),
        instance("old", session="s-old", created=time.monotonic() - EXEC_TTL - 1),
        instance("live", session="s-live", created=time.monotonic() - EXEC_TTL - 1),
    )
    api.sweep_execs(force=True)
    assert sorted(d.asked) == ["s-live", "s-old"]  # the young one is not asked yet
    assert api.execs["old"].ended is not None and api.execs["live"].ended is None
    api.execs["old"].ended = time.monotonic() - EXEC_TTL - 1
    api.sweep_execs(force=True)
    assert set(api.execs) == {"young", "live"}


def test_sweeps_are_rate_limited() -> None:
    d = FakeDispatcher(set(), {})
    api = endpoints(d, instance("a"))
    api.sweep_execs()
    assert api.execs == {}
    api.execs["b"] = instance("b")
    api.sweep_execs()  # within SWEEP_EVERY of the last one: nothing looked at
    assert set(api.execs) == {"b"}
    assert exec_api.SWEEP_EVERY >= 1
