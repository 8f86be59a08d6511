"""`read_window`: since/until/tail/timestamps over the k8s-file log; the timestamp formats;
`follow_lines`' tail for a follower; `ocimux logs --since/--until` time values (podman's)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ocimux.base.errors import InvalidArgumentError
from ocimux.cli.containers import log_time_ns
from ocimux.io.logs import follow_lines, format_log, stamp_ns
from ocimux.io.logview import LogWindow, docker_stamp, podman_stamp, read_window

OUT, ERR = 2, 3
S = 1_000_000_000  # ns in a second
T0 = 1_765_000_000 * S  # 2025-12-06T05:46:40Z


def write(log: Path, *records: tuple[int, int, bytes]) -> None:
    log.write_bytes(b"".join(format_log(stream, data, at) for at, stream, data in records))


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "ctr.log"
    write(
        path,
        (T0, OUT, b"one\n"),
        (T0 + 1 * S, ERR, b"two\n"),
        (T0 + 2 * S, OUT, b"thr"),  # a `P` record, then the rest of its line
        (T0 + 3 * S, OUT, b"ee\n"),
        (T0 + 4 * S, OUT, b"four\n"),
    )
    return path


def test_stamps_are_read_with_their_offset() -> None:
    assert stamp_ns(b"2025-12-06T05:46:40.5+00:00") == T0 + S // 2
    assert stamp_ns(b"2025-12-06T06:46:40.5+01:00") == T0 + S // 2
    assert stamp_ns(b"2025-12-06T05:46:40Z") == T0
    assert stamp_ns(b"not a time") == 0


def test_docker_and_podman_stamps() -> None:
    assert docker_stamp(T0 + 42_000_000) == b"2025-12-06T05:46:40.042000000Z"
    assert podman_stamp(T0 + 42_000_000) == b"2025-12-06T05:46:40.042Z"
    assert podman_stamp(T0) == b"2025-12-06T05:46:40Z"


def test_an_empty_window_is_the_whole_log(log: Path) -> None:
    assert [d for _, d in read_window(log, LogWindow())] == [
        b"one\n", b"two\n", b"thr", b"ee\n", b"four\n",
    ]  # fmt: skip


def test_since_and_until_are_inclusive(log: Path) -> None:
    window = LogWindow(since_ns=T0 + 1 * S, until_ns=T0 + 3 * S)
    assert list(read_window(log, window)) == [
        ("stderr", b"two\n"), ("stdout", b"thr"), ("stdout", b"ee\n"),
    ]  # fmt: skip


def test_tail_counts_records_before_the_window_filters_them(log: Path) -> None:
    # Docker's json-file reader: the last lines first, then since/until on those
    assert [d for _, d in read_window(log, LogWindow(tail=2))] == [b"ee\n", b"four\n"]
    assert [d for _, d in read_window(log, LogWindow(tail=2, until_ns=T0 + 3 * S))] == [b"ee\n"]
    assert list(read_window(log, LogWindow(tail=0))) == []


def test_timestamps_prefix_each_line_once(log: Path) -> None:
    got = [d for _, d in read_window(log, LogWindow(since_ns=T0 + 2 * S, stamp=docker_stamp))]
    assert got == [
        b"2025-12-06T05:46:42.000000000Z thr",
        b"ee\n",  # the continuation of a partial line gets no second stamp
        b"2025-12-06T05:46:44.000000000Z four\n",
    ]


def test_a_follower_with_tail_gets_the_last_lines_then_what_comes(tmp_path: Path) -> None:
    log = tmp_path / "ctr.log"
    write(log, (T0, OUT, b"a\n"), (T0, OUT, b"b\n"), (T0, OUT, b"c\n"))
    waits = []

    def wait(_: float) -> None:
        waits.append(1)
        if len(waits) == 1:
            with open(log, "ab") as fh:
                fh.write(format_log(OUT, b"d\n", T0))

    lines = list(follow_lines(log, follow=True, ended=lambda: len(waits) >= 2, wait=wait, tail=1))
    assert [line.rsplit(b" ", 1)[1] for line in lines] == [b"c\n", b"d\n"]


def test_a_follower_ends_once_until_has_passed(tmp_path: Path) -> None:
    log = tmp_path / "ctr.log"
    write(log, (T0, OUT, b"old\n"))
    waits = []
    window = LogWindow(until_ns=T0 + S)  # long past: the follower must not wait for the end
    got = list(
        read_window(log, window, follow=True, ended=lambda: False, wait=lambda s: waits.append(s))
    )
    assert got == [("stdout", b"old\n")] and waits == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-12-06T05:46:40Z", T0),
        ("2025-12-06T06:46:40.25+01:00", T0 + S // 4),
        ("2025-12-06T05:46:40", T0),  # no zone: UTC, as podman's time.Parse
        ("2025-12-06", T0 - (5 * 3600 + 46 * 60 + 40) * S),
        ("1765000000.5", T0 + S // 2),
        ("10m", T0 - 600 * S),
        ("1h30m", T0 - 5400 * S),
        ("1.5s", T0 - 3 * S // 2),
    ],
)
def test_podman_time_values_for_since(text: str, expected: int) -> None:
    assert log_time_ns(text, since=True, now_ns=T0) == expected


def test_a_duration_for_until_counts_forward_as_podman() -> None:
    assert log_time_ns("10m", since=False, now_ns=T0) == T0 + 600 * S


@pytest.mark.parametrize("text", ["yesterday", "10x", "2025-13", "1h-", "", "m"])
def test_bad_time_values_are_refused(text: str) -> None:
    with pytest.raises(InvalidArgumentError, match="unable to interpret time value"):
        log_time_ns(text, since=True)
