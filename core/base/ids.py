"""Container ids, names and exec-session ids: validation and generation.

Ids are 64 lowercase hex digits, like podman's. Names (and any id a user chooses) must match
`[A-Za-z0-9][A-Za-z0-9_.-]*` and be at most 128 characters: they become directory names and
runtime arguments, so nothing else is let through.
"""

from __future__ import annotations

import re
import secrets

from .errors import InvalidArgumentError

__all__ = ["MAX_NAME_LENGTH", "is_full_id", "new_id", "validate_name"]

MAX_NAME_LENGTH = 128
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_FULL_ID = re.compile(r"[0-9a-f]{64}")


def new_id() -> str:
    """Return a fresh random 64-hex-digit id."""
    return secrets.token_hex(32)


def is_full_id(value: str) -> bool:
    """Return whether `value` has the form of a generated id."""
    return _FULL_ID.fullmatch(value) is not None


def validate_name(value: str, what: str = "container name") -> str:
    """Return `value` if it is a valid name or id, else raise InvalidArgumentError saying why."""
    if not value:
        raise InvalidArgumentError(f"{what} is empty")
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidArgumentError(
            f"{what} is {len(value)} characters long; at most {MAX_NAME_LENGTH} are allowed"
        )
    if not _NAME.fullmatch(value):
        # repr escapes control and bidi characters, so the one-line message shows what was given
        raise InvalidArgumentError(
            f"invalid {what} {value!r}: use letters, digits, '_', '.' and '-', starting with a letter or digit"
        )
    return value
