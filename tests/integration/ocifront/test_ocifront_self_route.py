"""A containers.conf shared with an engine that runs ocimux-oci by default must not make the front
exec itself forever: routing to ocimux-oci is refused in one runtime-style line."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.ocifront.conftest import FRONT, requires

pytestmark = [pytest.mark.requires_root, requires("crun")]


@pytest.mark.parametrize("how", ["default", "annotation"])
def test_routing_to_the_front_itself_is_refused(
    how: str, front_env: dict[str, str], make_bundle: Callable[..., Path], tmp_path: Path
) -> None:
    conf = Path(front_env["CONTAINERS_CONF"])
    text = conf.read_text().replace('runtime = "crun"', 'runtime = "ocimux-oci"')
    conf.write_text(
        text.replace("[engine.runtimes]\n", f'[engine.runtimes]\nocimux-oci = ["{FRONT}"]\n')
    )
    annotations = {"io.ocimux.runtime": "ocimux-oci"} if how == "annotation" else {}
    bundle = make_bundle(f"self-{how}", ["/bin/true"], annotations)
    root = tmp_path / "root"
    done = subprocess.run(
        [FRONT, "--root", str(root), "create", "--bundle", str(bundle), f"self-{how}"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, env=front_env, timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert "is ocimux-oci itself" in done.stderr, done.stderr
    assert "default_backend" in done.stderr
    listed = subprocess.run([FRONT, "--root", str(root), "list", "-q"], capture_output=True,
                            text=True, env=front_env, timeout=60, check=False)  # fmt: skip
    assert listed.stdout.split() == []
