"""`ocimux-oci` with a shim v2 backend (the runc shim, and Kata's name on it): the relay is the
container's process as an engine sees it, and every other verb goes to the shim over ttrpc.

The engine is played by a small monitor (MONITOR below) that does what conmon and containerd's
runc shim do: it is a child subreaper, runs `create` with its own pipes as the container's
stdio, reads the pid file, runs `start`, and `waitpid`s the relay after `create` has exited.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ocimux.ocifront import records

from tests.integration.ocifront.conftest import FRONT, requires

pytestmark = [pytest.mark.requires_root, requires("containerd-shim-runc-v2", "runc"),
              pytest.mark.timeout(180)]  # fmt: skip

#: an engine's monitor in a few lines: subreaper, create, start, waitpid(relay), report
MONITOR = r"""
import ctypes, json, os, subprocess, sys
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
front, root, bundle, cid, out = sys.argv[1:6]
pidfile = out + ".pid"
with open(out + ".stdout", "wb") as so, open(out + ".stderr", "wb") as se:
    code = subprocess.run([front, "--root", root, "create", "--bundle", bundle, "--pid-file",
                           pidfile, cid], stdin=subprocess.DEVNULL, stdout=so, stderr=se).returncode
if code:
    print(json.dumps({"create": code})); sys.exit(0)
pid = int(open(pidfile).read())
start = subprocess.run([front, "--root", root, "start", cid], capture_output=True)
_, status = os.waitpid(pid, 0)
print(json.dumps({"create": 0, "start": start.returncode, "relay": pid,
                  "status": os.waitstatus_to_exitcode(status)}))
"""


class Front:
    """`ocimux-oci --root ROOT` for one test, with the hermetic environment."""

    def __init__(self, env: dict[str, str], root: Path) -> None:
        self.env, self.root = env, root

    def __call__(
        self, *args: str, stdin: str | None = None, crash: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run the front; its output through files, not pipes: a relay it leaves behind holds
        its stdio for as long as the container runs, as runc's container process would."""
        env = {**self.env, "OCIMUX_CRASH_AT": crash} if crash else self.env
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            done = subprocess.run(
                [FRONT, "--root", str(self.root), *args],
                input=None if stdin is None else stdin.encode(),
                stdout=out,
                stderr=err,
                env=env,
                timeout=timeout,
                check=False,
                stdin=None if stdin is not None else subprocess.DEVNULL,
            )
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(done.args, done.returncode,
                                               out.read().decode(), err.read().decode())  # fmt: skip

    def state(self, cid: str) -> dict[str, object]:
        done = self("state", cid)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def create(self, bundle: Path, cid: str) -> int:
        """create; the relay's pid."""
        pidfile = self.root.parent / f"{cid}.pid"
        done = self("create", "--bundle", str(bundle), "--pid-file", str(pidfile), cid)
        assert done.returncode == 0, done.stderr
        return int(pidfile.read_text())

    def monitor(self, bundle: Path, cid: str) -> tuple[dict[str, int], str, str]:
        out = self.root.parent / f"mon-{cid}"
        done = subprocess.run([sys.executable, "-c", MONITOR, FRONT, str(self.root), str(bundle),
                               cid, str(out)], capture_output=True, text=True, env=self.env,
                              timeout=120, check=True)  # fmt: skip
        report = json.loads(done.stdout)
        stdout = Path(f"{out}.stdout").read_text() if Path(f"{out}.stdout").exists() else ""
        stderr = Path(f"{out}.stderr").read_text() if Path(f"{out}.stderr").exists() else ""
        return report, stdout, stderr


def new_id(name: str) -> str:
    """A container id of this test's own: runc's default cgroup path is `/<id>`, shared by
    every container of that id on the host (and `kill --all` kills the whole cgroup)."""
    return f"{name}-{os.urandom(4).hex()}"


@pytest.fixture
def front(front_env: dict[str, str], tmp_path: Path) -> Iterator[Front]:
    # kata: the runc shim behind Kata's shim name, driven by the kata plugin (as test_shimv2.py)
    kata = tmp_path / "bin" / "containerd-shim-kata-v2"
    kata.parent.mkdir()
    kata.symlink_to(shutil.which("containerd-shim-runc-v2") or "")
    conf = Path(front_env["CONTAINERS_CONF"])
    text = conf.read_text()
    conf.write_text(text.replace("[engine.runtimes]\n", f'[engine.runtimes]\nkata = ["{kata}"]\n'))
    front = Front(front_env, tmp_path / "root")
    yield front
    # a failed test leaves no shim, relay or workload behind
    for cid in records.all_records(str(front.root)):
        front("delete", "--force", cid)


