"""Plugins (built-in and example) import only ocimux's public modules, as a third party must.

A private module (`ocimux._x`) can change or vanish in any release; a plugin that needs one shows
a building block missing from the public API. Checked on the source, without importing it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
#: folders whose code is plugin code, and the package each folder's modules live in
PLUGIN_ROOTS = {REPO / "plugins": "ocimux.plugins", REPO / "examples": ""}
SKIPPED_PARTS = {"build", "__pycache__", ".venv", "dist"}


def _is_private(dotted: str) -> bool:
    """Whether `ocimux.<x>...` names a private core module: a part after `ocimux` starts with one
    underscore (`ocimux._x`, `ocimux.engine._x`); a plugin's own modules are its business."""
    parts = dotted.split(".")
    return (
        parts[0] == "ocimux"
        and parts[1:2] != ["plugins"]
        and any(part.startswith("_") and not part.startswith("__") for part in parts[1:])
    )


def _package_of(path: Path) -> str:
    """The dotted package a module under plugins/ lives in; "" for examples (own packages)."""
    for root, package in PLUGIN_ROOTS.items():
        if package and path.is_relative_to(root):
            return ".".join([package, *path.parent.relative_to(root).parts])
    return ""


def private_imports(source: str, package: str) -> list[str]:
    """Every import in `source` that reaches a private ocimux core module, as written there."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if _is_private(alias.name)]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                if not package:
                    continue  # an example's own package, not ocimux
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([module] if module else [])])
            if _is_private(module):
                found.append(f"from {module} import ...")
            elif module == "ocimux":
                found += [
                    f"from ocimux import {alias.name}"
                    for alias in node.names
                    if _is_private(f"ocimux.{alias.name}")
                ]
    return found


def _plugin_sources() -> list[Path]:
    return sorted(
        path
        for root in PLUGIN_ROOTS
        for path in root.rglob("*.py")
        if not SKIPPED_PARTS.intersection(path.relative_to(root).parts)
        and not any(part.endswith(".egg-info") for part in path.parts)
    )


def test_the_scan_finds_the_plugin_sources():
    names = {path.relative_to(REPO).as_posix() for path in _plugin_sources()}
    assert "plugins/mock/runtime.py" in names
    assert "examples/ocimux-runsc/ocimux_runsc/probe.py" in names
    assert not any("/build/" in name for name in names)


@pytest.mark.parametrize("path", _plugin_sources(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_a_plugin_module_imports_no_private_ocimux_module(path: Path):
    assert private_imports(path.read_text(encoding="utf-8"), _package_of(path)) == []


@pytest.mark.parametrize(
    ("source", "package", "expected"),
    [
        ("import ocimux._faults", "", ["ocimux._faults"]),
        ("from ocimux._dirs import private_dir", "", ["from ocimux._dirs import ..."]),
        ("from ocimux import _spawn, errors", "", ["from ocimux import _spawn"]),
        ("from ... import _faults", "ocimux.plugins.mock", ["from ocimux import _faults"]),
        (
            "from ..._faults import crash_point",
            "ocimux.plugins.mock",
            ["from ocimux._faults import ..."],
        ),
        ("from ._bundle import x", "ocimux.plugins.mock", []),  # the plugin's own private module
        ("from .. import mock", "ocimux.plugins.mock", []),
        ("from ._x import y", "", []),  # an example's own package
        ("from ocimux import __version__, process", "", []),
        ("from ocimux.process import run\nimport ocimux.files", "", []),
        ("from ocimux.engine._cache import cached", "", ["from ocimux.engine._cache import ..."]),
        ("import ocimux.io._launch", "", ["ocimux.io._launch"]),
    ],
)
def test_the_scan_tells_private_from_public(source: str, package: str, expected: list[str]):
    assert private_imports(source, package) == expected
