"""A differential containers.conf suite over a corpus of our own (issue 15, "Done when").

`corpus/` holds small containers.conf files and trees of them, each file headed by a comment
saying what it covers; `corpus/EXPECTED.toml` says what loading each case must give, written
down from containers.conf(5) and containers/common's behaviour (see its header).

- `test_ocimux_loads_each_case_as_expected`: `load_config` in-process on each case (copied to
  tmp, `SYSTEM_DIRS` and HOME pointed into the copy, euid 0) matches the expectations exactly:
  the error (file, line, key, words) or the warnings and every value listed in EXPECTED.toml.
- `test_podman_agrees_on_one_file_cases`: where podman is installed, `podman info` on each
  one-file case (CONTAINERS_CONF=file, vfs storage under a throwaway dir, nothing started)
  against ocimux: both load with the same default runtime name and binary, or both refuse
  (naming the same line and key when podman names them), except the DIVERGENCES listed with
  their reason, which must still diverge as described.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomli
from ocimux.base.errors import ConfigError, OcimuxError
from ocimux.config import Config, load_config, search
from ocimux.engine._discovery import discover
from ocimux.engine._entries import PluginEntry
from ocimux.engine.registry import RUNTIMES_GROUP, Registry

CORPUS = Path(__file__).parent / "corpus"
EXPECTED: dict[str, Any] = tomli.loads((CORPUS / "EXPECTED.toml").read_text(encoding="utf-8"))
DEFAULTS: dict[str, Any] = EXPECTED["defaults"]

#: $PATH for both sides of the podman comparison (a runtime's name is looked up in it)
SEARCH_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PODMAN_FORMAT = "{{.Host.OCIRuntime.Name}} {{.Host.OCIRuntime.Path}}"
PODMAN_TIMEOUT = 30
PODMAN_THREADS = 3

_APPEND_REASON = (
    "podman 4.3.1 (containers/common v0.50.1) predates {append = true}: its decoder refuses an "
    "inline table in a string array; ocimux follows containers/common v0.57+, which appends"
)
#: one-file cases where ocimux and Debian's podman 4.3.1 deliberately differ: case -> (how they
#: differ, as `disagreement` says it, and why). The test checks each still differs that way.
DIVERGENCES: dict[str, tuple[str, str]] = {
    "cgroup-manager-invalid": (
        "ocimux refuses, podman loads",
        'ocimux refuses cgroup_manager = "foo" when it loads the file (containers.conf(5): '
        "cgroupfs or systemd); podman 4.3.1 loads it and fails only when it creates a container",
    ),
    "append-json-onto-builtins": ("ocimux loads, podman refuses", _APPEND_REASON),
    "append-conmon-onto-builtins": ("ocimux loads, podman refuses", _APPEND_REASON),
    "engine-runtime-absolute-path": (
        "different default runtime",
        "README: the path of the binary a runtime uses names that runtime (crun), where podman "
        "names the runtime by the path; both run /usr/bin/crun",
    ),
    "engine-runtime-other-case": (
        "ocimux loads, podman refuses",
        "README: a name no runtime has matches the one runtime whose name differs only in case "
        "(OCIMUX_ENGINE__RUNTIME=MyRt after OCIMUX_ENGINE__RUNTIMES__MyRt, lower-cased); "
        "podman matches names exactly",
    ),
}


@dataclass(frozen=True)
class Case:
    """One corpus case: `corpus/<name>.conf` (one file) or `corpus/<name>/` (a tree)."""

    name: str
    source: Path
    spec: Mapping[str, Any]

    @property
    def one_file(self) -> bool:
        return self.source.is_file()


def _cases() -> list[Case]:
    found = []
    for entry in sorted(CORPUS.iterdir()):
        if entry.name == "EXPECTED.toml" or entry.name.startswith((".", "__")):
            continue
        name = entry.name.removesuffix(".conf") if entry.is_file() else entry.name
        found.append(Case(name, entry, EXPECTED["case"].get(name, {})))
    return found


CASES = _cases()


def test_every_case_has_expectations_and_every_file_a_header() -> None:
    on_disk = {case.name for case in CASES}
    expected = set(EXPECTED["case"])
    assert on_disk - expected == set(), "corpus entries without an EXPECTED.toml section"
    assert expected - on_disk == set(), "EXPECTED.toml sections without a corpus entry"
    assert len(CASES) >= 40
    headless = [
        str(path.relative_to(CORPUS))
        for path in CORPUS.rglob("*.conf")
        if path.is_file() and not path.read_text(encoding="utf-8").startswith("# ")
    ]
    assert headless == []


# ---- laying a case out ---------------------------------------------------------------------


def lay_out(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, dict[str, str]]:
    """Copy `case` under `tmp_path`; point the search path there; return (root, environ).

    System dirs are `<root>/usr/share/containers` and `<root>/etc/containers`, HOME is
    `<root>/home`; a one-file case is CONTAINERS_CONF; the case's `symlinks` are made, its `env`
    added ("{root}" replaced) and with `chdir` the working directory is the root. The process
    runs as euid 0 for the search path (root's order) and with SEARCH_PATH as $PATH. `environ`
    is the whole environment `load_config` sees: nothing of the caller's.
    """
    root = tmp_path / "case"
    if case.one_file:
        root.mkdir(parents=True)
        shutil.copy2(case.source, root / case.source.name)
    else:
        shutil.copytree(case.source, root, symlinks=True)
    (root / "home").mkdir(exist_ok=True)
    for link, target in case.spec.get("symlinks", {}).items():
        (root / link).symlink_to(root / target)
    monkeypatch.setattr(
        search, "SYSTEM_DIRS", (str(root / "usr/share/containers"), str(root / "etc/containers"))
    )
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setenv("PATH", SEARCH_PATH)
    if case.spec.get("chdir"):
        monkeypatch.chdir(root)
    environ = {"HOME": str(root / "home")}
    if case.one_file:
        environ["CONTAINERS_CONF"] = str(root / case.source.name)
    for name, value in case.spec.get("env", {}).items():
        environ[name] = value.replace("{root}", str(root))
    return root, environ


# ---- ocimux against the expectations -------------------------------------------------------

_WARNING = re.compile(r"^(?P<path>/[^:]*?)(?::(?P<line>\d+))?: (?P<key>[^ ]+): (?P<rest>.*)$")


def _expected_file(case: Case, root: Path, given: str | None) -> str | None:
    if given is None:
        return str(root / case.source.name) if case.one_file else None
    return str(root / given) if given else None


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_ocimux_loads_each_case_as_expected(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, environ = lay_out(case, tmp_path, monkeypatch)
    spec = case.spec
    if "error" in spec:
        want = spec["error"]
        with pytest.raises(ConfigError) as info:
            load_config(environ=environ)
        err = info.value
        message = f"{err}"
        assert (err.path, err.line, err.key) == (
            _expected_file(case, root, want.get("file")),
            want.get("line"),
            want.get("key"),
        ), message
        for word in want["words"]:
            assert word in message, message
        return
    config = load_config(environ=environ)
    _check_warnings(case, root, config)
    _check_values(spec, config)


def _check_warnings(case: Case, root: Path, config: Config) -> None:
    got = []
    for text in config.warnings:
        match = _WARNING.match(text)
        assert match, f"warning not in file:line: key: form: {text!r}"
        line = int(match["line"]) if match["line"] else None
        got.append((match["path"], line, match["key"], text))
    want = case.spec.get("warnings", [])
    assert [g[:3] for g in got] == [
        (_expected_file(case, root, w.get("file")), w.get("line"), w["key"]) for w in want
    ], config.warnings
    for (*_, text), wanted in zip(got, want, strict=True):
        for word in wanted.get("words", []):
            assert word in text, text


def _check_values(spec: Mapping[str, Any], config: Config) -> None:
    def want(key: str) -> Any:
        return spec.get(key, DEFAULTS.get(key))

    assert config.default_runtime == (want("default_runtime") or None)
    runtimes = spec.get("runtimes", {})
    assert sorted(config.runtime_names) == sorted(runtimes)
    for name, paths in runtimes.items():
        assert config.runtime_paths(name) == tuple(paths), name
    flagged = set(config.to_dict()["data"].get("engine", {}).get("runtimes_flags", {}))
    flags = spec.get("runtimes_flags", {})
    assert flagged == set(flags)
    for name, argv in flags.items():
        assert config.runtime_flags(name) == tuple(argv), name
    for kind in ("json", "kvm", "nocgroups"):
        listed = spec.get(f"supports_{kind}")
        assert config.supports_is_set(kind) == (listed is not None), kind
        assert getattr(config, f"supports_{kind}") == frozenset(listed or ()), kind
    assert config.conmon_paths == tuple(want("conmon_paths"))
    assert config.conmon_env_vars == tuple(want("conmon_env_vars"))
    assert config.stop_timeout == want("stop_timeout")
    assert config.cgroup_manager == want("cgroup_manager")
    assert config.detach_keys == want("detach_keys")


# ---- podman against ocimux -----------------------------------------------------------------

#: podman's (BurntSushi toml's) location of a decode error
_PODMAN_LOCATION = re.compile(r'line (?P<line>\d+) \(last key \\?"(?P<key>[^"\\]+)\\?"\)')


@dataclass(frozen=True)
class Outcome:
    """What one side made of a file: the default runtime's name and binary, or a refusal."""

    name: str | None = None
    path: str | None = None
    refused: str | None = None
    line: int | None = None
    key: str | None = None

    def __str__(self) -> str:
        if self.refused is not None:
            where = f" (line {self.line}, key {self.key})" if self.line or self.key else ""
            return f"refused{where}: {self.refused}"
        return f"{self.name} {self.path}"


def ocimux_outcome(environ: Mapping[str, str]) -> Outcome:
    """Load as ocimux does; choose and find the default runtime as ocimux's Registry does."""
    try:
        config = load_config(environ=environ)
        registry = Registry(config, _runtime_entries())
        name = registry.default_name()
        runtime = registry.get(name)
    except ConfigError as exc:
        return Outcome(refused=exc.problem, line=exc.line, key=exc.key)
    except OcimuxError as exc:
        return Outcome(refused=str(exc))
    unavailable = runtime.unavailable_reason()
    if unavailable is not None:
        return Outcome(refused=f"{name}: {unavailable}")
    return Outcome(name, runtime.path)


@functools.cache
def _runtime_entries() -> tuple[PluginEntry, ...]:
    return tuple(discover(RUNTIMES_GROUP))


def podman_outcome(conf: Path) -> Outcome:
    """`podman info` with CONTAINERS_CONF=conf; storage (vfs: no mounts) in a throwaway dir."""
    # podman refuses a --runroot longer than 50 characters, so not under pytest's tmp_path
    work = Path(tempfile.mkdtemp(prefix="ocimux-corpus-", dir="/tmp"))
    argv = [
        "podman",
        "--storage-driver=vfs",
        f"--root={work}/root",
        f"--runroot={work}/rr",
        f"--tmpdir={work}/tmp",
        "--log-level=error",
        "info",
        "--format",
        PODMAN_FORMAT,
    ]
    env = {"PATH": SEARCH_PATH, "HOME": str(work), "CONTAINERS_CONF": str(conf)}
    try:
        done = subprocess.run(
            argv,
            env=env,
            capture_output=True,
            text=True,
            timeout=PODMAN_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if done.returncode != 0:
        message = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        located = _PODMAN_LOCATION.search(message)
        if located:
            return Outcome(refused=message, line=int(located["line"]), key=located["key"])
        return Outcome(refused=message)
    name, _, path = done.stdout.strip().partition(" ")
    return Outcome(name, path)


def disagreement(ours: Outcome, podmans: Outcome) -> str | None:
    """Why the two outcomes differ, or None if they agree."""
    if (ours.refused is None) != (podmans.refused is None):
        return "ocimux refuses, podman loads" if ours.refused else "ocimux loads, podman refuses"
    if ours.refused is None:
        if ours.name != podmans.name:
            return "different default runtime"
        if ours.path != podmans.path:
            return "different runtime binary"
        return None
    # podman's "last key" has no array index; ocimux may add one (engine.runtimes.crun[1])
    key = re.sub(r"(\[\d+\])+$", "", ours.key or "")
    if podmans.line is not None and (ours.line, key) != (podmans.line, podmans.key):
        return "refused at a different line or key"
    return None


@pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed")
def test_podman_agrees_on_one_file_cases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    one_file = [case for case in CASES if case.one_file]
    assert set(DIVERGENCES) <= {case.name for case in one_file}
    with ThreadPoolExecutor(max_workers=PODMAN_THREADS) as pool:
        outcomes = pool.map(lambda case: podman_outcome(case.source), one_file)
        podman = dict(zip((case.name for case in one_file), outcomes, strict=True))
    problems = []
    for case in one_file:
        with monkeypatch.context() as patch:
            root, environ = lay_out(case, tmp_path / case.name, patch)
            # the runtimes' state directories, should building one make them
            environ["OCIMUX_OCIMUX__RUN_DIR"] = str(root / "run")
            environ["OCIMUX_OCIMUX__STATE_DIR"] = str(root / "state")
            ours = ocimux_outcome(environ)
        theirs = podman[case.name]
        why = disagreement(ours, theirs)
        if case.name in DIVERGENCES:
            expected, reason = DIVERGENCES[case.name]
            if why != expected:
                problems.append(
                    f"{case.name}: listed as {expected!r} ({reason}), but {why or 'they agree'}"
                    f"\n  ocimux: {ours}\n  podman: {theirs}"
                )
        elif why is not None:
            problems.append(f"{case.name}: {why}\n  ocimux: {ours}\n  podman: {theirs}")
    assert problems == [], "\n".join(problems)
