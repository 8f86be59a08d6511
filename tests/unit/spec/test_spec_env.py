"""resolve_env and merge_env: `-e` handling."""

from __future__ import annotations

import pytest
from ocimux.base.errors import InvalidArgumentError
from ocimux.oci.spec import merge_env, resolve_env


def test_resolve_env_takes_bare_keys_from_environ() -> None:
    environ = {"HOME": "/root", "LANG": "C.UTF-8", "EMPTY": ""}
    assert resolve_env(["A=1", "HOME", "MISSING", "EMPTY", "B=x=y"], environ) == [
        "A=1",
        "HOME=/root",
        "EMPTY=",
        "B=x=y",
    ]


def test_resolve_env_prefix_glob() -> None:
    environ = {"LC_ALL": "C", "HOME": "/root", "LC_TIME": "en"}
    assert resolve_env(["LC_*"], environ) == ["LC_ALL=C", "LC_TIME=en"]
    assert resolve_env(["*"], {"A": "1"}) == ["A=1"]


@pytest.mark.parametrize("item", ["", "A B", "=x", "A B*", "X=\x00"])
def test_resolve_env_rejects_bad_items(item: str) -> None:
    with pytest.raises(InvalidArgumentError, match="env"):
        resolve_env([item], {"A B": "1"})


def test_merge_env_keeps_first_position_and_last_value() -> None:
    assert merge_env(["A=1", "B=2"], ["C=3", "A=9"]) == ["A=9", "B=2", "C=3"]


def test_merge_env_error_names_the_entry() -> None:
    with pytest.raises(InvalidArgumentError, match="'NOEQUALS'"):
        merge_env([], ["NOEQUALS"])
