"""The import-linter contracts of pyproject.toml hold: layers, no cycle, plugins on public modules.

CI runs `lint-imports` on an installed copy of the package; this runs the same contracts on
the source folders (pyproject.toml's package-dir maps four of them into `ocimux`, which
import-linter's own graph builder cannot follow), importing none of the code.
"""

from __future__ import annotations

import ast

import grimp
import pytest
from importlinter import configuration
from importlinter.application import use_cases
from importlinter.application.app_config import settings
from importlinter.application.ports.building import GraphBuilder

from tests.package_sources import REPO, sources


def imports_of(
    tree: ast.AST, module: str, is_package: bool, modules: set[str]
) -> list[tuple[str, int]]:
    """(imported ocimux module, line) of every import in `tree`, at any depth."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            names = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names
            ]
        else:
            continue
        for name in names:
            while name and name not in modules:  # `ocimux.x.attribute` -> `ocimux.x`
                name = name.rpartition(".")[0]
            if name and name != module:
                found.append((name, node.lineno))
    return found


class SourceGraphBuilder(GraphBuilder):
    """The import graph read from the source folders (TYPE_CHECKING imports included)."""

    def build(
        self,
        root_package_names: list[str],
        cache_dir: str | None,
        include_external_packages: bool = False,
        exclude_type_checking_imports: bool = False,
    ) -> grimp.ImportGraph:
        assert root_package_names == ["ocimux"] and not exclude_type_checking_imports
        graph = grimp.ImportGraph()
        modules = sources()
        for name in modules:
            graph.add_module(name)
        for name, (path, is_package) in modules.items():
            source = path.read_text(encoding="utf-8")
            lines = source.splitlines()
            for imported, line in imports_of(ast.parse(source), name, is_package, set(modules)):
                graph.add_import(
                    importer=name,
                    imported=imported,
                    line_number=line,
                    line_contents=lines[line - 1].strip(),
                )
        return graph


@pytest.fixture
def source_graph():
    configuration.configure()
    settings.configure(GRAPH_BUILDER=SourceGraphBuilder())
    yield
    configuration.configure()


@pytest.mark.usefixtures("source_graph")
def test_the_contracts_hold() -> None:
    # the report (which imports break which contract) is printed: pytest shows it on failure
    assert use_cases.lint_imports(str(REPO / "pyproject.toml"), cache_dir=None, no_logo=True)


def test_the_graph_has_every_folder_and_its_imports() -> None:
    modules = sources()
    assert {"ocimux.engine.dispatcher", "ocimux.config.load", "ocimux.server.httpd"} <= set(modules)
    assert "ocimux.plugins.runc.runtime" in modules and "ocimux.testing.kit" in modules
    path, is_package = modules["ocimux.engine.dispatcher"]
    found = {
        m
        for m, _ in imports_of(
            ast.parse(path.read_text()), "ocimux.engine.dispatcher", is_package, set(modules)
        )
    }
    assert {"ocimux.engine.reconcile", "ocimux.base.errors", "ocimux.engine.configure"} <= found


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from .reconcile import Reconciler", ["ocimux.engine.reconcile"]),
        ("from . import states", ["ocimux.engine.states"]),
        ("from ocimux.oci import spec as specs", ["ocimux.oci.spec"]),
        ("from ocimux.base.errors import OcimuxError", ["ocimux.base.errors"]),
        ("import os\nimport ocimux.io.attach", ["ocimux.io.attach"]),
        ("if TYPE_CHECKING:\n    from ..cli import program", ["ocimux.cli.program"]),
        ("def f():\n    from ocimux.oci import bundle", ["ocimux.oci.bundle"]),
    ],
)
def test_imports_are_resolved_to_modules(source: str, expected: list[str]) -> None:
    modules = {
        "ocimux.engine.reconcile",
        "ocimux.engine.states",
        "ocimux.oci.spec",
        "ocimux.base.errors",
        "ocimux.io.attach",
        "ocimux.cli.program",
        "ocimux.oci.bundle",
        "ocimux.oci",
        "ocimux.engine.dispatcher",
    }
    found = imports_of(ast.parse(source), "ocimux.engine.dispatcher", False, modules)
    assert [m for m, _ in found] == expected
