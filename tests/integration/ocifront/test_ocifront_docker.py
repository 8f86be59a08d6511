"""Docker's daemon (Debian's docker.io 20.10.24) with `ocimux-oci` as a `runtimes` entry, for real.

dockerd runs hermetically: its own --data-root, --exec-root, --pidfile and socket in a short
directory under /tmp, its own managed containerd (under the exec-root, never the host's
/run/containerd/containerd.sock; only the shims' sockets go to the host's /run/containerd/s),
vfs storage, no bridge and no iptables. It reaches the front
through containerd's runc shim v2 (containerd-shim-runc-v2), which calls it as runc with
`--root <exec-root>/runtime-runc/moby --log <bundle>/log.json --log-format json` after the
runtime's `runtimeArgs` (seen with a logging wrapper): that root is the front's, so its records
and the backends' roots are under it. ocimux's configuration reaches the front through
CONTAINERS_CONF in dockerd's environment (dockerd -> containerd -> shim -> runtime).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.ocifront.conftest import CONF, FRONT, requires

pytestmark = [pytest.mark.requires_root, requires("dockerd", "docker"), pytest.mark.timeout(300)]

IMAGE = "ocimux-busybox:test"
#: Docker on each backend directly, to compare with Docker through the front ("runc" is built in)
DIRECT = {"crun": "crun", "runc": "runc", "runsc": "runsc-direct", "runc-shim": "runc"}
BACKENDS = [
    "crun",
    "runc",
    pytest.param("runsc", marks=requires("runsc")),
    # the shim v2 backend through the front's relay; Docker on runc is its yardstick
    "runc-shim",
]


#: where the front keeps a backend's containers under its root (shim v2 backends share one)
def backend_dir(front_root: Path, backend: str) -> Path:
    if backend == "runc-shim":
        return front_root / "ocimux" / "shim"
    return front_root / "ocimux" / "backends" / backend


@dataclass
class Daemon:
    """A running dockerd: the `docker` CLI against it and where its pieces live."""

    docker: Callable[..., subprocess.CompletedProcess[str]]
    base: Path
    #: the --root the shim gives every runtime: the front's root
    front_root: Path
    #: the `docker` CLI's environment (DOCKER_HOST, DOCKER_CONFIG of this daemon)
    cli_env: dict[str, str]


def daemon_json() -> dict[str, object]:
    """The daemon.json of docs/oci-runtime.md: one runtime name per backend, pinned by runtimeArgs."""
    runtimes: dict[str, object] = {
        f"ocimux-{name}": {"path": FRONT, "runtimeArgs": ["--backend", name]}
        for name in ("crun", "runc", "runsc", "runc-shim")
    }
    runtimes["crun"] = {"path": shutil.which("crun") or "crun"}
    runtimes["runsc-direct"] = {
        "path": shutil.which("runsc") or "runsc",
        "runtimeArgs": ["--network=none"],  # host.md §3
    }
    return {"runtimes": runtimes}


def image_archive(rootfs: Path, dest: Path) -> Path:
    """A `docker save`-style archive of `rootfs` as one layer, tagged IMAGE."""
    layer_buf = io.BytesIO()
    with tarfile.open(fileobj=layer_buf, mode="w", format=tarfile.PAX_FORMAT) as layer_tar:
        for path in sorted(rootfs.rglob("*")):
            layer_tar.add(path, arcname=str(path.relative_to(rootfs)), recursive=False)
    layer = layer_buf.getvalue()
    diff_id = hashlib.sha256(layer).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
        }
    ).encode()
    config_name = f"{hashlib.sha256(config).hexdigest()}.json"
    manifest = [{"Config": config_name, "RepoTags": [IMAGE], "Layers": [f"{diff_id}/layer.tar"]}]
    members = [
        (f"{diff_id}/layer.tar", layer),
        (config_name, config),
        ("manifest.json", json.dumps(manifest).encode()),
    ]
    with tarfile.open(dest, "w") as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return dest


def leftover_pids(base: Path) -> list[int]:
    """Processes whose command line names `base`: this dockerd's containerd and shims."""
    needle = str(base).encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if needle in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def unmount_under(base: Path) -> None:
    """Lazily unmount what a killed dockerd left under `base` (its data-root bind, netns files)."""
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for point in sorted((p for p in points if p.startswith(f"{base}/")), reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, timeout=30, check=False)


