"""`[engine] cgroup_manager` and `conmon_env_vars` on real runc and crun under conmon.

The runtime is a wrapper script named in `[engine.runtimes]` (driven by the runc or crun
plugin through `[ocimux.runtime_plugins]`): for `create`, which conmon runs, it records its
environment, its argv and the bundle's config.json, then execs the real runtime.

What this host allows (no systemd: PID 1 is a VM agent, /run/systemd/system is absent):
- `cgroup_manager = "systemd"` is checked end to end only as a refusal: `ocimux --config F run`
  exits 125 with one line before conmon or the runtime runs, and leaves nothing behind.
- What "systemd" hands the runtime is checked by argv: with the host check pointed at a fake
  root where systemd "runs" (in-process Dispatcher), conmon gets `--systemd-cgroup` and runs
  `<runtime> --systemd-cgroup ... create` on a spec whose `linux.cgroupsPath` is
  `machine.slice:ocimux:<id>`; the real runtime then fails for want of systemd (runc:
  "systemd not running on this host", crun: "cannot open sd-bus") and ocimux undoes the
  create. A container in a systemd scope could not run here.
- `cgroup_manager = "cgroupfs"` runs the same command.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_conf
from tests.integration.conftest import pids_matching, runtime_params, wait_until

PODMAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NO_SYSTEMD = not os.path.isdir("/run/systemd/system")

WRAPPER = """#!/bin/sh
for a in "$@"; do [ "$a" = create ] && creating=1; done
if [ -n "$creating" ]; then
    /usr/bin/env > {rec}/env
    printf '%s\\n' "$@" > {rec}/argv
    prev=
    for a in "$@"; do [ "$prev" = --bundle ] && /bin/cp "$a/config.json" {rec}/config.json; prev=$a; done
fi
exec {real} "$@"
"""


@pytest.fixture(params=runtime_params())
def real(request: pytest.FixtureRequest) -> str:
    """The runtime the wrapper execs (runc or crun)."""
    if shutil.which("conmon") is None:
        pytest.skip("conmon not on PATH (apt install conmon)")
    return str(request.param)


class Setup:
    """A containers.conf whose runtime `probe` is the recording wrapper around `real`."""

    def __init__(self, tmp_path: Path, env: dict[str, str], real: str) -> None:
        self.conf = Path(env["CONTAINERS_CONF"])
        self.state = self.conf.parent / "state"
        self.rec = tmp_path / "rec"
        self.rec.mkdir()
        self.real = real
        self.wrapper = tmp_path / f"probe-{real}"
        self.wrapper.write_text(
            WRAPPER.format(rec=self.rec, real=shutil.which(real) or f"/usr/sbin/{real}")
        )
        self.wrapper.chmod(0o755)

    def write(self, engine: str) -> None:
        """`engine` goes into [engine]; `probe` is the wrapper, driven by `real`'s plugin."""
        write_conf(
            self.conf,
            self.state,
            f'{engine}\n[engine.runtimes]\nprobe = ["{self.wrapper}"]\n'
            f'[ocimux.runtime_plugins]\nprobe = "{self.real}"\n',
        )

    def recorded(self, name: str) -> str:
        return (self.rec / name).read_text()

    def environ(self, name: str = "env") -> dict[str, str]:
        return dict(line.split("=", 1) for line in self.recorded(name).splitlines() if "=" in line)

    def left_behind(self, ocimux: Any) -> dict[str, Any]:
        """Everything a failed create could leave: records, directories, runtime state, monitors."""
        containers = self.state / "lib" / "containers"
        root = self.state / "run" / "runtimes" / "probe"
        listed = subprocess.run(
            [shutil.which(self.real) or self.real, "--root", str(root), "list", "--format", "json"],
            capture_output=True, text=True, timeout=20, check=False,
        )  # fmt: skip
        return {
            "records": ocimux("ps", "-a", "-q").stdout.split(),
            "directories": sorted(p.name for p in containers.iterdir())
            if containers.exists()
            else [],
            "runtime": json.loads(listed.stdout or "null") or [] if root.exists() else [],
            "monitors": pids_matching(str(self.state)),
        }


def _proc_environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


def _run(ocimux: Any, setup: Setup, rootfs: Path, *args: str, **kw: Any) -> Any:
    return ocimux(
        "--config",
        str(setup.conf),
        "run",
        "--runtime",
        "probe",
        "--rootfs",
        str(rootfs),
        *args,
        **kw,
    )


# --- conmon_env_vars ------------------------------------------------------------------------


