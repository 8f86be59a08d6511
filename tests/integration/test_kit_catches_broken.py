"""The conformance kit fails plugins that break the contract, saying what is wrong.

A runtime author found the first kit passing plugins that ignored stdin, never wrote the log
or kept container state in memory. Here each of those is a deliberately broken copy of the
mock (a subclass overriding as little as possible), shipped as a real distribution of its
own: pip-installed with `--target` into this worker's directory, reaching only the kit's
processes on PYTHONPATH. The kit runs on each, as an author runs it, and must fail with a
line that names the fault; on an unbroken copy (the control) it must pass.

The four kit runs go in parallel: they wait on containers far more than they compute.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conformance.kitrun import assert_passed, failed_tests, kit_argv, kit_env
from tests.plugin_dists import install_target, with_site

STDIN_IGNORED = '''
"""Broken on purpose: the container never gets the stdin it was created with (`-i`)."""

import dataclasses

from ocimux.plugins.mock import MockRuntime


class StdinIgnoredRuntime(MockRuntime):
    capabilities = MockRuntime.capabilities

    def create(self, request):
        # the fault: stdin is dropped, the container reads /dev/null
        io = dataclasses.replace(request.io, stdin=False)
        return super().create(dataclasses.replace(request, io=io))
'''

LOG_NOT_WRITTEN = '''
"""Broken on purpose: nothing ever appears in the log at `request.io.log`.

Its monitor opens the log at create; the file is then unlinked, so the monitor writes to a
file nobody can find (as a monitor writing to a path of its own choosing would).
"""

from ocimux.plugins.mock import MockRuntime


class LogNotWrittenRuntime(MockRuntime):
    capabilities = MockRuntime.capabilities

    def create(self, request):
        result = super().create(request)
        request.io.log.unlink(missing_ok=True)  # the fault
        return result
'''

PID_IN_MEMORY = '''
"""Broken on purpose: the container's pid lives in a dict on the instance, not in files.

The instance that created a container can signal it; any other (another Dispatcher, the
next `ocimux` command) cannot.
"""

import os

from ocimux.base.errors import RuntimeCommandError
from ocimux.plugins.mock import MockRuntime


class PidInMemoryRuntime(MockRuntime):
    capabilities = MockRuntime.capabilities

    def __init__(self, context):
        super().__init__(context)
        self._pids = {}  # the fault: state that dies with this instance

    def create(self, request):
        result = super().create(request)
        self._pids[request.cid] = result.pid
        return result

    def kill(self, cid, signal, *, all_procs=False, exec_id=None):
        if exec_id is not None or all_procs:
            return super().kill(cid, signal, all_procs=all_procs, exec_id=exec_id)
        pid = self._pids.get(cid)
        if pid is None:
            raise RuntimeCommandError(
                "container is not running", container=cid, runtime=self.name, verb="kill"
            )
        os.kill(pid, signal)
'''

CONTROL = '''
"""The mock under another name from another distribution: nothing broken."""

from ocimux.plugins.mock import MockRuntime


class ControlRuntime(MockRuntime):
    capabilities = MockRuntime.capabilities
'''


@dataclass(frozen=True)
class Copy:
    """One copy of the mock: its runtime (entry-point) name, module source and class."""

    name: str
    source: str
    cls: str
    #: tests that must fail, and a line the kit's output must hold, for a broken copy
    fails: frozenset[str] = frozenset()
    says: tuple[str, ...] = ()

    @property
    def module(self) -> str:
        return "ocimux_" + self.name.replace("-", "_")


BROKEN = [
    Copy(
        "kit-broken-stdin",
        STDIN_IGNORED,
        "StdinIgnoredRuntime",
        frozenset({"test_stdin_reaches_the_container"}),
        ("stdin sent to the container never reached it",),
    ),
    Copy(
        "kit-broken-log",
        LOG_NOT_WRITTEN,
        "LogNotWrittenRuntime",
        frozenset({"test_log_holds_the_output_after_exit"}),
        ("the log has no output",),
    ),
    Copy(
        "kit-broken-pid",
        PID_IN_MEMORY,
        "PidInMemoryRuntime",
        frozenset({"test_sigkill_gives_137", "test_second_process_drives_the_container"}),
        (
            "a second Dispatcher does not know the container's pid",
            "a second process does not know the container's pid",
        ),
    ),
]
CONTROL_COPY = Copy("kit-control", CONTROL, "ControlRuntime")


def write_distribution(root: Path, copy: Copy) -> Path:
    """A source tree `ocimux-<name>` whose entry point `<name>` names the copy's class."""
    src = root / f"ocimux-{copy.name}"
    src.mkdir(parents=True)
    (src / f"{copy.module}.py").write_text(textwrap.dedent(copy.source).lstrip())
    (src / "pyproject.toml").write_text(
        textwrap.dedent(f"""\
            [build-system]
            requires = ["setuptools>=61"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "ocimux-{copy.name}"
            version = "1.0"
            requires-python = ">=3.11"

            [project.entry-points."ocimux.runtimes"]
            {copy.name} = "{copy.module}:{copy.cls}"

            [tool.setuptools]
            py-modules = ["{copy.module}"]
            """)
    )
    return src


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The four copies installed (non-editable) into one directory of this worker's."""
    root = tmp_path_factory.mktemp("kit-copies")
    target = root / "pip-target"
    for copy in [*BROKEN, CONTROL_COPY]:
        installed = install_target(write_distribution(root / "src", copy), root)
        assert installed == target
    return target


@pytest.fixture(scope="module")
def kit_runs(
    site: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, subprocess.CompletedProcess[str]]:
    """The kit's output on each copy (run in parallel), by runtime name; checks the control."""
    env = kit_env(with_site(os.environ, site))
    procs = {}
    for copy in [*BROKEN, CONTROL_COPY]:
        cwd = tmp_path_factory.mktemp(copy.name)
        procs[copy.name] = subprocess.Popen(
            kit_argv(copy.name),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    done = {}
    for name, proc in procs.items():
        out, _ = proc.communicate(timeout=420)
        done[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out, "")
    return done


@pytest.mark.timeout(600)
def test_kit_passes_on_the_unbroken_copy(
    kit_runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    # the packaging is not what the broken copies fail on: the same mock passes
    assert_passed(kit_runs[CONTROL_COPY.name], CONTROL_COPY.name, {"test_update_resources"})


@pytest.mark.timeout(600)
@pytest.mark.parametrize("copy", BROKEN, ids=[c.name for c in BROKEN])
def test_kit_fails_the_broken_copy_saying_why(
    copy: Copy, kit_runs: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    done = kit_runs[copy.name]
    assert done.returncode == 1, f"the kit passed {copy.name}:\n{done.stdout}"
    failed = failed_tests(done)
    assert copy.fails <= failed, f"{copy.name}: expected {copy.fails} to fail, got {failed}"
    for line in copy.says:
        assert line in done.stdout, f"{copy.name}: no {line!r} in the kit's output:\n{done.stdout}"
