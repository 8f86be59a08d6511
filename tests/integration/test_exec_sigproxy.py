"""An attached `exec` forwards signals to the exec'd process (`--sig-proxy`, default true).

Issue 13, item 2 ("the monitor owns the container's end"), for `exec` as `run` and `attach`
already do. On crun, runc (under conmon), runc-shim (shim v2, through the shim's Kill with
the exec id) and the mock:
- SIGTERM to the client of `exec c sh -c 'trap ... TERM; ...'` reaches the exec'd shell: its
  trap writes a file in a bind-mounted host directory, the client exits with the shell's
  code (3), and the container keeps running;
- with `--sig-proxy=false` the client dies of the signal, nothing reaches the shell, and its
  session runs on until the container is removed.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.integration import test_client_death as death
from tests.integration.conftest import Oci, alive, wait_until
from tests.integration.test_client_death import ALL, _mount, _running, _spawn

host_dir = death.host_dir

#: the exec'd shell: it says it is ready once its trap is set, then waits for a signal. The
#: trap ends the sleep too: on a shim the session's output ends when the last holder of its
#: pipe has gone (as with Docker), not when the shell exits
SCRIPT = 'trap "kill \\$!; echo got >{out}/x; exit 3" TERM; touch {out}/ready; sleep 30 & wait'


def _exec_client(oci: Oci, host: Path, *flags: str):  # noqa: ANN202
    """A container `c` that runs on, and an attached `exec` client whose shell has set its trap."""
    mount, inside = _mount(oci, host)
    oci.ok(*oci.new("run", "sleep", "600", name="c", flags=["-d", *mount]))
    _running(oci, "c")
    client = _spawn(oci, "exec", *flags, "c", "sh", "-c", SCRIPT.format(out=inside))
    wait_until(lambda: (host / "ready").exists(), 15, "the exec'd shell to set its trap", poll=0.02)
    return client


def _finish(client) -> tuple[int, str]:  # noqa: ANN001
    try:
        _, err = client.communicate(timeout=20)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    return client.returncode, err


@pytest.mark.parametrize("runtime", ALL, indirect=True)
def test_sigterm_to_the_exec_client_reaches_the_exec_process(oci: Oci, host_dir: Path) -> None:
    client = _exec_client(oci, host_dir)
    client.send_signal(signal.SIGTERM)  # os.kill of the client process
    code, err = _finish(client)
    assert code == 3, f"the exec'd shell's trap did not end it (exit {code}): {err}"
    assert (host_dir / "x").read_text() == "got\n", "the exec'd process never saw the SIGTERM"
    assert "Error" not in err, err
    assert oci.record("c")["status"] == "running", "the container should keep running"


@pytest.mark.parametrize("runtime", ALL, indirect=True)
def test_exec_sig_proxy_false_forwards_nothing(oci: Oci, host_dir: Path) -> None:
    client = _exec_client(oci, host_dir, "--sig-proxy=false")
    client.send_signal(signal.SIGTERM)
    code, err = _finish(client)
    assert code == -signal.SIGTERM, f"the client should have died of SIGTERM: {code} {err}"
    time.sleep(0.5)
    assert not (host_dir / "x").exists(), "the SIGTERM was forwarded despite --sig-proxy=false"
    sessions = json.loads(oci.ok("exec", "--list", "c", "--format", "json"))
    assert [s["status"] for s in sessions] == ["running"], sessions
    if oci.runtime != "runc-shim":  # a shim's pids are the host's too, but not ours to promise
        assert alive(sessions[0]["pid"]), "the exec'd process should run on"
    assert oci.record("c")["status"] == "running"
    oci.ok("rm", "-f", "-t", "0", "c")
    assert not oci.ps()
