"""ocimux's source files by module name, read from the folders (importing nothing).

pyproject.toml's package-dir maps four folders into the `ocimux` package; the checks that read
the sources as text (layers, function-level imports) share this map.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: folder = package (pyproject.toml's package-dir); core/testing before core
PACKAGE_DIRS = {
    "core/testing": "ocimux.testing",
    "config": "ocimux.config",
    "server": "ocimux.server",
    "plugins": "ocimux.plugins",
    "core": "ocimux",
}
SKIPPED_PARTS = {"__pycache__", "build"}


def sources() -> dict[str, tuple[Path, bool]]:
    """Every module of the package: name -> (file, whether it is a package's __init__)."""
    out = {}
    for folder, package in PACKAGE_DIRS.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            if SKIPPED_PARTS.intersection(path.parts):
                continue
            parts = [package, *path.relative_to(REPO / folder).with_suffix("").parts]
            is_package = parts[-1] == "__init__"
            name = ".".join(parts[:-1] if is_package else parts)
            out.setdefault(name, (path, is_package))  # core/testing before core
    return out
