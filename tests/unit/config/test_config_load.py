"""load_config: layering through the search path, and every class of bad file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from ocimux.base.errors import ConfigError
from ocimux.config import Config, load_config
from ocimux.config.parse import MAX_BYTES
from ocimux.config.validate import MAX_DEPTH

if TYPE_CHECKING:
    from conftest import FakeRoots

REAL_EUID = os.geteuid()
DEBIAN_FILE = Path("/usr/share/containers/containers.conf")


def load_text(tmp_path: Path, text: str | bytes, name: str = "c.conf") -> Config:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return load_config(path, environ={})


def error_for(tmp_path: Path, text: str | bytes, name: str = "c.conf") -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, text, name)
    assert "errors.pydantic.dev" not in str(info.value)
    assert "\n" not in str(info.value)
    return info.value


# ---- layering ---------------------------------------------------------------------------------


def test_no_files_at_all_gives_defaults(roots: FakeRoots) -> None:
    config = load_config(environ=roots.env)
    assert config.files == ()
    assert config.default_runtime is None
    assert config.runtime_names == ()
    assert config.stop_timeout == 10


def test_system_user_and_drop_ins_in_order(roots: FakeRoots) -> None:
    share = roots.write(
        roots.share / "containers.conf", '[engine]\nruntime = "a"\nstop_timeout = 1\n'
    )
    etc = roots.write(roots.etc / "containers.conf", '[engine]\nruntime = "b"\n')
    d = roots.etc / "containers.conf.d"
    d20 = roots.write(d / "20-z.conf", '[engine]\nruntime = "d"\ndetach_keys = ""\n')
    d10 = roots.write(d / "10-a.conf", '[engine]\nruntime = "c"\nstop_timeout = 2\n')
    user = roots.write(roots.user_conf, "[engine]\nstop_timeout = 3\n")
    config = load_config(environ=roots.env)
    assert config.files == tuple(str(p) for p in (share, etc, d10, d20, user))
    assert config.default_runtime == "d"
    assert config.stop_timeout == 3
    assert config.detach_keys == ""


def test_drop_ins_override_the_main_file_in_sorted_order(roots: FakeRoots) -> None:
    roots.write(roots.etc / "containers.conf", '[engine]\nruntime = "main"\n')
    d = roots.etc / "containers.conf.d"
    for name in ("99-last.conf", "01-first.conf", "50-mid.conf"):
        roots.write(d / name, f'[engine]\nruntime = "{name}"\n')
    roots.write(d / "zz-ignored.txt", '[engine]\nruntime = "txt"\n')
    assert load_config(environ=roots.env).default_runtime == "99-last.conf"


def test_runtimes_merge_per_key(roots: FakeRoots) -> None:
    roots.write(
        roots.share / "containers.conf",
        '[engine.runtimes]\na = ["/a1", "/a2"]\nb = ["/b"]\n',
    )
    roots.write(roots.etc / "containers.conf", '[engine.runtimes]\nb = ["/b2"]\nc = ["/c"]\n')
    config = load_config(environ=roots.env)
    assert config.runtime_names == ("a", "b", "c")
    assert config.runtime_paths("a") == ("/a1", "/a2")
    assert config.runtime_paths("b") == ("/b2",)
    assert config.runtime_paths("missing") == ()


def test_runtimes_flags_merge_per_key(roots: FakeRoots) -> None:
    roots.write(roots.share / "containers.conf", '[engine.runtimes_flags]\na = ["debug"]\n')
    roots.write(roots.etc / "containers.conf", '[engine.runtimes_flags]\nb = ["-x", "k=v"]\n')
    config = load_config(environ=roots.env)
    assert config.runtime_flags("a") == ("--debug",)
    assert config.runtime_flags("b") == ("-x", "--k=v")


def test_append_true_across_files(roots: FakeRoots) -> None:
    roots.write(roots.share / "containers.conf", '[engine]\nruntime_supports_json = ["a"]\n')
    roots.write(
        roots.etc / "containers.conf",
        '[engine]\nruntime_supports_json = ["b", {append = true}]\n',
    )
    roots.write(roots.user_conf, '[engine]\nruntime_supports_json = ["c"]\n')
    config = load_config(environ=roots.env)
    assert config.supports_json == {"a", "b", "c"}
    assert config.to_dict()["data"]["engine"]["runtime_supports_json"] == ["a", "b", "c"]


def test_append_false_stops_appending(roots: FakeRoots) -> None:
    roots.write(roots.share / "containers.conf", '[engine]\nconmon_path = ["/a", {append=true}]\n')
    roots.write(roots.etc / "containers.conf", '[engine]\nconmon_path = ["/b", {append=false}]\n')
    roots.write(roots.user_conf, '[engine]\nconmon_path = ["/c"]\n')
    assert load_config(environ=roots.env).conmon_paths == ("/c",)


def test_both_nocgroup_spellings_are_unioned(roots: FakeRoots) -> None:
    roots.write(roots.share / "containers.conf", '[engine]\nruntime_supports_nocgroup = ["a"]\n')
    roots.write(roots.etc / "containers.conf", '[engine]\nruntime_supports_nocgroups = ["b"]\n')
    config = load_config(environ=roots.env)
    assert config.supports_nocgroups == {"a", "b"}
    assert config.supports_is_set("nocgroups")
    assert not config.supports_is_set("json")


def test_plural_spelling_alone_counts(tmp_path: Path) -> None:
    config = load_text(tmp_path, '[engine]\nruntime_supports_nocgroups = ["x"]\n')
    assert config.supports_nocgroups == {"x"}
    assert config.supports_is_set("nocgroup")


def test_empty_supports_list_is_set(tmp_path: Path) -> None:
    config = load_text(tmp_path, "[engine]\nruntime_supports_kvm = []\n")
    assert config.supports_kvm == frozenset()
    assert config.supports_is_set("kvm")


def test_containers_conf_replaces_all(roots: FakeRoots, tmp_path: Path) -> None:
    roots.write(roots.etc / "containers.conf", "this is not toml")
    roots.write(roots.user_conf, "neither is this")
    only = roots.write(tmp_path / "only.conf", '[engine]\nruntime = "only"\n')
    config = load_config(environ={**roots.env, "CONTAINERS_CONF": str(only)})
    assert config.default_runtime == "only"
    assert config.files == (str(only),)


def test_override_applies_last(roots: FakeRoots, tmp_path: Path) -> None:
    roots.write(roots.user_conf, '[engine]\nruntime = "user"\nstop_timeout = 5\n')
    over = roots.write(tmp_path / "over.conf", '[engine]\nruntime = "over"\n')
    config = load_config(environ={**roots.env, "CONTAINERS_CONF_OVERRIDE": str(over)})
    assert config.default_runtime == "over"
    assert config.stop_timeout == 5
    assert config.files[-1] == str(over)


def test_config_file_replaces_search_path_but_not_override(
    roots: FakeRoots, tmp_path: Path
) -> None:
    roots.write(roots.etc / "containers.conf", '[engine]\nruntime = "etc"\nstop_timeout = 7\n')
    flag = roots.write(tmp_path / "flag.conf", '[engine]\nruntime = "flag"\n')
    over = roots.write(tmp_path / "over.conf", "[engine]\nstop_timeout = 1\n")
    env = {**roots.env, "CONTAINERS_CONF_OVERRIDE": str(over), "CONTAINERS_CONF": "/nonexistent"}
    config = load_config(flag, env)
    assert config.default_runtime == "flag"
    assert config.stop_timeout == 1
    assert config.files == (str(flag), str(over))


def test_rootless_files_load_only_for_non_root(roots: FakeRoots) -> None:
    rootless = roots.etc / "containers.rootless.conf"
    roots.write(rootless, '[engine]\nruntime = "rootless"\n')
    roots.write(Path(f"{rootless}.d") / "1000" / "a.conf", '[engine]\nruntime = "uid1000"\n')
    assert load_config(environ=roots.env).default_runtime is None
    roots.set_euid(1000)
    assert load_config(environ=roots.env).default_runtime == "uid1000"


def test_dev_null_is_an_empty_config(roots: FakeRoots) -> None:
    config = load_config(environ={**roots.env, "CONTAINERS_CONF": os.devnull})
    assert config.files == (os.devnull,)


def test_an_error_in_a_drop_in_names_the_drop_in(roots: FakeRoots) -> None:
    roots.write(roots.etc / "containers.conf", '[engine]\nruntime = "ok"\n')
    bad = roots.write(
        roots.etc / "containers.conf.d" / "50-bad.conf", '[engine]\n\nstop_timeout = "x"\n'
    )
    with pytest.raises(ConfigError) as info:
        load_config(environ=roots.env)
    assert info.value.path == str(bad)
    assert info.value.line == 3
    assert str(info.value).startswith(f"{bad}:3: engine.stop_timeout: ")


@pytest.mark.skipif(not DEBIAN_FILE.is_file(), reason=f"{DEBIAN_FILE} is not installed")
def test_the_real_debian_file_loads() -> None:
    config = load_config(environ={"CONTAINERS_CONF": str(DEBIAN_FILE), "HOME": "/root"})
    assert config.files == (str(DEBIAN_FILE),)
    assert config.stop_timeout == 10


def test_podman_tables_and_keys_are_accepted(tmp_path: Path) -> None:
    text = """
