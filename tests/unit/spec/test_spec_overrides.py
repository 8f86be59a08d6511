"""with_overrides and stop_signal."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from ocimux.base.errors import InvalidArgumentError
from ocimux.oci.spec import STOP_SIGNAL_ANNOTATION, default_spec, stop_signal, with_overrides


@pytest.fixture
def spec() -> dict:
    s = default_spec(rootfs=Path("/r"), args=["sh"], env=["A=1"], annotations={"k": "v"})
    s["process"]["user"]["umask"] = 18
    return s


def test_nothing_given_is_an_equal_deep_copy(spec: dict) -> None:
    new = with_overrides(spec)
    assert new == spec
    new["process"]["env"].append("X=1")
    assert "X=1" not in spec["process"]["env"]


def test_overrides_applied_and_original_untouched(spec: dict) -> None:
    before = copy.deepcopy(spec)
    new = with_overrides(
        spec,
        args=["app", "--flag"],
        env=["A=2", "B=3"],
        cwd="/srv",
        user=(1000, 1000, (10,)),
        terminal=True,
        annotations={"k2": "v2"},
    )
    assert spec == before
    proc = new["process"]
    assert proc["args"] == ["app", "--flag"]
    assert proc["env"][-2:] == ["A=2", "B=3"]
    assert proc["cwd"] == "/srv"
    assert proc["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [10], "umask": 18}
    assert proc["terminal"] is True
    assert new["annotations"] == {"k": "v", "k2": "v2"}


def test_user_override_drops_old_additional_gids(spec: dict) -> None:
    spec = with_overrides(spec, user=(1, 1, (5, 6)))
    assert with_overrides(spec, user=(2, 2, ()))["process"]["user"] == {
        "uid": 2,
        "gid": 2,
        "umask": 18,
    }


def test_env_added_when_spec_has_none() -> None:
    assert with_overrides({"process": {"args": ["x"]}}, env=["A=1"])["process"]["env"] == ["A=1"]


@pytest.mark.parametrize(
    "kwargs",
    [{"args": []}, {"env": ["NOPE"]}, {"cwd": "rel"}, {"user": (-1, 0, ())}, {"terminal": 1}],
)
def test_bad_overrides(spec: dict, kwargs: dict) -> None:
    with pytest.raises(InvalidArgumentError):
        with_overrides(spec, **kwargs)


def test_spec_without_process() -> None:
    with pytest.raises(InvalidArgumentError, match="process"):
        with_overrides({"ociVersion": "1.0.2"}, cwd="/")


@pytest.mark.parametrize(("value", "expected"), [("SIGQUIT", 3), ("9", 9), ("rtmin+1", 35)])
def test_stop_signal_from_annotation(value: str, expected: int) -> None:
    assert stop_signal({"annotations": {STOP_SIGNAL_ANNOTATION: value}}) == expected


def test_stop_signal_default() -> None:
    assert stop_signal({}) == 15
    assert stop_signal({"annotations": {"other": "x"}}) == 15
    assert stop_signal({"annotations": None}) == 15


@pytest.mark.parametrize("value", ["FOO", "0", "65", ""])
def test_stop_signal_invalid(value: str) -> None:
    with pytest.raises(InvalidArgumentError, match=STOP_SIGNAL_ANNOTATION):
        stop_signal({"annotations": {STOP_SIGNAL_ANNOTATION: value}})
