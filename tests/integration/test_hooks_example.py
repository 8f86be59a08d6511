"""The example hook plugins (`examples/ocimux-hooks-example`), pip-installed into a directory
of their own that only this test's processes see (on PYTHONPATH)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.plugin_dists import install_target, with_site

EXAMPLE = REPO / "examples" / "ocimux-hooks-example"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example pip-installed into a directory of its own, once per worker."""
    return install_target(EXAMPLE, tmp_path_factory.mktemp("dist"))


@pytest.fixture
def ocimux_env(
    ocimux_env: dict[str, str], installed: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The isolated environment, the example's directory on PYTHONPATH (this test's only)."""
    env = with_site(ocimux_env, installed)
    monkeypatch.setenv("PYTHONPATH", env["PYTHONPATH"])
    return env


def test_untrusted_goes_to_the_sandbox_and_every_event_is_audited(
    ocimux, ocimux_env, tmp_path: Path, rootfs: Path
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
