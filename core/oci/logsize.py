"""The cap on a container's log: `--log-opt max-size`, Docker's LogConfig, `log_size_max`.

Three fronts name one number of bytes, -1 meaning no cap (the default, as in podman):

- `--log-opt max-size=SIZE` on `run`/`create` (podman's flag). SIZE is decimal, as podman and
  Docker read it (go-units FromHumanSize: `100k` is 100000 bytes, `1m` 1000000; `KiB`, `kb`
  mean the same as `k`). Any other log option is refused: the log is always a k8s-file in the
  container's directory, so `path`, `tag`, `max-file`, ... could not be honoured.
- Docker's `HostConfig.LogConfig.Config["max-size"]` (json-file and k8s-file only).
- containers.conf `[containers] log_size_max`, in bytes (podman's key), for every container
  that does not say otherwise.

A cap must be at least 8192 bytes, conmon's read buffer (podman refuses less in
containers.conf too); a smaller one would turn the log over on nearly every read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from ocimux.base.errors import InvalidArgumentError

__all__ = ["LOG_SIZE_MIN", "UNLIMITED", "check_log_size", "parse_log_opts", "parse_log_size"]

#: no cap
UNLIMITED: Final = -1
#: the smallest cap: conmon's read buffer (podman: "log size max should be negative or >= 8192")
LOG_SIZE_MIN: Final = 8192

#: go-units FromHumanSize: decimal multipliers whatever the spelling (`k`, `kb`, `KiB`)
_HUMAN_SIZE: Final = re.compile(r"(\d+(?:\.\d+)?) ?([kmgtp])?i?b?", re.IGNORECASE)
_DECIMAL: Final = {None: 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}


def check_log_size(size: int, what: str) -> int:
    """Return `size` if it is -1 (no cap) or at least LOG_SIZE_MIN; else InvalidArgumentError."""
    if size == UNLIMITED or LOG_SIZE_MIN <= size <= 2**63 - 1:
        return size
    raise InvalidArgumentError(
        f"invalid {what} {size}: the log's cap must be -1 (none) or at least {LOG_SIZE_MIN} bytes",
        hint="conmon reads the container's output 8192 bytes at a time",
    )


def parse_log_size(value: str, what: str = "--log-opt max-size") -> int:
    """The bytes a human size means (`100k` = 100000, `1.5m`, `10MB`, `-1` for no cap)."""
    text = value.strip()
    if text == "-1":
        return UNLIMITED
    match = _HUMAN_SIZE.fullmatch(text)
    if match is None:
        raise InvalidArgumentError(
            f"invalid {what} {value!r}: use a size such as 100k, 10m or 1g (decimal units), "
            "or -1 for no cap"
        )
    unit = match.group(2).lower() if match.group(2) else None
    return check_log_size(int(float(match.group(1)) * _DECIMAL[unit]), what)


def parse_log_opts(values: Iterable[str]) -> int | None:
    """The cap `--log-opt` options ask for, or None when none is given (the configured one).

    Each value is `KEY=VALUE`; the only key is `max-size` (the last one wins, as in podman).
    """
    size: int | None = None
    for item in values:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidArgumentError(
                f"invalid --log-opt {item!r}: use KEY=VALUE, e.g. max-size=10m"
            )
        if key.strip().lower() != "max-size":
            raise InvalidArgumentError(
                f"unsupported --log-opt {key!r}: ocimux supports only max-size (its log is "
                "always a k8s-file in the container's directory)"
            )
        size = parse_log_size(value)
    return size
