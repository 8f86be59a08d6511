"""Fixtures for the mock runtime's tests: real processes, a real monitor, no patching.

The runtime is driven through the v1 verbs as the engine drives it: `create` with the
`ProcessIO` from the layout, `start`, `kill`, `state`; exec sessions through the engine's own
sequences (`ocimux.engine.execs`: exec, connect, start, relay; or exec and start with no client).

Every test runs with this pytest process as a child subreaper (prctl), so the daemonized
monitors and any orphaned container processes become our children and are reaped at teardown;
teardown also kills whatever a test left running and asserts that none of the processes the
test created still exists, not even as a zombie.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ocimux.engine.execs import _run_attached, _start_detached
from ocimux.interface.options import (
    CreateRequest,
    CreateResult,
    ExecOptions,
    RuntimeState,
    StdStreams,
)
from ocimux.interface.runtime import RuntimeContext
from ocimux.io._procfs import STATE_FILE, MonitorState, load_state, proc_stat
from ocimux.oci._monitorctl import terminate
from ocimux.plugins.mock import MockRuntime

PR_SET_CHILD_SUBREAPER = 36
ENV = ["PATH=/usr/bin:/bin"]


def _children() -> dict[int, str]:
    """This process's children: pid -> /proc state letter."""
    me = os.getpid()
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            data = Path(entry.path, "stat").read_bytes()
        except OSError:
            continue
        fields = data[data.rfind(b")") + 2 :].split()
        if int(fields[1]) == me:
            found[int(entry.name)] = fields[0].decode()
    return found


def _set_subreaper(on: bool) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


