"""parse_signal and signal_name."""

from __future__ import annotations

import pytest
from ocimux.base.errors import InvalidArgumentError
from ocimux.base.signals import parse_signal, signal_name


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("TERM", 15),
        ("SIGTERM", 15),
        ("sigterm", 15),
        ("Term", 15),
        ("15", 15),
        (15, 15),
        (" 9 ", 9),
        ("KILL", 9),
        ("HUP", 1),
        ("IOT", 6),
        ("CLD", 17),
        ("POLL", 29),
        ("SYS", 31),
        ("RTMIN", 34),
        ("RTMIN+3", 37),
        ("SIGRTMIN+3", 37),
        ("rtmin+15", 49),
        ("RTMAX-14", 50),
        ("RTMAX", 64),
        ("32", 32),
        (64, 64),
        (1, 1),
    ],
)
def test_valid(value: str | int, expected: int) -> None:
    assert parse_signal(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        0,
        65,
        -1,
        "0",
        "65",
        "-1",
        "FOO",
        "SIG",
        "",
        "RTMIN+31",
        "RTMIN-1",
        "RTMAX+1",
        "SIGSIGTERM",
        "1.5",
        True,
        None,
        9.0,
    ],
)
def test_invalid(value: object) -> None:
    with pytest.raises(InvalidArgumentError, match="use a name like TERM or a number from 1 to 64"):
        parse_signal(value)  # type: ignore[arg-type]


def test_message() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        parse_signal("FOO")
    assert str(info.value) == "invalid signal 'FOO': use a name like TERM or a number from 1 to 64"


@pytest.mark.parametrize(
    ("number", "name"),
    [
        (15, "SIGTERM"),
        (9, "SIGKILL"),
        (6, "SIGABRT"),
        (17, "SIGCHLD"),
        (29, "SIGIO"),
        (34, "SIGRTMIN"),
        (37, "SIGRTMIN+3"),
        (49, "SIGRTMIN+15"),
        (50, "SIGRTMAX-14"),
        (64, "SIGRTMAX"),
        (32, "32"),
        (0, "0"),
        (99, "99"),
    ],
)
def test_signal_name(number: int, name: str) -> None:
    assert signal_name(number) == name


def test_round_trip() -> None:
    for n in range(1, 65):
        if n not in (32, 33):
            assert parse_signal(signal_name(n)) == n
