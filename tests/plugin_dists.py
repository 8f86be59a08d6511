"""Throw-away plugin distributions on disk, found by importlib.metadata like installed ones."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def make_dist(
    site: Path, dist: str, entry_points: dict[str, dict[str, str]], modules: dict[str, str]
) -> Path:
    """Write `<site>/<dist>-1.0.dist-info` with the entry points, and the modules beside it."""
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = []
    for group, eps in entry_points.items():
        lines.append(f"[{group}]")
        lines.extend(f"{name} = {target}" for name, target in eps.items())
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for name, source in modules.items():
        (site / f"{name}.py").write_text(source)
    return info


BROKEN_MODULE = "import nonexistent_dependency_for_ocimux_tests\n"

#: a working third-party runtime: the mock, under another name, from another distribution
REBRANDED_MOCK = """
from ocimux.plugins.mock import MockRuntime

class ThirdPartyRuntime(MockRuntime):
    capabilities = MockRuntime.capabilities
"""


def pip(*args: str) -> None:
    """Run pip in the interpreter running the tests; fail with its output."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"pip {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"


def _can_build_without_isolation() -> bool:
    """setuptools < 70.1 needs the `wheel` package for bdist_wheel; without it, isolate."""
    return importlib.util.find_spec("wheel") is not None or (
        importlib.util.find_spec("setuptools.command.bdist_wheel") is not None
    )


def install_target(example: Path, workdir: Path) -> Path:
    """pip-install (non-editable, no deps) a copy of `example` into `workdir/pip-target`; return it.

    `--target`, never the running interpreter: tests run in parallel workers sharing one
    virtualenv, and a plugin installed there would be seen by every other worker's ocimux.
    Only the processes given the directory on PYTHONPATH (`with_site`) see it:
    importlib.metadata finds the dist-info there like an installed one. The copy keeps
    build output out of the repository.
    """
    source = workdir / example.name
    if not source.exists():
        shutil.copytree(example, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    site = workdir / "pip-target"
    isolation = ["--no-build-isolation"] if _can_build_without_isolation() else []
    pip("install", "--no-deps", *isolation, "-q", "--target", str(site), str(source))
    return site


def with_site(env: Mapping[str, str], site: Path) -> dict[str, str]:
    """`env` with `site` first on PYTHONPATH."""
    path = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    return {**env, "PYTHONPATH": path}