class AttachClient:
    """A test-local client of conmon's attach protocol (SEQPACKET, stream-id byte + payload)."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        fd = os.open(path, os.O_PATH)  # podman's trick against the 108-byte sun_path limit
        try:
            self.sock.connect(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
        self.packets: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close_stdin(self) -> None:
        self.sock.shutdown(socket.SHUT_WR)

    def read_until(self, needle: bytes, timeout: float = 10.0) -> bytes:
        """Read packets until the stdout received so far contains `needle`; return that stdout.

        Fails on EOF or after `timeout` seconds. The packets stay in `packets` for `collect`.
        """
        deadline = time.monotonic() + timeout
        while True:
            out = b"".join(p[1:] for p in self.packets if p[0] == 2)
            if needle in out:
                return out
            left = deadline - time.monotonic()
            assert left > 0, f"{needle!r} not in {out!r}"
            self.sock.settimeout(left)
            packet = self.sock.recv(8193)
            assert packet, f"EOF before {needle!r}; got {out!r}"
            self.packets.append(packet)

    def collect(self, timeout: float = 10.0) -> tuple[bytes, bytes]:
        """Read packets until EOF (b""); return (stdout, stderr)."""
        self.sock.settimeout(timeout)
        while True:
            packet = self.sock.recv(8193)
            if not packet:
                break
            self.packets.append(packet)
        self.sock.close()
        out = b"".join(p[1:] for p in self.packets if p[0] == 2)
        err = b"".join(p[1:] for p in self.packets if p[0] == 3)
        assert all(p[0] in (2, 3) for p in self.packets), self.packets
        return out, err


class Harness:
    """Builds bundles and containers for one test and remembers every process it made."""

    ENV = ENV

    def __init__(self, tmp_path: Path, timeout: float = 5.0, **options: Any) -> None:
        self.tmp = tmp_path
        self.rootfs = tmp_path / "rootfs"
        self.rootfs.mkdir(exist_ok=True)
        self.containers = tmp_path / "containers"
        self.containers.mkdir(exist_ok=True)
        self.runtime = self.make_runtime(timeout, **options)
        self.pids: dict[int, int] = {}  # pid -> start time

    def make_runtime(self, timeout: float = 5.0, **options: Any) -> MockRuntime:
        ctx = RuntimeContext(
            name="mock",
            path=None,
            state_dir=self.tmp / "state",
            containers_dir=self.containers,
            options=options,
            command_timeout=timeout,
        )
        return MockRuntime(ctx)

    def bundle(
        self,
        cid: str,
        args: list[str],
        *,
        env: list[str] | None = None,
        cwd: str = "/",
        annotations: dict[str, str] | None = None,
        rootfs: Path | None = None,
        terminal: bool = False,
    ) -> Path:
        directory = self.containers / cid
        directory.mkdir(mode=0o700, exist_ok=True)
        spec: dict[str, Any] = {
            "ociVersion": "1.0.2",
            "process": {
                "args": args,
                "env": ENV if env is None else env,
                "cwd": cwd,
                "terminal": terminal,
            },
            "root": {"path": str(rootfs or self.rootfs)},
        }
        if annotations:
            spec["annotations"] = annotations
        (directory / "config.json").write_text(json.dumps(spec))
        return directory

    def set_annotations(self, cid: str, annotations: dict[str, str]) -> None:
        path = self.containers / cid / "config.json"
        spec = json.loads(path.read_text())
        spec["annotations"] = annotations
        path.write_text(json.dumps(spec))

    def request(
        self, cid: str, bundle: Path, *, stdin: bool = False, terminal: bool = False
    ) -> CreateRequest:
        """The engine's CreateRequest: the container's `ProcessIO` from the layout."""
        io = self.runtime.layout.io(cid, stdin=stdin, terminal=terminal)
        return CreateRequest(cid=cid, name=cid, bundle=bundle, io=io)

    def create(
        self, cid: str, args: list[str], *, stdin: bool = False, terminal: bool = False, **kw: Any
    ) -> CreateResult:
        bundle = self.bundle(cid, args, terminal=terminal, **kw)
        result = self.runtime.create(self.request(cid, bundle, stdin=stdin, terminal=terminal))
        self.remember(result.pid, result.monitor_pid or 0)
        return result

    def run(self, cid: str, args: list[str], **kw: Any) -> CreateResult:
        """Create and start."""
        result = self.create(cid, args, **kw)
        self.runtime.start(cid)
        return result

    def exec(self, cid: str, sid: str, options: ExecOptions, streams: StdStreams) -> int | None:
        """An attached exec as the engine runs it: exec, connect, start, relay; its exit code.

        None: the user detached and the session runs on.
        """
        try:
            return _run_attached(self.runtime, cid, sid, options, streams)
        finally:
            self.remember_session(cid, sid)

    def exec_detached(self, cid: str, sid: str, options: ExecOptions) -> int:
        """A detached exec as the engine starts it (no client); its host pid."""
        try:
            return _start_detached(self.runtime, cid, sid, options)
        finally:
            self.remember_session(cid, sid)

    def remember_session(self, cid: str, sid: str) -> None:
        """Remember an exec session's monitor and process (if it got that far)."""
        st = load_state(self.runtime.layout.exec_dir(cid, sid))
        if st is not None:
            self.remember(st.monitor_pid, st.pid)

    def exec_state(self, cid: str, sid: str, timeout: float = 10.0) -> RuntimeState:
        """Wait until the exec process has ended; its state (stopped, or unknown)."""
        deadline = time.monotonic() + timeout
        while (state := self.runtime.state(cid, sid)).status in ("created", "running"):
            assert time.monotonic() < deadline, f"exec session {sid} still {state.status}"
            time.sleep(0.01)
        return state

    def processes(self, cid: str) -> list[int]:
        """The live pids of the container's process groups (init's and each live exec
        session's), as kill(all_procs), pause and delete find them, sorted; empty unless the
        container is live. From the monitor's files and /proc (no fault injection)."""
        return sorted(self.runtime.processes(cid))

    def monitor_live(self, cid: str) -> bool:
        """Whether the container's monitor runs (its pid checked against its start time)."""
        st = load_state(self.containers / cid)
        return st is not None and st.monitor_live()

    def remember(self, *pids: int) -> None:
        for pid in pids:
            if pid <= 1 or pid in (os.getpid(), os.getppid()):
                continue  # a confused record must never make teardown kill pytest itself
            stat = proc_stat(pid)
            if stat is not None:
                self.pids.setdefault(pid, stat.starttime)

    def attach(self, cid: str) -> AttachClient:
        return AttachClient(self.containers / cid / "attach")

    def wait_state(self, cid: str, status: str, timeout: float = 10.0) -> RuntimeState:
        deadline = time.monotonic() + timeout
        while True:
            state = self.runtime.state(cid)
            if state.status == status or time.monotonic() > deadline:
                assert state.status == status, state
                return state
            time.sleep(0.01)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "condition not met in time"
            time.sleep(0.01)

    def alive(self, pid: int) -> bool:
        stat = proc_stat(pid)
        return stat is not None and stat.state not in ("Z", "X")

    def cleanup(self) -> list[int]:
        """Kill what is left, reap everything we made; return the pids that still exist."""
        for state_file in self.containers.rglob(STATE_FILE):
            st = MonitorState.load(state_file.parent)
            if st is not None:
                self.remember(st.monitor_pid, st.pid)
            terminate(state_file.parent, 5.0)
        deadline = time.monotonic() + 5.0
        left = []
        for pid, start in self.pids.items():
            while True:
                stat = proc_stat(pid)
                if stat is None or stat.starttime != start:
                    break
                if stat.state not in ("Z", "X"):
                    os.kill(pid, signal.SIGKILL)
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass  # not ours to reap
                if time.monotonic() > deadline:
                    left.append(pid)
                    break
                time.sleep(0.005)
        for pid, state in _children().items():  # e.g. monitors of exec sessions deleted
            if state == "Z":
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
        return left


@pytest.fixture
def mock(tmp_path: Path) -> Iterator[Harness]:
    before = set(_children())
    _set_subreaper(True)
    harness = Harness(tmp_path)
    try:
        yield harness
    finally:
        left = harness.cleanup()
        _set_subreaper(False)
        strays = {pid: st for pid, st in _children().items() if pid not in before}
        assert not left, f"processes left behind: {left}"
        assert not strays, f"children left behind (pid: state): {strays}"
