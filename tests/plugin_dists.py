"""Throw-away plugin distributions on disk, found by importlib.metadata like installed ones."""

from __future__ import annotations

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
