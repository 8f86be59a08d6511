"""The search path: order, drop-ins, rootless files, CONTAINERS_CONF(_OVERRIDE), environment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from ocimux import config
from ocimux.base.errors import ConfigError
from ocimux.config import ENV_PREFIX, config_sources, relevant_environ
from ocimux.config.search import NON_CONFIG_VARIABLES, search_path

if TYPE_CHECKING:
    from conftest import FakeRoots

REAL_EUID = os.geteuid()


def test_root_search_path_order(roots: FakeRoots) -> None:
    d = roots.etc / "containers.conf.d"
    roots.write(d / "20-b.conf", "")
    roots.write(d / "10-a.conf", "")
    roots.write(d / "notes.txt", "")
    (d / "dir.conf").mkdir()
    user_d = Path(f"{roots.user_conf}.d")
    roots.write(user_d / "01.conf", "")

    assert config_sources(environ=roots.env) == [
        roots.share / "containers.conf",
        roots.etc / "containers.conf",
        d,
        d / "10-a.conf",
        d / "20-b.conf",
        roots.user_conf,
        user_d,
        user_d / "01.conf",
    ]


def test_rootless_adds_rootless_files_between_system_and_user(roots: FakeRoots) -> None:
    roots.set_euid(1000)
    rootless = roots.etc / "containers.rootless.conf"
    rootless_d = Path(f"{rootless}.d")
    roots.write(rootless_d / "a.conf", "")
    roots.write(rootless_d / "1000" / "b.conf", "")
    roots.write(rootless_d / "1001" / "c.conf", "")

    sources = config_sources(environ=roots.env)
    etc_d = roots.etc / "containers.conf.d"
    assert sources[2:10] == [
        etc_d,
        rootless,
        rootless_d,
        rootless_d / "a.conf",
        rootless_d / "1000",
        rootless_d / "1000" / "b.conf",
        roots.user_conf,
        Path(f"{roots.user_conf}.d"),
    ]
    assert rootless_d / "1001" / "c.conf" not in sources


def test_root_skips_rootless_files(roots: FakeRoots) -> None:
    sources = config_sources(environ=roots.env)
    assert not any("containers.rootless" in str(path) for path in sources)


def test_xdg_config_home_replaces_home_config(roots: FakeRoots, tmp_path: Path) -> None:
    env = {**roots.env, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    sources = config_sources(environ=env)
    assert tmp_path / "xdg" / "containers" / "containers.conf" in sources
    assert roots.user_conf not in sources


def test_relative_xdg_config_home_counts_from_the_working_directory(
    roots: FakeRoots, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As in podman (containers/common userConfigPath joins it as given), not the XDG spec."""
    monkeypatch.chdir(tmp_path)
    env = {**roots.env, "XDG_CONFIG_HOME": "relative/dir"}
    sources = config_sources(environ=env)
    assert tmp_path / "relative" / "dir" / "containers" / "containers.conf" in sources
    assert roots.user_conf not in sources


def test_a_drop_in_symlink_to_a_directory_is_an_error_as_in_podman(roots: FakeRoots) -> None:
    drop_ins = roots.etc / "containers.conf.d"
    (drop_ins / "real-dir").mkdir(parents=True)
    (drop_ins / "10-link.conf").symlink_to(drop_ins / "real-dir")
    with pytest.raises(ConfigError, match="is a directory") as info:
        config.load_config(environ=roots.env)
    assert info.value.path == str(drop_ins / "10-link.conf")


def test_containers_conf_replaces_everything(roots: FakeRoots, tmp_path: Path) -> None:
    conf = tmp_path / "only.conf"
    env = {**roots.env, "CONTAINERS_CONF": str(conf)}
    assert config_sources(environ=env) == [conf]


def test_override_comes_last(roots: FakeRoots, tmp_path: Path) -> None:
    override = tmp_path / "override.conf"
    env = {**roots.env, "CONTAINERS_CONF_OVERRIDE": str(override)}
    assert config_sources(environ=env)[-1] == override
    env["CONTAINERS_CONF"] = str(tmp_path / "only.conf")
    assert config_sources(environ=env) == [tmp_path / "only.conf", override]


