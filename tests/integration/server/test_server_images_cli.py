"""`ocimux image` in a subprocess: add, ls, rm, and one-line errors with exit 125."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


def test_cli_image_add_ls_rm(ocimux: Any, rootfs: Path) -> None:
    added = ocimux(
        "image",
        "add",
        "docker.io/library/ocx-img",
        str(rootfs),
        "-e",
        "A=1",
        "--cmd",
        "/bin/echo",
        "hi",
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout == "ocx-img:latest\n"
    listed = ocimux("image", "ls", "--format", "json", check=True)
    images = json.loads(listed.stdout)
    assert [(i["name"], i["rootfs"], i["cmd"], i["env"]) for i in images] == [
        ("ocx-img:latest", str(rootfs), ["/bin/echo", "hi"], ["A=1"])
    ]
    table = ocimux("image", "ls", check=True).stdout.splitlines()
    assert table[0].split() == ["IMAGE", "ROOTFS", "COMMAND"]
    assert table[1].split()[:2] == ["ocx-img:latest", str(rootfs)]
    removed = ocimux("image", "rm", "ocx-img")
    assert removed.returncode == 0, removed.stderr
    assert json.loads(ocimux("image", "ls", "--format", "json", check=True).stdout) == []
    again = ocimux("image", "rm", "ocx-img")
    assert again.returncode == 125
    assert again.stderr.startswith("Error: ") and again.stderr.count("\n") == 1, again.stderr
    assert "ocx-img" in again.stderr


@pytest.mark.parametrize(("name", "where"), [("Bad Name", "rootfs"), ("ok", "missing")])
def test_cli_image_add_errors_exit_125_with_one_line(
    ocimux: Any, rootfs: Path, name: str, where: str
) -> None:
    target = rootfs if where == "rootfs" else rootfs / "missing"
    done = ocimux("image", "add", name, str(target))
    assert done.returncode == 125
    assert done.stdout == ""
    assert done.stderr.startswith("Error: ") and done.stderr.count("\n") == 1, done.stderr
