"""The conformance kit on the OCI runtimes (runc and crun under conmon, runc through
containerd's shim v2), as a plugin author runs it: each must pass with no test skipped.

Apart from `test_kit.py` so that parallel workers (one file each) share the kit runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conformance.kitrun import assert_kit_passes

CONMON = pytest.mark.requires_runtime("conmon")


@pytest.mark.timeout(360)
@pytest.mark.requires_root
@pytest.mark.parametrize(
    "name",
    [
        pytest.param("runc", marks=[pytest.mark.requires_runtime("runc"), CONMON]),
        pytest.param("crun", marks=[pytest.mark.requires_runtime("crun"), CONMON]),
        # the shim v2 backend on containerd's runc shim: no runc CLI call by ocimux itself
        pytest.param("runc-shim", marks=pytest.mark.requires_runtime("containerd-shim-runc-v2")),
    ],
)
def test_kit_passes_on_oci_runtime(name: str, tmp_path: Path) -> None:
    assert_kit_passes(name, tmp_path, set())
