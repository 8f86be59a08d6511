"""The log's cap (`--log-opt`, LogConfig, `log_size_max`), the capped writer, the conmon argv
for it and for the run-dir persist directory, and the store's full-disk error mapping."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from ocimux.base.errors import InvalidArgumentError, StoreError
from ocimux.engine._reserve import RESERVE_BYTES, DiskReserve
from ocimux.engine.store import Store
from ocimux.io.logs import STDOUT, parse_line
from ocimux.io.logwriter import LogWriter
from ocimux.oci.conmon import ConmonLaunch
from ocimux.oci.containerdefaults import defaults_from_table
from ocimux.oci.logsize import parse_log_opts
from ocimux.server.hostconfig import container_config


@pytest.mark.parametrize(
    ("value", "size"),
    [("100k", 100_000), ("100KiB", 100_000), ("1.5m", 1_500_000), ("8192", 8192), ("-1", -1),
     ("10MB", 10_000_000), ("1g", 10**9)],
)  # fmt: skip
def test_max_size_is_decimal_as_podman_reads_it(value: str, size: int) -> None:
    assert parse_log_opts([f"max-size={value}"]) == size


def test_no_log_opt_means_the_configured_cap() -> None:
    assert parse_log_opts([]) is None
    assert parse_log_opts(["max-size=10k", "max-size=20k"]) == 20_000  # the last one wins


@pytest.mark.parametrize(
    ("opt", "message"),
    [("max-file=3", "unsupported --log-opt 'max-file'"), ("path=/x", "unsupported --log-opt"),
     ("max-size", "use KEY=VALUE"), ("max-size=ten", "use a size such as 100k"),
     ("max-size=1k", "at least 8192 bytes"), ("max-size=0", "at least 8192 bytes")],
)  # fmt: skip
def test_bad_log_opts_are_refused(opt: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        parse_log_opts([opt])
    assert message in str(info.value)


def test_containers_conf_log_size_max() -> None:
    assert defaults_from_table({}).log_size_max == -1  # podman's default: no cap
    assert defaults_from_table({"log_size_max": 50_000}).log_size_max == 50_000
    with pytest.raises(InvalidArgumentError, match="log_size_max must be a int"):
        defaults_from_table({"log_size_max": "50k"})
    with pytest.raises(InvalidArgumentError, match="log_size_max 100: the log's cap must be"):
        defaults_from_table({"log_size_max": 100})


def test_docker_log_config_max_size_maps_to_the_cap(tmp_path: Path) -> None:
    def cfg(log: dict) -> int | None:
        return container_config(
            {"HostConfig": {"LogConfig": log}}, seccomp_dir=tmp_path
        ).log_size_max

    assert cfg({"Type": "", "Config": {}}) is None
    assert cfg({"Type": "json-file", "Config": {"max-size": "10m"}}) == 10_000_000
    assert cfg({"Type": "k8s-file", "Config": {"max-size": "100k"}}) == 100_000
    with pytest.raises(InvalidArgumentError, match=r"HostConfig.LogConfig.Config 'max-file'"):
        cfg({"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}})
    with pytest.raises(InvalidArgumentError, match="at least 8192"):
        cfg({"Type": "json-file", "Config": {"max-size": "1k"}})
    with pytest.raises(InvalidArgumentError, match="HostConfig.LogConfig.Type 'syslog'"):
        cfg({"Type": "syslog", "Config": {}})


def _launch(tmp_path: Path, **kw: object) -> ConmonLaunch:
    return ConmonLaunch(
        conmon="/usr/bin/conmon", cid="c1", name="n", runtime_path="/usr/bin/crun",
        runtime_args=(), directory=tmp_path / "bundle", exit_dir=tmp_path / "exits", **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_conmon_gets_the_run_dir_persist_dir_and_the_log_cap(tmp_path: Path) -> None:
    argv = _launch(
        tmp_path, persist_dir=tmp_path / "run" / "persist" / "c1", log_size_max=100_000
    ).argv()
    assert argv[argv.index("--persist-dir") + 1] == str(tmp_path / "run" / "persist" / "c1")
    assert argv[argv.index("--log-size-max") + 1] == "100000"
    argv = _launch(tmp_path).argv()  # no cap: conmon's default (none)
    assert "--log-size-max" not in argv
    assert argv[argv.index("--persist-dir") + 1] == str(tmp_path / "bundle")


def test_log_writer_turns_the_log_over_as_conmon_does(tmp_path: Path) -> None:
    log = tmp_path / "ctr.log"
    writer = LogWriter(log, 1000)
    first_inode = log.stat().st_ino
    for n in range(200):
        writer.write(STDOUT, b"line %d\n" % n)
        assert log.stat().st_size <= 1000
    writer.close()
    assert log.stat().st_ino != first_inode  # replaced by a new file, not truncated
    records = [parse_line(line) for line in log.read_bytes().splitlines(keepends=True)]
    assert records[-1] == ("stdout", b"line 199\n")  # the newest lines are kept
    assert ("stdout", b"line 0\n") not in records
    assert not (tmp_path / "ctr.log.tmp").exists()


def test_log_writer_splits_a_big_read_at_line_boundaries(tmp_path: Path) -> None:
    log = tmp_path / "ctr.log"
    writer = LogWriter(log, 8192)
    writer.write(STDOUT, b"y\n" * 4096)  # one read of `yes`: far more than the cap in records
    writer.close()
    text = log.read_bytes()
    assert 0 < len(text) <= 8192 and text.endswith(b"F y\n")


def test_log_writer_without_cap_appends_to_an_existing_log(tmp_path: Path) -> None:
    log = tmp_path / "ctr.log"
    log.write_bytes(b"x" * 5000)
    writer = LogWriter(log)
    writer.write(STDOUT, b"more\n")
    writer.close()
    assert log.read_bytes().startswith(b"x" * 5000) and log.read_bytes().endswith(b"F more\n")


def test_reserve_is_made_when_there_is_room_and_released_once(tmp_path: Path) -> None:
    reserve = DiskReserve(tmp_path)
    reserve.keep()
    assert reserve.path.stat().st_size == RESERVE_BYTES
    assert reserve.release() is True
    assert reserve.release() is False  # nothing left to give


def _sqlite_error(name: str) -> sqlite3.OperationalError:
    exc = sqlite3.OperationalError("database or disk is full")
    exc.sqlite_errorname = name  # type: ignore[attr-defined]
    return exc


def test_store_reports_a_full_disk_in_one_line(tmp_path: Path) -> None:
    with Store(tmp_path / "ocimux.db") as store:
        assert (tmp_path / ".reserve").exists()  # made with the store
        err = store._error(_sqlite_error("SQLITE_FULL"))
        assert isinstance(err, StoreError)
        assert str(err).startswith(f"the state disk is full ({tmp_path})")
        assert "\n" not in str(err)
        # an I/O error on a disk with room is not called "full"
        err = store._error(_sqlite_error("SQLITE_IOERR_WRITE"))
        assert "cannot be used" in str(err)
