"""The real docker CLI (28.x) against `ocimux serve`: run, exec, pause, logs, stop, rm, restart.

Every test starts its own server (tests/integration/api_server.py) on its own state, with
`busybox` registered as an image, and runs `docker` with DOCKER_HOST pointing at the socket
and a private DOCKER_CONFIG. The default runtime of the test configuration is `mock`; real
containers are asked for with `--runtime runc|crun|runc-shim`.
"""

from __future__ import annotations

import re
import shutil
import time

import pytest

from tests.integration.api_server import (  # noqa: F401 - the fixture
    ApiServer,
    api_server_fixture,
    timed,
)
from tests.integration.conftest import wait_until
from tests.ptydriver import Pty

pytestmark = [
    pytest.mark.requires_root,
    pytest.mark.skipif(shutil.which("docker") is None, reason="the docker CLI is not on PATH"),
    pytest.mark.skipif(shutil.which("conmon") is None, reason="conmon not on PATH"),
]

RUNC = pytest.mark.requires_runtime("runc")
CRUN = pytest.mark.requires_runtime("crun")
SHIM = pytest.mark.requires_runtime("containerd-shim-runc-v2")

HEX64 = re.compile(r"[0-9a-f]{64}")


def _names_and_status(server: ApiServer, *flags: str) -> dict[str, str]:
    out = server.docker_ok("ps", *flags, "--format", "{{.Names}}\t{{.Status}}")
    return dict(line.split("\t", 1) for line in out.splitlines() if line)


def _start_web(server: ApiServer, *cmd: str, runtime: str = "runc") -> str:
    """`docker run -d --name web --runtime RUNTIME busybox CMD...`; return the printed id."""
    done = server.docker("run", "-d", "--name", "web", "--runtime", runtime, "busybox", *cmd)
    assert done.returncode == 0, (done.stderr, server.server_log())
    cid = done.stdout.strip()
    assert HEX64.fullmatch(cid), done.stdout
    assert done.stderr == ""
    return cid


# --- docker run ---------------------------------------------------------------------------


@CRUN
def test_run_rm_prints_output_and_the_server_removes_the_container(api_server: ApiServer) -> None:
    done = api_server.docker("run", "--rm", "--runtime", "crun", "busybox", "echo", "hi")
    assert (done.returncode, done.stdout, done.stderr) == (0, "hi\n", "")
    # AutoRemove is the server's job: the container goes shortly after the CLI returns
    api_server.wait_no_containers()


@RUNC
def test_run_separates_stdout_and_stderr_and_returns_the_exit_code(
    api_server: ApiServer,
) -> None:
    done = api_server.docker(
        "run", "--runtime", "runc", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"
    )
    assert done.returncode == 3, (done.stderr, api_server.server_log())
    assert done.stdout == "out\n"
    assert done.stderr == "err\n"
    (status,) = _names_and_status(api_server, "-a").values()
    assert status.startswith("Exited (3)")


@RUNC
def test_run_rm_always_returns_the_exit_code(api_server: ApiServer) -> None:
    codes = []
    for _ in range(12):
        done = api_server.docker(
            "run", "--rm", "--runtime", "runc", "busybox", "sh", "-c",
            "echo out; echo err >&2; exit 3",
        )  # fmt: skip
        assert (done.stdout, done.stderr) == ("out\n", "err\n")
        codes.append(done.returncode)
    for _ in range(12):
        codes.append(api_server.docker("run", "--rm", "busybox", "/nonexistent").returncode)
    assert codes == [3] * 12 + [127] * 12, codes


