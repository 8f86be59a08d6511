"""Faults stay inside their plugin: broken runtime plugins, each a real installed distribution.

A module fixture builds one wheel per broken plugin (a subclass of the mock that overrides ONE
method, or a module that cannot import) and pip-installs them all with `--target` into a
directory of this worker's own that only these tests' ocimux processes see on PYTHONPATH (as
`test_hooks_example.py` does). The wheels are written directly (a zip with its dist-info):
building eight projects through setuptools in pip's isolated build environments takes over a
minute here, installing eight wheels a second. Each test then checks that the healthy
runtimes (the mock; crun under conmon, as root) work beside them: `run --rm`, `ps -a`,
`inspect`, `rm -f`, `runtimes`; that every failure of a broken one is ONE line naming the
runtime, the distribution and, for an exception of the plugin's, `file:line` of the raise,
with exit 125; and that `--debug` (or OCIMUX_DEBUG=1) adds the original traceback.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Runner
from tests.integration.conftest import one_line, runtime_params
from tests.plugin_dists import pip, with_site


@dataclass(frozen=True)
class Broken:
    """One broken plugin: its runtime name, distribution, module and source."""

    name: str
    dist: str
    source: str

    @property
    def module(self) -> str:
        return self.dist.replace("-", "_")

    @property
    def entry_point(self) -> str:
        return f"{self.module}:{self.cls}"

    @property
    def cls(self) -> str:
        return "".join(part.capitalize() for part in self.name.split("-")) + "Runtime"

    def raise_line(self) -> int:
        """The line of the module that raises (1-based)."""
        lines = self.source.splitlines()
        return next(i for i, line in enumerate(lines, 1) if line.strip().startswith("raise "))


def _mock_subclass(name: str, body: str, imports: str = "") -> str:
    cls = "".join(part.capitalize() for part in name.split("-")) + "Runtime"
    return (
        f"{imports}from ocimux.plugins.mock import MockRuntime\n\n\n"
        f"class {cls}(MockRuntime):\n"
        "    capabilities = MockRuntime.capabilities\n\n"
        f"{body}"
    )


# Each overrides ONE method of the mock, by its name in runtime interface v1.
PLUGINS = {
    b.name: b
    for b in (
        Broken(
            "broken-state",
            "ocimux-broken-state",
            _mock_subclass(
                "broken-state",
                "    def state(self, cid, exec_id=None):\n"
                '        raise RuntimeError("state is broken on purpose")\n',
            ),
        ),
        Broken(
            "broken-create",
            "ocimux-broken-create",
            _mock_subclass(
                "broken-create",
                "    def create(self, request):\n"
                '        raise KeyError("create is broken on purpose")\n',
            ),
        ),
        Broken(
            "broken-kill",
            "ocimux-broken-kill",
            _mock_subclass(
                "broken-kill",
                "    def kill(self, cid, signal, *, all_procs=False, exec_id=None):\n"
                '        raise ValueError("kill is broken on purpose")\n',
            ),
        ),
        Broken(
            "broken-abstract",
            "ocimux-broken-abstract",
            _mock_subclass(
                "broken-abstract",
                "    @abstractmethod\n"
                "    def state(self, cid, exec_id=None):\n"
                '        """Left abstract: a plugin that forgot to implement it."""\n',
                imports="from abc import abstractmethod\n\n",
            ),
        ),
        Broken(
            "broken-init",
            "ocimux-broken-init",
            _mock_subclass(
                "broken-init",
                "    def __init__(self, context):\n"
                '        raise OSError("the constructor is broken on purpose")\n',
            ),
        ),
        Broken(
            "broken-version",
            "ocimux-broken-version",
            _mock_subclass("broken-version", "    api_version = 2\n"),
        ),
        Broken(
            "broken-import",
            "ocimux-broken-import",
            "import nonexistent_dependency_for_ocimux_tests  # noqa: F401\n\n"
            + _mock_subclass("broken-import", "    pass\n"),
        ),
        # a sound plugin that declares terminal false; the configuration asks for it anyway
        Broken(
            "noterm",
            "ocimux-noterm",
            "from dataclasses import replace\n\n"
            "from ocimux.interface.capabilities import Capability\n"
            + _mock_subclass(
                "noterm",
                "",
            ).replace(
                "    capabilities = MockRuntime.capabilities\n",
                "    capabilities = replace(\n"
                "        MockRuntime.capabilities,\n"
                '        terminal=Capability(False, "declared", "this plugin has no pseudo-terminals"),\n'
                "    )\n",
            ),
        ),
    )
}

CONF_EXTRA = "\n[ocimux.capabilities.noterm]\nterminal = true\n"


def _wheel(directory: Path, plugin: Broken) -> Path:
    """A pure-Python wheel of `plugin`: its module and dist-info (METADATA, WHEEL, entry
    points, RECORD), as a build backend would write it."""
    info = f"{plugin.module}-1.0.dist-info"
    files = {
        f"{plugin.module}.py": plugin.source.encode(),
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {plugin.dist}\nVersion: 1.0\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: ocimux-tests\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
        f"{info}/entry_points.txt": (
            f"[ocimux.runtimes]\n{plugin.name} = {plugin.entry_point}\n".encode()
        ),
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    files[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    wheel = directory / f"{plugin.module}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return wheel


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every broken plugin pip-installed (one pip call) into a directory of this worker's own."""
    work = tmp_path_factory.mktemp("broken-dists")
    wheels = [str(_wheel(work, p)) for p in PLUGINS.values()]
    target = work / "pip-target"
    pip("install", "--no-deps", "--no-index", "-q", "--target", str(target), *wheels)
    for plugin in PLUGINS.values():
        assert (target / f"{plugin.module}.py").is_file(), f"{plugin.dist} was not installed"
    return target


