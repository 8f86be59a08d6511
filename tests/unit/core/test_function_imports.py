"""No import inside a function, but the lazy ones on a hot path, each with its reason.

A function-level import hides a dependency from the layers' contracts and from the reader; the
ones below stay because the warm CLI path must not pay for what a verb does not need (DESIGN.md,
"The hot path"), or because a library is optional. Each also carries a comment where it is.
Checked on the source (AST), importing nothing.
"""

from __future__ import annotations

import ast
import tokenize

import pytest

from tests.package_sources import REPO, sources

#: (importing module, imported module) -> why it is imported inside a function
ALLOWED: dict[tuple[str, str], str] = {
    ("ocimux.cli._report", "traceback"): "only --debug prints a traceback (~1.5 ms)",
    ("ocimux.cli.program", "ocimux.cli._commands"): "--version and --help never load the engine",
    ("ocimux.cli.program", "ocimux.cli.cleanup"): "a monitor's exit command; it opens a Dispatcher",
    ("ocimux.config", "ocimux.config.load"): "tomli and pydantic: the cold path only",
    ("ocimux.engine.dispatcher", "ocimux.engine.configure"): "the spec builders: create only",
    ("ocimux.engine.dispatcher", "ocimux.oci.bundle"): "the spec builders: create only (~25 ms)",
    ("ocimux.engine.dispatcher", "ocimux.oci.containerconfig"): "create, recreate, restore only",
    ("ocimux.engine.dispatcher", "ocimux.oci.spec"): "the spec builders: create only",
    ("ocimux.engine.execs", "ocimux.oci.spec"): "~12 ms that ps, stop and rm never need",
    ("ocimux.engine.hooks", "ocimux.interface.hookspec"): "it imports pluggy at module level",
    ("ocimux.engine.hooks", "pluggy"): "pluggy only when a hook plugin is installed",
    ("ocimux.engine.registry", "ocimux.engine._discovery"): "stevedore: to load every plugin",
    ("ocimux.engine.registry", "ocimux.interface.probes"): "only a capability gate probes",
    ("ocimux.engine.session", "ocimux.engine._discovery"): "stevedore: the cold path only",
    ("ocimux.ocifront.crash", "ocimux.base._faults"): "signal, only when a test names the point",
    ("ocimux.ocifront.main", "ocimux.ocifront.shimfront"): "ttrpc: shim v2 backends only",
    ("ocimux.ocifront.relay", "socket"): "a terminal's console socket only",
    ("ocimux.ocifront.routing", "ocimux.plugins.shimv2.runtime"): "the engine: an uncached route",
    ("ocimux.ocifront.shimfront", "ocimux.base.signals"): "the kill verb only",
    ("ocimux.base.process", "subprocess"): "~5 ms that ocimux-oci's create and delete skip",
    ("ocimux.base.process", "threading"): "run's watchdog only (run_fds polls a pidfd)",
    ("ocimux.base.process", "select"): "run_fds only",
    ("ocimux.base.errors", "shlex"): "it imports re (~8 ms): a failure's message only",
    ("ocimux.ocifront.main", "ocimux.base.process"): "subprocess: only verbs that wait (create...)",
    ("ocimux.ocifront.main", "ocimux.ocifront.routing"): "config and Registry: create, features",
    ("ocimux.ocifront.main", "json"): "json imports re (~3 ms): list and features only",
    (
        "ocimux.ocifront.routing",
        "ocimux.base.errors",
    ): "the engine: a create whose route is not cached",
    ("ocimux.ocifront.routecache", "ocimux.base.files"): "pathlib: storing a route only",
    ("ocimux.ocifront.routing", "json"): "json imports re (~8 ms): an annotated bundle only",
    ("ocimux.ocifront.routing", "ocimux.config"): "the search path: an uncached route only",
    ("ocimux.ocifront.routing", "ocimux.engine.registry"): "the engine: an uncached route only",
    ("ocimux.ocifront.routing", "ocimux.engine.session"): "the engine: an uncached route only",
    ("ocimux.ocifront.routing", "ocimux.oci.runtime"): "the engine: an uncached route only",
    ("ocimux.ocifront.report", "json"): "json imports re (~3 ms): errors only",
    ("ocimux.oci.overlay", "ctypes"): "~2 ms, only mounting and unmounting a layer",
    (
        "ocimux.oci.processruntime",
        "importlib",
    ): "importlib.metadata only for info(), never on the warm path",
    ("ocimux.oci.processruntime", "ocimux.oci.spec"): "the spec modules only for exec",
    ("ocimux.oci.runtime", "ocimux.oci.bundle"): "the spec modules only for exec (~12 ms)",
    ("ocimux.oci.runtime", "ocimux.oci.spec"): "the spec modules only for exec (~12 ms)",
    (
        "ocimux.plugins.mock",
        "ocimux.plugins.mock.runtime",
    ): "the package's face: the mock's monitor runs without the runtime",
    (
        "ocimux.plugins.shimv2",
        "ocimux.plugins.shimv2.runtime",
    ): "the package's face: its monitor and event sink run `-m` modules of it without the runtime",
    ("ocimux.plugins.shimv2.events", "ocimux.base.process"): "the sink process never starts one",
    ("ocimux.plugins.shimv2.runtime", "ocimux.oci.spec"): "the spec modules only for exec",
}


def function_imports(
    source: str, module: str, is_package: bool, modules: frozenset[str] = frozenset()
) -> list[tuple[str, int]]:
    """(imported module, line) of every import statement inside a function of `source`.

    `from package import name` counts as importing `package.name` when that is one of
    `modules`, else `package`.
    """
    return [
        (name, node.lineno)
        for node, name in _function_import_nodes(ast.parse(source), module, is_package, modules)
    ]


