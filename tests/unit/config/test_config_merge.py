"""containers.conf merge rules: scalars, tables per key, arrays replaced or appended."""

from __future__ import annotations

import copy

from ocimux.config.builtins import BUILTIN_ARRAYS
from ocimux.config.merge import Merger, is_append_marker, merge, strip_markers

APPEND = {"append": True}
NO_APPEND = {"append": False}


def test_scalars_last_wins() -> None:
    assert merge([{"engine": {"runtime": "a"}}, {"engine": {"runtime": "b"}}]) == {
        "engine": {"runtime": "b"}
    }


def test_tables_merge_per_key_recursively() -> None:
    first = {"engine": {"runtime": "a", "runtimes": {"a": ["/a"], "b": ["/b1", "/b2"]}}}
    second = {"engine": {"runtimes": {"b": ["/b3"], "c": ["/c"]}}}
    assert merge([first, second]) == {
        "engine": {"runtime": "a", "runtimes": {"a": ["/a"], "b": ["/b3"], "c": ["/c"]}}
    }


def test_arrays_replace() -> None:
    assert merge([{"x": ["a", "b"]}, {"x": ["c"]}]) == {"x": ["c"]}


def test_append_marker_appends_and_is_stripped() -> None:
    assert merge([{"x": ["a"]}, {"x": ["b", APPEND]}]) == {"x": ["a", "b"]}
    assert merge([{"x": ["a"]}, {"x": [APPEND, "b"]}]) == {"x": ["a", "b"]}


def test_append_in_first_file_starts_from_nothing() -> None:
    assert merge([{"x": ["a", APPEND]}]) == {"x": ["a"]}


def test_append_persists_for_later_files_until_false() -> None:
    layers = [
        {"x": ["a"]},
        {"x": ["b", APPEND]},
        {"x": ["c"]},  # still appending (podman's attribute survives between files)
        {"x": ["d", NO_APPEND]},  # replaces, and stops appending
        {"x": ["e"]},
    ]
    assert merge(layers[:3]) == {"x": ["a", "b", "c"]}
    assert merge(layers[:4]) == {"x": ["d"]}
    assert merge(layers) == {"x": ["e"]}


def test_append_mode_is_per_key_path() -> None:
    layers = [
        {"engine": {"x": ["a"], "y": ["a"]}},
        {"engine": {"x": ["b", APPEND]}},
        {"engine": {"x": ["c"], "y": ["c"]}},
    ]
    assert merge(layers) == {"engine": {"x": ["a", "b", "c"], "y": ["c"]}}


def test_append_registered_inside_a_new_table() -> None:
    layers = [{"engine": {"x": ["a", APPEND]}}, {"engine": {"x": ["b"]}}]
    assert merge(layers) == {"engine": {"x": ["a", "b"]}}


def test_last_marker_in_an_array_decides() -> None:
    assert merge([{"x": ["a"]}, {"x": ["b", APPEND, NO_APPEND]}]) == {"x": ["b"]}
    assert merge([{"x": ["a"]}, {"x": ["b", NO_APPEND, APPEND]}]) == {"x": ["a", "b"]}


def test_table_replaces_scalar_and_scalar_replaces_table() -> None:
    assert merge([{"x": 1}, {"x": {"y": 2}}]) == {"x": {"y": 2}}
    assert merge([{"x": {"y": 2}}, {"x": 1}]) == {"x": 1}


def test_inputs_are_not_mutated_and_result_is_a_copy() -> None:
    first = {"engine": {"runtimes": {"a": ["/a"]}, "x": ["a", APPEND]}}
    second = {"engine": {"runtimes": {"b": ["/b"]}, "x": ["b"]}}
    saved = copy.deepcopy([first, second])
    merger = Merger()
    merger.add(first)
    merger.add(second)
    result = merger.result
    assert [first, second] == saved
    result["engine"]["runtimes"]["z"] = []
    assert "z" not in merger.result["engine"]["runtimes"]


def test_arrays_of_tables_are_kept_and_markers_only_match_append() -> None:
    pools = [{"base": "10.89.0.0/16", "size": 24}]
    assert merge([{"network": {"pools": pools}}]) == {"network": {"pools": pools}}
    assert not is_append_marker({"append": True, "other": 1})
    assert not is_append_marker({"append": "yes"})
    assert is_append_marker({"append": False})


def test_strip_markers_is_deep() -> None:
    assert strip_markers({"a": [APPEND, {"b": ["c", NO_APPEND]}]}) == {"a": [{"b": ["c"]}]}


def test_append_before_any_file_set_the_key_extends_podmans_builtin() -> None:
    """podman decodes each file into a config holding its defaults, so the first append extends
    them: `["myrt", {append = true}]` is podman's list plus myrt, not just myrt."""
    out = merge([{"engine": {"runtime_supports_json": ["myrt", APPEND]}}])
    assert out["engine"]["runtime_supports_json"] == [
        *BUILTIN_ARRAYS[("engine", "runtime_supports_json")],
        "myrt",
    ]
    assert {"crun", "runc"} <= set(out["engine"]["runtime_supports_json"])


def test_a_builtin_shows_only_through_an_append() -> None:
    """A plain list replaces the built-in; a key no file sets stays unset (plugins decide)."""
    assert merge([{"engine": {"conmon_path": ["/c"]}}])["engine"]["conmon_path"] == ["/c"]
    assert "runtime_supports_json" not in merge([{"engine": {"runtime": "crun"}}])["engine"]
    appended = merge([{"engine": {"conmon_path": ["/c", APPEND]}}])["engine"]["conmon_path"]
    assert appended == [*BUILTIN_ARRAYS[("engine", "conmon_path")], "/c"]
