"""containerd 1.6 with `ctr run --runc-binary ocimux-oci`, for real: each backend through the runc shim.

A private containerd (containerd_daemon.py) runs with the test's containers.conf in its
environment, which the runc shim hands on to `ocimux-oci`; each test gets its own namespace, so
the front's root (`--runc-root`/<namespace>, which the shim passes as `--root`) is the test's own.
The backend is chosen per container with `ctr run --annotation io.ocimux.runtime=NAME`
(`--label` reaches config.json's annotations too in ctr 1.6; `test_backend_from_label_default_or_pinned`).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from ocimux.ocifront import records

from tests.integration.ocifront.conftest import CONF, FRONT, requires
from tests.integration.ocifront.containerd_daemon import Containerd, oci_image_tar

pytestmark = [pytest.mark.requires_root, requires("containerd", "ctr", "containerd-shim-runc-v2",
              "crun", "runc"), pytest.mark.timeout(300)]  # fmt: skip

#: the backends ocimux-oci routes to under containerd's runc shim (runc-shim joins with the
#: shim v2 relay)
BACKENDS = ("crun", "runc", "runc-shim")
IMAGE = "ocimux.test/busybox:test"
ROUTE = "io.ocimux.runtime"
#: a detached workload that stops on SIGTERM with status 7 (sh as the pid namespace's init
#: ignores a signal it has no handler for) once /tmp/ready says the trap is set
TRAPPED = 'trap "exit 7" TERM; touch /tmp/ready; sleep 100 & wait'
#: a logging wrapper in ocimux-oci's place: one line per argument, then the cwd and the conf
WRAPPER = """#!/bin/sh
{{ for a in "$@"; do printf '%s\\n' "$a"; done
   printf 'cwd=%s\\nconf=%s\\n--\\n' "$(pwd)" "$CONTAINERS_CONF"; }} >> {log}
exec {front} "$@"
"""
#: one backend for every container of a containerd runtime name (the shim passes no flags)
PINNED = '#!/bin/sh\nexec {front} --backend {backend} "$@"\n'
_names = itertools.count()


def routed(backend: str) -> str:
    """Where the front keeps a backend's containers under its root (see Namespace.backends)."""
    return "shim" if backend in ("runc-shim", "kata") else backend


@pytest.fixture(scope="module")
def daemon(busybox_rootfs: Path) -> Iterator[Containerd]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(("OCIMUX_", "CONTAINERS_CONF"))
    }
    cd = Containerd(env, runc_binary=FRONT)
    try:
        conf = cd.base / "containers.conf"
        # ocimux's state and run directories under the daemon's directory, never the defaults
        conf.write_text(CONF.format(state=cd.base / "ocimux"))
        cd.env.update(CONTAINERS_CONF=str(conf), OCIMUX_CACHE_DIR=str(cd.base / "cache"))
        oci_image_tar(busybox_rootfs, cd.base / "image.tar", IMAGE)
        cd.start()
        yield cd
    finally:
        cd.stop()


