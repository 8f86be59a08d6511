"""Unknown keys and tables are warnings, as podman ignores them; strict_config makes them errors.

podman's decoder skips what it does not know (containers/common logs "Failed to decode the keys"
and its own test expects `containers_broken.conf` to load), so a key from a newer podman must not
stop ocimux. Each such key is dropped with one warning line (file:line: key, "did you mean" when
close), the rest of the file applies, and `[ocimux] strict_config = true` restores errors.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from ocimux.base.errors import ConfigError
from ocimux.config import Config, lines, load_config, validate
from ocimux.config.validate import MAX_GUESSES
from ocimux.config.view import MAX_STOP_TIMEOUT
from ocimux.engine import session


def load_text(tmp_path: Path, text: str, **environ: str) -> Config:
    path = tmp_path / "c.conf"
    path.write_text(text, encoding="utf-8")
    return load_config(path, environ=environ)


def test_a_broken_file_podman_loads_loads_with_warnings(tmp_path: Path) -> None:
    """The shape of containers/common's testdata/containers_broken.conf: a top-level key, a key
    in the wrong table, and good keys around them that still apply."""
    text = (
        'foo = "bar"\n[containers]\numask = "0002"\nnetns = "bridge"\n'
        'image_default_transport = "docker://"\n[engine]\ncgroup_manager = "systemd"\n'
    )
    config = load_text(tmp_path, text)
    conf = tmp_path / "c.conf"
    assert config.warnings == (
        f"{conf}:1: foo: unknown key, ignored; expected one of: engine, containers, machine, "
        "network, secrets, configmaps, farms, podmansh, ocimux",
        f"{conf}:5: containers.image_default_transport: unknown key, ignored",
    )
    assert config.cgroup_manager == "systemd"
    assert config.containers_table == {"umask": "0002", "netns": "bridge"}


@pytest.mark.parametrize(
    ("text", "line", "key", "says"),
    [
        ('[engine]\nruntime = "a"\n\nruntims = ["x"]\n', 4, "engine.runtims", "did you mean 'runtimes'?"),
        ("[engine]\nsome_future_key = true\n", 2, "engine.some_future_key", "unknown key, ignored"),
        ('[engine.runtimez]\na = ["/a"]\n', 1, "engine.runtimez", "unknown table, ignored; did you mean 'runtimes'?"),
        ("[engin]\nruntime = 'a'\n", 1, "engin", "unknown table, ignored; did you mean 'engine'?"),
        ('[storage]\ndriver = "overlay"\n', 1, "storage", "expected one of: engine, containers"),
        ('[containers]\nnetnz = "host"\n', 2, "containers.netnz", "did you mean 'netns'?"),
        ("[network]\nnetwork_backedn = 'netavark'\n", 2, "network.network_backedn", "did you mean 'network_backend'?"),
        ("[ocimux]\nstate_dri = '/x'\n", 2, "ocimux.state_dri", "did you mean 'state_dir'?"),
        ("[ocimux.capabilities.crun]\nchekpoint = true\n", 2, "ocimux.capabilities.crun.chekpoint", "did you mean 'checkpoint'?"),
        ("[engine.service_destinations.a]\nuri = 'x'\nidentiy = 'k'\n", 3, "engine.service_destinations.a.identiy", "did you mean 'identity'?"),
    ],
    ids=["typo", "newer-podman", "table-typo", "top-table-typo", "storage-table", "containers-typo",
         "network-typo", "ocimux-typo", "capability-typo", "nested-table-typo"],
)  # fmt: skip
def test_unknown_key_is_one_warning_line(
    tmp_path: Path, text: str, line: int, key: str, says: str
) -> None:
    config = load_text(tmp_path, text)
    assert len(config.warnings) == 1, config.warnings
    warning = config.warnings[0]
    assert warning.startswith(f"{tmp_path / 'c.conf'}:{line}: {key}: "), warning
    assert says in warning
    assert "\n" not in warning


def test_the_rest_of_the_file_applies(tmp_path: Path) -> None:
    config = load_text(tmp_path, '[engine]\nruntimez = "x"\nruntime = "crun"\nstop_timeout = 3\n')
    assert config.default_runtime == "crun"
    assert config.stop_timeout == 3
    assert "runtimez" not in config.to_dict()["data"]["engine"]


@pytest.mark.parametrize(
    "text",
    [
        '[engine]\nmachine_image = "x"\n',
        '[engine]\nruntime_supports_nocgroupv2 = ["crun"]\n',
        "[engine]\nmachine_enabled = true\n",
        '[containers]\nrootless_networking = "slirp4netns"\n',
    ],
    ids=["machine_image", "nocgroupv2", "machine_enabled", "rootless_networking"],
)
def test_legacy_keys_of_older_podmans_load_silently(tmp_path: Path, text: str) -> None:
    assert load_text(tmp_path, text).warnings == ()


def test_every_podman_key_is_known(tmp_path: Path) -> None:
    """Each key of podman's tables, with a value of its type, loads without a warning."""
    from ocimux.config.podman_keys import PODMAN_KEYS

    samples = {
        "string": '"x"', "bool": "true", "int": "1", "uint": "1", "uint16": "1", "uint32": "1",
        "strings": '["x"]', "map_strings": '{a = ["x"]}', "map_string": '{a = "x"}',
        "destinations": '{a = {uri = "ssh://h"}}', "subnet_pools": '[{base = "10.0.0.0/8", size = 24}]',
        "size": '"1m"',
    }  # fmt: skip
    typed = {"cgroup_manager": '"cgroupfs"'}  # ocimux checks the values of the keys it reads
    body = "".join(
        f"[{table}]\n"
        + "".join(f"{key} = {typed.get(key, samples[kind])}\n" for key, kind in keys.items())
        for table, keys in PODMAN_KEYS.items()
    )
    config = load_text(tmp_path, body)
    assert config.warnings == ()
    assert config.to_dict()["data"]["network"]["default_subnet_pools"][0]["size"] == 24


