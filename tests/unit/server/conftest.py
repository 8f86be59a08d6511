"""Fixtures for the Docker API server's tests: a real server on a unix socket, a real client.

`server` starts the server in this process (the Dispatcher of the test's isolated environment,
`DockerApi(d).routes()`, `httpd.make_server`, `serve_forever` in a thread) on a short socket
path under /tmp, with image `img` registered, and yields a `Server` whose `client` speaks
HTTP/1.1 over AF_UNIX. The default runtime of the test configuration is `mock`: containers are
host processes, no root needed.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.server.apiclient import ApiClient, Server


@contextlib.contextmanager
def running_server(rootfs: Path) -> Iterator[Server]:
    """An in-process server over a Dispatcher of the current environment; image `img` → rootfs.

    At exit it stops serving and force-removes the containers still in its store.
    """
    from ocimux.server.docker_api import DockerApi
    from ocimux.server.httpd import make_server
    from ocimux.server.images import ImageStore
    from ocimux.session import open_dispatcher

    sock_dir = tempfile.mkdtemp(prefix="ocx", dir="/tmp")  # sun_path has room for 107 bytes
    dispatcher = open_dispatcher()
    try:
        ImageStore(dispatcher.config.state_dir).add("img", rootfs)
        path = str(Path(sock_dir) / "api.sock")
        httpd = make_server(DockerApi(dispatcher).routes(), socket_path=path)
        thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        before = set(threading.enumerate())
        thread.start()
        try:
            yield Server(
                ApiClient(path), dispatcher, path, Path(dispatcher.config.state_dir), rootfs
            )
        finally:
            httpd.shutdown()
            httpd.server_close()
            thread.join(5)
            # handler threads (e.g. an exec resize retrying for 2 s) use the store: let them end
            deadline = time.monotonic() + 5
            for other in set(threading.enumerate()) - before:
                other.join(max(0.0, deadline - time.monotonic()))
            for rec in dispatcher.list():
                with contextlib.suppress(Exception):
                    if rec.status == "paused":
                        dispatcher.unpause(rec.id)
                    dispatcher.delete(rec.id, force=True, timeout=0)
    finally:
        dispatcher.store.close()
        shutil.rmtree(sock_dir, ignore_errors=True)


@pytest.fixture
def server(ocimux_env: dict[str, str], rootfs: Path) -> Iterator[Server]:
    """A server of this test's own isolated environment (for tests that run containers)."""
    with running_server(rootfs) as srv:
        yield srv


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server per test module, in an isolated environment of its own (for cheap tests)."""
    from tests.conftest import write_conf

    base = tmp_path_factory.mktemp("apisrv")
    conf = write_conf(base / "containers.conf", base / "state")
    (base / "rootfs").mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("CONTAINERS_CONF_OVERRIDE", raising=False)
        mp.setenv("CONTAINERS_CONF", str(conf))
        mp.setenv("OCIMUX_CACHE_DIR", str(base / "cache"))
        mp.setenv("XDG_CONFIG_HOME", str(base / "xdg"))
        with running_server(base / "rootfs") as srv:
            yield srv


@pytest.fixture
def api(module_server: Server) -> ApiClient:
    return module_server.client