def _function_import_nodes(
    tree: ast.AST, module: str, is_package: bool, modules: frozenset[str]
) -> list[tuple[ast.stmt, str]]:
    found: list[tuple[ast.stmt, str]] = []
    package = module if is_package else module.rpartition(".")[0]

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if in_function and isinstance(child, ast.Import):
                found.extend((child, a.name) for a in child.names)
            elif in_function and isinstance(child, ast.ImportFrom):
                if child.level:
                    parts = package.split(".")
                    parts = parts[: len(parts) - (child.level - 1)]
                    base = ".".join([*parts, *([child.module] if child.module else [])])
                else:
                    base = child.module or ""
                names = {
                    f"{base}.{a.name}"
                    if f"{base}.{a.name}" in modules or child.module is None
                    else base
                    for a in child.names
                }
                found.extend((child, name) for name in sorted(names))
            visit(child, inside)

    visit(tree, False)
    return found


def _commented(tree: ast.AST, lines: list[str], target: ast.stmt) -> bool:
    """A comment on the import's lines, or above the run of imports it belongs to (blank
    lines between them allowed), or, for a run that opens a block, above the block."""
    if any("#" in lines[n - 1] for n in range(target.lineno, (target.end_lineno or 0) + 1)):
        return True
    for parent in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            body = getattr(parent, field, None)
            if not isinstance(body, list) or target not in body:
                continue
            index = body.index(target)
            while index > 0 and isinstance(body[index - 1], (ast.Import, ast.ImportFrom)):
                index -= 1
            first = body[index]
            top = body[index - 1].end_lineno if index else parent.lineno  # type: ignore[attr-defined]
            if _comment_between(lines, top, first.lineno):
                return True
            if index == 0 and not isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef)):
                return _comment_between(lines, parent.lineno - 2, parent.lineno)  # type: ignore[attr-defined]
            return False
    return False


def _comment_between(lines: list[str], after: int, before: int) -> bool:
    return any(lines[n - 1].strip().startswith("#") for n in range(max(after, 0) + 1, before))


def _modules() -> frozenset[str]:
    return frozenset(sources())


def _all_function_imports() -> dict[tuple[str, str], list[str]]:
    out: dict[tuple[str, str], list[str]] = {}
    modules = _modules()
    for module, (path, is_package) in sources().items():
        source = path.read_text(encoding="utf-8")
        for imported, line in function_imports(source, module, is_package, modules):
            out.setdefault((module, imported), []).append(f"{path.relative_to(REPO)}:{line}")
    return out


def test_every_function_level_import_is_allowed_with_a_reason() -> None:
    found = _all_function_imports()
    unexpected = {key: where for key, where in found.items() if key not in ALLOWED}
    assert not unexpected, (
        "import at the top of the module, or add (importer, imported) and why to ALLOWED: "
        f"{unexpected}"
    )


def test_the_allow_list_names_only_imports_that_exist() -> None:
    stale = sorted(set(ALLOWED) - set(_all_function_imports()))
    assert not stale, f"no longer imported inside a function; drop from ALLOWED: {stale}"


def test_each_allowed_import_says_why_where_it_is() -> None:
    silent = []
    modules = _modules()
    for module, (path, is_package) in sources().items():
        source = path.read_text(encoding="utf-8")
        tree, lines = ast.parse(source), source.splitlines()
        for node, imported in _function_import_nodes(tree, module, is_package, modules):
            if not _commented(tree, lines, node):
                silent.append(f"{path.relative_to(REPO)}:{node.lineno} ({imported})")
    assert not silent, f"say why it is lazy in a comment on or above the import: {silent}"


@pytest.mark.parametrize(
    ("source", "module", "expected"),
    [
        ("import os", "ocimux.x", []),
        ("def f():\n    import os\n", "ocimux.x", [("os", 2)]),
        ("def f():\n    from .y import z\n", "ocimux.engine.x", [("ocimux.engine.y", 2)]),
        ("def f():\n    from . import y\n", "ocimux.engine.x", [("ocimux.engine.y", 2)]),
        ("def f():\n    from ..base import y\n", "ocimux.engine.x", [("ocimux.base", 2)]),
        ("def f():\n    from ocimux.oci import spec\n", "ocimux.x", [("ocimux.oci.spec", 2)]),
        ("class A:\n    def f(self):\n        import a.b\n", "ocimux.x", [("a.b", 3)]),
        ("if True:\n    import os\n", "ocimux.x", []),
        ("def f():\n    def g():\n        import os\n", "ocimux.x", [("os", 3)]),
    ],
)
def test_the_scan_finds_imports_inside_functions_only(
    source: str, module: str, expected: list[tuple[str, int]]
) -> None:
    assert function_imports(source, module, False, frozenset({"ocimux.oci.spec"})) == expected


def test_a_comment_above_a_run_of_imports_counts() -> None:
    source = (
        "def f():\n    # lazy: why\n    import a\n\n    from . import b\n    x = 1\n"
        "    import c\n    import d  # lazy: its own\n    if x:\n        import e\n"
        "    # lazy: for g\n    if x:\n        import g\n"
    )
    tree, lines = ast.parse(source), source.splitlines()
    found = {
        name: _commented(tree, lines, node)
        for node, name in _function_import_nodes(tree, "ocimux.x", False, frozenset())
    }
    assert found == {"a": True, "ocimux.b": True, "c": False, "d": True, "e": False, "g": True}


def test_the_scan_reads_the_sources() -> None:
    names = set(sources())
    assert {"ocimux.engine.dispatcher", "ocimux.server.httpd", "ocimux.config.load"} <= names
    assert tokenize  # the sources are read as text; nothing is imported
