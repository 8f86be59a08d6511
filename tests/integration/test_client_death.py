"""The container's end does not depend on the client: signals are forwarded, `--rm` survives it.

Issue 13, item 2. On crun, runc (under conmon), runc-shim (shim v2) and the mock:
- `timeout 3 ocimux run --rm ...`: the container sees the SIGTERM (a trap writes a file in a
  bind-mounted host directory) and afterwards nothing is left: no record, nothing in the
  runtime's `list`, no process naming the test's state, no mount, no directory;
- the client of `run --rm` killed with SIGKILL: the container runs on, and once it exits its
  monitor's exit command removes it;
- SIGHUP (the terminal closed) during `run -it --rm`; ctrl-c (SIGINT) without `--rm`;
- `--sig-proxy=false` forwards nothing;
- `ocimux serve`: AutoRemove containers that exit while the server is down are gone when it
  comes back, and its start-up sweep removes those no monitor removed.
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.api_server import SERVING
from tests.integration.conftest import Oci, one_line, wait_until
from tests.ptydriver import Pty
from tests.unit.server.apiclient import ApiClient

#: (runtime name, binary that must be installed)
RUNTIMES = (
    ("crun", "crun"),
    ("runc", "runc"),
    ("runc-shim", "containerd-shim-runc-v2"),
    ("mock", None),
)


def _params(names: tuple[str, ...] | None = None) -> list[Any]:
    out = []
    for name, binary in RUNTIMES:
        if names is not None and name not in names:
            continue
        marks = [pytest.mark.requires_root]
        if binary:
            marks.append(pytest.mark.requires_runtime(binary))
        out.append(pytest.param(name, id=name, marks=marks))
    return out


ALL = _params()

TRAP = 'trap "echo {word} >{out}/x; exit {code}" {sig}; sleep 30 & wait'


@pytest.fixture
def host_dir(tmp_path: Path) -> Path:
    path = tmp_path / "host"
    path.mkdir()
    return path


def _mount(oci: Oci, host: Path) -> tuple[list[str], str]:
    """(flags, the host dir's path inside the container): the mock has no mounts, no isolation."""
    if oci.runtime == "mock":
        return [], str(host)
    return ["-v", f"{host}:/h"], "/h"


def _argv(oci: Oci, *args: str) -> list[str]:
    return [sys.executable, "-m", "ocimux.cli", *args]


def _mounts_of(state: Path) -> list[str]:
    with open("/proc/self/mounts", encoding="utf-8") as fh:
        return [line for line in fh if str(state) in line]


def _events_sink(pid: int) -> bool:
    """The shim v2 event sink serves every container of a state directory, and stays."""
    try:
        return b"shimv2.events" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _leftovers(oci: Oci) -> list[str]:
    """What is left of this test's containers: empty when everything is gone."""
    found = []
    if oci.ps():
        found.append(f"records {[(r['name'], r['status']) for r in oci.ps()]}")
    if oci.runtime_list():
        found.append(f"{oci.runtime} list {oci.runtime_list()}")
    containers = oci.containers_dir
    if containers.exists() and any(containers.iterdir()):
        found.append(f"directories {[p.name for p in containers.iterdir()]}")
    if _mounts_of(oci.state):
        found.append(f"mounts {_mounts_of(oci.state)}")
    procs = [p for p in oci.own_processes() if p != os.getpid() and not _events_sink(p)]
    if procs:
        found.append(f"processes {procs}")
    return found


def _assert_nothing_left(oci: Oci, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while (left := _leftovers(oci)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"left behind on {oci.runtime}: {left}"


def _spawn(oci: Oci, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        _argv(oci, *args),
        env=oci.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _running(oci: Oci, name: str) -> dict[str, Any]:
    """Wait until `name` exists and runs (a client may not have created it yet)."""

    def find() -> dict[str, Any] | None:
        return next((r for r in oci.ps() if r["name"] == name and r["status"] == "running"), None)

    return wait_until(find, 15, f"{name} to run", poll=0.05)


@pytest.mark.parametrize("runtime", ALL, indirect=True)
def test_timeout_sends_sigterm_to_the_container_and_rm_leaves_nothing(
    oci: Oci, host_dir: Path
) -> None:
    # `timeout 3 ocimux run --rm ...`, made independent of the machine's load: `timeout`
    # runs the client and sends it SIGTERM once the container is ready (its trap is set)
    flags, inside = _mount(oci, host_dir)
    script = TRAP.format(word="got", out=inside, code=5, sig="TERM").replace(
        "; sleep 30", f"; echo >{inside}/ready; sleep 30"
    )
    argv = _argv(oci, *oci.new("run", "sh", "-c", script, flags=["--rm", *flags]))
    client = subprocess.Popen(
        ["timeout", "60", *argv],
        env=oci.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: (host_dir / "ready").exists(), 30, "the container's trap to be set")
        client.send_signal(signal.SIGTERM)  # to `timeout`, which passes it on as at its deadline
        _out, err = client.communicate(timeout=60)
    finally:
        if client.poll() is None:
            client.kill()
    assert client.returncode == 5, err  # the trap's code, through the client and `timeout`
    assert "Error" not in err, err
    assert (host_dir / "x").read_text() == "got\n", "the container never saw the SIGTERM"
    _assert_nothing_left(oci)


@pytest.mark.parametrize("runtime", ALL, indirect=True)
def test_client_killed_then_the_container_exits_and_its_monitor_removes_it(
    oci: Oci, host_dir: Path
) -> None:
    flags, inside = _mount(oci, host_dir)
    script = f"while [ ! -e {inside}/go ]; do sleep 0.05; done; exit 3"
    client = _spawn(oci, *oci.new("run", "sh", "-c", script, name="k9", flags=["--rm", *flags]))
    try:
        _running(oci, "k9")
        client.kill()
        client.wait(timeout=10)
        time.sleep(0.3)
        assert oci.record("k9")["status"] == "running", "the container died with its client"
        (host_dir / "go").touch()
        _assert_nothing_left(oci)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()


@pytest.mark.parametrize("runtime", ALL, indirect=True)
def test_detached_run_rm_is_removed_when_it_exits(oci: Oci, host_dir: Path) -> None:
    flags, inside = _mount(oci, host_dir)
    script = f"while [ ! -e {inside}/go ]; do sleep 0.05; done"
    oci.ok(*oci.new("run", "sh", "-c", script, name="bg", flags=["-d", "--rm", *flags]))
    _running(oci, "bg")
    (host_dir / "go").touch()
    _assert_nothing_left(oci)


@pytest.mark.parametrize("runtime", _params(("crun", "runc-shim", "mock")), indirect=True)
def test_ctrl_c_without_rm_reaches_the_container(oci: Oci, host_dir: Path) -> None:
    flags, inside = _mount(oci, host_dir)
    script = TRAP.format(word="int", out=inside, code=3, sig="INT")
    client = _spawn(oci, *oci.new("run", "sh", "-c", script, name="cc", flags=flags))
    try:
        _running(oci, "cc")
        time.sleep(0.3)  # the trap is set once sh runs its first command
        client.send_signal(signal.SIGINT)
        _, err = client.communicate(timeout=20)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    assert client.returncode == 3, err
    assert (host_dir / "x").read_text() == "int\n"
    rec = oci.record("cc")
    assert (rec["status"], rec["exit_code"]) == ("stopped", 3)


@pytest.mark.parametrize("runtime", _params(("crun", "runc", "mock")), indirect=True)
def test_sig_proxy_false_forwards_nothing(oci: Oci, host_dir: Path) -> None:
    flags, inside = _mount(oci, host_dir)
    script = TRAP.format(word="term", out=inside, code=0, sig="TERM")
    args = oci.new(
        "run", "sh", "-c", script, name="np", flags=["--rm", "--sig-proxy=false", *flags]
    )
    client = _spawn(oci, *args)
    try:
        _running(oci, "np")
        time.sleep(0.3)
        client.send_signal(signal.SIGTERM)
        client.wait(timeout=10)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    assert client.returncode == -signal.SIGTERM, "the client should have died of SIGTERM"
    time.sleep(0.5)
    assert not (host_dir / "x").exists(), "the SIGTERM was forwarded despite --sig-proxy=false"
    assert oci.record("np")["status"] == "running"
    oci.ok("stop", "-t", "5", "np")  # its monitor removes it once it has stopped
    assert (host_dir / "x").read_text() == "term\n"
    _assert_nothing_left(oci)


@pytest.mark.parametrize("runtime", _params(("crun", "runc-shim")), indirect=True)
def test_terminal_hangup_during_run_it_rm_leaves_nothing(oci: Oci) -> None:
    argv = _argv(oci, *oci.new("run", "sh", name="hup", flags=["-it", "--rm"]))
    term = Pty(argv, oci.env)
    try:
        term.wait_raw()
        term.send("echo rea''dy\r")
        term.read_until("ready")
        _running(oci, "hup")
        os.close(term.fd)  # the terminal goes away: the kernel sends SIGHUP to the client
        term.fd = os.open(os.devnull, os.O_RDONLY)  # for close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and os.waitpid(term.pid, os.WNOHANG) == (0, 0):
            time.sleep(0.05)
        term.status = 0
    finally:
        term.close()
    _assert_nothing_left(oci)


# --- ocimux serve -------------------------------------------------------------------------


class _Server:
    """`ocimux serve` on a short socket path that a test can stop and start again."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="ocx", dir="/tmp"))
        self.socket = self.dir / "d.sock"
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it; return once it printed its serving line (counted: the log is appended)."""
        before = self.log.read_text(errors="replace").count(SERVING) if self.log.exists() else 0
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ocimux.cli", "serve", "--socket", str(self.socket)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        wait_until(
            lambda: self.log.read_text(errors="replace").count(SERVING) > before,
            15,
            "ocimux serve to serve",
        )

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        reply = ApiClient(str(self.socket)).request(method, f"/v1.41{path}", body, timeout=30)
        return json.loads(reply.body) if reply.body.strip() else None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(timeout=15)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def server(oci: Oci, tmp_path: Path) -> Iterator[_Server]:
    oci.ok("image", "add", "busybox", str(oci.rootfs), "--cmd", "sh")
    srv = _Server(oci.env, tmp_path / "serve.log")
    srv.start()
    yield srv
    srv.close()


def _auto_remove(srv: _Server, oci: Oci, host: Path, name: str) -> str:
    body = {
        "Image": "busybox",
        "Cmd": ["sh", "-c", "while [ ! -e /h/go ]; do sleep 0.05; done"],
        "HostConfig": {"AutoRemove": True, "Binds": [f"{host}:/h"], "Runtime": oci.runtime},
    }
    created = srv.request("POST", f"/containers/create?name={name}", body)
    assert "Id" in created, created
    srv.request("POST", f"/containers/{created['Id']}/start")
    _running(oci, name)
    return created["Id"]


@pytest.mark.parametrize("runtime", _params(("crun", "runc-shim")), indirect=True)
def test_restarted_server_finds_its_auto_remove_containers_gone(
    oci: Oci, server: _Server, host_dir: Path
) -> None:
    _auto_remove(server, oci, host_dir, "ar1")
    server.stop(signal.SIGKILL)  # the server is gone: nobody but the monitor is left
    (host_dir / "go").touch()
    wait_until(lambda: not oci.ps(), 15, "the monitor to remove the AutoRemove container")
    server.start()
    assert server.request("GET", "/containers/json?all=1") == []
    _assert_nothing_left(oci)


@pytest.mark.parametrize("runtime", _params(("crun",)), indirect=True)
def test_server_start_sweeps_exited_auto_remove_containers_no_monitor_removed(
    oci: Oci, server: _Server, host_dir: Path
) -> None:
    cid = _auto_remove(server, oci, host_dir, "ar2")
    server.stop(signal.SIGKILL)
    (oci.containers_dir / cid / "cleanup.json").unlink()  # its exit command can do nothing now
    (host_dir / "go").touch()
    oci.wait_status("ar2", "stopped", timeout=15)
    server.start()
    assert server.request("GET", "/containers/json?all=1") == []
    _assert_nothing_left(oci)


@pytest.mark.parametrize("runtime", _params(("runc",)), indirect=True)
def test_checkpoint_of_a_rm_container_is_refused_unless_it_keeps_running(oci: Oci) -> None:
    # podman's rule: stopping a --rm container for a checkpoint would remove it, checkpoint and
    # all. CRIU is broken here: the capability is set by configuration, and the refusal comes
    # before the runtime is asked
    oci.edit_conf(lambda text: text + "\n[ocimux.capabilities.runc]\ncheckpoint = true\n")
    oci.ok(*oci.new("run", "sleep", "30", name="c", flags=["-d", "--rm"]))
    done = oci("checkpoint", "c")
    assert done.returncode == 125
    line = one_line(done.stderr)
    assert "container c" in line and "--rm" in line and "--leave-running" in line
    assert oci.record("c")["status"] == "running"  # refused before anything ran
