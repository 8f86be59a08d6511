"""`follow_log`: no runtime polling, an end from `ended()`, a `wait` that may stop it, rotation."""

from __future__ import annotations

from pathlib import Path

import pytest
from ocimux.io.logs import follow_log, format_log

OUT = 2  # the attach-socket id of stdout


def line(text: str) -> bytes:
    return format_log(OUT, text.encode(), now_ns=0)


def test_without_follow_it_reads_what_is_there(tmp_path: Path) -> None:
    log = tmp_path / "ctr.log"
    log.write_bytes(line("a\n") + line("b\n"))
    assert list(follow_log(log)) == [("stdout", b"a\n"), ("stdout", b"b\n")]


def test_a_follower_waits_only_through_wait_and_ends_when_ended(tmp_path: Path) -> None:
    log = tmp_path / "ctr.log"
    log.write_bytes(line("a\n"))
    calls = {"ended": 0, "waits": []}

    def ended() -> bool:
        calls["ended"] += 1
        return calls["ended"] > 3

    def wait(seconds: float) -> None:
        calls["waits"].append(seconds)
        if len(calls["waits"]) == 2:
            with open(log, "ab") as fh:
                fh.write(line("b\n"))

    records = list(follow_log(log, follow=True, ended=ended, wait=wait, poll=0.01, idle_poll=0.04))
    assert records == [("stdout", b"a\n"), ("stdout", b"b\n")]
    assert calls["waits"] == [0.01, 0.02, 0.01]  # grows while idle, back to `poll` after data


def test_the_last_lines_written_before_the_end_are_read(tmp_path: Path) -> None:
    log = tmp_path / "ctr.log"
    log.write_bytes(b"")

    def ended() -> bool:
        with open(log, "ab") as fh:  # the writer flushes between our read and the check
            fh.write(line("last\n"))
        return True

    assert list(follow_log(log, follow=True, ended=ended)) == [("stdout", b"last\n")]


def test_a_wait_that_raises_stops_the_follower(tmp_path: Path) -> None:
    log = tmp_path / "ctr.log"
    log.write_bytes(line("a\n"))

    def gone(_: float) -> None:
        raise ConnectionResetError("the client has gone")

    records = follow_log(log, follow=True, ended=lambda: False, wait=gone)
    assert next(records) == ("stdout", b"a\n")
    with pytest.raises(ConnectionResetError):
        next(records)


def test_a_rotated_log_is_read_to_its_end_then_the_new_one(tmp_path: Path) -> None:
    log = tmp_path / "ctr.log"
    log.write_bytes(line("old\n"))
    state = {"rotated": False, "checks": 0}

    def ended() -> bool:
        state["checks"] += 1
        if not state["rotated"]:
            state["rotated"] = True
            with open(log, "ab") as fh:
                fh.write(line("tail of old\n"))
            rotated = tmp_path / "ctr.log.new"
            rotated.write_bytes(line("new\n"))
            rotated.replace(log)
            return False
        return state["checks"] > 2

    got = list(follow_log(log, follow=True, ended=ended, wait=lambda _: None))
    assert got == [("stdout", b"old\n"), ("stdout", b"tail of old\n"), ("stdout", b"new\n")]


def test_a_log_truncated_in_place_is_read_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "ctr.log"
    log.write_bytes(line("a long first line\n"))
    state = {"checks": 0}

    def ended() -> bool:
        state["checks"] += 1
        if state["checks"] == 1:
            log.write_bytes(line("b\n"))  # same inode, shorter
        return state["checks"] > 2

    got = list(follow_log(log, follow=True, ended=ended, wait=lambda _: None))
    assert got == [("stdout", b"a long first line\n"), ("stdout", b"b\n")]
