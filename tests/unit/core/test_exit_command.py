"""The exit command's argv (conmon's flags), the cleanup decision, its environment, the claim,
and the signal proxy's handlers. No process is started."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest
from ocimux.cli import cleanup as _cli_cleanup
from ocimux.cli.sigproxy import PROXIED, Hangup, SignalProxy
from ocimux.engine import _cleanup
from ocimux.engine.store import ContainerRecord
from ocimux.io.exitcommand import exit_command_argv
from ocimux.oci.conmon import ConmonLaunch


def _launch(tmp_path: Path, **kw: object) -> ConmonLaunch:
    return ConmonLaunch(
        conmon="/usr/bin/conmon", cid="c1", name="n", runtime_path="/usr/bin/crun",
        runtime_args=(), directory=tmp_path, exit_dir=tmp_path / "exits", **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_exit_command_becomes_conmons_exit_command_and_args() -> None:
    assert exit_command_argv(("/usr/bin/python3", "-I", "-m", "m", "--detach", "/d")) == [
        "--exit-command", "/usr/bin/python3",
        "--exit-command-arg", "-I", "--exit-command-arg", "-m", "--exit-command-arg", "m",
        "--exit-command-arg", "--detach", "--exit-command-arg", "/d",
    ]  # fmt: skip
    assert exit_command_argv(()) == []


def test_conmon_argv_ends_with_the_exit_command(tmp_path: Path) -> None:
    argv = _launch(tmp_path, exit_command=("/bin/x", "a b")).argv()
    assert argv[-4:] == ["--exit-command", "/bin/x", "--exit-command-arg", "a b"]
    assert "--exit-command" not in _launch(tmp_path).argv()


def test_an_exec_session_gets_no_exit_command(tmp_path: Path) -> None:
    argv = _launch(tmp_path, exit_command=("/bin/x",), exec_spec=tmp_path / "p.json").argv()
    assert "--exit-command" not in argv


def test_exit_command_runs_this_interpreter_isolated_and_detached(tmp_path: Path) -> None:
    argv = _cleanup.exit_command(tmp_path / "c1")
    assert argv == (
        sys.executable, "-I", "-m", "ocimux.cli", "container", "cleanup", "--detach",
        str(tmp_path / "c1"),
    )  # fmt: skip
    assert os.path.isabs(argv[0])  # conmon execv()s it: no PATH search


def _rec(status: str, auto_remove: bool = True) -> ContainerRecord:
    return ContainerRecord(
        id="c" * 64, name="n", runtime="crun", bundle="/b", status=status,  # type: ignore[arg-type]
        config={"auto_remove": auto_remove},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("rec", "action"),
    [
        (None, "gone"),
        (_rec("stopped"), "remove"),
        (_rec("removing"), "remove"),  # a dead client's half-done rm: finish it
        (_rec("creating"), "remove"),
        (_rec("running"), "leave"),  # re-created and started again meanwhile (restart)
        (_rec("created"), "leave"),
        (_rec("paused"), "leave"),
        (_rec("unknown"), "leave"),
        (_rec("stopped", auto_remove=False), "reconciled"),
        (_rec("running", auto_remove=False), "reconciled"),
    ],
)
def test_cleanup_decision(rec: ContainerRecord | None, action: str) -> None:
    assert _cleanup.decide(rec) == action


def test_cleanup_environment_keeps_configuration_and_drops_the_rest() -> None:
    env = {
        "CONTAINERS_CONF": "/c.conf", "OCIMUX_STATE_DIR": "/s", "OCIMUX_CACHE_DIR": "/cache",
        "OCIMUX_CRASH_AT": "delete:marked", "XDG_CONFIG_HOME": "/x", "PATH": "/bin",
        "SECRET_TOKEN": "t", "PYTHONPATH": "/p",
    }  # fmt: skip
    kept = _cleanup.cleanup_environ(env)
    assert kept == {
        "CONTAINERS_CONF": "/c.conf", "OCIMUX_STATE_DIR": "/s", "OCIMUX_CACHE_DIR": "/cache",
        "XDG_CONFIG_HOME": "/x", "PATH": "/bin",
    }  # fmt: skip


def test_origin_is_private_and_read_back(tmp_path: Path) -> None:
    _cleanup.write_origin(tmp_path, "c1", "/etc/x.conf", {"A": "1"})
    assert (tmp_path / _cleanup.ORIGIN).stat().st_mode & 0o777 == 0o600
    assert _cleanup.read_origin(tmp_path) == {
        "id": "c1", "config_file": "/etc/x.conf", "environ": {"A": "1"}
    }  # fmt: skip
    (tmp_path / _cleanup.ORIGIN).chmod(0o666)  # writable by others: not trusted
    assert _cleanup.read_origin(tmp_path) is None
    assert _cleanup.read_origin(tmp_path / "gone") is None


def test_the_claim_is_seen_while_held_and_released_after(tmp_path: Path) -> None:
    assert not _cleanup.claimed(tmp_path)  # no claim file: nobody claims it
    with _cleanup.removal_claim(tmp_path):
        assert _cleanup.claimed(tmp_path)
    assert not _cleanup.claimed(tmp_path)
    assert not _cleanup.claimed(tmp_path, wait=True)


def test_main_refuses_bad_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli_cleanup.main([]) == 125
    assert _cli_cleanup.main(["--rm", "x"]) == 125
    assert "usage" in capsys.readouterr().err


def test_main_does_nothing_for_a_directory_already_removed(tmp_path: Path) -> None:
    assert _cli_cleanup.main([str(tmp_path / "gone")]) == 0


def _wait(predicate, timeout: float = 5.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_signal_proxy_forwards_each_proxied_signal_then_restores_handlers() -> None:
    got: list[int] = []
    before = {sig: signal.getsignal(sig) for sig in PROXIED}
    with SignalProxy() as proxy:
        proxy.start(got.append)
        for sig in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP):
            signal.raise_signal(sig)
        _wait(lambda: len(got) == 3)
    assert got == [signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP]
    assert {sig: signal.getsignal(sig) for sig in PROXIED} == before


def test_signal_proxy_never_started_forwards_nothing() -> None:
    before = signal.getsignal(signal.SIGUSR1)
    with SignalProxy():
        assert signal.getsignal(signal.SIGUSR1) == before


def test_a_terminal_hangup_is_forwarded_and_ends_the_client_once() -> None:
    got: list[int] = []
    seen_at_hangup: list[int] = []

    def slow_send(sig: int) -> None:
        time.sleep(0.2)  # the client's way out must not overtake the forwarding
        got.append(sig)

    with SignalProxy(hangup_ends=True) as proxy:
        proxy.start(slow_send)
        with pytest.raises(Hangup):
            signal.raise_signal(signal.SIGHUP)
            signal.raise_signal(signal.SIGHUP)  # the terminal's second one: not sent twice
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                time.sleep(0.01)
        seen_at_hangup.extend(got)
        signal.raise_signal(signal.SIGHUP)  # one during the removal: forwarded only
        _wait(lambda: len(got) == 2)
    assert seen_at_hangup == [signal.SIGHUP], "Hangup came before the SIGHUP was forwarded"
    assert got == [signal.SIGHUP, signal.SIGHUP]
