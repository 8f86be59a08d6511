"""Every Python sample in docs/plugins.md's "Building blocks" section runs as it stands.

Each runs in a fresh namespace with a fresh temp directory as its working directory (the samples
make relative `rootfs/`, `bundle/` and `state/` trees). A sample's own asserts are its checks.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.unit.core.test_plugins_import_public_modules import private_imports

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
SECTION = "### Building blocks"


def building_block_samples() -> list[str]:
    """The ```python blocks between the section's heading and the next heading of level <= 3."""
    text = DOC.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = re.compile(r"^#{1,3} ", re.MULTILINE).search(text, start + len(SECTION))
    section = text[start : end.start() if end else len(text)]
    return re.findall(r"^```python\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)


SAMPLES = building_block_samples()


def test_the_section_has_a_sample_for_each_module():
    modules = (
        "ocimux.base.process", "ocimux.base.command", "ocimux.interface.specview", "ocimux.base.files",
        "ocimux.base.sockets", "ocimux.io.logs", "ocimux.interface.probes",
    )  # fmt: skip
    for module in modules:
        package, _, name = module.rpartition(".")
        assert any(
            f"from {module} import" in s or f"from {package} import {name}" in s for s in SAMPLES
        ), module


def test_the_samples_import_no_private_module():
    assert [private_imports(sample, "") for sample in SAMPLES] == [[] for _ in SAMPLES]


@pytest.mark.parametrize("sample", SAMPLES, ids=[f"sample{i}" for i in range(len(SAMPLES))])
def test_a_building_block_sample_runs(
    sample: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith(("OCIMUX_", "CONTAINERS_CONF"))]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    exec(compile(sample, f"{DOC.name}:building-blocks", "exec"), {"__name__": "sample"})  # noqa: S102