def owner(root: Path, cid: str) -> str | None:
    """Which runtime holds container `cid` in the shim's root, by its state files.

    Asked by name, not tried in turn: `runc delete --force` removes any directory `<root>/<id>`
    it cannot load (crun's too).
    """
    if (root / "ocimux" / "containers" / cid).exists():
        return FRONT  # it knows the backend
    if (root / cid / "state.json").exists():
        return "runc"
    if (root / cid / "status").exists():
        return "crun"
    if any(root.glob(f"*_sandbox:{cid}.state")):
        return "runsc"
    return None


def stop(base: Path, dockerd: subprocess.Popen[bytes], env: dict[str, str], root: Path) -> None:
    """Stop dockerd (it stops its containers and containerd), then whatever survived it."""
    dockerd.terminate()
    try:
        dockerd.wait(timeout=30)
    except subprocess.TimeoutExpired:
        dockerd.kill()
        dockerd.wait(timeout=30)
    for pid in leftover_pids(base):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    # containers whose shim died with them: every runtime here shares the shim's root
    containers = base / "d" / "containers"
    for cid in [p.name for p in containers.iterdir()] if containers.is_dir() else []:
        binary = owner(root, cid)
        if binary is not None:
            subprocess.run([binary, "--root", str(root), "delete", "--force", cid], env=env,
                           capture_output=True, timeout=60, check=False)  # fmt: skip
    unmount_under(base)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def daemon(busybox_rootfs: Path) -> Iterator[Daemon]:
    # unix socket paths are short: a short directory of its own
    base = Path(tempfile.mkdtemp(prefix="dk", dir="/tmp"))
    conf = base / "containers.conf"
    conf.write_text(CONF.format(state=base / "state"))
    (base / "daemon.json").write_text(json.dumps(daemon_json()))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(("OCIMUX_", "CONTAINERS_CONF", "DOCKER_"))
    }
    env.update(CONTAINERS_CONF=str(conf), OCIMUX_CACHE_DIR=str(base / "cache"))
    cli_env = {**env, "DOCKER_HOST": f"unix://{base}/sock", "DOCKER_CONFIG": str(base / "cli")}
    front_root = base / "x" / "runtime-runc" / "moby"
    with (base / "dockerd.log").open("wb") as log:
        dockerd = subprocess.Popen(
            ["dockerd", "--data-root", str(base / "d"), "--exec-root", str(base / "x"),
             "--pidfile", str(base / "pid"), "-H", f"unix://{base}/sock",
             "--config-file", str(base / "daemon.json"), "--storage-driver", "vfs",
             "--bridge", "none", "--iptables=false", "--ip-masq=false"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,
        )  # fmt: skip

    def docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, env=cli_env, check=False)  # fmt: skip

    try:
        deadline = time.monotonic() + 60
        while docker("version").returncode != 0:
            if dockerd.poll() is not None or time.monotonic() > deadline:
                log_tail = (base / "dockerd.log").read_text()[-3000:]
                pytest.fail(f"dockerd did not come up (status {dockerd.poll()}):\n{log_tail}")
            time.sleep(0.2)
        loaded = docker("load", "-i", str(image_archive(busybox_rootfs, base / "image.tar")))
        assert loaded.returncode == 0, loaded.stderr
        yield Daemon(docker, base, front_root, cli_env)
        left = docker("ps", "-a", "-q").stdout.split()
        if left:
            docker("rm", "-f", *left, timeout=120)
    finally:
        stop(base, dockerd, env, front_root)


def record(front_root: Path, cid: str) -> dict[str, str]:
    """The front's record of a container: its `key<TAB>value` lines."""
    text = (front_root / "ocimux" / "containers" / cid).read_text()
    return dict(line.split("\t", 1) for line in text.splitlines() if "\t" in line)


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_rm_prints_and_exits(daemon: Daemon, backend: str) -> None:
    done = daemon.docker("run", "--rm", "--runtime", f"ocimux-{backend}", "--network", "none",
                         IMAGE, "sh", "-c", "echo hi; exit 3")  # fmt: skip
    assert (done.returncode, done.stdout) == (3, "hi\n"), done.stderr
    # the shim's --root is the front's: the backend's own root is under it, no record is left
    assert backend_dir(daemon.front_root, backend).is_dir()
    assert list((daemon.front_root / "ocimux" / "containers").iterdir()) == []
    # CONTAINERS_CONF and OCIMUX_CACHE_DIR reached the front through containerd and the shim
    assert list((daemon.base / "cache").glob("oci-route-*.txt"))


