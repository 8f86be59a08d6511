"""A private containerd 1.6 for tests, and a one-layer OCI image of a rootfs to import into it.

The daemon gets its own root, state, socket and config under one short directory in /tmp
(unix socket paths are limited to 107 bytes), the CRI plugin and every plugin that needs a
network, /opt or extra tools disabled, and the environment the caller gives it: the runc shim
inherits containerd's environment (containerd 1.6 `runtime/v2/shim/util.go`: `os.Environ()` plus
GOMAXPROCS and TTRPC_ADDRESS) and hands it on to the runc binary (go-runc drops only
NOTIFY_SOCKET), so that is how `ocimux-oci` finds its containers.conf.

`stop` leaves nothing behind, even after a failed test: tasks and containers, containerd, any
`containerd-shim-runc-v2` still serving this daemon's socket (and its socket file, which the shim
keeps in /run/containerd/s whatever containerd's state is), mounts, the directory.
"""

from __future__ import annotations

import contextlib
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
from pathlib import Path

#: plugins this daemon never needs: CRI (CNI, a network), opt (writes /opt/containerd), the
#: snapshotters that need tools or file systems this host lacks, tracing
DISABLED_PLUGINS = (
    "io.containerd.grpc.v1.cri",
    "io.containerd.internal.v1.opt",
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.tracing.processor.v1.otlp",
)
#: overlayfs works on this host's /tmp (ext4); `native` (plain copies) is the fallback elsewhere
SNAPSHOTTER = "overlayfs"
CONFIG = """\
version = 2
root = "{base}/root"
state = "{base}/state"
disabled_plugins = {disabled}
[grpc]
  address = "{base}/c.sock"
[ttrpc]
  address = "{base}/c.sock.ttrpc"
"""
#: where the runc shim puts its socket whatever containerd's state is (containerd 1.6
#: `runtime/v2/shim/util_unix.go`: socketRoot is defaults.DefaultStateDir)
SHIM_SOCKETS = Path("/run/containerd/s")
SHIM = "containerd-shim-runc-v2"
CGROUPS = Path("/sys/fs/cgroup")


def oci_image_tar(rootfs: Path, dest: Path, name: str) -> Path:
    """Write `rootfs` as an OCI image layout tarball of one uncompressed layer, named `name`.

    `ctr images import` takes the name from the index's `io.containerd.image.name` annotation.
    Files are owned by root in the layer whoever owns them on disk.
    """
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(rootfs.rglob("*")):
            info = tar.gettarinfo(str(path), arcname=str(path.relative_to(rootfs)))
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if info.isfile():
                with path.open("rb") as fh:
                    tar.addfile(info, fh)
            else:
                tar.addfile(info)
    with tarfile.open(dest, "w") as out:

        def add(arcname: str, data: bytes) -> None:
            info = tarfile.TarInfo(arcname)
            info.size, info.mode = len(data), 0o644
            out.addfile(info, io.BytesIO(data))

        def blob(media_type: str, data: bytes) -> dict[str, object]:
            digest = hashlib.sha256(data).hexdigest()
            add(f"blobs/sha256/{digest}", data)
            return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}

        layer_desc = blob("application/vnd.oci.image.layer.v1.tar", layer.getvalue())
        config = {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]},
        }
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": blob("application/vnd.oci.image.config.v1+json", _json(config)),
            "layers": [layer_desc],
        }
        manifest_desc = blob("application/vnd.oci.image.manifest.v1+json", _json(manifest))
        manifest_desc["platform"] = {"architecture": "amd64", "os": "linux"}
        manifest_desc["annotations"] = {"io.containerd.image.name": name}
        add("oci-layout", _json({"imageLayoutVersion": "1.0.0"}))
        add("index.json", _json({"schemaVersion": 2, "manifests": [manifest_desc]}))
    return dest


def _json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True).encode()


