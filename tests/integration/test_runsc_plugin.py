"""The gVisor plugin shipped as its own distribution (`examples/ocimux-runsc`), through the CLI.

A session fixture pip-installs the example (a copy, so no build output lands in the
repository), as a third party's plugin would be installed, but with `--target` into a
directory of its own: only this file's ocimux processes get it, on PYTHONPATH (parallel
workers share one virtualenv). The last test takes the plugin out of that directory mid-run
to check that a container whose runtime vanished still lists and can be removed, then puts
it back.

runsc `delete` can take ~2 s (its gofer is reaped by PID 1 once conmon has exited), so the
timeouts here are generous.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, Runner
from tests.plugin_dists import install_target, with_site

pytestmark = [pytest.mark.requires_root, pytest.mark.requires_runtime("runsc")]

EXAMPLE = REPO / "examples" / "ocimux-runsc"


class Plugin:
    """The plugin installed in `site`; `uninstall` empties that directory, `reinstall` refills it."""

    def __init__(self, workdir: Path) -> None:
        self.site = install_target(EXAMPLE, workdir)
        self._parked = workdir / "uninstalled"

    def uninstall(self) -> None:
        self.site.rename(self._parked)
        self.site.mkdir()

    def reinstall(self) -> None:
        self.site.rmdir()
        self._parked.rename(self.site)


@pytest.fixture(scope="session")
def runsc_plugin(tmp_path_factory: pytest.TempPathFactory) -> Plugin:
    """Install the plugin (non-editable) once per worker, in a directory of its own."""
    if shutil.which("conmon") is None:
        pytest.skip("conmon not on PATH (apt install conmon)")
    return Plugin(tmp_path_factory.mktemp("dist"))


@pytest.fixture
def ocimux_env(
    ocimux_env: dict[str, str], runsc_plugin: Plugin, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The isolated environment, the plugin's directory on PYTHONPATH (this file's only)."""
    env = with_site(ocimux_env, runsc_plugin.site)
    monkeypatch.setenv("PYTHONPATH", env["PYTHONPATH"])
    return env


@pytest.fixture
def cli(
    ocimux: Runner,
    busybox_rootfs: Path,
    ocimux_env: dict[str, str],
) -> Iterator[Runner]:
    """The `ocimux` runner with its state in a SHORT directory.

    runsc 20221219's `exec --detach` re-executes itself and, once its argv is about 1000
    bytes long, drops every flag value: `runsc-exec --root --network=none --log ... exec
    --pid-file --process ID` then fails "parsing process spec: both a container-id and
    command are required". pytest's tmp_path makes conmon's exec argv that long.
    """
    short = Path(tempfile.mkdtemp(prefix="gv", dir="/tmp"))
    conf = Path(ocimux_env["CONTAINERS_CONF"])
    text = conf.read_text()
    state = conf.parent / "state"
    conf.write_text(text.replace(f'"{state}/', f'"{short}/'))
    yield ocimux
    left = ocimux("ps", "-a", "-q").stdout.split()
    if left:
        ocimux("rm", "-f", "-t", "0", *left, timeout=120)
    conf.write_text(text)
    shutil.rmtree(short, ignore_errors=True)


def new(rootfs: Path, *args: str, flags: tuple[str, ...] = ()) -> list[str]:
    return ["run", *flags, "--runtime", "runsc", "--rootfs", str(rootfs), "--", *args]


def record(cli: Runner, ref: str) -> dict[str, Any]:
    return json.loads(cli("inspect", ref, check=True).stdout)[0]


def runsc_root(env_conf: Path) -> Path:
    """The runtime's `--root`, from the conf's `run_dir` (rewritten by `cli`)."""
    run_dir = next(ln for ln in env_conf.read_text().splitlines() if ln.startswith("run_dir"))
    return Path(run_dir.split('"')[1]) / "runtimes" / "runsc"


