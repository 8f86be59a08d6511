"""Copy-on-write rootfs layers (overlayfs) on real runtimes: runc, crun, runsc, runc-shim.

Each container asked for a layer (`ContainerConfig(rootfs_overlay=True)`, the CLI's
`--rootfs DIR:O`) runs on `<container dir>/layer/merged`, an overlay of its own upper
directory over the rootfs. What is checked is what a user relies on: two containers of one
rootfs never see each other's writes, the rootfs stays byte for byte the same whatever a
container does to its `/`, and once a container is removed — also by the next call after an
`ocimux` killed at any create or delete step — no mount and no layer directory are left
(read from /proc/self/mountinfo, not from ocimux).

Everything goes through the `ocimux` CLI. The runsc plugin (examples/ocimux-runsc), unless
installed, is put on the children's PYTHONPATH as a throw-away distribution, so the shared
virtualenv is not changed. State lives in a short directory under /tmp (runsc's exec drops
flags once conmon's argv gets long).

The last tests drive `ocimux.oci.overlay` directly (root, no runtime): a busy mount is detached,
and a layer with anything still mounted under it is never deleted.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.integration.conftest import pids_matching, wait_until

pytestmark = pytest.mark.requires_root

SHIM = "containerd-shim-runc-v2"
RUNSC_PLUGIN = REPO / "examples" / "ocimux-runsc" / "ocimux_runsc"

#: runtime name -> the binaries it needs
NEEDS = {
    "runc": ("runc", "conmon"),
    "crun": ("crun", "conmon"),
    "runc-shim": (SHIM, "runc"),
    "runsc": ("runsc", "conmon"),
}


def _installed(dist: str) -> bool:
    try:
        importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _params() -> list[Any]:
    return [
        pytest.param(name, id=name, marks=[pytest.mark.requires_runtime(b) for b in needs])
        for name, needs in NEEDS.items()
    ]


# --- what the host shows -------------------------------------------------------------------


def mount_points() -> list[str]:
    """Every mount point in this mount namespace (read independently of ocimux.oci.overlay)."""
    with open("/proc/self/mountinfo", "rb") as fh:
        lines = fh.read().splitlines()
    unescape = re.compile(rb"\\([0-7]{3})")
    return [
        os.fsdecode(unescape.sub(lambda m: bytes([int(m.group(1), 8)]), line.split(b" ")[4]))
        for line in lines
    ]


def mounts_under(directory: Path) -> list[str]:
    real = os.path.realpath(directory)
    return [p for p in mount_points() if p == real or p.startswith(real + "/")]


def tree_digest(root: Path) -> dict[str, tuple[Any, ...]]:
    """Every entry under `root` (itself included): type and mode, owner, size, mtime, content."""
    out: dict[str, tuple[Any, ...]] = {}

    def entry(path: str) -> tuple[Any, ...]:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            body: Any = os.readlink(path)
        elif stat.S_ISREG(st.st_mode):
            with open(path, "rb") as fh:
                body = hashlib.sha256(fh.read()).hexdigest()
        else:
            body = None
        return (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, body)

    out["."] = entry(str(root))
    for dirpath, dirnames, filenames in os.walk(root):  # never follows a symlink
        for name in [*dirnames, *filenames]:
            path = os.path.join(dirpath, name)
            out[os.path.relpath(path, root)] = entry(path)
    return out


# --- the fixture ---------------------------------------------------------------------------


@dataclass
class Box:
    """One runtime, a private copy of the busybox rootfs and a private state directory."""

    runtime: str
    rootfs: Path
    state: Path
    env: dict[str, str]

    def cli(self, *args: str, env: dict[str, str] | None = None, timeout: float = 90) -> Any:
        return subprocess.run(
            [sys.executable, "-m", "ocimux.cli", *args],
            env={**self.env, **(env or {})}, capture_output=True, text=True,
            timeout=timeout, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    def ok(self, *args: str) -> str:
        done = self.cli(*args)
        assert done.returncode == 0, (args, done.returncode, done.stderr)
        return done.stdout

    def create(
        self,
        name: str,
        *cmd: str,
        detach: bool = False,
        rm: bool = False,
        crash: str | None = None,
        layer: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """`ocimux run --rootfs DIR:O` (in the foreground unless `detach`; plain DIR without `layer`)."""
        flags = [*(["-d"] if detach else []), *(["--rm"] if rm else [])]
        target = f"{self.rootfs}:O" if layer else str(self.rootfs)
        return self.cli(
            "run", *flags, "--name", name, "--runtime", self.runtime, "--rootfs", target, "--", *cmd,
            env={"OCIMUX_CRASH_AT": crash} if crash else None,
        )  # fmt: skip

    def detach(self, name: str, *cmd: str) -> str:
        done = self.create(name, *cmd, detach=True)
        assert done.returncode == 0, done.stderr
        cid = done.stdout.strip()
        assert re.fullmatch(r"[0-9a-f]{64}", cid), done.stdout
        return cid

    def ps(self) -> list[dict[str, Any]]:
        return json.loads(self.ok("ps", "-a", "--format", "json"))

    def record(self, ref: str) -> dict[str, Any]:
        return json.loads(self.ok("inspect", ref))[0]

    @property
    def containers(self) -> Path:
        return self.state / "lib" / "containers"

    def layer(self, cid: str) -> Path:
        return self.containers / cid / "layer"

    def nothing_left(self) -> None:
        """No record, no mount, no layer, no container directory."""
        assert self.ps() == []
        assert mounts_under(self.state) == []
        assert not self.containers.exists() or list(self.containers.iterdir()) == []

    def processes(self) -> list[int]:
        return [p for p in pids_matching(str(self.state)) if p != os.getpid()]


@pytest.fixture(params=_params())
def box(
    request: pytest.FixtureRequest,
    ocimux_env: dict[str, str],
    busybox_rootfs: Path,
    tmp_path: Path,
) -> Iterator[Box]:
    runtime = str(request.param)
    state = Path(tempfile.mkdtemp(prefix="ovl", dir="/tmp"))
    conf = Path(ocimux_env["CONTAINERS_CONF"])
    text = conf.read_text()
    conf.write_text(text.replace(f'"{conf.parent / "state"}/', f'"{state}/'))
    env = dict(ocimux_env)
    if runtime == "runsc" and not _installed("ocimux-runsc"):
        site = tmp_path / "site"
        info = site / "ocimux_runsc-1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ocimux-runsc\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(
            "[ocimux.runtimes]\nrunsc = ocimux_runsc:RunscRuntime\n"
        )
        shutil.copytree(RUNSC_PLUGIN, site / "ocimux_runsc")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    rootfs = tmp_path / "rootfs"
    shutil.copytree(busybox_rootfs, rootfs, symlinks=True)  # never the shared one: we rm -rf /bin
    helper = Box(runtime=runtime, rootfs=rootfs, state=state, env=env)
    try:
        yield helper
    finally:
        _clean(helper)


def _clean(box: Box) -> None:
    """Remove what the test left, kill (by pid) what outlived that, never leave a mount."""
    with suppress(Exception):
        left = box.cli("ps", "-a", "-q").stdout.split()
        if left:
            box.cli("rm", "-f", "-t", "0", *left, timeout=120)
    deadline = time.monotonic() + 3
    while box.processes() and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in box.processes():  # e.g. the shim's event sink, which lingers by design
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    stray = mounts_under(box.state)
    for point in sorted(stray, reverse=True):
        subprocess.run(["umount", "-l", point], check=False)
    if not mounts_under(box.state):
        shutil.rmtree(box.state, ignore_errors=True)
    assert not stray, f"mounts outlived the test: {stray}"


# --- isolation -----------------------------------------------------------------------------


def test_two_containers_of_one_rootfs_do_not_see_each_other_s_writes(box: Box) -> None:
    before = tree_digest(box.rootfs)
    a = box.detach("a", "sh", "-c", "echo from-a > /etc/mark; echo a > /a-only; sleep 100")
    upper = box.layer(a) / "upper"
    wait_until(lambda: (upper / "a-only").exists(), 10, "a's write to land in its upper dir")
    assert (upper / "etc" / "mark").read_text() == "from-a\n"

    merged = box.layer(a) / "merged"
    assert str(merged) in mount_points()
    config = json.loads((box.containers / a / "config.json").read_text())
    assert config["root"]["path"] == str(merged)
    rec = box.record("a")
    assert rec["config"]["layer"] is True
    assert rec["config"]["rootfs"] == str(box.rootfs)

    b = box.create("b", "sh", "-c", "cat /etc/mark /a-only; echo from-b > /etc/mark; cat /etc/mark")
    assert b.returncode == 0, b.stderr
    assert b.stdout == "from-b\n", b.stdout
    assert b.stderr.count("No such file or directory") == 2, b.stderr
    assert box.ok("exec", "a", "cat", "/etc/mark") == "from-a\n"

    assert tree_digest(box.rootfs) == before
    box.ok("rm", "-f", "-t", "0", "a", "b")
    box.nothing_left()


def test_rm_rf_bin_leaves_the_rootfs_byte_for_byte_unchanged(box: Box) -> None:
    before = tree_digest(box.rootfs)
    vandal = (
        "echo pwned > /etc/passwd; chmod 600 /etc/group; ln -sf /nowhere /etc/hosts;"
        " chmod 700 /; touch /bin/busybox; mkdir /new; rm -rf /bin /usr;"
        " test -e /bin/busybox || echo gone"
    )
    done = box.create("vandal", "/bin/busybox", "sh", "-c", vandal, rm=True)
    assert (done.returncode, done.stdout) == (0, "gone\n"), done.stderr
    assert tree_digest(box.rootfs) == before
    box.nothing_left()

    after = box.create("next", "sh", "-c", "head -1 /etc/passwd; ls /bin | wc -l", rm=True)
    assert after.returncode == 0, after.stderr
    first, count = after.stdout.splitlines()
    assert first == "root:x:0:0:root:/root:/bin/sh"
    assert int(count) == len(os.listdir(box.rootfs / "bin"))
    box.nothing_left()


def test_the_container_root_has_the_rootfs_root_s_mode_and_owner(box: Box) -> None:
    os.chown(box.rootfs, 1234, 5678)
    os.chmod(box.rootfs, 0o751)
    done = box.create("st", "stat", "-c", "%a %u %g", "/", rm=True)
    assert (done.returncode, done.stdout) == (0, "751 1234 5678\n"), done.stderr
    box.nothing_left()


def test_without_O_the_container_writes_into_the_rootfs_as_podman_s_does(box: Box) -> None:
    done = box.create("plain", "sh", "-c", "echo kept > /kept", rm=True, layer=False)
    assert done.returncode == 0, done.stderr
    assert (box.rootfs / "kept").read_text() == "kept\n"
    box.nothing_left()


# --- crashes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "point", ["create:recorded", "create:bundle", "create:layer", "create:runtime"]
)
def test_a_crash_during_create_leaves_no_mount_and_no_layer(box: Box, point: str) -> None:
    before = tree_digest(box.rootfs)
    done = box.create("doomed", "sleep", "100", detach=True, crash=point)
    assert done.returncode == -signal.SIGKILL, (point, done.returncode, done.stderr)
    if point in ("create:layer", "create:runtime"):
        assert len(mounts_under(box.state)) == 1  # the crash left the layer mounted
    box.nothing_left()  # `ps -a` finished the interrupted create
    assert tree_digest(box.rootfs) == before
    again = box.create("doomed", "sh", "-c", "test -e /mark || echo fresh; touch /mark", rm=True)
    assert (again.returncode, again.stdout) == (0, "fresh\n"), again.stderr
    box.nothing_left()


@pytest.mark.parametrize("point", ["delete:marked", "delete:runtime"])
def test_a_crash_during_rm_leaves_no_mount_and_no_layer(box: Box, point: str) -> None:
    cid = box.detach("web", "sh", "-c", "echo x > /x; sleep 100")
    assert str(box.layer(cid) / "merged") in mount_points()
    done = box.cli("rm", "-f", "-t", "0", "web", env={"OCIMUX_CRASH_AT": point})
    assert done.returncode == -signal.SIGKILL, (point, done.returncode, done.stderr)
    assert str(box.layer(cid) / "merged") in mount_points()  # the crash came before the unmount
    box.nothing_left()
    assert not (box.rootfs / "x").exists()


def test_a_crash_during_rm_is_also_finished_by_rm_itself(box: Box) -> None:
    box.detach("web", "sleep", "100")
    done = box.cli("rm", "-f", "-t", "0", "web", env={"OCIMUX_CRASH_AT": "delete:runtime"})
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert box.ok("rm", "web").strip() == "web"
    assert mounts_under(box.state) == []
    box.nothing_left()


# --- a runtime that vanished ---------------------------------------------------------------


@pytest.mark.parametrize("box", [_params()[0]], indirect=True)
def test_rm_f_of_a_container_whose_runtime_vanished_unmounts_its_layer(box: Box) -> None:
    runc = shutil.which("runc")
    conf = Path(box.env["CONTAINERS_CONF"])
    conf.write_text(conf.read_text() + f'[engine.runtimes]\ngone = ["{runc}"]\n')
    box.runtime = "gone"
    done = box.create("short", "sh", "-c", "echo x > /x")  # stopped, not removed
    assert done.returncode == 0, done.stderr
    cid = box.record("short")["id"]
    assert str(box.layer(cid) / "merged") in mount_points()
    conf.write_text(conf.read_text().replace(f'gone = ["{runc}"]', ""))
    assert box.cli("rm", "short").returncode != 0  # without -f the record stays
    box.ok("rm", "-f", "short")
    assert mounts_under(box.state) == []
    assert not (box.containers / cid).exists()
    assert box.ps() == []


# --- ocimux.oci.overlay on its own (root, no runtime) ------------------------------------------


@pytest.fixture
def layer_env(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    lower = tmp_path / "lower"
    (lower / "etc").mkdir(parents=True)
    (lower / "etc" / "file").write_text("image\n")
    layer = tmp_path / "c" / "layer"
    yield lower, layer
    for point in sorted(mounts_under(tmp_path), reverse=True):
        subprocess.run(["umount", "-l", point], check=False)


def test_writes_through_merged_land_in_upper_only(layer_env: tuple[Path, Path]) -> None:
    from ocimux.oci.overlay import mount_layer, unmount_layer

    lower, layer = layer_env
    before = tree_digest(lower)
    merged = mount_layer(lower, layer)
    assert merged == layer / "merged" and str(merged) in mount_points()
    (merged / "etc" / "file").write_text("container\n")
    shutil.rmtree(merged / "etc")
    (merged / "new").write_text("n")
    assert stat.S_IMODE((layer / "upper").stat().st_mode) == stat.S_IMODE(lower.stat().st_mode)
    assert stat.S_IMODE((layer / "work").stat().st_mode) == 0o700
    assert stat.S_IMODE(layer.stat().st_mode) == 0o700
    assert tree_digest(lower) == before
    unmount_layer(layer)
    unmount_layer(layer)  # idempotent
    assert not layer.exists() and mounts_under(layer.parent) == []
    assert tree_digest(lower) == before


def test_a_busy_layer_is_detached_and_removed(layer_env: tuple[Path, Path]) -> None:
    from ocimux.oci.overlay import mount_layer, unmount_layer

    lower, layer = layer_env
    merged = mount_layer(lower, layer)
    with open(merged / "etc" / "file") as busy:
        unmount_layer(layer)
        assert busy.read() == "image\n"
    assert not layer.exists() and mounts_under(layer.parent) == []


def test_a_layer_with_a_mount_under_it_is_never_deleted(
    layer_env: tuple[Path, Path], tmp_path: Path
) -> None:
    from ocimux.base.errors import OcimuxError
    from ocimux.oci.overlay import mount_layer, unmount_layer

    lower, layer = layer_env
    mount_layer(lower, layer)
    precious = tmp_path / "host-data"
    precious.mkdir()
    (precious / "keep").write_text("keep me\n")
    target = layer / "upper" / "bound"
    target.mkdir()
    subprocess.run(["mount", "--bind", str(precious), str(target)], check=True)
    try:
        with pytest.raises(OcimuxError) as info:
            unmount_layer(layer)
        line = str(info.value)
        assert "\n" not in line and str(target) in line and "still mounted" in line, line
        assert (precious / "keep").read_text() == "keep me\n"
        assert layer.exists()
    finally:
        subprocess.run(["umount", str(target)], check=True)
    unmount_layer(layer)
    assert not layer.exists() and (precious / "keep").read_text() == "keep me\n"
