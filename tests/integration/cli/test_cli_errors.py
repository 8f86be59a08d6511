"""Every CLI error path: one line on stderr, podman's exit code, nothing left behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def _one_line_error(proc, code: int = 125, *needles: str) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("Error: ")
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("frobnicate",), ("invalid choice",)),
        (("run", "--rootfs"), ("expected one argument",)),
        (("kill", "-s", "NOPE", "x"), ("invalid signal", "NOPE")),
        (("kill", "-s", "65", "x"), ("invalid signal",)),
        (
            ("run", "--runtime", "mock", "--rootfs", "/nonexistent-rootfs", "--", "true"),
            ("/nonexistent-rootfs",),
        ),
        (
            ("run", "--runtime", "mock", "--name", "../evil", "--rootfs", ".", "--", "true"),
            ("invalid container name",),
        ),
        (
            ("run", "--runtime", "mock", "--name", "x" * 300, "--rootfs", ".", "--", "true"),
            ("at most",),
        ),
        (
            ("run", "--runtime", "no-such-runtime", "--rootfs", ".", "--", "true"),
            ("no-such-runtime",),
        ),
        (("run", "--runtime", "mock", "--rootfs", "."), ("needs a command",)),
        (
            ("run", "--runtime", "mock", "--stop-timeout", "-1", "--rootfs", ".", "--", "true"),
            ("negative",),
        ),
        (("run", "--runtime", "mock", "--bundle", "/nonexistent-bundle"), ("/nonexistent-bundle",)),
        (("stop", "-t", "-3", "x"), ("negative",)),
        (("rm", "-t", "5", "x"), ("--force",)),
        (
            (
                "run",
                "--runtime",
                "mock",
                "--stop-timeout",
                "99999999999999999999",
                "--rootfs",
                ".",
                "--",
                "true",
            ),
            ("too large",),
        ),
        (("update", "--memory", "lots", "x"), ("invalid memory",)),
        (("inspect", "ghost"), ("ghost",)),
        (("--config", "/nonexistent/containers.conf", "ps"), ("/nonexistent/containers.conf",)),
    ],
)
def test_error_is_one_clear_line_with_exit_125(ocimux, args, needles):
    _one_line_error(ocimux(*args), 125, *needles)
    assert json.loads(ocimux("ps", "-a", "--format", "json").stdout) == [], (
        "a failed command left a container"
    )


def test_malformed_config_names_file_and_line(ocimux, ocimux_env):
    conf = Path(ocimux_env["CONTAINERS_CONF"])
    conf.write_text(conf.read_text().replace('runtime = "mock"', "runtime = crun"))
    line = _one_line_error(ocimux("ps"), 125, str(conf))
    assert f"{conf}:" in line


def test_unknown_engine_key_warns_with_did_you_mean_and_strict_config_refuses(ocimux, ocimux_env):
    """An unknown key is a warning, as podman ignores it; strict_config makes it the error."""
    conf = Path(ocimux_env["CONTAINERS_CONF"])
    conf.write_text(conf.read_text().replace("runtime =", "runtimez ="))
    proc = ocimux("ps")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith(f"ocimux: warning: {conf}:")
    assert "engine.runtimez: unknown key, ignored; did you mean 'runtime'?" in proc.stderr
    strict = ocimux("ps", env={"OCIMUX_OCIMUX__STRICT_CONFIG": "true"})
    _one_line_error(strict, 125, str(conf), "runtimez", "did you mean")


def test_container_command_not_found_is_127_and_not_invocable_is_126(
    ocimux, rootfs: Path, tmp_path: Path
):
    assert (
        ocimux(
            "run", "--runtime", "mock", "--rm", "--rootfs", str(rootfs), "--", "/no/such/binary"
        ).returncode
        == 127
    )
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\necho never\n")
    script.chmod(0o644)
    assert (
        ocimux(
            "run", "--runtime", "mock", "--rm", "--rootfs", str(rootfs), "--", str(script)
        ).returncode
        == 126
    )
    assert (
        ocimux(
            "run",
            "-d",
            "--runtime",
            "mock",
            "--name",
            "e",
            "--rootfs",
            str(rootfs),
            "--",
            "sleep",
            "30",
        ).returncode
        == 0
    )
    _one_line_error(ocimux("exec", "e", "/no/such/binary"), 127)
    _one_line_error(ocimux("exec", "e", str(script)), 126)
    assert ocimux("rm", "-f", "e").returncode == 0


def test_injected_runtime_failure_leaves_nothing(ocimux, rootfs: Path, ocimux_env):
    proc = ocimux(
        "run",
        "--runtime",
        "mock",
        "--name",
        "doomed",
        "--annotation",
        "ocimux.mock/fail-on=create",
        "--annotation",
        "ocimux.mock/fail-message=disk on fire",
        "--rootfs",
        str(rootfs),
        "--",
        "true",
    )
    _one_line_error(proc, 125, "doomed", "mock", "disk on fire")
    assert json.loads(ocimux("ps", "-a", "--format", "json").stdout) == []
    containers = Path(ocimux_env["CONTAINERS_CONF"]).parent / "state" / "lib" / "containers"
    assert not containers.exists() or list(containers.iterdir()) == []


def test_injected_hang_times_out_naming_the_command(ocimux, rootfs: Path, ocimux_env):
    conf = Path(ocimux_env["CONTAINERS_CONF"])
    conf.write_text(conf.read_text().replace("command_timeout = 20", "command_timeout = 1"))
    proc = ocimux(
        "run",
        "-d",
        "--runtime",
        "mock",
        "--name",
        "slow",
        "--annotation",
        "ocimux.mock/hang-on=start",
        "--rootfs",
        str(rootfs),
        "--",
        "sleep",
        "30",
    )
    _one_line_error(proc, 125, "slow", "hung", "sleep(86400)")
    rec = json.loads(ocimux("ps", "-a", "--format", "json").stdout)
    assert [r["status"] for r in rec] == ["created"], (
        "a hung start must leave the container created, not lost"
    )
    assert ocimux("rm", "-f", "slow").returncode == 0


def test_missing_capability_is_refused_before_anything_runs(ocimux, rootfs: Path):
    assert (
        ocimux(
            "run",
            "-d",
            "--runtime",
            "mock",
            "--name",
            "lim",
            "--rootfs",
            str(rootfs),
            "--",
            "sleep",
            "30",
        ).returncode
        == 0
    )
    line = _one_line_error(
        ocimux("update", "--memory", "64m", "lim"), 125, "update_resources", "mock", "lim"
    )
    assert "no limits" in line or "cgroups" in line
    assert json.loads(ocimux("ps", "--format", "json").stdout)[0]["status"] == "running"