def test_strict_config_makes_the_first_warning_an_error(tmp_path: Path) -> None:
    text = "[engine]\nbogus_a = 1\nbogus_b = 2\n[ocimux]\nstrict_config = true\n"
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, text)
    err = info.value
    assert err.line == 2 and err.key == "engine.bogus_a"
    assert str(err).startswith(f"{tmp_path / 'c.conf'}:2: engine.bogus_a: unknown key (and 1 more)")
    assert "strict_config = true" in str(err)


def test_strict_config_from_a_variable_covers_every_file(tmp_path: Path) -> None:
    config = load_text(tmp_path, "[engine]\nbogus = 1\n")
    assert len(config.warnings) == 1
    with pytest.raises(ConfigError, match="engine.bogus: unknown key"):
        load_text(tmp_path, "[engine]\nbogus = 1\n", OCIMUX_OCIMUX__STRICT_CONFIG="true")


def test_strict_config_without_warnings_loads(tmp_path: Path) -> None:
    config = load_text(tmp_path, '[engine]\nruntime = "crun"\n[ocimux]\nstrict_config = true\n')
    assert config.default_runtime == "crun"


def test_array_for_a_table_of_names_reads_as_empty_as_in_podman(tmp_path: Path) -> None:
    """podman 4.3.1 loads `runtimes = []` and `[[engine.runtimes]]` and defines no runtime."""
    config = load_text(tmp_path, "[engine]\nruntimes = []\n")
    assert config.runtime_names == () and config.warnings == ()
    config = load_text(tmp_path, '[[engine.runtimes]]\nmyrt = ["/usr/bin/runc"]\n')
    assert config.runtime_names == ()
    assert len(config.warnings) == 1
    assert "engine.runtimes: an array where podman reads a table" in config.warnings[0]
    assert "write [engine.runtimes]" in config.warnings[0]


def test_ocimux_tables_are_not_read_leniently(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ocimux.capabilities"):
        load_text(tmp_path, "[ocimux]\ncapabilities = []\n")


@pytest.mark.parametrize(
    ("value", "seconds"), [("-1", MAX_STOP_TIMEOUT), ("4294967296", MAX_STOP_TIMEOUT), ("7", 7)]
)
def test_stop_timeout_takes_any_integer_as_podman_does(
    tmp_path: Path, value: str, seconds: int
) -> None:
    """podman's uint: its decoder wraps -1 round to about 2**64, in effect no limit."""
    assert load_text(tmp_path, f"[engine]\nstop_timeout = {value}\n").stop_timeout == seconds


def test_warnings_survive_the_cache_round_trip(tmp_path: Path) -> None:
    config = load_text(tmp_path, "[engine]\nbogus = 1\n")
    again = Config.from_dict(config.to_dict())
    assert again.warnings == config.warnings
    assert again == config


def test_many_unknown_keys_scan_the_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """500 unknown keys: one scan of the text for their lines (a scan per key was quadratic),
    every one warned in file order, and only the first MAX_GUESSES compared for "did you mean"."""
    scans: list[int] = []
    real = lines.key_lines

    def counting(text: str) -> dict[tuple[str, ...], int]:
        scans.append(len(text))
        return real(text)

    monkeypatch.setattr(validate, "key_lines", counting)
    body = "".join(f"runtime_{i:03d} = {i}\n" for i in range(500))
    config = load_text(tmp_path, f"[engine]\n{body}")
    assert len(scans) == 1, f"the text was scanned {len(scans)} times"
    assert len(config.warnings) == 500
    assert config.warnings[0].startswith(f"{tmp_path / 'c.conf'}:2: engine.runtime_000: unknown")
    assert config.warnings[-1].startswith(f"{tmp_path / 'c.conf'}:501: engine.runtime_499:")
    guessed = [w for w in config.warnings if "did you mean" in w]
    assert len(guessed) == MAX_GUESSES


def test_show_warnings_caps_the_lines() -> None:
    out = io.StringIO()
    session.show_warnings([f"w{i}" for i in range(30)], out)
    shown = out.getvalue().splitlines()
    assert shown[0] == "ocimux: warning: w0"
    assert len(shown) == session.MAX_SHOWN_WARNINGS + 1
    assert shown[-1] == "ocimux: warning: and 10 more; `ocimux config check` lists them all"


def test_warnings_show_once_per_change_of_the_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The cold path shows them; a warm call (nothing changed) does not; an edit shows them again."""
    conf = tmp_path / "c.conf"
    conf.write_text("[engine]\nbogus = 1\n")
    env = {"OCIMUX_CACHE_DIR": str(tmp_path / "cache"), "HOME": str(tmp_path)}
    session.load_environment(conf, env)
    assert (
        capsys.readouterr().err
        == f"ocimux: warning: {conf}:2: engine.bogus: unknown key, ignored\n"
    )
    config, _, _ = session.load_environment(conf, env)
    assert capsys.readouterr().err == ""
    assert len(config.warnings) == 1  # still known to the caller
    conf.write_text("[engine]\n\nbogus = 2\n")
    session.load_environment(conf, env)
    assert ":3: engine.bogus" in capsys.readouterr().err
