"""Fixtures for the Docker API server's unit tests: a real server on a unix socket, a real client.

`server` (serving.py): one per test, default runtime `mock`, for what is refused before
anything runs. `module_server` / `api`: one per test module whose default runtime is the
in-memory `fake` (tests/unit/fake_runtime.py), so a container can be created, started and
removed without a process. Tests whose containers must really run are in
tests/integration/server/.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.unit.server.apiclient import ApiClient, Server
from tests.unit.server.serving import isolated_server, server

__all__ = ["api", "module_server", "server"]


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server per test module, in an isolated environment of its own, on the fake runtime."""
    with isolated_server(tmp_path_factory.mktemp("apisrv"), "fake") as srv:
        yield srv


@pytest.fixture
def api(module_server: Server) -> ApiClient:
    return module_server.client
