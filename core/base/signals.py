"""Signal names and numbers, as Linux numbers them (container processes always run on Linux).

Names are accepted with or without `SIG`, in any case; real-time signals as `RTMIN`, `RTMIN+n`,
`RTMAX-n`, `RTMAX` (glibc numbering: RTMIN is 34, RTMAX 64, as `kill -l` shows). Numbers are
accepted from 1 to 64. The table is fixed rather than read from the `signal` module so the answer
does not depend on the platform ocimux itself runs on.
"""

from __future__ import annotations

import re
from typing import Final

from .errors import InvalidArgumentError

__all__ = [
    "MAX_SIGNAL",
    "SIGKILL",
    "SIGTERM",
    "STOP_SIGNAL_ANNOTATION",
    "parse_signal",
    "signal_name",
]

#: the annotation that names a container's stop signal (OCI image spec), a name or a number
STOP_SIGNAL_ANNOTATION: Final = "org.opencontainers.image.stopSignal"

SIGKILL: Final = 9
SIGTERM: Final = 15
#: highest signal number on Linux (`_NSIG - 1`)
MAX_SIGNAL: Final = 64
#: first real-time signal available to programs (glibc reserves 32 and 33)
_RTMIN: Final = 34

_NUMBERS: Final[dict[str, int]] = {
    "HUP": 1,
    "INT": 2,
    "QUIT": 3,
    "ILL": 4,
    "TRAP": 5,
    "ABRT": 6,
    "IOT": 6,
    "BUS": 7,
    "FPE": 8,
    "KILL": 9,
    "USR1": 10,
    "SEGV": 11,
    "USR2": 12,
    "PIPE": 13,
    "ALRM": 14,
    "TERM": 15,
    "STKFLT": 16,
    "CHLD": 17,
    "CLD": 17,
    "CONT": 18,
    "STOP": 19,
    "TSTP": 20,
    "TTIN": 21,
    "TTOU": 22,
    "URG": 23,
    "XCPU": 24,
    "XFSZ": 25,
    "VTALRM": 26,
    "PROF": 27,
    "WINCH": 28,
    "IO": 29,
    "POLL": 29,
    "PWR": 30,
    "SYS": 31,
}
_ALIASES: Final = frozenset({"IOT", "CLD", "POLL"})
_NAMES: Final[dict[int, str]] = {n: f"SIG{k}" for k, n in _NUMBERS.items() if k not in _ALIASES}
_REALTIME: Final = re.compile(r"RT(MIN|MAX)(?:([+-])(\d{1,2}))?")
_DECIMAL: Final = re.compile(r"[+-]?[0-9]{1,20}")  # ASCII digits only, like strconv.Atoi


def _invalid(value: object) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"invalid signal {value!r}: use a name like TERM or a number from 1 to {MAX_SIGNAL}"
    )


def parse_signal(value: str | int) -> int:
    """Return the number of the signal `value` names.

    `value` is an int, a decimal string ("15"), or a name as described in the module docstring
    ("TERM", "SIGTERM", "sigterm", "RTMIN+3"); surrounding whitespace is ignored. Raises
    InvalidArgumentError for an unknown name, a number outside 1..64 (0, 65, -1), or a value of
    another type (bool included).
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _invalid(value)
    if isinstance(value, int):
        number: int | None = value
    else:
        text = value.strip()
        if _DECIMAL.fullmatch(text):
            number = int(text)
        else:
            number = _number_for_name(text.upper().removeprefix("SIG"))
    if number is None or not 1 <= number <= MAX_SIGNAL:
        raise _invalid(value)
    return number


def _number_for_name(name: str) -> int | None:
    if name in _NUMBERS:
        return _NUMBERS[name]
    m = _REALTIME.fullmatch(name)
    if m is None:
        return None
    base, sign, offset = m.group(1), m.group(2), int(m.group(3) or 0)
    if base == "MIN" and sign != "-":
        return _RTMIN + offset
    if base == "MAX" and sign != "+":
        return MAX_SIGNAL - offset
    return None


def signal_name(number: int) -> str:
    """Return the conventional name of signal `number` ("SIGTERM", "SIGRTMIN+3"), else str(number).

    Real-time signals are named as `kill -l` names them: SIGRTMIN+n up to 49, SIGRTMAX-n above.
    Numbers without a name (32, 33, anything outside 1..64) come back as digits.
    """
    if number in _NAMES:
        return _NAMES[number]
    if number == _RTMIN:
        return "SIGRTMIN"
    if number == MAX_SIGNAL:
        return "SIGRTMAX"
    if _RTMIN < number <= (_RTMIN + MAX_SIGNAL) // 2:
        return f"SIGRTMIN+{number - _RTMIN}"
    if _RTMIN < number < MAX_SIGNAL:
        return f"SIGRTMAX-{MAX_SIGNAL - number}"
    return str(number)