@pytest.mark.parametrize(
    "runtime",
    [
        pytest.param(None, id="default-mock"),
        pytest.param("runc", id="runc", marks=RUNC),
        pytest.param(
            "crun",
            id="crun",
            marks=CRUN,
        ),
    ],
)
def test_run_missing_command_exits_127_naming_it(
    api_server: ApiServer, runtime: str | None
) -> None:
    # runc and crun fail at create, before any container exists; the mock runs the command
    # and it exits 127; under --rm the server's AutoRemove keeps that code for `wait`
    flags = ["--rm", "--runtime", runtime] if runtime else []
    done = api_server.docker("run", *flags, "busybox", "/nonexistent")
    assert done.returncode == 127, (done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines and "/nonexistent" in lines[0], done.stderr
    assert len(lines) <= 2, done.stderr  # the error, and docker's "Run 'docker run --help'"
    assert "Traceback" not in done.stderr and done.stdout == ""
    left = [c["id"] for c in api_server.ocimux_ps()]
    if left:  # the mock's exited container
        api_server.docker_ok("rm", *left)
    api_server.wait_no_containers()


@SHIM
@RUNC
def test_run_on_the_shim_v2_backend(api_server: ApiServer) -> None:
    done = api_server.docker("run", "--rm", "--runtime", "runc-shim", "busybox", "echo", "shim")
    assert (done.returncode, done.stdout, done.stderr) == (0, "shim\n", "")
    api_server.wait_no_containers()


def test_run_interactive_reads_piped_stdin(api_server: ApiServer) -> None:
    done = api_server.docker("run", "-i", "--rm", "busybox", "cat", input="hello\n")
    assert (done.returncode, done.stdout, done.stderr) == (0, "hello\n", "")
    api_server.wait_no_containers()


@RUNC
def test_run_interactive_reads_piped_stdin_on_runc(api_server: ApiServer) -> None:
    done = api_server.docker(
        "run", "-i", "--rm", "--runtime", "runc", "busybox", "cat", input="hello\nworld\n"
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "hello\nworld\n", "")
    api_server.wait_no_containers()


# --- a detached container -----------------------------------------------------------------


@RUNC
def test_detached_run_ps_and_exec(api_server: ApiServer) -> None:
    cid = _start_web(api_server, "sleep", "300")
    status = _names_and_status(api_server)
    assert list(status) == ["web"] and status["web"].startswith("Up"), status
    assert api_server.docker_ok("ps", "-q", "--no-trunc").split() == [cid]
    done = api_server.docker("exec", "web", "sh", "-c", "echo $((6*7))")
    assert (done.returncode, done.stdout, done.stderr) == (0, "42\n", "")
    done = api_server.docker("exec", "web", "sh", "-c", "exit 5")
    assert (done.returncode, done.stdout) == (5, "")
    # the container is unaffected by its execs
    assert api_server.docker_ok("inspect", "-f", "{{.State.Status}}", "web") == "running\n"


@RUNC
def test_pause_and_unpause(api_server: ApiServer) -> None:
    _start_web(api_server, "sleep", "300")
    assert api_server.docker_ok("pause", "web") == "web\n"
    status = _names_and_status(api_server)
    assert status["web"].startswith("Up") and status["web"].endswith("(Paused)"), status
    assert api_server.docker_ok("inspect", "-f", "{{.State.Status}}", "web") == "paused\n"
    done = api_server.docker("exec", "web", "true")
    assert done.returncode != 0 and "paused" in done.stderr
    assert api_server.docker_ok("unpause", "web") == "web\n"
    assert "(Paused)" not in _names_and_status(api_server)["web"]
    assert api_server.docker_ok("inspect", "-f", "{{.State.Status}}", "web") == "running\n"
    assert api_server.docker_ok("exec", "web", "echo", "thawed") == "thawed\n"


@RUNC
def test_logs_keep_stdout_and_stderr_apart(api_server: ApiServer) -> None:
    _start_web(api_server, "sh", "-c", "echo to-out; echo to-err >&2; exec sleep 300")

    def both() -> object:
        done = api_server.docker("logs", "web")
        return done.returncode == 0 and "to-out" in done.stdout and "to-err" in done.stderr and done

    done = wait_until(both, 10, "both lines in docker logs", poll=0.1)
    assert (done.stdout, done.stderr) == ("to-out\n", "to-err\n")


@RUNC
def test_stop_with_timeout_then_rm(api_server: ApiServer) -> None:
    _start_web(api_server, "sleep", "300")  # pid 1 ignores SIGTERM: stop must SIGKILL
    out, took = timed(lambda: api_server.docker_ok("stop", "-t", "1", "web"))
    assert out == "web\n"
    assert 0.8 <= took < 5, f"docker stop -t 1 took {took:.2f}s"
    status = _names_and_status(api_server, "-a")
    assert status["web"].startswith("Exited (137)"), status
    assert _names_and_status(api_server) == {}
    assert api_server.docker_ok("inspect", "-f", "{{.State.ExitCode}}", "web") == "137\n"
    assert api_server.docker_ok("rm", "web") == "web\n"
    assert api_server.ocimux_ps() == []
    assert api_server.docker_ok("ps", "-a", "-q") == ""
    done = api_server.docker("inspect", "web")
    assert done.returncode == 1 and "web" in done.stderr


@RUNC
def test_restart_keeps_the_id_and_runs_again(api_server: ApiServer) -> None:
    cid = _start_web(api_server, "sleep", "300")
    fmt = "{{.Id}} {{.State.Status}} {{.State.Pid}} {{.State.StartedAt}}"
    before = api_server.docker_ok("inspect", "-f", fmt, "web").split()
    assert before[:2] == [cid, "running"]
    out, took = timed(lambda: api_server.docker_ok("restart", "-t", "1", "web"))
    assert out == "web\n" and took < 8
    after = api_server.docker_ok("inspect", "-f", fmt, "web").split()
    assert after[:2] == [cid, "running"]
    assert after[2] != before[2], "the same process: not restarted"
    assert after[3] > before[3], "StartedAt did not move"
    assert _names_and_status(api_server)["web"].startswith("Up")
    assert api_server.docker_ok("exec", "web", "echo", "again") == "again\n"
    # a stopped container is started again too
    api_server.docker_ok("stop", "-t", "0", "web")
    assert api_server.docker_ok("restart", "-t", "0", "web") == "web\n"
    assert api_server.docker_ok("inspect", "-f", "{{.Id}} {{.State.Status}}", "web").split() == [
        cid,
        "running",
    ]


@RUNC
def test_restart_keeps_creation_time_and_earlier_logs(api_server: ApiServer) -> None:
    _start_web(api_server, "sh", "-c", "echo run; exec sleep 300")
    wait_until(lambda: api_server.docker_ok("logs", "web") == "run\n", 10, "the first run's log")
    created = api_server.docker_ok("inspect", "-f", "{{.Created}}", "web")
    api_server.docker_ok("restart", "-t", "0", "web")
    assert api_server.docker_ok("inspect", "-f", "{{.Created}}", "web") == created
    wait_until(lambda: api_server.docker_ok("logs", "web").count("run\n") >= 2, 5, "two runs' logs")


@RUNC
def test_restart_keeps_an_auto_remove_container_and_removes_it_at_its_end(
    api_server: ApiServer,
) -> None:
    # Docker keeps a --rm container across `docker restart`; its later exit removes it
    cid = api_server.docker_ok("run", "-d", "--rm", "--name", "web", "busybox", "sleep", "300")
    for _ in range(2):
        assert api_server.docker_ok("restart", "-t", "0", "web") == "web\n"
        state = api_server.docker_ok("inspect", "-f", "{{.Id}} {{.State.Status}}", "web").split()
        assert state == [cid.strip(), "running"]
    time.sleep(1)  # a watcher that took the restart's exit for the end would remove it now
    assert api_server.docker_ok("inspect", "-f", "{{.State.Status}}", "web") == "running\n"
    api_server.docker_ok("stop", "-t", "0", "web")
    wait_until(lambda: api_server.ocimux_ps() == [], 10, "the AutoRemove container to go")


# --- exec -it in a real terminal ------------------------------------------------------------


@RUNC
def test_exec_it_in_a_real_terminal(api_server: ApiServer) -> None:
    _start_web(api_server, "sleep", "300")
    docker = shutil.which("docker")
    assert docker is not None
    pty = Pty([docker, "exec", "-it", "web", "sh"], api_server.docker_env, rows=33, cols=77)
    try:
        pty.read_until(r"# ")
        pty.send("echo $((6*7))\r")
        pty.read_until(r"\n42\r?\n")
        pty.send("tty\r")
        pty.read_until(r"/dev/pts/\d+")
        pty.send("stty size\r")
        pty.read_until(r"33 77")
        # SIGWINCH: docker forwards the new size with a request of its own, so a `stty size`
        # typed at once may still see the old one; ask again until it shows
        pty.resize(41, 99)
        for _ in range(20):
            pty.send("stty size\r")
            try:
                pty.read_until(r"41 99", timeout=0.5)
                break
            except AssertionError:
                continue
        else:
            pty.read_until(r"41 99", timeout=0.1)  # fails, with the screen
        pty.send("exit 4\r")
        assert pty.wait() == 4
        assert not pty.is_raw(), "docker left the terminal in raw mode"
    finally:
        pty.close()
    assert api_server.docker_ok("inspect", "-f", "{{.State.Status}}", "web") == "running\n"


# --- system ---------------------------------------------------------------------------------


def test_info_lists_the_runtimes_and_the_default(api_server: ApiServer) -> None:
    runtimes = set(api_server.docker_ok("info", "--format", "{{range $k, $v := .Runtimes}}{{$k}} {{end}}").split())  # fmt: skip
    expected = {
        name
        for name, binary in (("runc", "runc"), ("crun", "crun"), ("runc-shim", "containerd-shim-runc-v2"))
        if shutil.which(binary)
    }  # fmt: skip
    assert expected <= runtimes, runtimes
    assert "mock" in runtimes
    assert api_server.docker_ok("info", "--format", "{{.DefaultRuntime}}") == "mock\n"
    text = api_server.docker_ok("info")
    line = next(x for x in text.splitlines() if x.strip().startswith("Runtimes:"))
    assert expected <= set(line.split(":", 1)[1].split()), line
    assert re.search(r"^\s*Default Runtime: mock$", text, re.M), text
    version = api_server.docker_ok("version", "--format", "{{.Server.APIVersion}}")
    assert version == "1.43\n"


def test_unknown_container_and_image_are_clear_errors(api_server: ApiServer) -> None:
    done = api_server.docker("exec", "nosuch", "true")
    assert done.returncode != 0 and "nosuch" in done.stderr
    done = api_server.docker("run", "--rm", "--pull", "never", "nope", "true")
    assert done.returncode == 125 and "nope" in done.stderr.lower()
    assert api_server.ocimux_ps() == []  # neither request may leave a container
