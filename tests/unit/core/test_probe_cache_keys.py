"""ocimux.interface.probes: a probe's cached answer is keyed by what it declares it depends on (files it
stats, values it computes), so a change there is seen on the very next call. No process runs:
the probes here are plain functions that count their calls."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from ocimux.interface.capabilities import Capability
from ocimux.interface.probes import ProbeInputs, euid, kernel_release, on_path, probe, probe_cached
from ocimux.oci.probes import probe_checkpoint


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("OCIMUX_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("OCIMUX_CACHE_DIR", str(tmp_path / "cache"))


def _runtime(tmp_path: Path, *probes: Callable[..., Any]) -> Any:
    """An object shaped like a Runtime as probe_cached sees it, with a fake binary."""
    binary = tmp_path / "fake-runtime"
    if not binary.exists():
        binary.write_bytes(b"v1")

    class Fake:
        probes: ClassVar[tuple[Callable[..., Any], ...]] = ()
        probe_failures: ClassVar[list[str]] = []

    Fake.probes = probes
    rt = Fake()
    rt.path = str(binary)  # type: ignore[attr-defined]
    rt.context = SimpleNamespace(flags=(), options={}, command_timeout=5)  # type: ignore[attr-defined]
    return rt


class Counter:
    """A probe that answers `kvm` and counts how often it really ran."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, runtime: Any) -> list[tuple[str, Capability]]:
        self.calls += 1
        return [("kvm", Capability(True, "probed", f"run {self.calls}"))]


def _counting(**inputs: Any) -> Counter:
    counter = Counter()
    counter.__module__ = __name__
    counter.__qualname__ = "counter"  # type: ignore[attr-defined]
    if inputs:
        probe(**inputs)(counter)
    return counter


def _cache_keys(tmp_path: Path) -> list[str]:
    files = list((tmp_path / "cache").glob("probes-*.json"))
    return list(json.loads(files[0].read_text())) if files else []


def test_the_decorator_returns_the_probe_itself_with_its_inputs():
    def probe_x(runtime: Any) -> list[tuple[str, Capability]]:
        return []

    marked = probe(files=["/bin/sh"], values=[euid])(probe_x)
    assert marked is probe_x and marked.__name__ == "probe_x"
    assert marked.cache_keys == ProbeInputs(("/bin/sh",), (euid,))  # type: ignore[attr-defined]


def test_without_inputs_the_answer_is_cached_per_binary(tmp_path: Path):
    counter = _counting()
    rt = _runtime(tmp_path, counter)
    assert probe_cached(rt) == [("kvm", Capability(True, "probed", "run 1"))]
    assert probe_cached(rt)[0][1].reason == "run 1"
    assert counter.calls == 1
    Path(rt.path).write_bytes(b"version 2")  # another size: another binary
    assert probe_cached(rt)[0][1].reason == "run 2"
    assert [key.count("|") for key in _cache_keys(tmp_path)] == [4, 4], "no inputs: the old key"


def test_a_changed_named_file_is_seen_on_the_next_call(tmp_path: Path):
    helper = tmp_path / "nsenter"
    helper.write_bytes(b"one")
    counter = _counting(files=[helper])
    rt = _runtime(tmp_path, counter)
    probe_cached(rt)
    probe_cached(rt)
    assert counter.calls == 1
    helper.write_bytes(b"other size")
    probe_cached(rt)
    assert counter.calls == 2
    os.utime(helper, ns=(5_000_000_000, 5_000_000_000))  # same size, another mtime
    probe_cached(rt)
    assert counter.calls == 3
    helper.unlink()
    probe_cached(rt)
    probe_cached(rt)
    assert counter.calls == 4, "a file that went away is a change, then cached as absent"


def test_a_file_input_may_be_a_function_of_the_runtime(tmp_path: Path):
    chosen: dict[str, Path | None] = {"path": None}
    counter = _counting(files=[lambda runtime: chosen["path"]])
    rt = _runtime(tmp_path, counter)
    probe_cached(rt)
    probe_cached(rt)
    assert counter.calls == 1
    tool = tmp_path / "criu"
    tool.write_bytes(b"x")
    chosen["path"] = tool  # installed now
    probe_cached(rt)
    assert counter.calls == 2


def test_a_changed_named_value_is_seen_and_an_old_value_hits_its_old_entry(tmp_path: Path):
    uid = {"value": "0"}
    counter = _counting(values=[lambda runtime: uid["value"]])
    rt = _runtime(tmp_path, counter)
    assert probe_cached(rt)[0][1].reason == "run 1"
    uid["value"] = "1000"
    assert probe_cached(rt)[0][1].reason == "run 2"
    uid["value"] = "0"
    assert probe_cached(rt)[0][1].reason == "run 1"
    assert counter.calls == 2


def test_a_value_input_that_raises_is_part_of_the_key_not_a_failure(tmp_path: Path):
    def broken(runtime: Any) -> str:
        raise ValueError("no")

    counter = _counting(values=[broken])
    rt = _runtime(tmp_path, counter)
    assert probe_cached(rt)[0][1].value is True
    probe_cached(rt)
    assert counter.calls == 1
    assert any("!ValueError" in key for key in _cache_keys(tmp_path))


def test_on_path_follows_path_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    monkeypatch.setenv("PATH", str(bindir))
    find = on_path("nsenter-test")
    assert find(None) is None  # type: ignore[arg-type]
    counter = _counting(files=[find])
    rt = _runtime(tmp_path, counter)
    probe_cached(rt)
    tool = bindir / "nsenter-test"
    tool.write_bytes(b"#!/bin/sh\n")
    tool.chmod(0o755)
    assert find(None) == str(tool)  # type: ignore[arg-type]
    probe_cached(rt)
    assert counter.calls == 2


def test_the_ready_made_values():
    assert euid(None) == str(os.geteuid())  # type: ignore[arg-type]
    assert kernel_release(None) == os.uname().release  # type: ignore[arg-type]


def test_inputs_of_several_probes_all_count(tmp_path: Path):
    first, second = _counting(values=[lambda runtime: "a"]), Counter()
    second.__module__, second.__qualname__ = __name__, "second"  # type: ignore[attr-defined]
    flag = tmp_path / "flag"
    probe(files=[flag])(second)
    rt = _runtime(tmp_path, first, second)
    probe_cached(rt)
    flag.write_bytes(b"x")
    probe_cached(rt)
    assert (first.calls, second.calls) == (2, 2)


def test_the_shared_checkpoint_probe_names_criu_and_the_kernel():
    inputs = probe_checkpoint.cache_keys  # type: ignore[attr-defined]
    assert kernel_release in inputs.values
    (criu,) = inputs.files
    fake = SimpleNamespace(context=SimpleNamespace(options={"criu_path": "/opt/criu"}))
    assert criu(fake) == "/opt/criu"