def test_config_file_beats_containers_conf(roots: FakeRoots, tmp_path: Path) -> None:
    env = {**roots.env, "CONTAINERS_CONF": str(tmp_path / "env.conf")}
    assert config_sources(tmp_path / "flag.conf", env) == [tmp_path / "flag.conf"]


def test_empty_containers_conf_is_unset(roots: FakeRoots) -> None:
    env = {**roots.env, "CONTAINERS_CONF": "", "CONTAINERS_CONF_OVERRIDE": ""}
    assert config_sources(environ=env) == config_sources(environ=roots.env)


def test_relative_paths_are_made_absolute(
    roots: FakeRoots, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {**roots.env, "CONTAINERS_CONF": "rel.conf"}
    assert config_sources(environ=env) == [tmp_path / "rel.conf"]


def test_required_and_origin_flags(roots: FakeRoots, tmp_path: Path) -> None:
    env = {**roots.env, "CONTAINERS_CONF_OVERRIDE": str(tmp_path / "o.conf")}
    sources = search_path(tmp_path / "c.conf", env)
    assert [(s.required, s.origin) for s in sources] == [
        (True, "--config"),
        (True, "CONTAINERS_CONF_OVERRIDE"),
    ]
    assert not any(s.required for s in search_path(None, roots.env))


def test_new_drop_in_is_visible_to_a_cache(roots: FakeRoots) -> None:
    d = roots.etc / "containers.conf.d"
    d.mkdir()
    before = config_sources(environ=roots.env)
    assert d in before
    mtime = d.stat().st_mtime_ns
    os.utime(d, ns=(mtime - 10**9, mtime - 10**9))
    stamp = d.stat().st_mtime_ns
    roots.write(d / "50-new.conf", "")
    after = config_sources(environ=roots.env)
    assert d / "50-new.conf" in after and d / "50-new.conf" not in before
    assert d.stat().st_mtime_ns != stamp


def test_drop_in_path_that_is_a_file_has_no_drop_ins(roots: FakeRoots) -> None:
    roots.write(roots.etc / "containers.conf.d", "not a dir")
    sources = config_sources(environ=roots.env)
    assert roots.etc / "containers.conf.d" in sources


@pytest.mark.skipif(REAL_EUID == 0, reason="root reads unreadable directories")
def test_unlistable_drop_in_dir_is_a_config_error(roots: FakeRoots) -> None:
    d = roots.etc / "containers.conf.d"
    d.mkdir()
    d.chmod(0)
    try:
        with pytest.raises(ConfigError, match="cannot list drop-in directory"):
            config_sources(environ=roots.env)
    finally:
        d.chmod(0o700)


def test_missing_home_falls_back_to_password_database(roots: FakeRoots) -> None:
    sources = config_sources(environ={})
    assert any(str(path).endswith(".config/containers/containers.conf") for path in sources)


def test_relevant_environ() -> None:
    environ = {
        "PATH": "/bin",
        "CONTAINERS_CONF": "/a",
        "CONTAINERS_CONF_OVERRIDE": "/b",
        "XDG_CONFIG_HOME": "/c",
        "HOME": "/h",
        "XDG_RUNTIME_DIR": "/r",
        "XDG_DATA_HOME": "/d",
        "XDG_CACHE_HOME": "/x",
        "OCIMUX_ENGINE__RUNTIME": "crun",
        "ocimux_engine__stop_timeout": "3",
        "OCIMUXX": "no",
        **{name: "1" for name in NON_CONFIG_VARIABLES},
    }
    assert relevant_environ(environ) == {
        "CONTAINERS_CONF": "/a",
        "CONTAINERS_CONF_OVERRIDE": "/b",
        "HOME": "/h",
        "OCIMUX_ENGINE__RUNTIME": "crun",
        "XDG_CONFIG_HOME": "/c",
        "XDG_DATA_HOME": "/d",
        "XDG_RUNTIME_DIR": "/r",
        "ocimux_engine__stop_timeout": "3",
    }
    assert ENV_PREFIX == "OCIMUX_"


def test_defaults_to_os_environ(
    roots: FakeRoots, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CONTAINERS_CONF", str(tmp_path / "x.conf"))
    monkeypatch.delenv("CONTAINERS_CONF_OVERRIDE", raising=False)
    assert config_sources() == [tmp_path / "x.conf"]