[containers]
default_capabilities = ["CHOWN"]
log_size_max = -1
[network]
default_subnet_pools = [{"base" = "10.89.0.0/16", "size" = 24}]
[secrets.opts]
root = "/x"
[configmaps]
driver = "file"
[farms]
default = "f"
[farms.list]
f = ["a", "b"]
[podmansh]
timeout = 30
[machine]
cpus = 2
[engine]
events_logger = "file"
compose_providers = ["x", {append = true}]
healthcheck_events = false
database_backend = "sqlite"
runtime_supports_nocgroups = ["a"]
[engine.service_destinations.prod]
uri = "ssh://x"
[engine.platform_to_oci_runtime]
"wasi/wasm" = "crun-wasm"
[engine.volume_plugins]
p = "/run/p.sock"
"""
    config = load_text(tmp_path, text)
    assert config.to_dict()["data"]["engine"]["compose_providers"] == ["x"]


# ---- bad files --------------------------------------------------------------------------------


def test_malformed_toml_reports_file_and_line(tmp_path: Path) -> None:
    err = error_for(tmp_path, "[engine]\n\nruntime = crun\n")
    assert err.path == str(tmp_path / "c.conf") and err.line == 3
    assert str(err) == (
        f"{tmp_path / 'c.conf'}:3: engine.runtime: TOML syntax error: Invalid value (column 11)"
    )


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ('[engine]\nruntime = "a"\nruntime = "b"\n', 3, "engine.runtime"),
        ("[engine]\nconmon_path = [\n  '/a',\n  /b,\n]\n", 4, "engine.conmon_path"),
        ('[engine]\n[engine.runtimes]\ncrun = ["/c"]\n[engine]\n', 4, "engine"),
        ('[containers]\n"a b" = x\n', 2, 'containers."a b"'),
    ],
    ids=["duplicate-key", "inside-a-multi-line-array", "duplicate-table", "quoted-key"],
)
def test_syntax_error_names_the_key(tmp_path: Path, text: str, line: int, key: str) -> None:
    err = error_for(tmp_path, text)
    assert (err.line, err.key) == (line, key), str(err)
    assert "TOML syntax error" in str(err)


def test_nesting_too_deep_for_the_parser_names_the_line(tmp_path: Path) -> None:
    err = error_for(tmp_path, "[engine]\nruntime = 'a'\n\nx = " + "[" * 5000 + "]" * 5000 + "\n")
    assert "nested too deeply" in str(err)
    assert err.line == 4


@pytest.mark.parametrize(
    "text",
    [
        "[engine]\n[engine]\n",
        "[engine\n",
        'a = "unterminated\n',
        "a = 1\na = 2\n",
        "a = \x00\n",
        "a = [1,\n",
    ],
)
def test_other_syntax_errors(tmp_path: Path, text: str) -> None:
    err = error_for(tmp_path, text)
    assert str(err).startswith(f"{tmp_path / 'c.conf'}:")
    assert "TOML syntax error" in str(err)
    assert err.line is not None


def test_wrong_type_message(tmp_path: Path) -> None:
    err = error_for(tmp_path, '[engine]\nruntime = "a"\n\nstop_timeout = "ten"\n')
    assert str(err) == (
        f"{tmp_path / 'c.conf'}:4: engine.stop_timeout: Input should be a valid integer (got 'ten')"
    )


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("[engine]\nstop_timeout = 99999999999999999999999\n", "engine.stop_timeout", "less than"),
        ("[engine]\nstop_timeout = true\n", "engine.stop_timeout", "valid integer"),
        ("[engine]\nstop_timeout = 1.5\n", "engine.stop_timeout", "valid integer"),
        ("[engine]\nruntime = 1\n", "engine.runtime", "valid string"),
        ('[engine]\nconmon_path = "/usr/bin/conmon"\n', "engine.conmon_path", "array of strings"),
        ("[engine]\nconmon_path = [1]\n", "engine.conmon_path", "strings or {append = true}"),
        (
            '[engine]\nconmon_path = ["a", {append = "yes"}]\n',
            "engine.conmon_path",
            "not {'append'",
        ),
        (
            '[engine]\nconmon_path = ["a", {append = true, x = 1}]\n',
            "engine.conmon_path",
            "strings",
        ),
        ('[engine.runtimes]\na = "/a"\n', "engine.runtimes.a", "valid list"),
        ("[engine.runtimes]\na = [1]\n", "engine.runtimes.a[0]", "valid string"),
        ('[engine.runtimes]\na = ["/a", {append = true}]\n', "engine.runtimes.a[1]", "string"),
        ('[engine.runtimes_flags]\na = "debug"\n', "engine.runtimes_flags.a", "valid list"),
        ("[engine]\nruntimes = 1\n", "engine.runtimes", "valid dictionary"),
        (
            '[engine]\ncgroup_manager = "systemdd"\n',
            "engine.cgroup_manager",
            "'systemd' or 'cgroupfs'",
        ),
        ("[engine]\ndetach_keys = 1\n", "engine.detach_keys", "valid string"),
        ("engine = 1\n", "engine", "Input should be a table"),
        ('containers = "x"\n', "containers", "Input should be a table"),
        ('[containers]\npids_limit = "abc"\n', "containers.pids_limit", "valid integer"),
        ('[engine]\nnum_locks = "2048"\n', "engine.num_locks", "valid integer"),
        ("[engine]\nnum_locks = -1\n", "engine.num_locks", "greater than or equal to 0"),
        ("[network]\ndns_bind_port = 70000\n", "network.dns_bind_port", "less than"),
        ("[engine]\nremote = 1\n", "engine.remote", "valid boolean"),
        ("[machine]\ncpus = '2'\n", "machine.cpus", "valid integer"),
        ("[engine.volume_plugins]\nx = 1\n", "engine.volume_plugins.x", "valid string"),
        (
            "[engine.service_destinations.a]\nuri = 1\n",
            "engine.service_destinations.a.uri",
            "valid string",
        ),
        ("[ocimux]\nstate_dir = 'relative'\n", "ocimux.state_dir", "absolute"),
        ("[ocimux]\nrun_dir = 5\n", "ocimux.run_dir", "valid string"),
        ("[ocimux]\ncommand_timeout = 0\n", "ocimux.command_timeout", "greater than 0"),
        ("[ocimux]\ncommand_timeout = -3.5\n", "ocimux.command_timeout", "greater than 0"),
        ("[ocimux]\ncommand_timeout = inf\n", "ocimux.command_timeout", "finite"),
        ("[ocimux]\ncommand_timeout = nan\n", "ocimux.command_timeout", "finite"),
        ("[ocimux]\ncommand_timeout = 1e300\n", "ocimux.command_timeout", "less than"),
        ("[ocimux]\ncommand_timeout = '60'\n", "ocimux.command_timeout", "valid number"),
        ("[ocimux]\nlock_timeout = -1\n", "ocimux.lock_timeout", "greater than or equal to 0"),
        ("[ocimux]\ndefault_cli_plugin = ''\n", "ocimux.default_cli_plugin", "at least 1"),
        ("[ocimux]\nhooks_enabled = 'yes'\n", "ocimux.hooks_enabled", "valid boolean"),
        ("[ocimux]\nruntime_preference = 'a'\n", "ocimux.runtime_preference", "array"),
        ("[ocimux]\nhooks_enabled = 1\n", "ocimux.hooks_enabled", "valid boolean"),
        ("[ocimux.runtime_plugins]\nx = 1\n", "ocimux.runtime_plugins.x", "valid string"),
        ("[ocimux.plugins]\nx = 1\n", "ocimux.plugins.x", "valid dictionary"),
        ("[ocimux.capabilities.x]\nkvm = 'no'\n", "ocimux.capabilities.x.kvm", "valid boolean"),
        ("[ocimux]\ncapabilities = []\n", "ocimux.capabilities", "valid dictionary"),
    ],
)
def test_wrong_types_and_ranges(tmp_path: Path, text: str, key: str, words: str) -> None:
    err = error_for(tmp_path, text)
    assert err.key == key
    assert err.path == str(tmp_path / "c.conf")
    assert err.line is not None
    assert words in str(err)


def test_first_error_in_file_order_and_count(tmp_path: Path) -> None:
    text = '[engine]\nstop_timeout = "x"\nruntime = 1\nconmon_path = 2\n'
    err = error_for(tmp_path, text)
    assert err.line == 2 and err.key == "engine.stop_timeout"
    assert "(and 2 more errors)" in str(err)


def test_huge_integer_in_a_free_form_table_is_fine(tmp_path: Path) -> None:
    config = load_text(tmp_path, "[ocimux.plugins.p]\nx = 99999999999999999999999999999\n")
    assert config.plugin_options("p")["x"] == 99999999999999999999999999999


def test_deeply_nested_tables(tmp_path: Path) -> None:
    header = ".".join(["ocimux", "plugins", *(f"t{i}" for i in range(MAX_DEPTH + 5))])
    err = error_for(tmp_path, f"[{header}]\nx = 1\n")
    assert "nested more than" in str(err)
    assert err.line == 1


def test_deeply_nested_arrays(tmp_path: Path) -> None:
    err = error_for(tmp_path, "[ocimux.plugins.p]\nx = " + "[" * 40 + "]" * 40 + "\n")
    assert "nested more than" in str(err) and err.line == 2
    err = error_for(tmp_path, "x = " + "[" * 5000 + "]" * 5000 + "\n")
    assert "nested too deeply" in str(err)


def test_key_with_too_many_parts(tmp_path: Path) -> None:
    err = error_for(tmp_path, "[" + ".".join(["a"] * 1500) + "]\n")
    assert err.path == str(tmp_path / "c.conf")


def test_invalid_utf8_names_file_and_line(tmp_path: Path) -> None:
    err = error_for(tmp_path, b'[engine]\nruntime = "\xff\xfe"\n')
    assert err.path == str(tmp_path / "c.conf") and err.line == 2
    assert "not valid UTF-8" in str(err)


def test_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    assert load_text(tmp_path, '\ufeff[engine]\nruntime = "a"\n').default_runtime == "a"


def test_config_file_missing(tmp_path: Path) -> None:
    missing = tmp_path / "nope.conf"
    with pytest.raises(ConfigError) as info:
        load_config(missing, environ={})
    assert str(info.value).startswith(f"{missing}: no such config file")
    assert "--config" in str(info.value)


def test_containers_conf_missing(roots: FakeRoots, tmp_path: Path) -> None:
    missing = tmp_path / "nope.conf"
    with pytest.raises(ConfigError, match="no such config file; it was named by CONTAINERS_CONF$"):
        load_config(environ={**roots.env, "CONTAINERS_CONF": str(missing)})


def test_containers_conf_override_missing(roots: FakeRoots, tmp_path: Path) -> None:
    missing = tmp_path / "nope.conf"
    with pytest.raises(ConfigError, match="CONTAINERS_CONF_OVERRIDE"):
        load_config(environ={**roots.env, "CONTAINERS_CONF_OVERRIDE": str(missing)})


def test_config_file_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path, environ={})


def test_drop_in_that_is_a_directory_is_skipped(roots: FakeRoots) -> None:
    (roots.etc / "containers.conf.d" / "x.conf").mkdir(parents=True)
    assert load_config(environ=roots.env).files == ()


def test_fifo_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.conf"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config(fifo, environ={})


def test_huge_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="larger than"):
        load_config("/dev/zero", environ={})
    assert MAX_BYTES >= 1 << 20


@pytest.mark.skipif(REAL_EUID == 0, reason="root reads unreadable files")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "c.conf"
    path.write_text("")
    path.chmod(0)
    with pytest.raises(ConfigError, match="permission denied"):
        load_config(path, environ={})


def test_broken_symlink_in_drop_ins_is_skipped(roots: FakeRoots) -> None:
    d = roots.etc / "containers.conf.d"
    d.mkdir()
    (d / "dangling.conf").symlink_to(roots.etc / "nowhere")
    assert load_config(environ=roots.env).files == ()


def test_permission_denied_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.conf"
    path.write_text("")

    def deny(*args: object, **kwargs: object) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", deny)
    with pytest.raises(ConfigError, match="permission denied") as info:
        load_config(path, environ={})
    assert info.value.path == str(path)


def test_unlistable_drop_in_dir_is_a_config_error(
    roots: FakeRoots, monkeypatch: pytest.MonkeyPatch
) -> None:
    (roots.etc / "containers.conf.d").mkdir()

    def deny(path: object) -> object:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "scandir", deny)
    with pytest.raises(ConfigError, match="cannot list drop-in directory: Permission denied"):
        load_config(environ=roots.env)


@pytest.mark.parametrize(
    "line",
    [
        'env = ["A=\\e"]',  # \e escape
        'env = ["A=\\x72"]',  # \xHH escape
        "annotations = {a = 1,\n  b = 2}",  # multi-line inline table
        "tz = 1979-05-27T07:32Z  # a time without seconds",
    ],
    ids=["escape-e", "escape-x", "multi-line-inline-table", "time-without-seconds"],
)
def test_toml_1_1_is_refused_as_podman_refuses_it(tmp_path: Path, line: str) -> None:
    """TOML 1.0 only: a file ocimux accepts must not stop podman (its parser is TOML 1.0)."""
    conf = tmp_path / "c.conf"
    conf.write_text(f"[containers]\n{line}\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(conf))
    assert str(info.value).startswith(f"{conf}:2: "), info.value
    assert "TOML syntax error" in str(info.value)


def test_the_samples_append_form_keeps_json_errors_for_runc_and_crun(tmp_path: Path) -> None:
    """The form ocimux's own sample file recommends must not take JSON errors from runc/crun."""
    conf = tmp_path / "c.conf"
    conf.write_text('[engine]\nruntime_supports_json = ["myrt", {append = true}]\n')
    config = load_config(str(conf))
    assert {"myrt", "runc", "crun", "runsc", "kata"} <= config.supports_json
    conf.write_text('[engine]\nruntime_supports_json = ["myrt"]\n')
    assert load_config(str(conf)).supports_json == {"myrt"}
