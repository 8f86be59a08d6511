"""The bwrap example plugin end to end through the CLI, installed as its own distribution.

`ocimux run --runtime bwrap` as a user runs it: the hostname, stdin, exit codes (126/127
included), exec inside the container's namespaces, a spec field bwrap cannot honour refused
before anything runs, and a missing bwrap named. The conformance kit runs on it apart
(tests/conformance/test_kit.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import Runner
from tests.plugin_dists import install_target

pytestmark = [pytest.mark.requires_root, pytest.mark.requires_runtime("bwrap")]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_target(REPO / "examples" / "ocimux-bwrap", tmp_path_factory.mktemp("bwrap"))


@pytest.fixture
def bwrap(ocimux: Runner, ocimux_env: dict[str, str], site: Path, busybox_rootfs: Path) -> Runner:
    """`ocimux` with the plugin on PYTHONPATH (teardown's `rm -f` too); `R` = its run flags."""
    ocimux_env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(site), os.environ.get("PYTHONPATH")])
    )
    return ocimux


def run_args(rootfs: Path, *args: str) -> list[str]:
    return ["run", "--runtime", "bwrap", "--rootfs", str(rootfs), *args]


def test_hostname_output_and_exit_code(bwrap: Runner, busybox_rootfs: Path) -> None:
    script = "cat /etc/hostname; echo $$; echo to-stderr >&2; exit 3"
    done = bwrap(*run_args(busybox_rootfs, "--rm", "--hostname", "box", "sh", "-c", script))
    assert (done.returncode, done.stdout, done.stderr) == (3, "box\n1\n", "to-stderr\n")


def test_stdin_reaches_the_container(bwrap: Runner, busybox_rootfs: Path) -> None:
    done = bwrap(*run_args(busybox_rootfs, "--rm", "-i", "cat"), input="one\ntwo\n")
    assert (done.returncode, done.stdout) == (0, "one\ntwo\n")


@pytest.mark.parametrize(("command", "code", "says"), [
    ("nope", 127, 'exec: "nope": executable file not found in $PATH'),
    ("/etc/passwd", 126, 'exec: "/etc/passwd": permission denied'),
])  # fmt: skip
def test_a_command_that_cannot_run(
    bwrap: Runner, busybox_rootfs: Path, command: str, code: int, says: str
) -> None:
    done = bwrap(*run_args(busybox_rootfs, "--rm", command))
    assert done.returncode == code and says in done.stderr, done.stderr
    assert bwrap("ps", "-a", "-q").stdout == ""


def test_exec_joins_the_containers_namespaces(bwrap: Runner, busybox_rootfs: Path) -> None:
    loop = "echo x > /dev/shm/mark; while :; do sleep 0.1; done"
    started = bwrap(
        *run_args(busybox_rootfs, "-d", "--name", "b1", "--tmpfs", "/t:exec", "sh", "-c", loop),
        check=True,
    )
    script = "echo $$ $(hostname); cat /dev/shm/mark; grep CapEff /proc/self/status; exit 5"
    done = bwrap("exec", "b1", "sh", "-c", script)
    init = bwrap("exec", "b1", "grep", "CapEff", "/proc/1/status").stdout
    assert done.returncode == 5, done.stderr
    pid, hostname, mark, *caps = done.stdout.split()
    assert int(pid) > 1 and hostname == started.stdout.strip()[:12]  # its uts namespace
    assert mark == "x"  # the container's own /dev/shm: its mount namespace
    assert caps == init.split() and caps[1] != "000001fffeffffff"  # the container's, not root's
    missing = bwrap("exec", "b1", "nope")
    assert missing.returncode == 127 and "executable file not found" in missing.stderr
    assert bwrap("rm", "-f", "b1").returncode == 0


@pytest.mark.parametrize(("flag", "says"), [
    (["--user", "1000"], "cannot honour process.user: bwrap without a user namespace runs as root"),
    (["--tmpfs", "/scratch"], "cannot honour mounts /scratch: bwrap's tmpfs cannot be noexec"),
    (["-v", "/tmp:/data:noexec"], "cannot honour mounts /data: bwrap's binds cannot be noexec"),
])  # fmt: skip
def test_a_field_bwrap_cannot_honour_is_refused(
    bwrap: Runner, busybox_rootfs: Path, flag: list[str], says: str
) -> None:
    done = bwrap(*run_args(busybox_rootfs, "--rm", *flag, "true"))
    assert done.returncode == 125 and says in done.stderr, done.stderr
    assert "on bwrap" in done.stderr
    assert bwrap("ps", "-a", "-q").stdout == ""


def test_a_missing_bwrap_is_named(
    bwrap: Runner, busybox_rootfs: Path, ocimux_env: dict[str, str], tmp_path: Path
) -> None:
    conf = Path(ocimux_env["CONTAINERS_CONF"])
    conf.write_text(conf.read_text() + '[engine.runtimes]\nbwrap = ["/nonexistent/bwrap"]\n')
    empty = tmp_path / "empty-path"
    empty.mkdir()
    done = bwrap(*run_args(busybox_rootfs, "--rm", "true"), env={"PATH": str(empty)})
    assert done.returncode == 125
    assert "bwrap" in done.stderr and "not installed" in done.stderr, done.stderr