def test_conmon_env_vars_reach_conmon_and_the_runtime(
    ocimux: Any, ocimux_env: dict[str, str], busybox_rootfs: Path, tmp_path: Path, real: str
) -> None:
    setup = Setup(tmp_path, ocimux_env, real)
    setup.write(f'conmon_env_vars = ["PATH={PODMAN_PATH}", "OCIMUX_PROBE=42"]')
    caller = {"NOTIFY_SOCKET": "/run/ocimux-test-notify"}  # must not reach the runtime
    done = _run(
        ocimux, setup, busybox_rootfs, "-d", "--name", "envy", "--", "sleep", "30", env=caller
    )
    assert done.returncode == 0, done.stderr
    cid = done.stdout.strip()
    monitor = json.loads(ocimux("inspect", cid).stdout)[0]["monitor_pid"]
    assert monitor and Path(f"/proc/{monitor}/comm").read_text().strip() == "conmon"
    conmon_env = _proc_environ(monitor)
    assert conmon_env["OCIMUX_PROBE"] == "42"
    # podman >= 4.8 lays its own environment over conmon_env_vars: the caller's PATH wins
    assert conmon_env["PATH"] == ocimux_env["PATH"]
    assert conmon_env["XDG_RUNTIME_DIR"] == ""  # podman's value for root
    assert "NOTIFY_SOCKET" not in conmon_env
    seen = setup.environ()  # what the runtime's create saw, conmon's child
    assert seen["OCIMUX_PROBE"] == "42" and seen["PATH"] == ocimux_env["PATH"]
    assert "NOTIFY_SOCKET" not in seen
    assert ocimux("rm", "-f", cid).returncode == 0

    # the exit command (cleanup under conmon's environment) still removes a --rm container
    done = _run(ocimux, setup, busybox_rootfs, "--rm", "--", "echo", "bye")
    assert (done.returncode, done.stdout) == (0, "bye\n"), done.stderr
    wait_until(lambda: ocimux("ps", "-a", "-q").stdout == "", 10, "the --rm container to go")


@pytest.mark.parametrize("real", runtime_params(("runc",)), indirect=True)
def test_append_keeps_podmans_path_where_ocimux_has_none(
    ocimux_env: dict[str, str], busybox_rootfs: Path, tmp_path: Path, real: str
) -> None:
    setup = Setup(tmp_path, ocimux_env, real)
    setup.write('conmon_env_vars = ["OCIMUX_PROBE=7", {append = true}]')
    env = {k: v for k, v in ocimux_env.items() if k != "PATH"}  # ocimux runs without PATH
    done = subprocess.run(
        [sys.executable, "-m", "ocimux.cli", "--config", str(setup.conf), "run", "--rm",
         "--runtime", "probe", "--rootfs", str(busybox_rootfs), "--", "echo", "ok"],
        capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (0, "ok\n"), done.stderr
    seen = setup.environ()
    assert (seen["PATH"], seen["OCIMUX_PROBE"]) == (PODMAN_PATH, "7")


# --- cgroup_manager -------------------------------------------------------------------------


@pytest.mark.skipif(not NO_SYSTEMD, reason="systemd runs this host: the refusal cannot show")
def test_systemd_is_refused_before_anything_runs_and_cgroupfs_runs(
    ocimux: Any, ocimux_env: dict[str, str], busybox_rootfs: Path, tmp_path: Path, real: str
) -> None:
    setup = Setup(tmp_path, ocimux_env, real)
    setup.write('cgroup_manager = "systemd"')
    done = _run(ocimux, setup, busybox_rootfs, "--name", "web", "--", "echo", "hi")
    assert (done.returncode, done.stdout) == (125, "")
    assert done.stderr.count("\n") == 1, done.stderr
    line = done.stderr.strip()
    assert "create web on probe:" in line
    assert "systemd is not running on this host (/run/systemd/system is not a directory)" in line
    assert line.endswith('set cgroup_manager = "cgroupfs" in [engine]'), line
    assert not (setup.rec / "argv").exists()  # the runtime never ran create
    assert setup.left_behind(ocimux) == {
        "records": [], "directories": [], "runtime": [], "monitors": []
    }  # fmt: skip

    setup.write('cgroup_manager = "cgroupfs"')
    done = _run(ocimux, setup, busybox_rootfs, "--rm", "--name", "web", "--", "echo", "hi")
    assert (done.returncode, done.stdout) == (0, "hi\n"), done.stderr
    assert "--systemd-cgroup" not in setup.recorded("argv").split()


#: what each runtime says when asked for systemd cgroups without systemd (host.md §3)
NO_SYSTEMD_MESSAGE = {"runc": "systemd not running on this host", "crun": "sd-bus"}


@pytest.mark.skipif(not NO_SYSTEMD, reason="systemd runs this host: the container would start")
def test_systemd_argv_and_spec_reach_the_runtime_when_the_check_passes(
    ocimux_env: dict[str, str],
    busybox_rootfs: Path,
    tmp_path: Path,
    real: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ocimux
    from ocimux.oci import cgroupmanager

    fake = tmp_path / "fake-root"
    (fake / "run/systemd/system").mkdir(parents=True)
    monkeypatch.setattr(cgroupmanager, "HOST_ROOT", fake)
    setup = Setup(tmp_path, ocimux_env, real)
    setup.write('cgroup_manager = "systemd"')
    d = ocimux.open_dispatcher()
    new = ocimux.NewContainer(rootfs=busybox_rootfs, args=("true",), runtime="probe", name="sd")
    try:
        with pytest.raises(ocimux.RuntimeCommandError) as info:
            d.create(new)
        left = d.list()
    finally:  # had the runtime started it after all, no conmon may outlive the test
        for rec in d.list():
            d.delete(rec.id, force=True)
    assert NO_SYSTEMD_MESSAGE[real] in str(info.value), info.value
    argv = setup.recorded("argv").split("\n")
    assert argv[0] == "--systemd-cgroup" and argv.count("--systemd-cgroup") == 1, argv
    assert argv.index("create") > argv.index("--root")
    cid = argv[-2]  # `... create --bundle B --pid-file P <id>`
    spec = json.loads(setup.recorded("config.json"))
    assert spec["linux"]["cgroupsPath"] == f"machine.slice:ocimux:{cid}"
    assert left == []
    assert not (setup.state / "lib" / "containers" / cid).exists()
    wait_until(lambda: not pids_matching(str(setup.state)), 5, "the failed create's conmon to end")