class Containerd:
    """One containerd daemon in its own directory; `ctr` against it.

    Tests give `ctr run` `--runc-binary <runc_binary> --runc-root <runc_root>`, so that `stop`
    can find what a killed shim left running.
    """

    def __init__(self, env: dict[str, str], runc_binary: str = "runc") -> None:
        self.base = Path(tempfile.mkdtemp(prefix="cd", dir="/tmp"))
        self.socket = self.base / "c.sock"
        self.state = self.base / "state"
        self.runc_root = self.base / "rr"
        self.runc_binary = runc_binary
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.base / "containerd.log"

    def start(self) -> None:
        """Start the daemon and wait until it answers (or raise RuntimeError with its log)."""
        config = self.base / "config.toml"
        disabled = json.dumps(list(DISABLED_PLUGINS))
        config.write_text(CONFIG.format(base=self.base, disabled=disabled))
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                ["containerd", "--config", str(config)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=self.env, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if self.socket.exists() and self.ctr("default", "version").returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"containerd did not come up:\n{self.log.read_text()[-3000:]}")

    def ctr(
        self, namespace: str, *args: str, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """`ctr -a <socket> -n <namespace> args...`; stdout and stderr captured, never raises."""
        return subprocess.run(
            ["ctr", "-a", str(self.socket), "-n", namespace, *args],
            capture_output=True, text=True, timeout=timeout,
            stdin=subprocess.DEVNULL, env=self.env, check=False,
        )  # fmt: skip

    def clear(self, namespace: str) -> None:
        """Kill and remove every task and container of `namespace`."""
        for task in self.ctr(namespace, "task", "ls", "-q").stdout.split():
            self.ctr(namespace, "task", "rm", "--force", task)
        for container in self.ctr(namespace, "container", "ls", "-q").stdout.split():
            self.ctr(namespace, "container", "rm", container)
        # ctr's cgroups are /<namespace>/<id>: the runtime removes the container's, not the parent
        for parent in CGROUPS.glob(f"*/{namespace}"):
            with contextlib.suppress(OSError):
                parent.rmdir()

    def stop(self) -> None:
        """Stop the daemon and remove everything it made; safe after any failure."""
        if self.proc is not None and self.proc.poll() is None:
            for namespace in self.ctr("default", "namespaces", "ls", "-q").stdout.split():
                self.clear(namespace)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        for pid in shims_of(str(self.socket)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._delete_orphans()
        # each shim wrote its socket's address into its bundle
        for address in self.state.glob("io.containerd.runtime.v2.task/*/*/address"):
            socket = address.read_text().strip().removeprefix("unix://")
            if socket.startswith(f"{SHIM_SOCKETS}/"):
                Path(socket).unlink(missing_ok=True)
        for mount in reversed(mounts_under(self.base)):
            subprocess.run(["umount", "-l", mount], capture_output=True, check=False, timeout=30)
        shutil.rmtree(self.base, ignore_errors=True)

    def _delete_orphans(self) -> None:
        """Delete (force) the containers the runc binary still knows after their shim died."""
        if not self.runc_root.is_dir():
            return
        for root in self.runc_root.iterdir():
            base = [self.runc_binary, "--root", str(root)]
            listed = subprocess.run([*base, "list", "-q"], capture_output=True, text=True,
                                    env=self.env, timeout=60, check=False)  # fmt: skip
            for cid in listed.stdout.split():
                subprocess.run([*base, "delete", "--force", cid], capture_output=True,
                               env=self.env, timeout=60, check=False)  # fmt: skip


def shims_of(socket: str) -> list[int]:
    """Live runc shims whose `-address` is `socket`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        args = argv.rstrip("\0").split("\0")
        if os.path.basename(args[0]) != SHIM:
            continue
        if any(a == "-address" and b == socket for a, b in zip(args, args[1:], strict=False)):
            found.append(int(entry))
    return found


def mounts_under(base: Path) -> list[str]:
    """Mount points at or below `base`, outermost first (from /proc/self/mountinfo)."""
    prefix = f"{base}/"
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(prefix):
            points.append(point)
    return sorted(points, key=len)