def test_runtimes_lists_the_plugin_and_its_capabilities(cli: Runner) -> None:
    rows = json.loads(cli("runtimes", "--format", "json", check=True).stdout)
    row = next(r for r in rows if r["name"] == "runsc")
    assert row["plugin"] == "runsc" and row["status"] == "ok", row
    assert row["entry_point"] == "ocimux_runsc:RunscRuntime"
    assert row["distribution"].startswith("ocimux-runsc "), row["distribution"]
    caps = row["capabilities"]
    assert caps["checkpoint"] == {
        "value": True,
        "source": "probed",
        "reason": "gVisor checkpoints without CRIU",
    }
    assert caps["update_resources"]["value"] is False
    assert caps["update_resources"]["reason"] == "runsc has no update command"
    assert caps["isolation"]["value"] is True and caps["kvm"]["value"] is False
    assert caps["json_errors"]["value"] is True


def test_run_rm_echo(cli: Runner, busybox_rootfs: Path) -> None:
    done = cli(*new(busybox_rootfs, "echo", "hi", flags=("--rm",)))
    assert (done.returncode, done.stdout, done.stderr) == (0, "hi\n", "")
    assert cli("ps", "-a", "-q").stdout == ""


def test_run_rm_splits_streams_and_passes_exit_code(cli: Runner, busybox_rootfs: Path) -> None:
    done = cli(*new(busybox_rootfs, "sh", "-c", "echo out; echo err >&2; exit 7", flags=("--rm",)))
    assert (done.returncode, done.stdout, done.stderr) == (7, "out\n", "err\n")


def test_detached_ps_exec_stop_rm_and_no_update(cli: Runner, busybox_rootfs: Path) -> None:
    cid = cli(*new(busybox_rootfs, "sleep", "100", flags=("-d", "--name", "gv")), check=True)
    cid = cid.stdout.strip()
    listed = json.loads(cli("ps", "-a", "--format", "json", check=True).stdout)
    assert [(r["id"], r["runtime"], r["status"]) for r in listed] == [(cid, "runsc", "running")]

    done = cli("exec", "gv", "sh", "-c", "echo viaexec; echo e >&2; exit 4")
    assert (done.returncode, done.stdout, done.stderr) == (4, "viaexec\n", "e\n"), done.stderr

    done = cli("exec", "gv", "/bin/nonexistent")
    assert done.returncode != 0
    assert "failed to load /bin/nonexistent" in done.stderr  # runsc's own message, via --log

    done = cli("update", "--memory", "100m", "gv")
    assert done.returncode == 125
    assert done.stderr.count("\n") == 1 and "update_resources" in done.stderr, done.stderr
    assert record(cli, "gv")["status"] == "running"

    done = cli("stop", "-t", "1", "gv", timeout=30)
    assert (done.returncode, done.stdout) == (0, "gv\n"), done.stderr
    assert record(cli, "gv")["status"] == "stopped"

    done = cli("rm", "gv", timeout=30)
    assert (done.returncode, done.stdout) == (0, "gv\n"), done.stderr
    assert cli("ps", "-a", "-q").stdout == ""


def test_network_option_reaches_runsc(
    cli: Runner, busybox_rootfs: Path, ocimux_env: dict[str, str]
) -> None:
    # runsc's own default network fails at start in the host's namespace: proof the option
    # replaces the plugin's `--network=none` (host.md §3)
    conf = Path(ocimux_env["CONTAINERS_CONF"])
    conf.write_text(conf.read_text() + '\n[ocimux.plugins.runsc]\nnetwork = "sandbox"\n')
    done = cli(*new(busybox_rootfs, "true", flags=("--rm",)), timeout=60)
    assert done.returncode == 125, done
    assert "network" in done.stderr, done.stderr


