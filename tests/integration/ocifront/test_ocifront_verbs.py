"""The verbs that need a capability: features, update, checkpoint, spec, list across backends.

A backend that has the verb gets the call as is; one that lacks it is refused by the front
with a runtime-style error naming the capability (never a usage dump from the backend).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.ocifront.conftest import FRONT, requires

pytestmark = [pytest.mark.requires_root, requires("crun", "runc", "runsc")]


def front(
    env: dict[str, str], *args: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    # not for create: it hands its stdio to the container (the `started` fixture uses DEVNULL)
    return subprocess.run([FRONT, *args], input=(stdin or b"").decode(), capture_output=True,
                          text=True, env=env, timeout=60, check=False)  # fmt: skip


@pytest.fixture
def started(
    make_bundle: Callable[..., Path], front_env: dict[str, str], tmp_path: Path
) -> Iterator[Callable[[str], str]]:
    """Start a `sleep` on a backend under one root; return its id. Deleted afterwards."""
    root = tmp_path / "root"
    made: list[str] = []

    def start(backend: str) -> str:
        bundle = make_bundle(f"v-{backend}", ["/bin/sleep", "100"], {"io.ocimux.runtime": backend})
        cid = f"v-{backend}"
        done = subprocess.run([FRONT, "--root", str(root), "create", "--bundle", str(bundle), cid],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=front_env, timeout=60, check=False)  # fmt: skip
        assert done.returncode == 0
        made.append(cid)
        assert front(front_env, "--root", str(root), "start", cid).returncode == 0
        return cid

    yield start
    for cid in made:
        front(front_env, "--root", str(root), "delete", "--force", cid)


def test_features_are_the_backends_naming_it(front_env: dict[str, str]) -> None:
    done = front(front_env, "--backend", "runc", "features")
    assert done.returncode == 0, done.stderr
    features = json.loads(done.stdout)
    direct = json.loads(subprocess.run(["runc", "features"], capture_output=True, text=True,
                                       timeout=30, check=True).stdout)  # fmt: skip
    assert features["annotations"].pop("io.ocimux.oci.backend") == "runc"
    assert features == direct


@pytest.mark.parametrize("backend", ["crun", "runsc"])
def test_features_refused_naming_the_capability(
    backend: str, front_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "log"
    done = front(
        front_env, "--log", str(log), "--log-format", "json", "--backend", backend, "features"
    )
    assert done.returncode == 1
    msg = json.loads(log.read_text())["msg"]
    assert msg.startswith(f"{backend} cannot report features (capability: features)")
    assert done.stderr.strip() == msg


def test_update_passes_through_to_crun(started: Callable[[str], str], front_env: dict[str, str],
                                       tmp_path: Path) -> None:  # fmt: skip
    cid = started("crun")
    root = str(tmp_path / "root")
    resources = tmp_path / "res.json"
    resources.write_text(json.dumps({"pids": {"limit": 55}}))
    assert (
        front(front_env, "--root", root, "update", f"--resources={resources}", cid).returncode == 0
    )
    stdin = json.dumps({"pids": {"limit": 66}}).encode()
    assert front(front_env, "--root", root, "update", "-r", "-", cid, stdin=stdin).returncode == 0
    pid = json.loads(front(front_env, "--root", root, "state", cid).stdout)["pid"]
    cgroup = next(line.split(":", 2)[2] for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines()
                  if ":pids:" in line)  # fmt: skip
    assert Path(f"/sys/fs/cgroup/pids{cgroup}/pids.max").read_text().strip() == "66"


def test_update_refused_on_runsc(started: Callable[[str], str], front_env: dict[str, str],
                                 tmp_path: Path) -> None:  # fmt: skip
    cid = started("runsc")
    done = front(front_env, "--root", str(tmp_path / "root"), "update", "--pids-limit", "5", cid)
    assert done.returncode == 1
    assert "runsc cannot update: capability update_resources is no" in done.stderr


@pytest.mark.parametrize("backend", ["crun", "runc"])
def test_checkpoint_refused_where_the_backend_cannot(
    backend: str, started: Callable[[str], str], front_env: dict[str, str], tmp_path: Path
) -> None:
    cid = started(backend)
    root = str(tmp_path / "root")
    done = front(
        front_env, "--root", root, "checkpoint", "--image-path", str(tmp_path / "img"), cid
    )
    assert done.returncode == 1
    assert f"{backend} cannot checkpoint: capability checkpoint is no" in done.stderr
    assert json.loads(front(front_env, "--root", root, "state", cid).stdout)["status"] == "running"


def test_checkpoint_passes_through_to_runsc(started: Callable[[str], str], front_env: dict[str, str],
                                           tmp_path: Path) -> None:  # fmt: skip
    cid = started("runsc")
    root = str(tmp_path / "root")
    done = front(
        front_env, "--root", root, "checkpoint", "--image-path", str(tmp_path / "img"), cid
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "img" / "checkpoint.img").stat().st_size > 0
    assert json.loads(front(front_env, "--root", root, "state", cid).stdout)["status"] == "stopped"


def test_restore_is_routed_like_create(started: Callable[[str], str], front_env: dict[str, str],
                                      tmp_path: Path) -> None:  # fmt: skip
    """checkpoint, delete, then `restore` of the same id: the bundle's annotation routes it to
    runsc again, which brings the workload back from the image."""
    cid = started("runsc")
    root = str(tmp_path / "root")
    image = str(tmp_path / "img")
    done = front(front_env, "--root", root, "checkpoint", "--image-path", image, cid)
    assert done.returncode == 0, done.stderr
    pid_before = json.loads(front(front_env, "--root", root, "state", cid).stdout)["pid"]
    assert front(front_env, "--root", root, "delete", cid).returncode == 0
    assert front(front_env, "--root", root, "state", cid).returncode == 1
    bundle = tmp_path / "bundle-v-runsc"
    errors = tmp_path / "restore.err"  # a file: the restored sandbox inherits the front's stdio
    with errors.open("wb") as err:
        done = subprocess.run([FRONT, "--root", root, "restore", "--detach", "--image-path",
                               image, "--bundle", str(bundle), cid], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=err, env=front_env, timeout=120,
                              check=False)  # fmt: skip
    assert done.returncode == 0, errors.read_text()
    state = json.loads(front(front_env, "--root", root, "state", cid).stdout)
    assert state["status"] == "running" and state["pid"] not in (0, pid_before)
    record = (tmp_path / "root" / "ocimux" / "containers" / cid).read_text()
    assert "backend\trunsc\n" in record


def test_list_merges_backends(started: Callable[[str], str], front_env: dict[str, str],
                              tmp_path: Path) -> None:  # fmt: skip
    ids = [started("crun"), started("runc")]
    root = str(tmp_path / "root")
    listed = json.loads(front(front_env, "--root", root, "list", "--format", "json").stdout)
    assert [(c["id"], c["status"]) for c in listed] == [(i, "running") for i in sorted(ids)]
    assert front(front_env, "--root", root, "list", "-q").stdout.split() == sorted(ids)
    table = front(front_env, "--root", root, "list").stdout.splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert len(table) == 3
    assert (
        front(front_env, "--root", str(tmp_path / "empty"), "list", "--format", "json").stdout
        == "null\n"
    )


def test_spec_is_the_backends(front_env: dict[str, str], tmp_path: Path) -> None:
    done = front(front_env, "--backend", "runc", "spec", "--bundle", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "config.json").read_text())["process"]["args"] == ["sh"]