@pytest.fixture
def ocimux_env(
    ocimux_env: dict[str, str], site: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The isolated environment, the broken plugins on PYTHONPATH, terminal forced on noterm."""
    env = with_site(ocimux_env, site)
    monkeypatch.setenv("PYTHONPATH", env["PYTHONPATH"])
    conf = Path(env["CONTAINERS_CONF"])
    conf.write_text(conf.read_text() + CONF_EXTRA)
    return env


@pytest.fixture(params=[pytest.param("mock", id="mock"), *runtime_params(("crun",))])
def healthy(request: pytest.FixtureRequest, rootfs: Path) -> tuple[str, Path]:
    """A runtime that must keep working beside the broken ones, and a rootfs for it."""
    name = str(request.param)
    if name == "mock":
        return name, rootfs
    if shutil.which("conmon") is None:
        pytest.skip("conmon not on PATH (apt install conmon)")
    return name, request.getfixturevalue("busybox_rootfs")


def _plugin_file(site: Path, plugin: Broken) -> str:
    return f"{site / plugin.module}.py:{plugin.raise_line()}"


def _new(runtime: str, rootfs: Path, *cmd: str, flags: tuple[str, ...] = ()) -> list[str]:
    return [*flags, "--runtime", runtime, "--rootfs", str(rootfs), "--", *cmd]


def _runtimes(ocimux: Runner) -> dict[str, dict]:
    done = ocimux("runtimes", "--format", "json")
    assert done.returncode == 0, done.stderr
    return {r["name"]: r for r in json.loads(done.stdout)}


def _ps(ocimux: Runner) -> dict[str, dict]:
    done = ocimux("ps", "-a", "--format", "json")
    assert done.returncode == 0, done.stderr
    return {r["name"]: r for r in json.loads(done.stdout)}


def _fault_line(stderr: str, plugin: Broken, site: Path) -> str:
    """The one error line of a plugin's fault, checked for what it must name."""
    line = one_line(stderr)
    assert line.startswith("Error: "), line
    assert plugin.name in line and f"{plugin.dist} 1.0" in line, line
    assert _plugin_file(site, plugin) in line, line
    return line


def test_runtimes_lists_each_broken_plugin_with_the_fix_and_exits_0(
    ocimux: Runner, site: Path
) -> None:
    reports = _runtimes(ocimux)
    assert reports["mock"]["status"] == "ok"
    expected = {
        "broken-abstract": ("does not implement state", "implement it"),
        "broken-init": ("OSError: the constructor is broken on purpose", "uninstall"),
        "broken-version": (
            "targets ocimux runtime API version 2; this ocimux supports version 1",
            "upgrade ocimux",
        ),
        "broken-import": ("nonexistent_dependency_for_ocimux_tests", "fix or uninstall"),
    }
    for name, (what, fix) in expected.items():
        plugin, report = PLUGINS[name], reports[name]
        assert report["status"] == "broken", report
        assert report["distribution"] == f"{plugin.dist} 1.0", report
        assert report["entry_point"] == plugin.entry_point, report
        assert what in report["error"] and fix in report["error"], report
        assert plugin.dist in report["error"], report  # the fix names what to reinstall
    assert _plugin_file(site, PLUGINS["broken-init"]) in reports["broken-init"]["error"]
    # a plugin that only fails when called lists normally
    for name in ("broken-state", "broken-create", "broken-kill", "noterm"):
        assert reports[name]["status"] == "ok", reports[name]
    # the configuration cannot force on what the plugin declares false
    terminal = reports["noterm"]["capabilities"]["terminal"]
    assert (terminal["value"], terminal["source"]) == (False, "declared"), terminal
    assert "[ocimux.capabilities.noterm] sets terminal = true" in terminal["reason"], terminal
    assert "refused" in terminal["reason"] and "no pseudo-terminals" in terminal["reason"]
    assert reports["mock"]["capabilities"]["terminal"]["value"] is True

    table = ocimux("runtimes")
    assert table.returncode == 0, table.stderr
    for name in expected:
        broken_line = next(ln for ln in table.stdout.splitlines() if ln.startswith(f"{name}: "))
        assert "broken" in broken_line and f"from {PLUGINS[name].dist} 1.0" in broken_line


@pytest.mark.parametrize(
    "name", ["broken-abstract", "broken-init", "broken-version", "broken-import"]
)
def test_a_plugin_that_cannot_be_built_fails_its_own_run_in_one_line(
    ocimux: Runner, rootfs: Path, name: str
) -> None:
    plugin = PLUGINS[name]
    done = ocimux("run", "--rm", *_new(name, rootfs, "true"))
    assert done.returncode == 125
    line = one_line(done.stderr)
    assert name in line and f"{plugin.dist} 1.0" in line, line
    assert _ps(ocimux) == {}


def test_healthy_runtimes_work_beside_broken_ones(
    ocimux: Runner, site: Path, rootfs: Path, healthy: tuple[str, Path]
) -> None:
    runtime, healthy_rootfs = healthy
    # containers of the plugins that fail only when called: created before they fail
    ocimux("create", "--name", "st", *_new("broken-state", rootfs, "sleep", "30"), check=True)
    ocimux("run", "-d", "--name", "kl", *_new("broken-kill", rootfs, "sleep", "30"), check=True)
    ocimux("run", "-d", "--name", "good", *_new(runtime, healthy_rootfs, "sleep", "30"), check=True)

    done = ocimux("run", "--rm", *_new(runtime, healthy_rootfs, "sh", "-c", "echo fine; exit 3"))
    assert (done.stdout, done.returncode) == ("fine\n", 3), done.stderr

    listed = _ps(ocimux)
    assert set(listed) == {"st", "kl", "good"}
    assert listed["good"]["status"] == "running", listed["good"]
    assert listed["kl"]["status"] == "running", listed["kl"]
    st = listed["st"]
    assert st["status"] == "unknown", st
    assert "ocimux-broken-state 1.0" in st["status_reason"], st
    assert _plugin_file(site, PLUGINS["broken-state"]) in st["status_reason"], st
    table = ocimux("ps", "-a")
    assert table.returncode == 0 and "good" in table.stdout and "Unknown (" in table.stdout

    done = ocimux("inspect", "st", "good")
    assert done.returncode == 0, done.stderr
    records = {r["name"]: r for r in json.loads(done.stdout)}
    assert records["st"]["status"] == "unknown" and records["good"]["status"] == "running"

    assert _runtimes(ocimux)[runtime]["status"] == "ok"

    # each broken one: one line, 125; the healthy one is untouched
    done = ocimux("start", "st")
    assert done.returncode == 125
    line = _fault_line(done.stderr, PLUGINS["broken-state"], site)
    assert "start st on broken-state" in line and "in state()" in line, line
    done = ocimux("kill", "kl")
    assert done.returncode == 125
    line = _fault_line(done.stderr, PLUGINS["broken-kill"], site)
    assert "kill kl on broken-kill" in line and "ValueError: kill is broken on purpose" in line
    assert _ps(ocimux)["good"]["status"] == "running"

    # rm -f removes them without their runtime, with a warning; the healthy one normally
    for name in ("st", "kl"):
        done = ocimux("rm", "-f", name, timeout=60)
        assert (done.returncode, done.stdout) == (0, f"{name}\n"), done.stderr
        warning = one_line(done.stderr)
        assert warning.startswith("ocimux: warning: removing container") and name in warning
    done = ocimux("rm", "-f", "-t", "0", "good", timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "good\n", "")
    assert _ps(ocimux) == {}


def test_a_create_that_raises_is_one_line_and_leaves_nothing(
    ocimux: Runner, site: Path, rootfs: Path
) -> None:
    plugin = PLUGINS["broken-create"]
    done = ocimux("run", "--rm", "--name", "cr", *_new(plugin.name, rootfs, "true"))
    assert done.returncode == 125
    line = _fault_line(done.stderr, plugin, site)
    assert "create cr on broken-create" in line and "KeyError" in line, line
    assert "Traceback" not in done.stderr
    assert _ps(ocimux) == {}


def test_debug_prints_the_plugins_traceback_before_the_line(
    ocimux: Runner, site: Path, rootfs: Path
) -> None:
    plugin = PLUGINS["broken-create"]
    done = ocimux("--debug", "run", "--rm", *_new(plugin.name, rootfs, "true"))
    assert done.returncode == 125
    lines = done.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):", done.stderr
    raise_at = f'File "{site / plugin.module}.py", line {plugin.raise_line()}, in create'
    assert raise_at in done.stderr, done.stderr
    assert "KeyError: 'create is broken on purpose'" in done.stderr
    assert "PluginFaultError" in done.stderr  # the chain: the original, then what it became
    assert lines[-1].startswith("Error: create ") and _plugin_file(site, plugin) in lines[-1]

    # the variable does the same, for a command that reports each container on its own line
    kill = PLUGINS["broken-kill"]
    ocimux("run", "-d", "--name", "kl", *_new(kill.name, rootfs, "sleep", "30"), check=True)
    done = ocimux("kill", "kl", env={"OCIMUX_DEBUG": "1"})
    assert done.returncode == 125
    assert f'File "{site / kill.module}.py", line {kill.raise_line()}, in kill' in done.stderr
    assert done.stderr.splitlines()[-1].startswith("Error: kill kl on broken-kill")
    done = ocimux("kill", "kl", env={"OCIMUX_DEBUG": "0"})
    assert done.returncode == 125 and "Traceback" not in done.stderr
    assert ocimux("rm", "-f", "kl", timeout=60).returncode == 0


def test_a_capability_the_plugin_declares_false_stays_off_whatever_the_config(
    ocimux: Runner, rootfs: Path
) -> None:
    done = ocimux("run", "--rm", "-t", *_new("noterm", rootfs, "true"))
    assert done.returncode == 125
    line = one_line(done.stderr)
    assert "noterm" in line and "terminal" in line and "refused" in line, line
    assert "[ocimux.capabilities.noterm]" in line and "no pseudo-terminals" in line, line
    assert _ps(ocimux) == {}
    done = ocimux("run", "--rm", *_new("noterm", rootfs, "echo", "no tty needed"))
    assert (done.stdout, done.returncode) == ("no tty needed\n", 0), done.stderr
