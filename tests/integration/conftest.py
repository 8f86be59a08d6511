"""Helpers for the tests that drive the real runc and crun under conmon through the CLI.

Every test takes the `oci` fixture: the session's `ocimux` runner bound to one runtime
(parametrized over RUNTIMES, marked `requires_root` and `requires_runtime(name)`, skipped
without conmon), the busybox rootfs and the test's private state directories. Its teardown
thaws and removes whatever the test left, then checks that no conmon or container process
of this test's state directory is still alive.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

RUNTIMES = ("runc", "crun")

Runner = Callable[..., subprocess.CompletedProcess[str]]


def runtime_params(
    runtimes: Sequence[str] = RUNTIMES, *, xfail: dict[str, str] | None = None
) -> list[Any]:
    """`pytest.param`s for `runtime`, each marked as needing root and its binary.

    `xfail` maps a runtime to the reason of a strict xfail (a known bug on that runtime only).
    """
    out = []
    for name in runtimes:
        marks = [pytest.mark.requires_root, pytest.mark.requires_runtime(name)]
        if xfail and name in xfail:
            marks.append(pytest.mark.xfail(strict=True, reason=xfail[name]))
        out.append(pytest.param(name, id=name, marks=marks))
    return out


@pytest.fixture(params=runtime_params())
def runtime(request: pytest.FixtureRequest) -> str:
    """The runtime under test (override with `parametrize("runtime", ..., indirect=True)`)."""
    if shutil.which("conmon") is None:
        pytest.skip("conmon not on PATH (apt install conmon)")
    return str(request.param)


def one_line(text: str) -> str:
    """The single line of `text`, which must be exactly one newline-terminated line."""
    assert text.endswith("\n") and text.count("\n") == 1, f"not one line: {text!r}"
    return text[:-1]


def pids_matching(pattern: str) -> list[int]:
    """Live (non-zombie) processes whose command line contains `pattern` (pgrep -f)."""
    done = subprocess.run(["pgrep", "-f", re.escape(pattern)], capture_output=True, text=True)
    return [int(p) for p in done.stdout.split()]


def proc_state(pid: int) -> str | None:
    """The process's state letter (R, S, Z, ...), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    return proc_state(pid) not in (None, "Z")


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, poll: float = 0.02) -> Any:
    """Poll `predicate` until it returns something truthy; fail naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(poll)


def host_cgroup_file(pid: int, controller: str, filename: str) -> Path:
    """The host path of a cgroup v1 file of `pid` (skips when `controller` has no v1 mount)."""
    with open(f"/proc/{pid}/cgroup", encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    rel = next(
        (line.split(":", 2)[2] for line in lines if controller in line.split(":", 2)[1].split(",")),
        None,
    )
    mount = None
    with open("/proc/self/mounts", encoding="utf-8") as fh:
        for line in fh:
            _dev, point, fstype, opts, *_ = line.split()
            if fstype == "cgroup" and controller in opts.split(","):
                mount = point
                break
    if rel is None or mount is None:
        pytest.skip(f"no cgroup v1 {controller} hierarchy for pid {pid} on this host")
    return Path(mount + rel) / filename


@dataclass
class Oci:
    """The `ocimux` CLI bound to one runtime, rootfs and state directory."""

    run: Runner
    runtime: str
    rootfs: Path
    conf: Path
    state: Path
    env: dict[str, str]

    def __call__(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return self.run(*args, **kwargs)

    def ok(self, *args: str, **kwargs: Any) -> str:
        """Run ocimux, require exit 0, return stdout."""
        return self.run(*args, check=True, **kwargs).stdout

    def new(
        self, verb: str, *cmd: str, name: str | None = None, flags: Sequence[str] = ()
    ) -> list[str]:
        """argv for `run`/`create` on this runtime and rootfs."""
        named = ["--name", name] if name else []
        target = ["--runtime", self.runtime, "--rootfs", str(self.rootfs)]
        return [verb, *flags, *named, *target, "--", *cmd]

    def detach(self, name: str, *cmd: str) -> str:
        """`run -d --name NAME ... -- CMD`; return the container id."""
        cid = self.ok(*self.new("run", *cmd, name=name, flags=["-d"])).strip()
        assert re.fullmatch(r"[0-9a-f]{64}", cid), cid
        return cid

    def ps(self) -> list[dict[str, Any]]:
        """`ps -a --format json`."""
        return json.loads(self.ok("ps", "-a", "--format", "json"))

    def record(self, ref: str) -> dict[str, Any]:
        """`inspect REF`."""
        return json.loads(self.ok("inspect", ref))[0]

    def wait_status(self, ref: str, status: str, timeout: float = 5) -> dict[str, Any]:
        """Poll `inspect` until the container has `status`; return its record."""
        return wait_until(
            lambda: (rec := self.record(ref))["status"] == status and rec,
            timeout,
            f"{ref} to be {status}",
            poll=0.05,
        )

    def log_text(self, cid: str) -> str:
        """The raw k8s-file log conmon writes (read directly: no CLI start-up per poll)."""
        try:
            return (self.containers_dir / cid / "ctr.log").read_text()
        except FileNotFoundError:
            return ""

    def wait_log(self, cid: str, text: str, timeout: float = 5) -> None:
        wait_until(lambda: text in self.log_text(cid), timeout, f"{text!r} in {cid[:12]}'s log")

    @property
    def containers_dir(self) -> Path:
        return self.state / "lib" / "containers"

    def runtime_root(self, name: str | None = None) -> Path:
        """The runtime's `--root` (ocimux keeps one per configured runtime name)."""
        return self.state / "run" / "runtimes" / (name or self.runtime)

    def runtime_list(self, name: str | None = None, binary: str | None = None) -> list[dict]:
        """What the runtime binary itself knows (`R --root ROOT list --format json`).

        runc-shim: what the shim's runc keeps under ocimux's root for it; the mock: nothing.
        """
        name = name or self.runtime
        if name == "mock":
            return []
        root = self.runtime_root(name)
        if name == "runc-shim":
            root, binary = root / "runc" / "ocimux", "runc"
        path = shutil.which(binary or name)
        assert path is not None
        done = subprocess.run(
            [path, "--root", str(root), "list", "--format", "json"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) or []  # runc prints null, crun []

    def own_processes(self) -> list[int]:
        """conmon (and anything else) whose command line names this test's state directory."""
        return pids_matching(str(self.state))

    def edit_conf(self, edit: Callable[[str], str]) -> None:
        self.conf.write_text(edit(self.conf.read_text()))


@pytest.fixture
def oci(
    ocimux: Runner, ocimux_env: dict[str, str], runtime: str, busybox_rootfs: Path
) -> Iterator[Oci]:
    conf = Path(ocimux_env["CONTAINERS_CONF"])
    helper = Oci(
        run=ocimux,
        runtime=runtime,
        rootfs=busybox_rootfs,
        conf=conf,
        state=conf.parent / "state",
        env=ocimux_env,
    )
    yield helper
    _clean(helper)


def _clean(oci: Oci) -> None:
    """Thaw and remove what the test left; kill (by pid) any monitor that survived; check."""
    try:
        left = json.loads(oci.run("ps", "-a", "--format", "json").stdout or "[]")
    except ValueError:
        left = []
    for rec in left:
        if rec["status"] == "paused":
            oci.run("unpause", rec["id"])
    if left:
        oci.run("rm", "-f", "-t", "0", *(rec["id"] for rec in left), timeout=120)
    # runc-shim's event sink lives as long as its state directory: one per test, ended here
    for pid in pids_matching(f"shimv2.events --dir {oci.state}"):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 3
    while oci.own_processes() and time.monotonic() < deadline:
        time.sleep(0.05)
    stray = oci.own_processes()
    for pid in stray:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not stray, f"processes of this test outlived rm -f: {stray}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """schemathesis gives every operation's test one node id (`...::test_api`), which
    pytest-xdist's scheduling by node id collapses into a single test: give each its own."""
    from _pytest import nodes  # the node id has no public setter

    for item in items:
        label = getattr(item, "operation_label", None)
        if label and not item.nodeid.endswith("]"):
            unique = f"{item.nodeid}[{label}]"
            if hasattr(nodes, "coerce_node_id"):  # pytest >= 9: a structured id
                item._id = nodes.coerce_node_id(unique)  # type: ignore[attr-defined]
            else:
                item._nodeid = unique
