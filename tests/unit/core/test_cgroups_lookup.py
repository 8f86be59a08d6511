"""Finding a container's cgroups without its runtime: only the container's, never a parent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ocimux.oci import cgroups

CID = "c0ffee" * 10 + "beef"


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two fake hierarchies: `pids` (ocimux at its root) and `memory` (ocimux in /outer/me)."""
    for rel in ("pids", "memory/outer/me", "memory/system"):
        (tmp_path / rel).mkdir(parents=True)
    monkeypatch.setattr(
        cgroups,
        "_hierarchies",
        lambda: [(str(tmp_path / "pids"), "/"), (str(tmp_path / "memory"), "/outer/me")],
    )
    return tmp_path


def _bundle(tmp_path: Path, cgroups_path: str) -> Path:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"linux": {"cgroupsPath": cgroups_path}}))
    return config


def test_default_paths_at_the_root_and_under_ocimux_own_cgroup(tree: Path) -> None:
    (tree / "pids" / CID).mkdir()
    (tree / "memory" / "outer" / "me" / CID).mkdir()  # runc 1.1 nests v1 memory under its caller
    found = cgroups.container_cgroups(CID)
    assert sorted(map(str, found)) == sorted(
        [str(tree / "pids" / CID), str(tree / "memory" / "outer" / "me" / CID)]
    )


@pytest.mark.parametrize("path", ["/", "/system", "../..", "/outer", "/outer/me", "sys:ocimux:x"])
def test_a_bundle_cannot_point_at_a_cgroup_that_does_not_name_the_container(
    tree: Path, tmp_path: Path, path: str
) -> None:
    assert cgroups.container_cgroups(CID, _bundle(tmp_path, path)) == []


def test_a_configured_path_naming_the_container_is_followed(tree: Path, tmp_path: Path) -> None:
    (tree / "pids" / "mine" / f"ocimux-{CID}").mkdir(parents=True)
    config = _bundle(tmp_path, f"/mine/ocimux-{CID}")
    assert cgroups.container_cgroups(CID, config) == [tree / "pids" / "mine" / f"ocimux-{CID}"]


def test_an_invalid_id_finds_nothing(tree: Path) -> None:
    (tree / "pids" / "x").mkdir()
    for cid in ("", "..", "../pids", "a/b"):
        assert cgroups.container_cgroups(cid) == []


def test_empty_cgroups_are_removed_children_first(tree: Path) -> None:
    (tree / "pids" / CID / "child").mkdir(parents=True)
    assert cgroups.kill_container_cgroups(CID) == 0  # no cgroup.procs: no process found
    assert not (tree / "pids" / CID).exists()
    assert (tree / "pids").is_dir()