@dataclass
class Namespace:
    """A containerd namespace holding the image, and the front's root for it."""

    daemon: Containerd
    name: str

    @property
    def root(self) -> Path:
        """The front's root: `--runc-root` joined with the namespace, as the shim passes it."""
        return self.daemon.runc_root / self.name

    def ctr(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.daemon.ctr(self.name, *args)

    def run(self, *args: str, binary: str = FRONT) -> list[str]:
        """`ctr run` through `binary` with this namespace's root and fifo directory."""
        return ["run", "--runc-binary", binary, "--runc-root", str(self.daemon.runc_root),
                "--fifo-dir", str(self.daemon.base / "fifo"), *args]  # fmt: skip

    def backends(self) -> list[str]:
        """The backends the front has routed to in this namespace (each CLI backend has a root
        there; the shim v2 backends share the directory `shim`)."""
        found = self.root / "ocimux" / "backends"
        names = sorted(os.listdir(found)) if found.is_dir() else []
        return names + (["shim"] if (self.root / "ocimux" / "shim").is_dir() else [])

    def records(self) -> list[str]:
        """The front's container records in this namespace (none before its first create)."""
        records = self.root / "ocimux" / "containers"
        return sorted(os.listdir(records)) if records.is_dir() else []


@pytest.fixture
def ns(daemon: Containerd) -> Iterator[Namespace]:
    # unique on the host: ctr puts each container's cgroup under /<namespace>
    space = Namespace(daemon, f"ocimux-{os.getpid()}-{next(_names)}")
    done = space.ctr("images", "import", str(daemon.base / "image.tar"))
    assert done.returncode == 0, done.stderr
    yield space
    daemon.clear(space.name)


def task_status(ns: Namespace, cid: str) -> str | None:
    for line in ns.ctr("task", "ls").stdout.splitlines()[1:]:
        fields = line.split()
        if fields and fields[0] == cid:
            return fields[-1]
    return None


def wait_ready(ns: Namespace, cid: str) -> None:
    for attempt in range(100):
        if ns.ctr("task", "exec", "--exec-id", f"ready{attempt}", cid,
                  "test", "-e", "/tmp/ready").returncode == 0:  # fmt: skip
            return
        time.sleep(0.1)
    raise AssertionError(f"{cid} never set its trap")


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_rm_prints_and_exits(ns: Namespace, backend: str) -> None:
    cid = f"rm-{backend}"
    done = ns.ctr(*ns.run("--rm", "--annotation", f"{ROUTE}={backend}", IMAGE, cid,
                          "sh", "-c", "echo hi; exit 3"))  # fmt: skip
    assert (done.returncode, done.stdout) == (3, "hi\n"), done.stderr
    assert ns.backends() == [routed(backend)]
    assert ns.records() == []
    assert cid not in ns.ctr("container", "ls", "-q").stdout.split()


@pytest.mark.parametrize("backend", BACKENDS)
def test_detached_exec_kill_and_remove(ns: Namespace, backend: str) -> None:
    cid = f"d-{backend}"
    done = ns.ctr(*ns.run("-d", "--null-io", "--annotation", f"{ROUTE}={backend}", IMAGE, cid,
                          "sh", "-c", TRAPPED))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert ns.records() == [cid]
    assert ns.backends() == [routed(backend)]
    assert records.load(str(ns.root), cid).backend == backend  # type: ignore[union-attr]
    # the front's state is the backend's (and so is every later verb the shim sends)
    state = subprocess.run([FRONT, "--root", str(ns.root), "state", cid], capture_output=True,
                           text=True, timeout=30, env=ns.daemon.env, check=False)  # fmt: skip
    assert json.loads(state.stdout or "{}").get("status") == "running", state.stderr
    assert task_status(ns, cid) == "RUNNING"

    wait_ready(ns, cid)
    # a pause before the exit: ctr's exec can lose a process's last output when it exits right
    # after writing it (containerd's own race, concourse/concourse#6775; seen once in CI on runc)
    done = ns.ctr("task", "exec", "--exec-id", "ex1", cid, "sh", "-c", "echo ex; sleep 0.3; exit 4")
    assert (done.returncode, done.stdout) == (4, "ex\n"), done.stderr
    assert ns.ctr("task", "pause", cid).returncode == 0
    assert task_status(ns, cid) == "PAUSED"
    assert ns.ctr("task", "resume", cid).returncode == 0
    assert task_status(ns, cid) == "RUNNING"
    done = ns.ctr("task", "ps", cid)
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 3, done.stdout  # sh, sleep

    done = ns.ctr("task", "kill", cid)  # SIGTERM
    assert done.returncode == 0, done.stderr
    for _ in range(100):
        if task_status(ns, cid) == "STOPPED":
            break
        time.sleep(0.1)
    assert task_status(ns, cid) == "STOPPED"
    done = ns.ctr("task", "rm", cid)
    assert done.returncode == 0 and "exit code 7" in done.stderr, done.stderr
    assert task_status(ns, cid) is None
    done = ns.ctr("container", "rm", cid)
    assert done.returncode == 0, done.stderr
    assert cid not in ns.ctr("container", "ls", "-q").stdout.split()
    assert ns.records() == []
    assert not (ns.root / "ocimux" / "backends" / backend / cid).exists()
    assert not (ns.root / "ocimux" / "shim" / cid).exists()


@pytest.mark.parametrize(
    ("how", "backend"), [("label", "runc"), ("default", "crun"), ("pinned", "runc")]
)
def test_backend_from_label_default_or_pinned(
    ns: Namespace, tmp_path: Path, how: str, backend: str
) -> None:
    """ctr 1.6 copies `--label`s into the spec's annotations; no route: `[engine] runtime`;
    a wrapper as the runc binary can pin one with the global `--backend`."""
    flags, binary = [], FRONT
    if how == "label":
        flags = ["--label", f"{ROUTE}=runc"]
    elif how == "pinned":
        binary = str(tmp_path / "ocimux-oci-runc")
        Path(binary).write_text(PINNED.format(front=FRONT, backend=backend))
        Path(binary).chmod(0o755)
    done = ns.ctr(*ns.run("--rm", *flags, IMAGE, "c1", "echo", "hi", binary=binary))
    assert (done.returncode, done.stdout) == (0, "hi\n"), done.stderr
    assert ns.backends() == [backend]
    assert ns.records() == []


def test_errors_reach_ctr(ns: Namespace) -> None:
    """The front's own error and the backend's both reach ctr's message; nothing is left."""
    done = ns.ctr(*ns.run("--rm", "--annotation", f"{ROUTE}=nope", IMAGE, "e1", "true"))
    assert done.returncode == 1
    assert "OCI runtime create failed: ocimux-oci: runtime nope: unknown runtime 'nope'" in (
        done.stderr
    )
    done = ns.ctr(*ns.run("--rm", "--annotation", f"{ROUTE}=crun", IMAGE, "e2", "/bin/nonexistent"))
    assert done.returncode == 1
    assert "OCI runtime create failed: executable file `/bin/nonexistent` not found" in done.stderr
    assert ns.ctr("container", "ls", "-q").stdout.split() == []
    assert ns.records() == []


def test_what_the_runc_shim_passes(ns: Namespace, tmp_path: Path) -> None:
    """The shim's command lines, seen by a wrapper in ocimux-oci's place (docs/oci-runtime.md)."""
    log = tmp_path / "calls"
    wrapper = tmp_path / "wrapper"
    wrapper.write_text(WRAPPER.format(log=log, front=FRONT))
    wrapper.chmod(0o755)
    cid = "w1"
    done = ns.ctr(*ns.run("-d", "--null-io", "--annotation", f"{ROUTE}=crun", IMAGE, cid,
                          "sleep", "100", binary=str(wrapper)))  # fmt: skip
    assert done.returncode == 0, done.stderr
    done = ns.ctr("task", "exec", "--exec-id", "x1", cid, "true")
    assert done.returncode == 0, done.stderr
    assert ns.ctr("task", "kill", "-s", "KILL", cid).returncode == 0
    for _ in range(100):
        if task_status(ns, cid) == "STOPPED":
            break
        time.sleep(0.1)
    assert ns.ctr("task", "rm", cid).returncode == 0
    assert ns.ctr("container", "rm", cid).returncode == 0

    bundle = f"{ns.daemon.state}/io.containerd.runtime.v2.task/{ns.name}/{cid}"
    calls = [c.strip("\n").split("\n") for c in log.read_text().split("--\n") if c.strip()]
    # every call: the same globals first, the bundle as cwd, the daemon's CONTAINERS_CONF
    head = ["--root", str(ns.root), "--log", f"{bundle}/log.json", "--log-format", "json"]
    conf = ns.daemon.env["CONTAINERS_CONF"]
    assert all(c[:6] == head and c[-2:] == [f"cwd={bundle}", f"conf={conf}"] for c in calls)
    verbs = [c[6:-2] for c in calls]
    assert verbs[0] == ["create", "--bundle", bundle, "--pid-file", f"{bundle}/init.pid", cid]
    assert verbs[1] == ["start", cid]
    assert verbs[2][:2] == ["exec", "--process"] and verbs[2][2].startswith("/tmp/runc-process")
    assert verbs[2][3:] == ["--detach", "--pid-file", f"{bundle}/x1.pid", cid]
    assert verbs[3:] == [["kill", cid, "9"], ["delete", cid], ["delete", "--force", cid]]
    assert ns.records() == []
