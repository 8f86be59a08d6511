"""A running `ocimux serve` for the Docker API tests (docker CLI and docker-py).

The fixture `api_server` (a test module imports `api_server_fixture` to get it) starts
`ocimux serve --socket <short path>` in a subprocess with the test's isolated environment
(`ocimux_env`), waits for its "serving" line, registers the busybox rootfs as image `busybox`
(default command `sh`) and yields an `ApiServer`. Teardown removes the containers the test
left (thawing paused ones first), sends SIGTERM and checks that the server exits 0 within
10 s and removes its socket.

Socket paths are limited to 108 bytes, so the socket lives in a short /tmp directory, not
under pytest's tmp_path.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Runner, wait_until

SERVING = "ocimux serving the Docker API on unix://"
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


@dataclass
class ApiServer:
    """A served socket, the ocimux CLI on the same state, and the docker CLI pointed at it."""

    socket: Path
    proc: subprocess.Popen[bytes]
    ocimux: Runner
    ocimux_env: dict[str, str]
    docker_env: dict[str, str]
    log: Path

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def docker(
        self, *args: str, input: str | None = None, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        """Run the docker CLI against this server; stdin is /dev/null unless `input` is given."""
        docker = shutil.which("docker")
        assert docker is not None
        return subprocess.run(
            [docker, *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.docker_env,
            stdin=None if input is not None else subprocess.DEVNULL,
        )

    def docker_ok(self, *args: str, **kwargs: Any) -> str:
        """Run the docker CLI, require exit 0, return stdout."""
        done = self.docker(*args, **kwargs)
        assert done.returncode == 0, (
            f"docker {' '.join(args)} exited {done.returncode}\n"
            f"stdout: {done.stdout!r}\nstderr: {done.stderr!r}\n{self.server_log()}"
        )
        return done.stdout

    def ocimux_ps(self) -> list[dict[str, Any]]:
        """`ocimux ps -a --format json` on the server's state."""
        done = self.ocimux("ps", "-a", "--format", "json", check=True)
        return json.loads(done.stdout or "[]")

    def wait_no_containers(self, timeout: float = 10.0) -> None:
        """Wait until neither `docker ps -a` nor `ocimux ps -a` lists anything."""

        def empty() -> bool:
            return self.docker_ok("ps", "-a", "-q").strip() == "" and self.ocimux_ps() == []

        wait_until(empty, timeout, "every container to be removed", poll=0.1)

    def server_log(self) -> str:
        try:
            return f"server output:\n{self.log.read_text(errors='replace')}"
        except OSError:
            return "server output: (none)"


def _wait_serving(proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        text = log.read_text(errors="replace") if log.exists() else ""
        if SERVING in text:
            return
        if proc.poll() is not None:
            raise AssertionError(f"ocimux serve exited {proc.returncode} before serving:\n{text}")
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"ocimux serve printed no serving line in {START_TIMEOUT}s:\n{text}"
            )
        time.sleep(0.02)


def _remove_leftovers(ocimux: Runner) -> None:
    try:
        left = json.loads(ocimux("ps", "-a", "--format", "json").stdout or "[]")
    except ValueError:
        left = []
    for rec in left:
        if rec.get("status") == "paused":
            ocimux("unpause", rec["id"])
    if left:
        ocimux("rm", "-f", "-t", "0", *(rec["id"] for rec in left), timeout=120)


def _stop(proc: subprocess.Popen[bytes], sock: Path, log: Path) -> None:
    if proc.poll() is not None:
        raise AssertionError(
            f"ocimux serve died during the test (exit {proc.returncode}):\n"
            f"{log.read_text(errors='replace')}"
        )
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(
            f"ocimux serve still running {STOP_TIMEOUT}s after SIGTERM:\n"
            f"{log.read_text(errors='replace')}"
        ) from None
    assert code == 0, f"ocimux serve exited {code} on SIGTERM:\n{log.read_text(errors='replace')}"
    assert not sock.exists(), f"ocimux serve left its socket {sock} behind"


@pytest.fixture(name="api_server")
def api_server_fixture(
    ocimux: Runner,
    ocimux_env: dict[str, str],
    busybox_rootfs: Path,
    tmp_path: Path,
) -> Iterator[ApiServer]:
    sock_dir = Path(tempfile.mkdtemp(prefix="ocx", dir="/tmp"))
    sock = sock_dir / "d.sock"
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ocimux.cli", "serve", "--socket", str(sock)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=ocimux_env,
        )
    try:
        _wait_serving(proc, log)
        assert sock.is_socket()
        added = ocimux("image", "add", "busybox", str(busybox_rootfs), "--cmd", "sh", check=True)
        assert added.stdout.strip() == "busybox:latest"
        docker_config = tmp_path / "docker-config"
        docker_config.mkdir()
        docker_env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("DOCKER_") and k not in ("CONTAINERS_CONF",)
        }
        docker_env.update(
            DOCKER_HOST=f"unix://{sock}",
            DOCKER_CONFIG=str(docker_config),
            DOCKER_CLI_HINTS="false",
        )
        server = ApiServer(sock, proc, ocimux, ocimux_env, docker_env, log)
    except BaseException:
        proc.kill()
        proc.wait()
        shutil.rmtree(sock_dir, ignore_errors=True)
        raise
    try:
        yield server
    finally:
        try:
            _remove_leftovers(ocimux)
            _stop(proc, sock, log)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            shutil.rmtree(sock_dir, ignore_errors=True)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """Call `fn`; return its result and how many seconds it took."""
    start = time.monotonic()
    result = fn()
    return result, time.monotonic() - start
