"""`ocimux serve` as a process: its socket, its signals, its command-line errors."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest

from tests.unit.server.apiclient import ApiClient


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="ocx", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def start_serve(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ocimux.cli", "serve", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_ready(proc: subprocess.Popen[str], path: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"serve exited {proc.returncode}: {out!r} {err!r}")
        if path.exists():
            with suppress(OSError):
                if ApiClient(str(path)).get("/_ping", timeout=2).status == 200:
                    return
        time.sleep(0.02)
    raise AssertionError(f"serve did not answer on {path} within {timeout}s")


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[str, str]:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError(f"serve did not stop after signal {sig}") from None


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_socket_is_0600_and_removed_after_a_signal(
    ocimux_env: dict[str, str], sock_dir: Path, sig: int
) -> None:
    path = sock_dir / "d.sock"
    proc = start_serve(ocimux_env, "--socket", str(path))
    try:
        wait_ready(proc, path)
        mode = path.lstat().st_mode
        assert stat.S_ISSOCK(mode)
        assert stat.S_IMODE(mode) == 0o600, oct(mode)
        info = ApiClient(str(path)).get("/info").json()
        assert info["DefaultRuntime"] == "mock"
    finally:
        out, err = stop(proc, sig)
    assert proc.returncode == 0, (out, err)
    assert out == f"ocimux serving the Docker API on unix://{path}\n"
    # stderr is the request log: one line per request (method, path, status, duration)
    lines = err.splitlines()
    assert [line.split(" ocimux serve: ", 1)[1].rsplit(" ", 1)[0] for line in lines] == [
        "GET /_ping 200",
        "GET /info 200",
    ], err
    assert not path.exists()


def test_default_socket_is_in_the_run_dir(ocimux_env: dict[str, str]) -> None:
    conf = Path(ocimux_env["CONTAINERS_CONF"])
    path = conf.parent / "state" / "run" / "ocimux.sock"
    if len(str(path)) > 100:
        pytest.skip(f"tmp path too long for a unix socket: {path}")
    proc = start_serve(ocimux_env)
    try:
        wait_ready(proc, path)
        assert stat.S_IMODE(path.lstat().st_mode) == 0o600
    finally:
        out, _ = stop(proc)
    assert proc.returncode == 0
    assert out == f"ocimux serving the Docker API on unix://{path}\n"
    assert not path.exists()


def test_a_stale_socket_file_is_replaced(ocimux_env: dict[str, str], sock_dir: Path) -> None:
    path = sock_dir / "stale.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # the file stays, nobody listens: what a crashed server leaves
    assert path.exists()
    proc = start_serve(ocimux_env, "--socket", str(path))
    try:
        wait_ready(proc, path)
    finally:
        stop(proc)
    assert proc.returncode == 0
    assert not path.exists()


def test_tcp_serves_and_stops(ocimux_env: dict[str, str]) -> None:
    import http.client

    port = free_port()
    proc = start_serve(ocimux_env, "--tcp", f"127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/v1.43/_ping")
                resp = conn.getresponse()
                assert resp.status == 200 and resp.read() == b"OK"
                conn.close()
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "serve --tcp never answered"
                time.sleep(0.05)
    finally:
        out, err = stop(proc)
    assert proc.returncode == 0, err
    assert out == f"ocimux serving the Docker API on tcp://127.0.0.1:{port}\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ocimux.cli", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    "value",
    [
        "nonsense",
        "127.0.0.1",
        "127.0.0.1:",
        "127.0.0.1:0",
        "127.0.0.1:65536",
        "localhost:http",
        ":-1",
    ],
)
def test_bad_tcp_value_exits_125_with_one_line(ocimux_env: dict[str, str], value: str) -> None:
    done = run_cli(ocimux_env, "serve", "--tcp", value)
    assert done.returncode == 125, done
    assert done.stdout == ""
    assert done.stderr.startswith("Error: ") and done.stderr.count("\n") == 1, done.stderr
    assert "--tcp" in done.stderr and value in done.stderr


BIND_BUG = (
    "cmd_serve/serve let make_server's OSError escape (bind of a socket path another server "
    "listens on, a TCP port in use, an unresolvable host): `ocimux serve` dies with a Python "
    "traceback and exit status 1 instead of one 'Error: ...' line and 125; suggested fix: wrap "
    "make_server in serve() and raise an OcimuxError naming the address"
)


def test_socket_in_use_is_a_one_line_error(ocimux_env: dict[str, str], sock_dir: Path) -> None:
    path = sock_dir / "busy.sock"
    busy = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    busy.bind(str(path))
    busy.listen(1)
    try:
        done = run_cli(ocimux_env, "serve", "--socket", str(path))
    finally:
        busy.close()
    assert done.returncode == 125, done
    assert done.stderr.startswith("Error: ") and done.stderr.count("\n") == 1, done.stderr


def test_tcp_port_in_use_is_a_one_line_error(ocimux_env: dict[str, str]) -> None:
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        done = run_cli(ocimux_env, "serve", "--tcp", f"127.0.0.1:{port}")
    assert done.returncode == 125, done
    assert done.stderr.startswith("Error: ") and done.stderr.count("\n") == 1, done.stderr


def test_unresolvable_tcp_host_is_a_one_line_error(ocimux_env: dict[str, str]) -> None:
    done = run_cli(ocimux_env, "serve", "--tcp", "ocx.invalid:2375")
    assert done.returncode == 125, done
    assert done.stderr.startswith("Error: ") and done.stderr.count("\n") == 1, done.stderr


def test_serve_leaves_a_listening_socket_of_another_server_alone(
    ocimux_env: dict[str, str], sock_dir: Path
) -> None:
    """Whatever the error looks like, a second server must not steal a live socket."""
    path = sock_dir / "live.sock"
    first = start_serve(ocimux_env, "--socket", str(path))
    try:
        wait_ready(first, path)
        inode = path.stat().st_ino
        second = run_cli(ocimux_env, "serve", "--socket", str(path))
        assert second.returncode != 0
        assert path.stat().st_ino == inode
        assert ApiClient(str(path)).get("/_ping").status == 200
    finally:
        stop(first)
    assert first.returncode == 0
    with suppress(FileNotFoundError):
        os.unlink(path)


def test_a_client_that_leaves_early_leaves_no_traceback(
    ocimux_env: dict[str, str], sock_dir: Path
) -> None:
    path = sock_dir / "d.sock"
    proc = start_serve(ocimux_env, "--socket", str(path))
    try:
        wait_ready(proc, path)
        for _ in range(10):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.connect(str(path))
                sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
        time.sleep(0.3)
        wait_ready(proc, path)  # still answers
    finally:
        _out, err = stop(proc)
    assert proc.returncode == 0
    assert "Traceback" not in err and "Exception occurred" not in err, err[:2000]


def test_concurrent_clients_all_connect(ocimux_env: dict[str, str], sock_dir: Path) -> None:
    import threading

    path = sock_dir / "d.sock"
    proc = start_serve(ocimux_env, "--socket", str(path))
    failures: list[str] = []
    statuses: list[int] = []
    try:
        wait_ready(proc, path)
        for _ in range(3):
            barrier = threading.Barrier(32)

            def client(barrier: threading.Barrier = barrier) -> None:
                barrier.wait()
                try:
                    statuses.append(ApiClient(str(path)).get("/containers/json?all=1").status)
                except OSError as exc:
                    failures.append(f"{type(exc).__name__}: {exc}")

            threads = [threading.Thread(target=client) for _ in range(32)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
    finally:
        stop(proc)
    assert failures == [], f"{len(failures)} of 96 failed: {sorted(set(failures))}"
    assert statuses == [200] * 96
