"""The example hook plugins (`examples/ocimux-hooks-example`), installed with pip like any others."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.plugin_dists import install_copy, pip

EXAMPLE = REPO / "examples" / "ocimux-hooks-example"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    install_copy(EXAMPLE, tmp_path_factory.mktemp("dist"))
    try:
        yield
    finally:
        pip("uninstall", "-y", "-q", "ocimux-hooks-example")


def test_untrusted_goes_to_the_sandbox_and_every_event_is_audited(
    installed: None, ocimux, ocimux_env, tmp_path: Path, rootfs: Path
) -> None:
    conf = Path(ocimux_env["CONTAINERS_CONF"])
    # "sandbox" stands for runsc here: the mock under another name, so the test needs no root
    conf.write_text(conf.read_text() + '[ocimux.runtime_plugins]\nsandbox = "mock"\n')
    audit = tmp_path / "audit.jsonl"
    env = {"EXAMPLE_SANDBOX_RUNTIME": "sandbox", "EXAMPLE_AUDIT_LOG": str(audit)}

    info = json.loads(ocimux("info", "--format", "json", env=env).stdout)
    assert (
        sorted(info["hook_plugins"]) == ["audit", "sandbox-policy"]
        and info["broken_hook_plugins"] == []
    )

    # asked for the mock, annotated untrusted: the policy wins
    done = ocimux("run", "-d", "--name", "risky", "--runtime", "mock", "--annotation",
                  "example.com/untrusted=true", "--rootfs", str(rootfs), "--", "sleep", "30", env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    rec = json.loads(ocimux("inspect", "risky", env=env).stdout)[0]
    assert rec["runtime"] == "sandbox"
    spec = json.loads((Path(rec["bundle"]) / "config.json").read_text())
    assert spec["annotations"]["example.com/sandboxed-by"] == "ocimux-hooks-example"

    done = ocimux(
        "run",
        "--rm",
        "--name",
        "fine",
        "--rootfs",
        str(rootfs),
        "--",
        "sh",
        "-c",
        "exit 2",
        env=env,
    )
    assert done.returncode == 2
    assert ocimux("pause", "risky", env=env).returncode == 0
    assert ocimux("rm", "-f", "risky", env=env).returncode == 0

    events = [json.loads(line) for line in audit.read_text().splitlines()]
    risky = [e["event"] for e in events if e["name"] == "risky"]
    assert risky[:3] == ["create", "start", "pause"] and risky[-1] == "delete"
    assert {e["runtime"] for e in events if e["name"] == "risky"} == {"sandbox"}
    fine = [e for e in events if e["name"] == "fine"]
    assert [e["event"] for e in fine] == ["create", "start", "died", "delete"]
    assert fine[2]["exit_code"] == 2 and fine[0]["runtime"] == "mock"