def test_container_outlives_its_uninstalled_plugin(
    runsc_plugin: Plugin,
    cli: Runner,
    busybox_rootfs: Path,
    ocimux_env: dict[str, str],
) -> None:
    """Last in this file: uninstalls the plugin, then reinstalls it for anything after."""
    cid = cli(*new(busybox_rootfs, "sleep", "100", flags=("-d", "--name", "orphan")), check=True)
    cid = cid.stdout.strip()
    try:
        runsc_plugin.uninstall()
        rows = json.loads(cli("runtimes", "--format", "json", check=True).stdout)
        assert "runsc" not in {r["name"] for r in rows if r["status"] == "ok"}
        listed = json.loads(cli("ps", "-a", "--format", "json", check=True).stdout)
        assert [(r["id"], r["status"]) for r in listed] == [(cid, "unknown")]
        assert "runsc" in listed[0]["status_reason"] and "missing" in listed[0]["status_reason"]
        done = cli("rm", "-f", "orphan", timeout=30)
        assert (done.returncode, done.stdout) == (0, "orphan\n"), done.stderr
        assert cli("ps", "-a", "-q").stdout == ""
    finally:
        # without its plugin ocimux cannot stop the sandbox: do it with runsc itself
        root = runsc_root(Path(ocimux_env["CONTAINERS_CONF"]))
        subprocess.run(
            ["runsc", "--root", str(root), "--network=none", "delete", "--force", cid],
            capture_output=True,
            timeout=30,
        )
        runsc_plugin.reinstall()


def _counter_lines(cli: Runner, ref: str) -> list[int]:
    return [int(x) for x in cli("logs", ref, check=True).stdout.split()]


def _wait_for_lines(cli: Runner, ref: str, more_than: int) -> list[int]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        lines = _counter_lines(cli, ref)
        if len(lines) > more_than:
            return lines
        time.sleep(0.1)
    raise AssertionError(f"the counter did not go on: {_counter_lines(cli, ref)}")


def test_checkpoint_and_restore_keep_counting(
    cli: Runner, busybox_rootfs: Path, tmp_path: Path
) -> None:
    script = "i=0; while :; do i=$((i+1)); echo $i; sleep 0.1; done"
    cli(*new(busybox_rootfs, "sh", "-c", script, flags=("-d", "--name", "counter")), check=True)
    _wait_for_lines(cli, "counter", 3)
    archive = tmp_path / "counter.tar.gz"
    cli("checkpoint", "--export", str(archive), "counter", check=True)
    assert record(cli, "counter")["status"] == "stopped"
    before = _counter_lines(cli, "counter")
    time.sleep(0.5)
    assert _counter_lines(cli, "counter") == before, "a checkpointed container must not run"
    assert archive.stat().st_size > 0

    cli("restore", "counter", check=True)
    assert record(cli, "counter")["status"] == "running"
    after = _wait_for_lines(cli, "counter", len(before) + 3)
    # it goes on from where it stopped: no restart from 1, no gap
    assert after[: len(before)] == before
    assert after[len(before)] == before[-1] + 1, after

    # and once more, from the exported archive
    cli("checkpoint", "counter", check=True)
    cli("restore", "--import", str(archive), "counter", check=True)
    assert record(cli, "counter")["status"] == "running"
    cli("rm", "-f", "counter", check=True)

    # the archive also makes a new container, under another name, counting on from the export
    cli("restore", "--import", str(archive), "--name", "counter2", check=True)
    rec = record(cli, "counter2")
    assert rec["status"] == "running" and rec["runtime"] == "runsc"
    copied = _wait_for_lines(cli, "counter2", 2)
    assert copied[0] == before[-1] + 1, (before, copied)
    cli("rm", "-f", "counter2", check=True)
    done = cli("restore", "--name", "x")
    assert done.returncode == 125 and "--import" in done.stderr


def test_restore_without_a_checkpoint_is_a_clear_error(cli: Runner, busybox_rootfs: Path) -> None:
    cli(*new(busybox_rootfs, "true", flags=("-d", "--name", "plain")), check=True)
    time.sleep(1)
    done = cli("restore", "plain")
    assert done.returncode == 125 and "no checkpoint" in done.stderr
    cli("rm", "-f", "plain", check=True)
