"""An in-process Docker API server for the server's tests (unit and integration).

`running_server(rootfs)` starts the server in this process (a Dispatcher of the current
environment, `DockerApi(d).routes()`, `httpd.make_server`, `serve_forever` in a thread) on a
short socket path under /tmp, with image `img` registered, and yields a `Server` whose `client`
speaks HTTP/1.1 over AF_UNIX. Its Dispatcher knows the in-memory runtime `fake`
(tests/unit/fake_runtime.py) beside the installed plugins.

`isolated_server(base, runtime)` does the same in an environment confined to `base` whose
default runtime is `runtime`. The `server` fixture (one per test, default runtime `mock`:
containers are host processes, no root needed) is imported by tests/unit/server/conftest.py
and tests/integration/server/conftest.py.
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

from tests.unit.fake_runtime import with_fake_runtime
from tests.unit.server.apiclient import ApiClient, Server

__all__ = ["isolated_server", "running_server", "server"]


@contextlib.contextmanager
def running_server(rootfs: Path) -> Iterator[Server]:
    """An in-process server over a Dispatcher of the current environment; image `img` → rootfs.

    At exit it stops serving and force-removes the containers still in its store.
    """
    from ocimux.engine.images import ImageStore
    from ocimux.engine.session import open_dispatcher
    from ocimux.server.docker_api import DockerApi
    from ocimux.server.httpd import make_server

    sock_dir = tempfile.mkdtemp(prefix="ocx", dir="/tmp")  # sun_path has room for 107 bytes
    dispatcher = with_fake_runtime(open_dispatcher())
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


@contextlib.contextmanager
def isolated_server(base: Path, runtime: str) -> Iterator[Server]:
    """A server in an environment confined to `base` (config, state, cache), `runtime` default."""
    from tests.conftest import scrub_environ, write_conf

    conf = write_conf(base / "containers.conf", base / "state")
    conf.write_text(conf.read_text().replace('runtime = "mock"', f'runtime = "{runtime}"'))
    (base / "rootfs").mkdir()
    with pytest.MonkeyPatch.context() as mp:
        scrub_environ(mp)
        mp.setenv("CONTAINERS_CONF", str(conf))
        mp.setenv("OCIMUX_CACHE_DIR", str(base / "cache"))
        mp.setenv("XDG_CONFIG_HOME", str(base / "xdg"))
        with running_server(base / "rootfs") as srv:
            yield srv


@pytest.fixture
def server(ocimux_env: dict[str, str], rootfs: Path) -> Iterator[Server]:
    """A server of this test's own isolated environment (default runtime `mock`)."""
    with running_server(rootfs) as srv:
        yield srv
