"""Runtime-specific code lives only in its plugin: core/ and config/ name no runtime in code.

Docstrings and comments may cite runtimes as facts; string literals and identifiers may not,
except where a module is data by design (listed below with why).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
NAMES = re.compile(r"\b(runc|crun|runsc|gvisor|kata|youki|krun|conmon-rs)\b", re.IGNORECASE)
#: modules that hold runtime names as data
DATA = {
    "config/view.py": "podman's default runtime preference order",
    "config/model.py": "podman's [engine] key names and defaults",
    "config/builtins.py": "podman's built-in [engine] arrays that {append = true} extends",
    "core/ocifront/knowngaps.py": "verbs CLI binaries lack beyond what the driving plugin probes",
}


def _docstring_nodes(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _offenders(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    docs = _docstring_nodes(tree)
    found = []
    for node in ast.walk(tree):
        text = None
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            text = node.value
        elif isinstance(node, ast.Name):
            text = node.id
        elif isinstance(node, ast.Attribute):
            text = node.attr
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            text = node.name
        if text and NAMES.search(text):
            found.append(f"{path.relative_to(REPO)}:{getattr(node, 'lineno', '?')}: {text[:60]!r}")
    return found


def test_core_and_config_name_no_runtime_in_code():
    offenders = []
    for folder in ("core", "config"):
        for path in sorted((REPO / folder).rglob("*.py")):
            if str(path.relative_to(REPO)) not in DATA:
                offenders += _offenders(path)
    assert offenders == []


def test_the_check_sees_a_name_in_code(tmp_path: Path, monkeypatch):
    bad = tmp_path / "bad.py"
    bad.write_text('"""Mentions runc in a docstring: fine."""\nif name == "crun":\n    pass\n')
    monkeypatch.setitem(globals(), "REPO", tmp_path)
    assert [o.split(": ", 1)[1] for o in _offenders(bad)] == ["'crun'"]
