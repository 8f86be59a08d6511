"""`ocimux serve` under abandoned clients, many connections and exposure; CLI log followers.

Each test starts its own `ocimux serve` (a subprocess on the test's private state) and checks
from outside: the server's CPU time and RSS from /proc, what its clients see, its stderr
(the request log). Containers run on real crun or runc under conmon. The CPU and memory
thresholds are generous for a loaded 2-CPU machine yet far below what the bugs cost (16
abandoned followers polling `crun state` took ~60% of a CPU; here < 2%).
"""

from __future__ import annotations

import http.client
import json
import os
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Runner, runtime_params, wait_until
from tests.unit.server.apiclient import ApiClient, UnixHTTPConnection

SERVING = "ocimux serving the Docker API on "
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` (all its threads) from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    socket: Path
    log: Path
    ocimux: Runner

    @property
    def client(self) -> ApiClient:
        return ApiClient(str(self.socket))

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def run(self, runtime: str, cmd: Sequence[str], **host: Any) -> str:
        """Create and start a container from image `busybox` on `runtime`; return its id."""
        body = {"Image": "busybox", "Cmd": list(cmd), "HostConfig": {"Runtime": runtime, **host}}
        reply = self.client.post("/containers/create", body)
        assert reply.status == 201, (reply, self.text())
        cid = str(reply.json()["Id"])
        reply = self.client.post(f"/containers/{cid}/start")
        assert reply.status == 204, (reply, self.text())
        return cid


@pytest.fixture
def serve(
    ocimux: Runner, ocimux_env: dict[str, str], busybox_rootfs: Path, tmp_path: Path
) -> Iterator[Any]:
    """`serve(*args, nofile=N)`: start `ocimux serve --socket S *args`; stopped at teardown."""
    started: list[tuple[Served, Path]] = []
    added = ocimux("image", "add", "busybox", str(busybox_rootfs), "--cmd", "sh", check=True)
    assert added.stdout.strip() == "busybox:latest"

    def start(*args: str, nofile: int | None = None, socket_arg: bool = True) -> Served:
        sock_dir = Path(tempfile.mkdtemp(prefix="ocx", dir="/tmp"))
        sock = sock_dir / "d.sock"
        log = tmp_path / f"serve{len(started)}.log"

        def limit() -> None:
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        argv = [sys.executable, "-m", "ocimux.cli", "serve"]
        argv += ["--socket", str(sock)] if socket_arg else []
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [*argv, *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=ocimux_env,
                preexec_fn=limit,  # noqa: PLW1509 - setrlimit only, before exec
            )
        served = Served(proc, sock, log, ocimux)
        started.append((served, sock_dir))
        wait_until(
            lambda: SERVING in served.text() or proc.poll() is not None, 20, "serve to start"
        )
        assert proc.poll() is None, f"serve exited {proc.returncode}:\n{served.text()}"
        return served

    try:
        yield start
    finally:
        left = json.loads(ocimux("ps", "-a", "--format", "json").stdout or "[]")
        if left:
            ocimux("rm", "-f", "-t", "0", *(c["id"] for c in left), timeout=120)
        for served, sock_dir in started:
            if served.proc.poll() is None:
                served.proc.send_signal(signal.SIGTERM)
                try:
                    served.proc.wait(15)
                except subprocess.TimeoutExpired:
                    served.proc.kill()
                    served.proc.wait()
                    raise AssertionError(f"serve ignored SIGTERM:\n{served.text()}") from None
            shutil.rmtree(sock_dir, ignore_errors=True)
            assert "Traceback" not in served.text(), served.text()


def open_follower(sock: Path, cid: str) -> socket.socket:
    """GET logs?follow=1 on a raw connection; return it once the answer's headers are in."""
    return open_request(sock, f"GET /v1.43/containers/{cid}/logs?follow=1&stdout=1&stderr=1")


def open_request(sock: Path, request: str) -> socket.socket:
    """Send `METHOD PATH` on a raw connection; return it once the answer's headers are in."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(10)
    conn.connect(str(sock))
    conn.sendall(f"{request} HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = conn.recv(1)
        assert chunk, f"the server closed the follower's connection early: {head!r}"
        head += chunk
    assert head.startswith(b"HTTP/1.1 200"), head
    return conn


def cpu_over(pid: int, seconds: float) -> float:
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / seconds


# --- log followers --------------------------------------------------------------------------


@pytest.mark.parametrize("runtime", runtime_params(("crun",)))
def test_abandoned_followers_and_waits_cost_no_cpu(serve: Any, runtime: str) -> None:
    """16 followers and 16 waits on a quiet container, their clients gone: < 2% of a CPU."""
    server = serve()
    cid = server.run(runtime, ["sleep", "300"])
    followers = [open_follower(server.socket, cid) for _ in range(16)]
    waits = [open_request(server.socket, f"POST /v1.43/containers/{cid}/wait") for _ in range(16)]
    for conn in followers + waits:
        conn.close()
    wait_until(lambda: server.text().count("client gone (closed)") == 32, 10, "32 requests to end")
    share = cpu_over(server.proc.pid, 10)
    assert share < 0.02, f"the server used {share:.1%} of a CPU with no client left"
    assert server.text().count("/logs?follow=1") == 16, server.text()
    assert threads(server.proc.pid) < 8, "follower threads outlived their clients"


@pytest.mark.parametrize("runtime", runtime_params())
def test_a_follower_streams_new_output_and_ends_with_the_container(
    serve: Any, runtime: str
) -> None:
    server = serve()
    cid = server.run(runtime, ["sh", "-c", "echo first; sleep 2; echo second; sleep 300"])
    conn = open_follower(server.socket, cid)
    share = cpu_over(server.proc.pid, 4)
    assert share < 0.05, f"one live follower of an idle container used {share:.1%} of a CPU"
    server.ocimux("kill", "-s", "KILL", cid, check=True)
    data = b""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    else:
        raise AssertionError(f"the follower did not end with its container: {data!r}")
    conn.close()
    assert b"first\n" in data and b"second\n" in data, data


def test_cli_logs_follow_idles_and_ends(oci: Any) -> None:
    """`ocimux logs -f` on an idle container: < 0.5% of a CPU; it exits 0 when the container does."""
    cid = oci.detach("quiet", "sh", "-c", "echo hello; sleep 300")
    oci.wait_log(cid, "hello")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ocimux.cli", "logs", "-f", "quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=oci.env,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"hello\n"
        time.sleep(1)  # start-up is over
        share = cpu_over(proc.pid, 5)
        assert share < 0.005, f"an idle `logs -f` used {share:.2%} of a CPU"
        oci.ok("kill", "-s", "KILL", "quiet")
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert err == b"", err


def test_cli_logs_into_a_closed_pipe_is_a_normal_end(oci: Any) -> None:
    """`ocimux logs c | head -1` under pipefail: exit 0, nothing on stderr."""
    cid = oci.detach("chatty", "sh", "-c", "seq 1 60000; sleep 300")
    oci.wait_log(cid, " 60000\n", timeout=20)
    logs = subprocess.Popen(
        [sys.executable, "-m", "ocimux.cli", "logs", "chatty"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=oci.env,
    )
    assert logs.stdout is not None
    head = subprocess.run(["head", "-1"], stdin=logs.stdout, capture_output=True, timeout=30)
    logs.stdout.close()
    err = logs.stderr.read() if logs.stderr else b""
    assert logs.wait(30) == 0, err
    assert head.stdout == b"1\n"
    assert err == b"", err


# --- exec instances -------------------------------------------------------------------------


def exec_creates(sock: Path, cid: str, n: int) -> list[str]:
    """`n` exec creates on one keep-alive connection; return their ids."""
    conn = UnixHTTPConnection(str(sock), 30)
    ids = []
    body = json.dumps({"Cmd": ["true"], "AttachStdout": True})
    try:
        for _ in range(n):
            conn.request(
                "POST", f"/v1.43/containers/{cid}/exec", body, {"Content-Type": "application/json"}
            )
            resp = conn.getresponse()
            data = resp.read()
            assert resp.status == 201, data
            ids.append(json.loads(data)["Id"])
    finally:
        conn.close()
    return ids


@pytest.mark.parametrize("runtime", runtime_params(("crun",)))
def test_exec_instances_are_freed_with_their_container(serve: Any, runtime: str) -> None:
    server = serve()
    warm = server.run(runtime, ["sleep", "300"])
    warm_ids = exec_creates(server.socket, warm, 300)  # the allocator and caches settle
    assert server.client.delete(f"/containers/{warm}?force=1").status == 204
    assert server.client.get(f"/exec/{warm_ids[0]}/json").status == 404
    before = rss_kib(server.proc.pid)
    cid = server.run(runtime, ["sleep", "300"])
    ids = exec_creates(server.socket, cid, 4000)
    grown = rss_kib(server.proc.pid)
    assert server.client.delete(f"/containers/{cid}?force=1").status == 204
    after = rss_kib(server.proc.pid)
    assert server.client.get(f"/exec/{ids[-1]}/json").status == 404
    assert after - before < 5 * 1024, (
        f"RSS {before} KiB before 4,000 exec creates, {grown} KiB after, "
        f"{after} KiB once their container was removed"
    )


# --- connections ----------------------------------------------------------------------------


def raise_own_fd_limit(n: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < n:
        pytest.skip(f"this process may open only {hard} files; the test needs {n}")
    if soft != resource.RLIM_INFINITY and soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))


@pytest.mark.parametrize(
    "args", [(), ("--max-connections", "5000")], ids=["default-cap", "cap-above-fd-limit"]
)
def test_ping_answers_while_1100_idle_connections_are_open(
    serve: Any, args: tuple[str, ...]
) -> None:
    """Under `ulimit -n 1024`; with a cap above it, `accept` runs out of fds (EMFILE) instead."""
    raise_own_fd_limit(4096)
    server = serve(*args, nofile=1024)
    idle = []
    try:
        for _ in range(1100):
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            conn.settimeout(5)
            conn.connect(str(server.socket))
            idle.append(conn)
        start = time.monotonic()
        reply = server.client.get("/_ping", timeout=5)
        took = time.monotonic() - start
        assert reply.status == 200 and reply.body == b"OK", reply
        assert took < 1.0, f"/_ping took {took:.2f}s with 1,100 idle connections open"
        assert threads(server.proc.pid) < 16, "idle connections hold threads"
        assert idle[0].recv(1) == b"", "the longest-idle connection was not the one closed"
        idle[-1].settimeout(0.2)
        with pytest.raises(TimeoutError):  # the newest is still open, waiting
            idle[-1].recv(1)
    finally:
        for conn in idle:
            conn.close()
    assert server.proc.poll() is None, server.text()


def test_silent_and_idle_connections_time_out(serve: Any) -> None:
    server = serve("--header-timeout", "1", "--idle-timeout", "1")
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    silent.settimeout(10)
    silent.connect(str(server.socket))
    slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    slow.settimeout(10)
    slow.connect(str(server.socket))
    slow.sendall(b"GET /_ping HTTP/1.1\r\nHost: d")  # headers never finish
    keep = UnixHTTPConnection(str(server.socket), 10)
    keep.request("GET", "/_ping")
    assert keep.getresponse().read() == b"OK"
    start = time.monotonic()
    assert silent.recv(1) == b"", "a connection that sent nothing stayed open"
    assert slow.recv(65536) == b"", "a request whose headers never ended stayed open"
    assert keep.sock is not None and keep.sock.recv(1) == b"", "an idle keep-alive stayed open"
    assert time.monotonic() - start < 5
    for conn in (silent, slow):
        conn.close()
    keep.close()
    assert "GET /_ping 200" in server.text()


def test_client_disconnects_are_one_line_each(serve: Any) -> None:
    server = serve()
    for _ in range(20):  # ask for a large answer and leave before reading it
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(str(server.socket))
        conn.sendall(b"GET /v1.43/_ping HTTP/1.1\r\nHost: d\r\n\r\n" * 50)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
        conn.close()  # a reset, with answers still to write
    assert server.client.get("/_ping").status == 200
    text = server.text()
    assert "Traceback" not in text, text
    assert "client gone (BrokenPipeError)" in text or "client gone (ConnectionResetError)" in text
    for line in text.splitlines()[1:]:
        assert " ocimux serve: " in line, f"not a log line: {line!r}"


# --- TCP exposure and TLS -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_tcp_beyond_loopback_needs_tls_or_insecure(
    ocimux: Runner, serve: Any, busybox_rootfs: Path
) -> None:
    port = free_port()
    refused = ocimux("serve", "--tcp", f"0.0.0.0:{port}", timeout=30)
    assert refused.returncode == 125, refused
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert "--tlsverify" in refused.stderr and "--insecure" in refused.stderr, refused.stderr
    server = serve("--tcp", f"0.0.0.0:{port}", "--insecure", socket_arg=False)
    assert "WARNING" in server.text() and "--insecure" in server.text(), server.text()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/_ping")
    assert conn.getresponse().read() == b"OK"
    conn.close()


def openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def make_pki(d: Path) -> None:
    """A throwaway CA; a server certificate for 127.0.0.1; a client certificate."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test-ca",
            "-keyout", "ca-key.pem", "-out", "ca.pem", cwd=d)  # fmt: skip
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    (d / "client.cnf").write_text("extendedKeyUsage=clientAuth\n")
    for name, ext in (("server", "san.cnf"), ("client", "client.cnf")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                "-keyout", f"{name}-key.pem", "-out", f"{name}.csr", cwd=d)  # fmt: skip
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                "-CAcreateserial", "-days", "1", "-extfile", ext, "-out", f"{name}.pem", cwd=d)  # fmt: skip


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl CLI makes the test PKI")
def test_tls_requires_a_client_certificate(serve: Any, tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    pki.mkdir()
    make_pki(pki)
    port = free_port()
    server = serve(
        "--tcp", f"0.0.0.0:{port}", "--tlsverify", "--tlscacert", str(pki / "ca.pem"),
        "--tlscert", str(pki / "server.pem"), "--tlskey", str(pki / "server-key.pem"),
        socket_arg=False,
    )  # fmt: skip
    assert "WARNING" not in server.text()
    with_cert = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    with_cert.load_cert_chain(str(pki / "client.pem"), str(pki / "client-key.pem"))
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=with_cert)
    conn.request("GET", "/_ping")
    reply = conn.getresponse()
    assert (reply.status, reply.read()) == (200, b"OK")
    conn.close()

    without = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=without)
    with pytest.raises((ssl.SSLError, ConnectionError, http.client.HTTPException)):
        conn.request("GET", "/_ping")
        conn.getresponse().read()
    conn.close()

    plain = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        plain.request("GET", "/_ping")
        plain.getresponse().read()
    plain.close()
    assert "TLS handshake failed" in server.text()
