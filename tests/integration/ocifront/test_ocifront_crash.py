"""`ocimux-oci` killed inside create or delete: the next call finds the container wholly there
(record and backend container) or wholly gone (neither), never half."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from ocimux.ocifront import records

from tests.integration.ocifront.conftest import FRONT, requires

pytestmark = [pytest.mark.requires_root, requires("crun", "runc")]


def front(env: dict[str, str], root: Path, *args: str, crash: str | None = None) -> int:
    env = {**env, "OCIMUX_CRASH_AT": crash} if crash else env
    return subprocess.run([FRONT, "--root", str(root), *args], stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                          timeout=60, check=False).returncode  # fmt: skip


def backend_ids(backend: str, root: Path) -> list[str]:
    broot = root / "ocimux" / "backends" / backend
    done = subprocess.run([backend, "--root", str(broot), "list", "--format", "json"],
                          capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
    return [c["id"] for c in json.loads(done.stdout or "null") or []]


def record(root: Path, cid: str) -> dict[str, object] | None:
    rec = records.load(str(root), cid)
    return None if rec is None else {"phase": rec.phase, "backend": rec.backend}


@pytest.mark.parametrize("backend", ["crun", "runc"])
@pytest.mark.parametrize(
    ("point", "there"),
    [("oci-create:recorded", False), ("oci-create:backend", True)],
)
def test_crash_in_create(
    backend: str, point: str, there: bool, make_bundle: Callable[..., Path],
    front_env: dict[str, str], tmp_path: Path,
) -> None:  # fmt: skip
    bundle = make_bundle("b", ["/bin/sleep", "100"], {"io.ocimux.runtime": backend})
    root = tmp_path / "root"
    code = front(front_env, root, "create", "--bundle", str(bundle), "c1", crash=point)
    assert code == -9  # killed at the point
    assert record(root, "c1")["phase"] == "creating"  # type: ignore[index]
    # the next call settles it: wholly there, or wholly gone
    assert front(front_env, root, "state", "c1") == (0 if there else 1)
    assert backend_ids(backend, root) == (["c1"] if there else [])
    rec = record(root, "c1")
    assert (rec is not None and rec["phase"] == "created") if there else rec is None
    if there:
        assert front(front_env, root, "delete", "--force", "c1") == 0
    # and the id is free for a create that completes
    assert front(front_env, root, "create", "--bundle", str(bundle), "c1") == 0
    assert backend_ids(backend, root) == ["c1"]
    assert front(front_env, root, "delete", "--force", "c1") == 0
    assert backend_ids(backend, root) == [] and record(root, "c1") is None


@pytest.mark.parametrize("backend", ["crun", "runc"])
@pytest.mark.parametrize(
    ("point", "there"),
    [("oci-delete:marked", True), ("oci-delete:backend", False)],
)
def test_crash_in_delete(
    backend: str, point: str, there: bool, make_bundle: Callable[..., Path],
    front_env: dict[str, str], tmp_path: Path,
) -> None:  # fmt: skip
    bundle = make_bundle("b", ["/bin/sleep", "100"], {"io.ocimux.runtime": backend})
    root = tmp_path / "root"
    assert front(front_env, root, "create", "--bundle", str(bundle), "c1") == 0
    assert front(front_env, root, "delete", "--force", "c1", crash=point) == -9
    assert record(root, "c1")["phase"] == "deleting"  # type: ignore[index]
    assert front(front_env, root, "state", "c1") == (0 if there else 1)
    assert backend_ids(backend, root) == (["c1"] if there else [])
    assert (record(root, "c1") is not None) is there
    # a delete finishes the job either way
    assert front(front_env, root, "delete", "--force", "c1") == 0
    assert backend_ids(backend, root) == [] and record(root, "c1") is None
