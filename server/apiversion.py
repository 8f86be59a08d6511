"""The API versions `ocimux serve` claims, and the check of a `/v1.xx` path prefix.

dockerd answers 400 for a version outside [minimum, its own] (moby's version middleware);
the wording below is moby's, so clients and scripts that match on it behave the same.
"""

from __future__ import annotations

import re

__all__ = ["API_VERSION", "MIN_API_VERSION", "split_version"]

API_VERSION = "1.43"
MIN_API_VERSION = "1.24"

#: `/v1.43/containers/json` and `/containers/json` are the same endpoint
_PREFIX = re.compile(r"^/v(\d+(?:\.\d+)*)(?=/)")


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def split_version(path: str) -> tuple[str | None, str]:
    """(the prefix's version or None, the path without it).

    Raises ValueError with moby's message for a version outside what the server supports.
    """
    match = _PREFIX.match(path)
    if match is None:
        return None, path
    version = match.group(1)
    if _key(version) < _key(MIN_API_VERSION):
        raise ValueError(
            f"client version {version} is too old. Minimum supported API version is "
            f"{MIN_API_VERSION}, please upgrade your client to a newer version"
        )
    if _key(version) > _key(API_VERSION):
        raise ValueError(
            f"client version {version} is too new. Maximum supported API version is {API_VERSION}"
        )
    return version, path[match.end() :] or "/"
