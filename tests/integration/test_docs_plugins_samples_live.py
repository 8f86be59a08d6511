"""The checks of docs/plugins.md's samples that start a process (the rest start none:
tests/unit/core/test_docs_plugins_samples.py, whose extraction and checks this module uses).

- a sample whose top level runs a command (the `ocimux.base.process` building block) runs as it is;
- a probe that runs the runtime's binary runs against a fake binary printing what the real
  one would (`BINARY_PROBES`), and gives the answers expected of that output;
- the kestrel sample's own verbs run its words (`freeze`, `thaw`) on a fake kestrel;
- a sample that is a test (§8) passes, with the kestrel sample as the project it tests.
"""

from __future__ import annotations

import inspect
import re
import shlex
from pathlib import Path

import pytest

from tests.unit.core.test_docs_plugins_samples import (
    BINARY_PROBES,
    Block,
    check_probe_answers,
    fake_runtime,
    ids,
    load_sample,
    module_name,
    of_kind,
    own_functions,
    sample_context,
    sample_named,
    sample_sandbox,
    starts_a_process_when_run,
)

PROCESS_SAMPLES = [b for b in of_kind("python") if starts_a_process_when_run(b)]
TEST_SAMPLES = [b for b in of_kind("python") if re.search(r"^def test_", b.text, re.MULTILINE)]


def fake_binary(path: Path, output: str) -> Path:
    """An executable that records each call's arguments (one per line, then `--`) and prints
    `output`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "#!/bin/sh\n"
        f"printf '%s\\n' \"$@\" -- >> {shlex.quote(str(path))}.calls\n"
        f"printf '%s' {shlex.quote(output)}\n"
    )
    path.chmod(0o755)
    return path


def calls(binary: Path) -> list[list[str]]:
    text = Path(f"{binary}.calls").read_text()
    return [call.strip("\n").split("\n") for call in text.split("--\n") if call.strip()]


def test_the_samples_are_found() -> None:
    assert PROCESS_SAMPLES, "no sample starts a process: is the extraction broken?"
    assert TEST_SAMPLES, "no sample is a test: is the extraction broken?"


@pytest.mark.parametrize("block", PROCESS_SAMPLES, ids=ids(PROCESS_SAMPLES))
def test_a_sample_that_starts_a_process_runs(
    block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with sample_sandbox(tmp_path, monkeypatch):
        load_sample(block, monkeypatch)  # its own asserts are its checks


@pytest.mark.parametrize(
    ("probe", "output", "expected"),
    [
        pytest.param(probe, output, expected, id=f"{probe}-{case}")
        for probe, cases in BINARY_PROBES.items()
        for case, (output, expected) in cases.items()
    ],
)
def test_a_probe_that_runs_the_binary_answers_from_its_output(
    probe: str,
    output: str,
    expected: dict[str, bool],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module, _, name = probe.rpartition(".")
    with sample_sandbox(tmp_path, monkeypatch):
        function = own_functions(load_sample(sample_named(module), monkeypatch))[name]
    binary = fake_binary(tmp_path / "bin" / "fake-runtime", output)
    answers = list(function(fake_runtime(tmp_path, path=str(binary))))
    check_probe_answers(answers, probe)
    assert {n: bool(c) for n, c in answers} == expected
    assert len(calls(binary)) == 1


def test_the_kestrel_sample_pauses_with_freeze_and_resumes_with_thaw(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with sample_sandbox(tmp_path, monkeypatch):
        cls = load_sample(sample_named("ocimux_kestrel"), monkeypatch).KestrelRuntime
    binary = fake_binary(tmp_path / "bin" / "kestrel", "")
    runtime = cls(sample_context(cls, tmp_path, path=str(binary)))
    runtime.pause("c1")
    runtime.resume("c1")
    root = str(runtime.context.state_dir)
    log = str(runtime.oci_log("c1"))
    assert calls(binary) == [
        ["--root", root, "--sandbox=strict", "--log", log, "--log-format=json", verb, "c1"]
        for verb in ("freeze", "thaw")
    ]


def project_sources(block: Block, tests_dir: Path) -> None:
    """The project a test sample tests, in a src layout beside `tests_dir`: each sample of the
    same doc whose module the test names as a string (its source file is a placeholder)."""
    samples = {module_name(b): b for b in of_kind("python") if b.doc == block.doc}
    named = [name for name in samples if f'"{name}"' in block.text]
    assert named, f"{block.id} names no module of {block.doc}'s samples"
    for name in named:
        package = tests_dir.parent / "src" / name
        package.mkdir(parents=True)
        (package / "__init__.py").write_text(samples[name].text)


@pytest.mark.parametrize("block", TEST_SAMPLES, ids=ids(TEST_SAMPLES))
def test_a_sample_that_is_a_test_passes(
    block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tests_dir = tmp_path / "project" / "tests"
    tests_dir.mkdir(parents=True)
    project_sources(block, tests_dir)
    with sample_sandbox(tmp_path, monkeypatch):
        module = load_sample(block, monkeypatch, file=tests_dir / "test_plugin.py")
    tests = {n: f for n, f in own_functions(module).items() if n.startswith("test_")}
    assert tests
    for name, test in tests.items():
        params = set(inspect.signature(test).parameters)
        assert params <= {"tmp_path"}, f"{block.id}: {name} wants fixtures {params}"
        where = tmp_path / name
        where.mkdir()
        test(**({"tmp_path": where} if params else {}))
