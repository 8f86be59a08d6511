"""containers.conf `[containers]` checked at create (`ocimux.engine.containersconf`): no process.

A value ocimux cannot honour is one ConfigError naming file, line, key, value, why and what to
do (the `[ocimux] ignore_container_defaults` opt-out included); a value the runtime cannot
honour is a CapabilityError naming the key and its file; `ocimux info`'s notes name both, and
each key ignored on purpose.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ocimux.base.errors import CapabilityError, ConfigError, InvalidArgumentError
from ocimux.config import Config, load_config
from ocimux.config.keyorigin import key_origin
from ocimux.engine.containersconf import check_needs, load_defaults, notes
from ocimux.interface.capabilities import Capabilities, Capability
from ocimux.oci import containerkeys
from ocimux.oci.containerconfig import ContainerConfig

#: a runtime like the mock: no isolation, no cgroups to limit
NO_ISOLATION = Capabilities(
    isolation=Capability(False, "declared", "processes run on the host without namespaces"),
    no_cgroups=Capability(True, "declared", "never uses cgroups"),
)
EVERYTHING = Capabilities(
    **{
        name: Capability(True, "declared", "")
        for name in ("isolation", "host_network", "privileged", "devices", "resource_limits")
    }
)


@pytest.fixture(autouse=True)
def no_lsm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(containerkeys, "apparmor_enabled", lambda: False)
    monkeypatch.setattr(containerkeys, "selinux_enabled", lambda: False)
    monkeypatch.setattr(containerkeys, "cgroup_v2", lambda: True)
    monkeypatch.delenv("OCIMUX_CONTAINERS__USERNS", raising=False)


def conf(tmp_path: Path, text: str, name: str = "containers.conf") -> Config:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_config(path, environ={"HOME": str(tmp_path)})


def test_a_refused_value_names_file_line_key_value_why_and_the_opt_out(tmp_path: Path) -> None:
    config = conf(tmp_path, '[containers]\nread_only = true\nuserns = "auto"\n')
    with pytest.raises(ConfigError) as info:
        load_defaults(config)
    err = info.value
    assert (err.path, err.line, err.key) == (
        str(tmp_path / "containers.conf"),
        3,
        "[containers] userns",
    )
    text = str(err)
    assert "\n" not in text
    assert '"auto" cannot be honoured: ocimux runs every container in the host\'s user' in text
    assert 'use "host", or add "userns" to [ocimux] ignore_container_defaults' in text


def test_more_refusals_are_counted(tmp_path: Path) -> None:
    config = conf(tmp_path, '[containers]\nuserns = "auto"\nlog_driver = "journald"\n')
    with pytest.raises(ConfigError, match=r"\(and 1 more refused key: see `ocimux info`\)"):
        load_defaults(config)


def test_ignored_keys_are_neither_applied_nor_refused_and_info_says_so(tmp_path: Path) -> None:
    text = (
        '[containers]\nuserns = "auto"\nread_only = true\n'
        '[ocimux]\nignore_container_defaults = ["userns", "read_only", "shm_size"]\n'
    )
    config = conf(tmp_path, text)
    assert config.ignored_container_defaults == ("userns", "read_only", "shm_size")
    assert load_defaults(config).read_only is False
    path = tmp_path / "containers.conf"
    assert notes(config) == [
        f'[containers] userns = "auto" ({path}:2) is not applied: '
        "[ocimux] ignore_container_defaults lists it",
        f"[containers] read_only = true ({path}:3) is not applied: "
        "[ocimux] ignore_container_defaults lists it",
    ]  # shm_size is listed but set nowhere: nothing to say


def test_info_notes_name_refusals_and_bad_values(tmp_path: Path) -> None:
    assert notes(conf(tmp_path, "[containers]\nread_only = true\n")) == []
    [line] = notes(conf(tmp_path, '[containers]\nlog_driver = "journald"\n'))
    assert "containers.conf:2: [containers] log_driver:" in line
    assert line.endswith("run and create fail until then")
    [line] = notes(conf(tmp_path, '[containers]\nvolumes = ["/nonexistent-ocx:/x"]\n'))
    assert "[containers] volumes:" in line and "does not exist on the host" in line


def test_a_value_that_cannot_be_used_is_refused_the_same_way(tmp_path: Path) -> None:
    config = conf(tmp_path, '[containers]\n\nvolumes = ["/nonexistent-ocx:/x"]\n')
    with pytest.raises(ConfigError) as info:
        load_defaults(config)
    assert (info.value.line, info.value.key) == (3, "[containers] volumes")
    assert "/nonexistent-ocx" in str(info.value)
    assert 'add "volumes" to [ocimux] ignore_container_defaults' in str(info.value)


def test_engine_init_path_and_a_drop_in_origin(tmp_path: Path) -> None:
    main = tmp_path / "containers.conf"
    main.write_text('[engine]\ninit_path = "/opt/init"\n[containers]\nuserns = "host"\n')
    later = tmp_path / "later.conf"
    later.write_text('# a comment\n[containers]\nuserns = "auto"\n')
    config = Config(
        {"engine": {"init_path": "/opt/init"}, "containers": {"userns": "auto"}},
        files=(str(main), str(later)),
    )
    assert config.engine_init_path == "/opt/init"
    assert load_defaults(Config({"engine": {"init_path": "/opt/init"}})).engine_init_path == (
        "/opt/init"
    )
    with pytest.raises(ConfigError) as info:
        load_defaults(config)
    assert (info.value.path, info.value.line) == (str(later), 3)  # the last file that sets it


def test_key_origin(tmp_path: Path) -> None:
    first = tmp_path / "a.conf"
    first.write_text("[containers]\nnetns = 'host'\n")
    second = tmp_path / "b.conf"
    second.write_text("[engine]\nruntime = 'crun'\n")
    files = (str(first), str(second), str(tmp_path / "gone.conf"))
    assert key_origin(files, ("containers", "netns"), {}) == (str(first), 2)
    env = {"OCIMUX_CONTAINERS__NETNS": "none"}
    assert key_origin(files, ("containers", "netns"), env) == ("OCIMUX_CONTAINERS__NETNS", None)
    assert key_origin(files, ("containers", "pidns"), {}) == (None, None)


def test_an_unknown_key_to_ignore_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        conf(tmp_path, '[ocimux]\nignore_container_defaults = ["usrns"]\n')
    assert "'usrns' is not a [containers] key podman knows" in str(info.value)


# --- what the runtime must be able to do ------------------------------------------------------


def test_a_runtime_without_isolation_refuses_a_configured_value(tmp_path: Path) -> None:
    config = conf(tmp_path, "[containers]\n\nread_only = true\n")
    defaults = load_defaults(config)
    with pytest.raises(CapabilityError) as info:
        check_needs(ContainerConfig(), defaults, NO_ISOLATION, config, runtime="mock",
                    name="web", no_cgroups=False)  # fmt: skip
    text = str(info.value)
    assert text.startswith("create web on mock: containers.conf [containers] read_only = true (")
    assert "containers.conf:3) needs capability isolation" in text
    assert 'add "read_only" to [ocimux] ignore_container_defaults' in text
    # the container's own --read-only=false decides: nothing configured is in effect
    check_needs(ContainerConfig(read_only=False), defaults, NO_ISOLATION, config,
                runtime="mock", name="web", no_cgroups=False)  # fmt: skip
    check_needs(ContainerConfig(), defaults, EVERYTHING, config, runtime="crun", name="web",
                no_cgroups=False)  # fmt: skip


def test_podmans_defaults_need_nothing(tmp_path: Path) -> None:
    text = (
        '[containers]\nread_only = false\nnetns = "private"\nshm_size = "65536k"\n'
        'ipcns = "shareable"\ncgroups = "enabled"\nhttp_proxy = true\n'
    )
    config = conf(tmp_path, text)
    check_needs(ContainerConfig(), load_defaults(config), NO_ISOLATION, config,
                runtime="mock", name="web", no_cgroups=False)  # fmt: skip


def test_volumes_name_the_key_that_set_them(tmp_path: Path) -> None:
    config = conf(tmp_path, '[containers]\nmounts = ["type=tmpfs,destination=/x"]\n')
    with pytest.raises(CapabilityError, match=r"\[containers\] mounts = \["):
        check_needs(ContainerConfig(), load_defaults(config), NO_ISOLATION, config,
                    runtime="mock", name="web", no_cgroups=False)  # fmt: skip


def test_contradictions(tmp_path: Path) -> None:
    config = conf(tmp_path, '[containers]\nipcns = "host"\n')
    with pytest.raises(InvalidArgumentError, match="/dev/shm has no size of its own"):
        check_needs(ContainerConfig(shm_size=1 << 20), load_defaults(config), EVERYTHING,
                    config, runtime="crun", name="web", no_cgroups=False)  # fmt: skip
    config = conf(tmp_path, '[containers]\ncgroup_conf = ["memory.high=1"]\n')
    with pytest.raises(InvalidArgumentError, match="cgroup_conf .* needs cgroups"):
        check_needs(ContainerConfig(), load_defaults(config), EVERYTHING, config,
                    runtime="crun", name="web", no_cgroups=True)  # fmt: skip