def scenario(daemon: Daemon, runtime: str, check_backend: Callable[[str], None]) -> list[object]:
    """What Docker shows through a detached container's life on `runtime`."""
    docker = daemon.docker
    seen: list[object] = []
    done = docker("run", "-d", "--runtime", runtime, "--network", "none", IMAGE,
                  "sh", "-c", "echo started; exec sleep 100")  # fmt: skip
    assert done.returncode == 0, done.stderr
    cid = done.stdout.strip()
    check_backend(cid)

    def state() -> str:
        return docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", cid).stdout.strip()

    done = docker("exec", cid, "sh", "-c", "echo ex; exit 4")
    seen.append(("exec", done.returncode, done.stdout))
    seen.append(("logs", docker("logs", cid).stdout))
    seen.append(("top", docker("top", cid).returncode))
    seen.append(("pause", docker("pause", cid).returncode, state()))
    seen.append(("unpause", docker("unpause", cid).returncode, state()))
    seen.append(("stop", docker("stop", "-t", "1", cid).returncode, state()))
    seen.append(("start", docker("start", cid).returncode, state()))
    seen.append(("kill", docker("kill", cid).returncode, state()))
    seen.append(("rm", docker("rm", cid).returncode, docker("inspect", cid).returncode))
    seen.append(("record left", (daemon.front_root / "ocimux" / "containers" / cid).exists()))
    return seen


@pytest.mark.parametrize("backend", BACKENDS)
def test_detached_life_as_with_the_backend_itself(daemon: Daemon, backend: str) -> None:
    backend_root = backend_dir(daemon.front_root, backend)

    def on_the_backend(cid: str) -> None:
        # the front recorded the backend asked for, and that backend runs it under its own root
        rec = record(daemon.front_root, cid)
        if backend == "runc-shim":  # the shim's runc keeps its state under the front's root
            assert (rec["backend"], rec["root"]) == (backend, str(backend_root / cid))
            command = ["runc", "--root", str(backend_root / "state" / "ocimux"), "state", cid]
        else:
            assert (rec["backend"], rec["root"]) == (backend, str(backend_root))
            command = [backend, "--root", str(backend_root), "state", cid]
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        assert json.loads(done.stdout)["status"] == "running", done.stderr

    via_front = scenario(daemon, f"ocimux-{backend}", on_the_backend)
    direct = scenario(daemon, DIRECT[backend], lambda cid: None)
    assert via_front == direct
    assert ("exec", 4, "ex\n") in via_front
    assert ("logs", "started\n") in via_front
    assert ("pause", 0, "paused 0") in via_front and ("unpause", 0, "running 0") in via_front
    assert ("start", 0, "running 0") in via_front
    assert ("kill", 0, "exited 137") in via_front
    assert ("rm", 0, 1) in via_front
    assert ("record left", False) in via_front


@pytest.mark.parametrize("backend", ["crun", "runc", "runc-shim"])
def test_terminal_run_and_exec_in_a_pty(daemon: Daemon, backend: str) -> None:
    """`run -it` and `exec -it` through the front: the shim's console socket reaches the backend."""
    from tests.ptydriver import Pty

    env = daemon.cli_env
    term = Pty(["docker", "run", "--rm", "-it", "--runtime", f"ocimux-{backend}", "--network",
                "none", IMAGE, "sh"], env)  # fmt: skip
    try:
        term.send("tty; echo $((6*7))\r")
        term.read_until(r"/dev/pts/\d+", timeout=30)
        term.read_until("42")
        term.send("exit 4\r")
        assert term.wait(timeout=30) == 4
    finally:
        term.close()
    done = daemon.docker("run", "-d", "--runtime", f"ocimux-{backend}", "--network", "none",
                         IMAGE, "sleep", "100")  # fmt: skip
    assert done.returncode == 0, done.stderr
    cid = done.stdout.strip()
    term = Pty(["docker", "exec", "-it", cid, "sh"], env)
    try:
        term.send("tty; echo $((7*8))\r")
        term.read_until(r"/dev/pts/\d+", timeout=30)
        term.read_until("56")
        term.send("exit 6\r")
        assert term.wait(timeout=30) == 6
    finally:
        term.close()
        daemon.docker("rm", "-f", cid)
