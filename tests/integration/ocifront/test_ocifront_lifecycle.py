"""`ocimux-oci` driven exactly as runc is, compared with the backend binary run directly.

The same sequence of verbs (create, start, state, exec, exec --detach, ps, pause, resume,
list, kill, delete, and the errors after it) runs once through the front with the backend
chosen by annotation and once on crun/runc itself; what each step shows must match.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from ocimux.ocifront import records

from tests.integration.ocifront.conftest import FRONT, requires

pytestmark = [pytest.mark.requires_root, requires("runc", "crun")]


def _run(argv: list[str], env: dict[str, str], tmp: Path) -> subprocess.CompletedProcess[str]:
    # files, not pipes: create hands its stdio to the container (host.md §2)
    out, err = tmp / "out", tmp / "err"
    with out.open("w") as o, err.open("w") as e:
        code = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=o, stderr=e, env=env,
                              timeout=60, check=False).returncode  # fmt: skip
    return subprocess.CompletedProcess(argv, code, out.read_text(), err.read_text())


def _wait_status(run: Callable[..., subprocess.CompletedProcess[str]], cid: str, want: str) -> str:
    status = ""
    for _ in range(100):
        done = run("state", cid)
        status = json.loads(done.stdout)["status"] if done.returncode == 0 else "gone"
        if status == want:
            break
        time.sleep(0.05)
    return status


def lifecycle(
    prefix: list[str], bundle: Path, env: dict[str, str], tmp: Path, cid: str
) -> list[object]:
    """What each verb shows, in a form both the front and the backend give alike.

    Each run has its own id: the other's cgroup (named after the id) may still hold its
    init, a zombie until PID 1 reaps it (host.md §2), and runc warns about a non-empty cgroup.
    """

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return _run([*prefix, *args], env, tmp)

    seen: list[object] = []
    pidfile = tmp / f"pid-{len(prefix)}"
    done = run("create", "--bundle", str(bundle), "--pid-file", str(pidfile), cid)
    seen.append(("create", done.returncode, done.stderr))
    pid = int(pidfile.read_text())
    state = json.loads(run("state", cid).stdout)
    seen.append(("state", state["id"] == cid, state["status"], state["pid"] == pid))
    seen.append(("start", run("start", cid).returncode))
    seen.append(("running", _wait_status(run, cid, "running")))
    done = run("exec", cid, "/bin/sh", "-c", "echo viaexec; exit 7")
    seen.append(("exec", done.returncode, done.stdout))
    expid = tmp / f"expid-{len(prefix)}"
    done = run("exec", "-d", "--pid-file", str(expid), cid, "/bin/sleep", "30")
    seen.append(("exec -d", done.returncode, expid.read_text().strip().isdigit()))
    done = run("ps", "--format", "json", cid)
    pids = json.loads(done.stdout)
    seen.append(("ps", done.returncode, pid in pids, int(expid.read_text()) in pids))
    seen.append(("pause", run("pause", cid).returncode, _wait_status(run, cid, "paused")))
    seen.append(("resume", run("resume", cid).returncode, _wait_status(run, cid, "running")))
    listed = json.loads(run("list", "--format", "json").stdout)
    seen.append(("list", [(c["id"] == cid, c["status"], c["pid"] == pid) for c in listed]))
    done = run("delete", cid)
    seen.append(("delete running", done.returncode))
    seen.append(("kill", run("kill", "--all", cid, "KILL").returncode))
    seen.append(("stopped", _wait_status(run, cid, "stopped")))
    for _ in range(100):  # the init may linger as PID 1's zombie for ~2 s (host.md §2)
        done = run("delete", cid)
        if done.returncode == 0:
            break
        time.sleep(0.1)
    seen.append(("delete", done.returncode))
    seen.append(("state after", run("state", cid).returncode))
    seen.append(("start after", run("start", cid).returncode))
    seen.append(("delete --force after", run("delete", "--force", cid).returncode))
    return seen


@pytest.mark.parametrize("backend", ["crun", "runc"])
def test_front_behaves_as_the_backend(
    backend: str, make_bundle: Callable[..., Path], front_env: dict[str, str], tmp_path: Path
) -> None:
    bundle = make_bundle("b", ["/bin/sleep", "100"], {"io.ocimux.runtime": backend})
    front_root, direct_root = tmp_path / "front", tmp_path / "direct"
    via_front = lifecycle([FRONT, "--root", str(front_root)], bundle, front_env, tmp_path, "f1")
    direct = lifecycle([backend, "--root", str(direct_root)], bundle, front_env, tmp_path, "d1")
    assert via_front == direct
    # the steps that matter, so that two equally broken runs cannot pass
    assert via_front[0] == ("create", 0, "")
    assert ("exec", 7, "viaexec\n") in via_front
    assert ("list", [(True, "running", True)]) in via_front
    assert ("state after", 1) in via_front and ("delete --force after", 0) in via_front
    # the backend kept its state under ours, and nothing is left of the container
    assert (front_root / "ocimux" / "backends" / backend).is_dir()
    assert not list((front_root / "ocimux" / "containers").iterdir())


def test_errors_are_runtime_style(front_env: dict[str, str], tmp_path: Path) -> None:
    log = tmp_path / "oci-log"
    argv = [
        FRONT,
        "--root",
        str(tmp_path),
        "--log",
        str(log),
        "--log-format=json",
        "kill",
        "nope",
        "9",
    ]
    done = _run(argv, front_env, tmp_path)
    assert done.returncode == 1
    assert json.loads(log.read_text())["msg"] == "container does not exist"
    assert done.stderr == "container does not exist\n"


def test_backend_errors_pass_through(
    make_bundle: Callable[..., Path], front_env: dict[str, str], tmp_path: Path
) -> None:
    bundle = make_bundle("bad", ["/bin/nonexistent"], {"io.ocimux.runtime": "runc"})
    log = tmp_path / "oci-log"
    argv = [FRONT, "--root", str(tmp_path / "r"), "--log", str(log), "--log-format", "json",
            "create", "--bundle", str(bundle), "x1"]  # fmt: skip
    done = _run(argv, front_env, tmp_path)
    assert done.returncode == 1
    assert "/bin/nonexistent" in json.loads(log.read_text().splitlines()[-1])["msg"]
    # a failed create leaves no record: the id is free again
    assert records.load(str(tmp_path / "r"), "x1") is None
    assert (
        _run([FRONT, "--root", str(tmp_path / "r"), "state", "x1"], front_env, tmp_path).returncode
        == 1
    )


def test_a_backend_that_is_neither_cli_nor_shim_is_refused(
    make_bundle: Callable[..., Path], front_env: dict[str, str], tmp_path: Path
) -> None:
    bundle = make_bundle("mock", ["/bin/true"], {"io.ocimux.runtime": "mock"})
    done = _run([FRONT, "--root", str(tmp_path / "r"), "create", "--bundle", str(bundle), "s1"],
                front_env, tmp_path)  # fmt: skip
    assert done.returncode == 1
    assert "backend 'mock' is neither an OCI CLI runtime nor a shim v2 one" in done.stderr
    assert records.load(str(tmp_path / "r"), "s1") is None


def test_backend_flag_and_default(
    make_bundle: Callable[..., Path], front_env: dict[str, str], tmp_path: Path
) -> None:
    bundle = make_bundle("plain", ["/bin/sleep", "10"])
    root = tmp_path / "r"
    for cid, flags in (("byflag", ["--backend", "runc"]), ("bydefault", [])):
        done = _run([FRONT, "--root", str(root), *flags, "create", "--bundle", str(bundle), cid],
                    front_env, tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stderr
    assert records.load(str(root), "byflag").backend == "runc"  # type: ignore[union-attr]
    # the configuration's default runtime is crun
    assert records.load(str(root), "bydefault").backend == "crun"  # type: ignore[union-attr]
    # [ocimux.oci] default_backend, seen on the very next call (the route cache is keyed by
    # the config files' stat data)
    conf = Path(front_env["CONTAINERS_CONF"])
    conf.write_text(conf.read_text() + '[ocimux.oci]\ndefault_backend = "runc"\n')
    done = _run([FRONT, "--root", str(root), "create", "--bundle", str(bundle), "byconf"],
                front_env, tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert records.load(str(root), "byconf").backend == "runc"  # type: ignore[union-attr]
    for cid in ("byflag", "bydefault", "byconf"):
        assert (
            _run(
                [FRONT, "--root", str(root), "delete", "--force", cid], front_env, tmp_path
            ).returncode
            == 0
        )


@pytest.mark.parametrize("backend", ["crun", "runc"])
def test_the_workload_ignores_no_signal(
    backend: str, make_bundle: Callable[..., Path], front_env: dict[str, str], tmp_path: Path
) -> None:
    """Python ignores SIGPIPE and SIGXFSZ, and an ignored signal survives exec: the front must
    not hand that to the backend's create and exec, and so to the container's processes."""
    bundle = make_bundle("sig", ["/bin/sleep", "100"], {"io.ocimux.runtime": backend})
    root = str(tmp_path / "r")
    assert _run([FRONT, "--root", root, "create", "--bundle", str(bundle), "s1"],
                front_env, tmp_path).returncode == 0  # fmt: skip
    try:
        assert _run([FRONT, "--root", root, "start", "s1"], front_env, tmp_path).returncode == 0
        pid = json.loads(_run([FRONT, "--root", root, "state", "s1"], front_env, tmp_path).stdout)[
            "pid"
        ]
        status = Path(f"/proc/{pid}/status").read_text()
        assert "SigIgn:\t0000000000000000\n" in status
        done = _run([FRONT, "--root", root, "exec", "s1", "grep", "SigIgn", "/proc/self/status"],
                    front_env, tmp_path)  # fmt: skip
        assert done.stdout == "SigIgn:\t0000000000000000\n", done.stderr
    finally:
        _run([FRONT, "--root", root, "delete", "--force", "s1"], front_env, tmp_path)
