"""conmon's environment (and so the runtime's): `[engine] conmon_env_vars` under ocimux's own,
as podman's configureConmonEnv builds it; no process is started (spawn is replaced)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ocimux.base.errors import ConfigError, RuntimeCommandError
from ocimux.config import load_config
from ocimux.config.builtins import CONMON_ENV_VARS
from ocimux.interface.runtime import RuntimeContext
from ocimux.oci import conmon
from ocimux.oci.conmon import ConmonLaunch, conmon_environ
from ocimux.plugins.runc import RuncRuntime

PODMAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def test_configured_items_come_first_and_ocimuxs_environment_wins() -> None:
    env = conmon_environ(
        ["PATH=/configured", "OCIMUX_PROBE=42", "EMPTY="],
        environ={"PATH": "/mine", "HOME": "/root"},
        euid=1000,
    )
    assert env == {"PATH": "/mine", "OCIMUX_PROBE": "42", "EMPTY": "", "HOME": "/root"}


def test_without_path_of_its_own_the_configured_path_stays() -> None:
    env = conmon_environ(CONMON_ENV_VARS, environ={"LANG": "C"}, euid=1000)
    assert env == {"PATH": PODMAN_PATH, "LANG": "C"}


def test_root_drops_the_session_bus_and_empties_xdg_runtime_dir() -> None:
    mine = {
        "NOTIFY_SOCKET": "/run/notify",
        "DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/0/bus",
        "XDG_RUNTIME_DIR": "/run/user/0",
        "TERM": "xterm",
    }
    assert conmon_environ([], environ=mine, euid=0) == {"XDG_RUNTIME_DIR": "", "TERM": "xterm"}
    rootless = conmon_environ([], environ=mine, euid=1000)
    assert "NOTIFY_SOCKET" not in rootless  # never: the runtime would signal systemd
    assert rootless["DBUS_SESSION_BUS_ADDRESS"] == "unix:path=/run/user/0/bus"
    assert rootless["XDG_RUNTIME_DIR"] == "/run/user/0"


def test_the_plugin_option_comes_last() -> None:
    env = conmon_environ(
        ["A=config"], ["A=option", "XDG_RUNTIME_DIR=/x"], environ={"A": "mine"}, euid=0
    )
    assert env == {"A": "option", "XDG_RUNTIME_DIR": "/x"}


@pytest.mark.parametrize(
    ("config_vars", "extra", "key"),
    [(["NOEQUALS"], [], "conmon_env_vars"), ([], ["=x"], "conmon_env")],
)
def test_an_item_that_is_not_name_value_is_refused(
    config_vars: list[str], extra: list[str], key: str
) -> None:
    with pytest.raises(ConfigError, match=key) as info:
        conmon_environ(config_vars, extra, environ={}, euid=0)
    assert "is not NAME=value" in str(info.value)


def test_append_keeps_podmans_path(tmp_path: Path) -> None:
    conf = tmp_path / "containers.conf"
    conf.write_text('[engine]\nconmon_env_vars = ["OCIMUX_PROBE=7", {append = true}]\n')
    config = load_config(str(conf), {})
    assert config.conmon_env_vars == (f"PATH={PODMAN_PATH}", "OCIMUX_PROBE=7")
    env = conmon_environ(config.conmon_env_vars, environ={}, euid=0)
    assert env == {"PATH": PODMAN_PATH, "OCIMUX_PROBE": "7", "XDG_RUNTIME_DIR": ""}


def _runtime(tmp_path: Path, **context: Any) -> RuncRuntime:
    return RuncRuntime(
        RuntimeContext(
            name="runc",
            path="/usr/sbin/runc",
            state_dir=tmp_path / "state",
            containers_dir=tmp_path / "containers",
            conmon_path="/usr/bin/conmon",
            **context,
        )
    )


def test_the_runtime_builds_it_from_its_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/caller")
    runtime = _runtime(
        tmp_path,
        conmon_env=("PATH=/configured", "OCIMUX_PROBE=42"),
        options={"conmon_env": ["OPT=1"]},
    )
    env = runtime.conmon_env()
    assert (env["PATH"], env["OCIMUX_PROBE"], env["OPT"]) == ("/caller", "42", "1")
    single = _runtime(tmp_path, options={"conmon_env": "ONE=1"}).conmon_env()
    assert single["ONE"] == "1"


def test_launch_gives_conmon_exactly_that_environment_and_its_pipes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def spawn(argv: list[str], **kwargs: Any) -> Any:
        seen.update(kwargs)
        raise OSError(2, "No such file or directory")

    monkeypatch.setattr(conmon.process, "spawn", spawn)
    monkeypatch.setenv("LEAK", "from-the-caller")
    launch = ConmonLaunch(
        conmon="/usr/bin/conmon", cid="c1", name="c1", runtime_path="/usr/sbin/runc",
        runtime_args=(), directory=tmp_path, exit_dir=tmp_path,
    )  # fmt: skip
    with pytest.raises(RuntimeCommandError, match="cannot run conmon"):
        conmon.launch(launch, env={"PATH": "/p", "OCIMUX_PROBE": "42"}, timeout=5)
    assert seen["inherit_env"] is False
    env = seen["env"]
    assert {k: env[k] for k in ("PATH", "OCIMUX_PROBE")} == {"PATH": "/p", "OCIMUX_PROBE": "42"}
    assert set(env) == {"PATH", "OCIMUX_PROBE", "_OCI_SYNCPIPE", "_OCI_STARTPIPE"}