def shim_processes(root: Path) -> list[int]:
    """Live shim daemons whose working directory is under `root`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if not (entry / "comm").read_text().startswith("containerd-shim"):
                continue
            if str(root) in os.readlink(entry / "cwd"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def gone_wholly(front: Front, cid: str) -> None:
    """Nothing of `cid` is left: no record, no directory, no shim, `state` says so."""
    done = front("state", cid)  # settles what a crash left
    assert (done.returncode, "container does not exist" in done.stderr) == (1, True)
    deadline = time.monotonic() + 10
    while shim_processes(front.root) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert shim_processes(front.root) == []
    assert records.load(str(front.root), cid) is None
    assert not (front.root / "ocimux" / "shim" / cid).exists()


@pytest.mark.parametrize("backend", ["runc-shim", "kata"])
def test_the_relay_carries_output_and_exit_status(
    front: Front, make_bundle: Callable[..., Path], backend: str
) -> None:
    cid = new_id("c1")
    bundle = make_bundle(backend, ["sh", "-c", "echo out; echo err >&2; exit 3"],
                         {"io.ocimux.runtime": backend})  # fmt: skip
    report, stdout, stderr = front.monitor(bundle, cid)
    assert report["create"] == 0 and report["start"] == 0, (report, stderr)
    assert (report["status"], stdout, stderr) == (3, "out\n", "err\n")
    state = front.state(cid)
    assert (state["status"], state["pid"], state["bundle"]) == ("stopped", 0, str(bundle))
    record = records.load(str(front.root), cid)
    assert record is not None and (record.kind, record.backend) == ("shim", backend)
    assert record.extra["relay"] == str(report["relay"])
    assert front("delete", cid).returncode == 0
    gone_wholly(front, cid)


def test_verbs_go_to_the_shim(front: Front, make_bundle: Callable[..., Path],
                              tmp_path: Path) -> None:  # fmt: skip
    cid = new_id("c2")
    bundle = make_bundle("v", ["sleep", "100"], {"io.ocimux.runtime": "runc-shim"})
    relay = front.create(bundle, cid)
    state = front.state(cid)
    assert state["status"] == "created" and state["pid"] != relay
    assert front("start", cid).returncode == 0
    state = front.state(cid)
    assert state["status"] == "running"
    workload = int(state["pid"])  # type: ignore[arg-type]
    assert Path(f"/proc/{workload}/cmdline").read_bytes().startswith(b"sleep")
    assert alive(relay)

    done = front("ps", "--format", "json", cid)
    assert json.loads(done.stdout) == [workload], done.stderr
    done = front("exec", cid, "sh", "-c", "echo ex-out; echo ex-err >&2; exit 4")
    assert (done.returncode, done.stdout, done.stderr) == (4, "ex-out\n", "ex-err\n")
    process = tmp_path / "process.json"
    process.write_text(json.dumps({"args": ["sh", "-c", "read x; echo got:$x"], "cwd": "/",
                                   "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}}))  # fmt: skip
    done = front("exec", "--process", str(process), cid, stdin="hello\n")
    assert (done.returncode, done.stdout) == (0, "got:hello\n"), done.stderr

    assert front("pause", cid).returncode == 0
    assert front.state(cid)["status"] == "paused"
    assert front("resume", cid).returncode == 0
    assert front.state(cid)["status"] == "running"

    limits = tmp_path / "limits.json"
    limits.write_text(json.dumps({"pids": {"limit": 42}}))
    done = front("update", "--resources", str(limits), cid)
    assert done.returncode == 0, done.stderr
    cgroup = next(line.split(":", 2)[2] for line in
                  Path(f"/proc/{workload}/cgroup").read_text().splitlines()
                  if line.split(":")[1] == "pids")  # fmt: skip
    assert Path(f"/sys/fs/cgroup/pids{cgroup}/pids.max").read_text().strip() == "42"
    done = front("update", "--pids-limit", "7", cid)
    assert done.returncode == 1 and "takes --resources FILE" in done.stderr

    listed = json.loads(front("list", "--format", "json").stdout)
    assert [(c["id"], c["status"]) for c in listed] == [(cid, "running")]

    done = front("delete", cid)
    assert done.returncode == 1 and "that is not stopped: running" in done.stderr
    # (sleep is the namespace's first process: it ignores an untrapped SIGTERM)
    assert front("kill", cid, "9").returncode == 0
    deadline = time.monotonic() + 10
    while front.state(cid)["status"] != "stopped" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert front.state(cid)["status"] == "stopped"
    done = front("kill", cid, "KILL")
    assert done.returncode == 1 and "container not running" in done.stderr
    assert front("delete", cid).returncode == 0
    gone_wholly(front, cid)
    assert not alive(relay)


def test_delete_force_of_a_running_container(front: Front,
                                             make_bundle: Callable[..., Path]) -> None:  # fmt: skip
    cid = new_id("c3")
    bundle = make_bundle("f", ["sleep", "100"], {"io.ocimux.runtime": "runc-shim"})
    relay = front.create(bundle, cid)
    assert front("start", cid).returncode == 0
    workload = int(front.state(cid)["pid"])  # type: ignore[arg-type]
    assert front("delete", "--force", cid).returncode == 0
    gone_wholly(front, cid)
    assert not alive(workload) and not alive(relay)


def test_what_a_shim_backend_cannot_do_is_refused(
    front: Front, make_bundle: Callable[..., Path]
) -> None:
    cid = new_id("c4")
    bundle = make_bundle("r", ["sleep", "100"], {"io.ocimux.runtime": "runc-shim"})
    done = front("create", "--bundle", str(bundle), "--preserve-fds", "1", cid)
    assert done.returncode == 1 and "cannot preserve fds" in done.stderr
    assert records.load(str(front.root), cid) is None
    done = front("--backend", "runc-shim", "features")
    assert done.returncode == 1 and "capability: features" in done.stderr
    front.create(bundle, cid)
    done = front("checkpoint", cid)
    assert done.returncode == 1
    assert "runc-shim cannot checkpoint: capability checkpoint is no" in done.stderr
    assert front("delete", "--force", cid).returncode == 0
    gone_wholly(front, cid)


def test_a_shim_that_fails_to_start_leaves_nothing(
    front: Front, make_bundle: Callable[..., Path], tmp_path: Path
) -> None:
    cid = new_id("c5")
    bad = tmp_path / "bin" / "containerd-shim-broken-v2"
    bad.write_text("#!/bin/sh\necho 'broken shim: cannot start' >&2\nexit 2\n")
    bad.chmod(0o755)
    conf = Path(front.env["CONTAINERS_CONF"])
    conf.write_text(conf.read_text().replace("[engine.runtimes]\n",
                                             f'[engine.runtimes]\nbroken = ["{bad}"]\n'))  # fmt: skip
    bundle = make_bundle("x", ["true"], {"io.ocimux.runtime": "broken"})
    done = front("create", "--bundle", str(bundle), cid)
    assert done.returncode == 1
    assert "broken shim: cannot start" in done.stderr and len(done.stderr.splitlines()) == 1
    assert records.load(str(front.root), cid) is None
    assert not (front.root / "ocimux" / "shim" / cid).exists()


@pytest.mark.parametrize(
    "point",
    ["oci-create:recorded", "oci-create:backend", "oci-delete:marked", "oci-delete:backend"],
)
def test_a_crash_leaves_the_container_wholly_gone(
    front: Front, make_bundle: Callable[..., Path], point: str
) -> None:
    cid = new_id("c6")
    """Without its relay the engine cannot use a shim container: a crash in create undoes it
    (the relay does, seeing the front die before "go"; else the next call), as does one in
    delete (the next call finishes the delete)."""
    bundle = make_bundle("k", ["sleep", "100"], {"io.ocimux.runtime": "runc-shim"})
    if point.startswith("oci-delete"):
        front.create(bundle, cid)
        assert front("start", cid).returncode == 0
        done = front("delete", "--force", cid, crash=point)
    else:
        done = front("create", "--bundle", str(bundle), cid, crash=point)
    assert done.returncode == -9
    gone_wholly(front, cid)
    # and the id is free for a create that completes
    front.create(bundle, cid)
    assert front.state(cid)["status"] == "created"
    assert front("delete", "--force", cid).returncode == 0
    gone_wholly(front, cid)
