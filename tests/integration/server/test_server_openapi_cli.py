"""`ocimux serve --openapi` (a subprocess) prints the document the server builds."""

from __future__ import annotations

import json
import subprocess
import sys

from ocimux.server.openapi import openapi


def test_cli_prints_the_same_document(ocimux_env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ocimux.cli", "serve", "--openapi"],
        capture_output=True,
        text=True,
        timeout=60,
        env=ocimux_env,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert json.loads(done.stdout) == openapi()
