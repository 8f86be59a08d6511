"""The bad-input corpus: hostile input of every class, rejected the same way by the real CLI.

Every case runs `python -m ocimux.cli` in a subprocess (the mock runtime; a state directory of
its own) and asserts what every rejection must look like:

(a) podman's exit code: 125 (ocimux failed), 126/127 where podman gives those;
(b) stderr is exactly one line, starting with "Error: ", printable (no control or bidi
    characters reach the terminal), naming the offending thing (file:line for config, the
    name or id, the signal, the path);
(c) nothing changed on disk: the whole state tree (`<tmp>/state`: path, type, mode, size,
    mtime and inode of every entry except the SQLite `-wal`/`-shm` side files) and the
    database's logical content (`ocimux ps -a --format json`, plus `exec --list` of each
    running container) are equal before and after, and the set of mock shims whose command
    line names this module's tmp dir is unchanged. Only where the container's own command
    failed (126/127: podman records and removes an exec session too) may the database file
    have been rewritten, its content still equal.

The cases share one module-wide "world" instead of the function-scoped `ocimux` fixture:
a running container (`live`), a created one (`fresh`), an exited one (`done`) and spares
until two ids share their first hex digit (an ambiguous prefix). Sharing is exactly what a
corpus of rejections should survive: nothing may change, and (c) proves it after each case.
A case that changes the database (a bug) has the world rebuilt before the next case. Cases that would destroy a container if the bug they document is present aim at a
`victim` created for that case alone. The after-snapshot's `ps` runs the same CLI entry point
(`ocimux.cli.main`) in-process, which halves the cost of a case.

Known bugs are strict xfails whose reason starts with "BUG:".
"""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from tests.conftest import write_conf

SHIM_MODULE = b"ocimux.io.processmonitor"  # the mock's monitor (a ProcessRuntime's)
#: SQLite side files: they come and go with every connection (WAL mode)
DB_SIDE_FILES = ("ocimux.db-wal", "ocimux.db-shm")
#: a config value big enough to be hostile (the brief's "5 MB string")
HUGE = 5_000_000
#: an error line longer than this is not "one clear line"
CLEAR_LINE_MAX = 4096
FULL_ID_GHOST = "f" * 64

Snapshot = dict[str, tuple[Any, ...]]


# --- the world ---------------------------------------------------------------------------------


@dataclass
class Attempt:
    """One command that must be rejected, and what its error line must say."""

    args: tuple[str, ...]
    needles: tuple[str, ...] = ()
    codes: tuple[int, ...] = (125,)
    #: variables to set (a value of None removes the variable)
    env: Mapping[str, str | None] = field(default_factory=dict)
    #: at least one of these must be in the line too
    any_of: tuple[str, ...] = ()
    max_len: int | None = None
    #: the command's own process failed (126/127): the database file may have been rewritten
    db_rewrite_ok: bool = False


class World:
    """An isolated ocimux (state, config, cache) with containers in every stable state."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.state = root / "state"
        self.conf = write_conf(root / "containers.conf", self.state)
        self.base_conf = self.conf.read_text()
        self.rootfs = root / "rootfs"
        self.rootfs.mkdir()
        self.inputs = root / "inputs"
        self.inputs.mkdir()
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.upper().startswith("OCIMUX_") and k != "CONTAINERS_CONF_OVERRIDE"
        }
        env.update(
            CONTAINERS_CONF=str(self.conf),
            OCIMUX_CACHE_DIR=str(root / "cache"),
            XDG_CONFIG_HOME=str(root / "xdg"),
        )
        self.env = env
        self.counter = 0
        self.victims: list[str] = []
        self.db: list[dict[str, Any]] = []
        self.baseline: list[dict[str, Any]] = []
        self.build()

    # running the CLI

    def run(
        self, *args: str, env: Mapping[str, str | None] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        full = dict(self.env)
        for key, value in (env or {}).items():
            if value is None:
                full.pop(key, None)
            else:
                full[key] = value
        return subprocess.run(
            [sys.executable, "-m", "ocimux.cli", *args],
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="backslashreplace",
            timeout=timeout,
            env=full,
            stdin=subprocess.DEVNULL,
            cwd=self.root,
        )

    def ok(self, *args: str) -> str:
        proc = self.run(*args)
        assert proc.returncode == 0, f"ocimux {' '.join(args)}: {proc.returncode} {proc.stderr}"
        return proc.stdout.strip()

    def cli_json(self, *args: str) -> Any:
        """The JSON an `ocimux` command prints, through the CLI's own entry point, in-process."""
        from ocimux.cli import main

        out, err = io.StringIO(), io.StringIO()
        with (
            mock.patch.dict(os.environ, self.env, clear=True),
            redirect_stdout(out),
            redirect_stderr(err),
        ):
            code = main(list(args))
        assert code == 0, f"ocimux {' '.join(args)} failed ({code}): {err.getvalue()}"
        return json.loads(out.getvalue())

    def ps(self) -> list[dict[str, Any]]:
        """The database's logical content: `ps -a --format json`, plus each running
        container's exec sessions (`exec --list NAME --format json`) under "exec_sessions"."""
        records = self.cli_json("ps", "-a", "--format", "json")
        for rec in records:
            if rec["status"] == "running":
                rec["exec_sessions"] = self.cli_json(
                    "exec", "--list", rec["name"], "--format", "json"
                )
        return records

    # the containers

    def build(self) -> None:
        """(Re)create live, fresh, done and spares; record the baseline."""
        left = self.run("ps", "-a", "-q").stdout.split()
        if left:
            self.run("rm", "-f", "-t", "0", *left)
        r = str(self.rootfs)
        self.live = "live"
        self.ok("run", "-d", "--name", "live", "--rootfs", r, "--", "sleep", "3600")
        self.ok("create", "--name", "fresh", "--rootfs", r, "--", "sleep", "3600")
        self.ok("run", "--name", "done", "--rootfs", r, "--", "true")
        ids = [c["id"] for c in self.ps()]
        n = 0
        while len({i[0] for i in ids}) == len(ids):  # until two ids share a first digit
            n += 1
            ids.append(self.ok("create", "--name", f"spare{n}", "--rootfs", r, "--", "true"))
        firsts = [i[0] for i in ids]
        self.ambiguous = next(c for c in firsts if firsts.count(c) > 1)
        self.db = self.baseline = self.ps()

    def heal(self) -> None:
        """Rebuild if the last case changed anything (a bug); drop this case's victims."""
        for name in self.victims:
            self.run("rm", "-f", "-t", "0", name)
        if self.victims:
            self.victims.clear()
            self.db = self.ps()
        if self.db != self.baseline:
            self.build()

    def victim(self) -> str:
        """A running container for this case alone (removed before the next case)."""
        self.counter += 1
        name = f"victim{self.counter}"
        self.ok("run", "-d", "--name", name, "--rootfs", str(self.rootfs), "--", "sleep", "3600")
        self.victims.append(name)
        self.db = self.ps()
        return name

    def remove_all(self) -> None:
        left = self.run("ps", "-a", "-q").stdout.split()
        if left:
            self.run("rm", "-f", "-t", "0", *left, timeout=120)

    # inputs

    def path(self, name: str) -> Path:
        """A fresh path under inputs/ for this case."""
        self.counter += 1
        return self.inputs / f"{self.counter}-{name}"

    def conf_file(
        self, append: str | bytes = b"", *, replace: tuple[str, str] | None = None
    ) -> Path:
        """A copy of the world's containers.conf with `append` after `[engine]` (or a line replaced)."""
        text = self.base_conf
        if replace is not None:
            assert replace[0] in text, replace
            text = text.replace(replace[0], replace[1])
        data = text.encode() + (append.encode() if isinstance(append, str) else append)
        path = self.path("containers.conf")
        path.write_bytes(data)
        return path

    # what is on disk

    def tree(self) -> Snapshot:
        """Every entry of the state tree: type and mode, plus size, mtime and inode for non-dirs."""
        out: Snapshot = {}
        if not self.state.exists():
            return out
        for dirpath, dirnames, filenames in os.walk(self.state):
            for name in dirnames + filenames:
                if name in DB_SIDE_FILES:
                    continue
                path = os.path.join(dirpath, name)
                try:
                    st = os.lstat(path)
                except FileNotFoundError:  # a file that vanished while we walked
                    out[os.path.relpath(path, self.state)] = ("vanished",)
                    continue
                rel = os.path.relpath(path, self.state)
                if stat.S_ISDIR(st.st_mode):
                    out[rel] = ("dir", st.st_mode)
                else:
                    out[rel] = (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino)
        return out

    def shims(self) -> set[int]:
        """Live mock shims whose command line names this world's directory."""
        mine = str(self.root).encode()
        found = set()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
                status = Path(f"/proc/{entry}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
            except OSError:
                continue
            if SHIM_MODULE in cmdline and mine in cmdline and status not in (b"Z", b"X"):
                found.add(int(entry))
        return found

    def settled_shims(self, before: set[int], wait: float = 3.0) -> set[int]:
        """The shims now, giving new ones (an exec shim finishing) `wait` seconds to go."""
        deadline = time.monotonic() + wait
        while True:
            now = self.shims()
            if now <= before or time.monotonic() >= deadline:
                return now
            time.sleep(0.05)

    # the check

    def attempt(self, a: Attempt) -> str:
        """Run `a`; assert (a) exit code, (b) one clear error line, (c) nothing changed."""
        before_tree, before_db, before_shims = self.tree(), self.db, self.shims()
        proc = self.run(*a.args, env=a.env)
        after_tree = self.tree()
        self.db = self.ps()
        after_shims = self.settled_shims(before_shims)
        problems = []
        if proc.returncode not in a.codes:
            problems.append(f"exit code {proc.returncode}, expected one of {a.codes}")
        err = proc.stderr
        line = err[:-1] if err.endswith("\n") else err
        if not err.endswith("\n") or "\n" in line or len(err.splitlines()) != 1:
            problems.append(f"stderr is not exactly one line ({err.count(chr(10))} newlines)")
            line = err.splitlines()[-1] if err.splitlines() else ""
        if not line.startswith("Error: "):
            problems.append("the line does not start with 'Error: '")
        if not line.isprintable():
            bad = sorted({c for c in line if not c.isprintable()})
            problems.append(f"the line holds unprintable characters {bad!r}")
        for needle in a.needles:
            if needle not in line:
                problems.append(f"the line does not name {needle[:200]!r}")
        if a.any_of and not any(n in line for n in a.any_of):
            problems.append(f"the line names none of {a.any_of!r}")
        if a.max_len is not None and len(line) > a.max_len:
            problems.append(f"the line is {len(line)} characters long (at most {a.max_len})")
        if a.db_rewrite_ok:
            for tree in (before_tree, after_tree):
                tree.pop("lib/ocimux.db", None)
        if after_tree != before_tree:
            problems.append(f"the state tree changed: {_diff(before_tree, after_tree)}")
        if self.db != before_db:
            problems.append(f"the database changed: {_db_diff(before_db, self.db)}")
        if after_shims != before_shims:
            problems.append(
                f"mock shims changed: new {sorted(after_shims - before_shims)},"
                f" gone {sorted(before_shims - after_shims)}"
            )
        shown = err if len(err) < 3000 else err[:1500] + f"...<{len(err)} chars>..." + err[-500:]
        assert not problems, (
            f"ocimux {' '.join(x[:80] for x in a.args)}\n  "
            + "\n  ".join(problems)
            + f"\n  stderr: {shown!r}"
        )
        return line


def _diff(before: Snapshot, after: Snapshot) -> str:
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    return f"added {added[:5]}, removed {removed[:5]}, changed {changed[:5]}"


def _db_diff(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> str:
    b = {c["name"]: c for c in before}
    a = {c["name"]: c for c in after}
    changed = {
        n: {k: (b[n].get(k), a[n].get(k)) for k in {*b[n], *a[n]} if b[n].get(k) != a[n].get(k)}
        for n in set(a) & set(b)
        if a[n] != b[n]
    }
    return f"added {sorted(set(a) - set(b))}, removed {sorted(set(b) - set(a))}, changed {changed}"


@pytest.fixture(scope="module")
def _world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = World(tmp_path_factory.mktemp("corpus"))
    try:
        yield w
    finally:
        w.remove_all()
        assert w.settled_shims(set(), wait=10) == set(), "mock shims outlived the corpus"


@pytest.fixture
def world(_world: World) -> Iterator[World]:
    _world.heal()
    yield _world
    _world.heal()


Build = Callable[[World], Attempt]


def case(id_: str, build: Build, *, bug: str | None = None) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=f"BUG: {bug}")] if bug else []
    return pytest.param(build, id=id_, marks=marks)


def at_line(path: Path, marker: bytes | str) -> str:
    """`<path>:<line>` of the first line holding `marker`."""
    data = path.read_bytes()
    m = marker.encode() if isinstance(marker, str) else marker
    line = data[: data.index(m)].count(b"\n") + 1
    return f"{path}:{line}"


# --- 1. malformed and hostile TOML -----------------------------------------------------------


def _conf(
    append: str | bytes = b"",
    *,
    replace: tuple[str, str] | None = None,
    marker: str | bytes | None = None,
    needles: tuple[str, ...] = (),
    args: tuple[str, ...] = ("ps", "-a"),
    max_len: int | None = None,
    names_file: bool = True,
    strict: bool = False,
) -> Build:
    """A config case: the world's file plus `append` (or with a line replaced).

    The line must name `<file>:<line of marker>`, or the file when there is no marker (unless
    not `names_file`: a value only checked when used, not when the file is loaded). `strict`
    sets `[ocimux] strict_config` (by its variable): an unknown key is an error only then.
    """

    def build(w: World) -> Attempt:
        path = w.conf_file(append, replace=replace)
        where = at_line(path, marker) if marker is not None else str(path)
        env = {"CONTAINERS_CONF": str(path)}
        if strict:
            env["OCIMUX_OCIMUX__STRICT_CONFIG"] = "true"
        return Attempt(
            args,
            (where, *needles) if names_file else needles,
            env=env,
            max_len=max_len,
        )

    return build


def _deep_dotted(w: World) -> Attempt:
    path = w.conf_file("[ocimux.plugins.mock]\n" + ".".join(f"k{i}" for i in range(100)) + " = 1\n")
    return Attempt(("ps",), (at_line(path, "k0.k1"), "nested"), env={"CONTAINERS_CONF": str(path)})


def _deep_inline(w: World) -> Attempt:
    path = w.conf_file("[ocimux.plugins.mock]\nx = " + "{a = " * 200 + "1" + "}" * 200 + "\n")
    return Attempt(("ps",), (at_line(path, "x = {"), "nested"), env={"CONTAINERS_CONF": str(path)})


def _deep_arrays(w: World) -> Attempt:
    # deeper than Python's recursion limit: tomli cannot say where, only that it gave up
    path = w.conf_file("[ocimux.plugins.mock]\nx = " + "[" * 5000 + "1" + "]" * 5000 + "\n")
    return Attempt(("ps",), (str(path), "nested"), env={"CONTAINERS_CONF": str(path)})


def _conf_is_dir(w: World) -> Attempt:
    path = w.path("containers.conf")
    path.mkdir()
    return Attempt(("ps",), (str(path), "directory"), env={"CONTAINERS_CONF": str(path)})


def _conf_nowhere(w: World) -> Attempt:
    path = w.path("missing.conf")
    return Attempt(("ps",), (str(path), "CONTAINERS_CONF"), env={"CONTAINERS_CONF": str(path)})


def _config_flag_nowhere(w: World) -> Attempt:
    path = w.path("missing.conf")
    return Attempt(("--config", str(path), "ps"), (str(path), "--config"))


def _override_nowhere(w: World) -> Attempt:
    path = w.path("missing-override.conf")
    return Attempt(("ps",), (str(path),), env={"CONTAINERS_CONF_OVERRIDE": str(path)})


def _bad_override(w: World) -> Attempt:
    path = w.path("override.conf")
    path.write_text("[engine]\nstop_timeout = false\n")
    return Attempt(
        ("ps",), (f"{path}:2", "stop_timeout"), env={"CONTAINERS_CONF_OVERRIDE": str(path)}
    )


def _drop_in(bad: str, needle: str) -> Build:
    """The user's containers.conf is fine; a drop-in beside it is not (CONTAINERS_CONF unset)."""

    def build(w: World) -> Attempt:
        xdg = w.path("xdg")
        d = xdg / "containers" / "containers.conf.d"
        d.mkdir(parents=True)
        (xdg / "containers" / "containers.conf").write_text(w.base_conf)
        (d / "10-good.conf").write_text("[engine]\nstop_timeout = 3\n")
        (d / "50-bad.conf").write_text(f"# a drop-in\n{bad}")
        env = {"CONTAINERS_CONF": None, "XDG_CONFIG_HOME": str(xdg)}
        return Attempt(("ps",), (f"{d / '50-bad.conf'}:", needle), env=env)

    return build


def _env_var(name: str, value: str, *needles: str) -> Build:
    return lambda w: Attempt(("ps",), (name, *needles), env={name: value})


CONFIG_CASES = [
    case("stop_timeout-ten", _conf('stop_timeout = "ten"\n', marker="stop_timeout", needles=("engine.stop_timeout",))),
    case("runtime-int", _conf(replace=('runtime = "mock"', "runtime = 5"), marker="runtime = 5", needles=("engine.runtime",))),
    case("runtimes-string", _conf('runtimes = "x"\n', marker="runtimes", needles=("engine.runtimes",))),
    case("runtimes-entry-not-list", _conf('[engine.runtimes]\nr = "notalist"\n', marker='r = "notalist"', needles=("engine.runtimes.r",))),
    case("command_timeout-negative", _conf(replace=("command_timeout = 20", "command_timeout = -1"), marker="command_timeout", needles=("command_timeout",))),
    case("stop_timeout-beyond-i64", _conf("stop_timeout = 99999999999999999999999\n", marker="stop_timeout", needles=("stop_timeout",))),
    case("stop_timeout-float", _conf("stop_timeout = 1.5\n", marker="stop_timeout", needles=("stop_timeout", "integer"))),
    case("stop_timeout-nan", _conf("stop_timeout = nan\n", marker="stop_timeout", needles=("stop_timeout",))),
    case("stop_timeout-5MB-string", _conf(f'stop_timeout = "{"x" * HUGE}"\n', marker="stop_timeout", needles=("stop_timeout",), max_len=CLEAR_LINE_MAX)),
    case("detach_keys-5MB-string", _conf(f'detach_keys = "{"x" * HUGE}"\n', needles=("detach key",), args=("run", "--rm", "--rootfs", "rootfs", "--", "true"), max_len=CLEAR_LINE_MAX, names_file=False)),
    case("runtime-5MB-string", _conf(replace=('runtime = "mock"', f'runtime = "{"x" * HUGE}"'), needles=("unknown runtime",), args=("run", "--rm", "--rootfs", "rootfs", "--", "true"), max_len=CLEAR_LINE_MAX, names_file=False)),
    case("unknown-key-50k", _conf(f"{'x' * 50_000} = 1\n", marker="xxxx", needles=("unknown key",), max_len=CLEAR_LINE_MAX, strict=True)),
    case("unknown-table-enginee", _conf("[enginee]\n", marker="[enginee]", needles=("enginee", "did you mean 'engine'"), strict=True)),
    case("unknown-table-ocimux.nonsense", _conf("[ocimux.nonsense]\n", marker="[ocimux.nonsense]", needles=("ocimux.nonsense", "unknown table"), strict=True)),
    case("unknown-key-did-you-mean", _conf("stop_timout = 5\n", marker="stop_timout", needles=("stop_timout", "did you mean 'stop_timeout'"), strict=True)),
    case("unknown-key-bidi", _conf('"a\\u202eb" = 1\n', marker='"a\\u202eb"', needles=("unknown key",), strict=True)),
    case("unknown-key-newline", _conf('"a\\nb" = 1\n', marker='"a\\nb"', needles=("unknown key",), strict=True)),
    case("capability-not-bool", _conf('[ocimux.capabilities.mock]\npause = "maybe"\n', marker='pause = "maybe"', needles=("ocimux.capabilities.mock.pause",))),
    case("state_dir-int", _conf(replace=("state_dir = ", "state_dir = 5 # was "), marker="state_dir", needles=("ocimux.state_dir",))),
    case("lock_timeout-bool", _conf(replace=("lock_timeout = 30", "lock_timeout = true"), marker="lock_timeout", needles=("lock_timeout",))),
    case("dotted-100-deep", _deep_dotted),
    case("inline-tables-200-deep", _deep_inline),
    case("arrays-5000-deep", _deep_arrays),
    case("invalid-utf8", _conf(b'detach_keys = "\xff\xfe"\n', marker=b"\xff", needles=("UTF-8",))),
    case("nul-byte", _conf(b'detach_keys = "a\x00b"\n', marker=b"\x00", needles=("TOML",))),
    case("duplicate-key", _conf('runtime = "crun"\n', marker='runtime = "crun"', needles=("TOML",))),
    case("duplicate-table", _conf('[engine]\nstop_timeout = 3\n', marker="[engine]\nstop_timeout", needles=("TOML",))),
    case("unterminated-string", _conf('runtime2 = "mock\n', marker="runtime2", needles=("TOML",))),
    case("file-is-directory", _conf_is_dir),
    case("CONTAINERS_CONF-nowhere", _conf_nowhere),
    case("--config-nowhere", _config_flag_nowhere),
    case("CONTAINERS_CONF_OVERRIDE-nowhere", _override_nowhere),
    case("bad-override", _bad_override),
    case("bad-drop-in-syntax", _drop_in("[engine\n", "TOML")),
    case("bad-drop-in-type", _drop_in("[engine]\nruntime = []\n", "engine.runtime")),
    case("env-var-wrong-type", _env_var("OCIMUX_ENGINE__STOP_TIMEOUT", "ten", "integer", "'ten'")),
    case("env-var-misspelt", _env_var("OCIMUX_ENGINE__RUNTIMEZ", "x", "did you mean OCIMUX_ENGINE__RUNTIME")),
    case("mock-plugin-option-wrong-type", _conf("[ocimux.plugins.mock]\nfail_on = 5\n", needles=("fail_on",), names_file=False, args=("inspect", "live"))),
]  # fmt: skip


@pytest.mark.parametrize("build", CONFIG_CASES)
def test_bad_config_is_one_line_naming_file_and_line(world: World, build: Build) -> None:
    world.attempt(build(world))


def test_empty_config_file_is_valid(world: World) -> None:
    """An empty containers.conf is fine (the state dirs come from the environment here)."""
    empty = world.path("empty.conf")
    empty.write_bytes(b"")
    env = {
        "CONTAINERS_CONF": str(empty),
        "OCIMUX_OCIMUX__STATE_DIR": str(world.state / "lib"),
        "OCIMUX_OCIMUX__RUN_DIR": str(world.state / "run"),
    }
    before = world.tree()
    proc = world.run("ps", "-a", "--format", "json", env=env)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert [c["name"] for c in json.loads(proc.stdout)] == [c["name"] for c in world.baseline]
    assert world.tree() == before


# --- 2. hostile names and references -----------------------------------------------------------


def _name(name: str, *needles: str) -> Build:
    return lambda w: Attempt(
        ("create", "--name", name, "--rootfs", str(w.rootfs), "--", "true"), needles
    )


NAME_CASES = [
    case("dotdot-slash", _name("../x", "invalid container name", "'../x'")),
    case("slash", _name("x/y", "invalid container name", "x/y")),
    case("dot-hidden", _name(".hidden", "invalid container name", ".hidden")),
    case("dash-rf-as-option", lambda w: Attempt(("create", "--name", "-rf", "--rootfs", str(w.rootfs), "--", "true"), ("--name",))),
    case("dash-rf-as-value", lambda w: Attempt(("create", "--name=-rf", "--rootfs", str(w.rootfs), "--", "true"), ("invalid container name", "-rf"))),
    case("129-chars", _name("x" * 129, "129 characters", "at most 128")),
    case("10000-chars", _name("x" * 10_000, "10000 characters", "at most 128")),
    case("bell", _name("a\x07b", "invalid container name", "x07")),
    case("newline", _name("a\nb", "invalid container name", "a\\")),
    case("escape-sequence", _name("\x1b[31mred", "invalid container name", "x1b")),
    case("space", _name("a b", "invalid container name", "a b")),
    case("glob-star", _name("*", "invalid container name", "'*'")),
    case("colon", _name("a:b", "invalid container name", "a:b")),
    case("cafe", _name("café", "invalid container name", "caf")),
    case("cjk", _name("名前", "invalid container name", "名前")),
    case("rtl-override", _name("a\u202eb", "invalid container name", "202e")),
    case("name-taken", _name("live", "live")),
    pytest.param(None, id="nul", marks=pytest.mark.skip(reason="a NUL byte cannot be passed in argv")),
]  # fmt: skip


@pytest.mark.parametrize("build", NAME_CASES)
def test_hostile_name_is_rejected(world: World, build: Build) -> None:
    world.attempt(build(world))


def test_invalid_name_is_escaped_once(world: World) -> None:
    line = world.attempt(_name("café")(world))
    assert "caf\\\\xe9" not in line, line


def test_empty_name_means_a_generated_one_as_in_podman(world: World) -> None:
    """`--name ''` is "no name", as podman treats it (specgen skips WithName for "")."""
    cid = world.ok("create", "--name", "", "--rootfs", str(world.rootfs), "--", "true")
    try:
        assert json.loads(world.ok("inspect", cid))[0]["name"] == f"ocimux-{cid[:12]}"
    finally:
        world.ok("rm", cid)
        world.db = world.ps()


def _ref(*args: str, needles: tuple[str, ...] = ()) -> Build:
    return lambda w: Attempt(args, needles)


REF_CASES = [
    case("kill-dotdot", _ref("kill", "../x", needles=("no container", "'../x'"))),
    case("inspect-empty", _ref("inspect", "", needles=("no container", "''"))),
    case("rm-star", _ref("rm", "*", needles=("no container", "'*'"))),
    case("rm-f-star", _ref("rm", "-f", "*", needles=("no container", "'*'"))),
    case("rm-f-question-mark", _ref("rm", "-f", "?", needles=("no container", "'?'"))),
    case("rm-f-bracket-class", _ref("rm", "-f", "[0-9a-f]*", needles=("no container", "[0-9a-f]*"))),
    case("stop-percent", _ref("stop", "%", needles=("no container", "'%'"))),
    case("kill-newline", _ref("kill", "a\nb", needles=("no container", "a\\nb"))),
    case("kill-escape-sequence", _ref("kill", "\x1b[2J", needles=("no container", "\\x1b[2J"))),
    case("pause-rtl", _ref("pause", "a\u202eb", needles=("no container", "\\u202e"))),
    case("start-cjk", _ref("start", "名前", needles=("no container", "名前"))),
    case("logs-path-traversal", _ref("logs", "../../../../etc/passwd", needles=("no container", "../../../../etc/passwd"))),
    case("attach-empty", _ref("attach", "", needles=("no container", "''"))),
    case("exec-dotdot", lambda w: Attempt(("exec", "../x", "true"), ("no container", "'../x'"))),
    case("exec-list-dotdot", _ref("exec", "--list", "../x", needles=("no container", "'../x'"))),
    case("exec-inspect-star", _ref("exec", "--inspect", "*", needles=("'*'",))),
    case("exec-stop-star", _ref("exec", "--stop", "*", needles=("'*'",))),
    case("rm-dash-rf-as-ref", _ref("rm", "--", "-rf", needles=("no container", "'-rf'"))),
    case("inspect-64-hex-ghost", _ref("inspect", FULL_ID_GHOST, needles=(FULL_ID_GHOST,))),
    case("rm-f-64-hex-ghost", _ref("rm", "-f", FULL_ID_GHOST, needles=(FULL_ID_GHOST,))),
    case("kill-10000-chars", _ref("kill", "y" * 10_000, needles=("no container",))),
    case("kill-ambiguous-prefix", lambda w: Attempt(("kill", w.ambiguous), (f"'{w.ambiguous}'", "several containers"))),
    case("rm-f-ambiguous-prefix", lambda w: Attempt(("rm", "-f", w.ambiguous), (f"'{w.ambiguous}'", "several containers"))),
]  # fmt: skip


@pytest.mark.parametrize("build", REF_CASES)
def test_hostile_reference_is_rejected(world: World, build: Build) -> None:
    world.attempt(build(world))


# --- 3. bundles --------------------------------------------------------------------------------

SPEC: dict[str, Any] = {
    "ociVersion": "1.0.2",
    "process": {"args": ["sleep", "3600"], "cwd": "/", "env": ["PATH=/usr/bin:/bin"]},
    "root": {"path": "rootfs"},
}


def _bundle(
    doc: Any = None,
    *,
    text: str | None = None,
    rootfs: str | None = "dir",
    needles: tuple[str, ...] = (),
) -> Build:
    """A bundle with config.json from `doc` (JSON) or `text`; its rootfs a dir, file or none."""

    def build(w: World) -> Attempt:
        b = w.path("bundle")
        b.mkdir()
        if rootfs == "dir":
            (b / "rootfs").mkdir()
        elif rootfs == "file":
            (b / "rootfs").write_text("not a directory\n")
        config = b / "config.json"
        config.write_text(text if text is not None else json.dumps(doc))
        return Attempt(("create", "--bundle", str(b)), (str(config), *needles))

    return build


def _spec(**changes: Any) -> dict[str, Any]:
    doc = json.loads(json.dumps(SPEC))
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target = doc
        for p in parents:
            target = target[p]
        if value is _DROP:
            del target[last]
        else:
            target[last] = value
    return doc


_DROP = object()


def _bundle_missing(w: World) -> Attempt:
    b = w.path("no-bundle")
    return Attempt(("create", "--bundle", str(b)), (str(b), "does not exist"))


def _bundle_is_file(w: World) -> Attempt:
    b = w.path("bundle-file")
    b.write_text("{}")
    return Attempt(("create", "--bundle", str(b)), (str(b), "not a directory"))


def _bundle_without_config(w: World) -> Attempt:
    b = w.path("bundle")
    (b / "rootfs").mkdir(parents=True)
    return Attempt(("create", "--bundle", str(b)), (str(b), "config.json"))


def _config_is_dir(w: World) -> Attempt:
    b = w.path("bundle")
    (b / "config.json").mkdir(parents=True)
    return Attempt(("create", "--bundle", str(b)), (str(b / "config.json"), "not a regular file"))


def _config_symlink_passwd(w: World) -> Attempt:
    b = w.path("bundle")
    (b / "rootfs").mkdir(parents=True)
    (b / "config.json").symlink_to("/etc/passwd")
    return Attempt(("create", "--bundle", str(b)), (str(b / "config.json"), "JSON"))


def _config_too_big(w: World) -> Attempt:
    b = w.path("bundle")
    (b / "rootfs").mkdir(parents=True)
    (b / "config.json").write_text(" " * (17 << 20) + json.dumps(SPEC))
    return Attempt(("create", "--bundle", str(b)), (str(b / "config.json"), "bytes"))


def _rootfs_link(target: Callable[[World, Path], str], *needles: str) -> Build:
    def build(w: World) -> Attempt:
        b = w.path("bundle")
        b.mkdir()
        (b / "rootfs").symlink_to(target(w, b))
        (b / "config.json").write_text(json.dumps(SPEC))
        return Attempt(("create", "--bundle", str(b)), needles)

    return build


BUNDLE_CASES = [
    case("missing-dir", _bundle_missing),
    case("bundle-is-a-file", _bundle_is_file),
    case("no-config.json", _bundle_without_config),
    case("config.json-is-a-dir", _config_is_dir),
    case("invalid-json", _bundle(text='{"ociVersion": "1.0.2",\n  "process": }', needles=("not valid JSON", "line 2"))),
    case("json-array", _bundle([], needles=("array",))),
    case("json-string", _bundle("spec", needles=("string",))),
    case("empty-object", _bundle({}, needles=("ociVersion",))),
    case("json-nested-100000-deep", _bundle(text="[" * 100_000 + "]" * 100_000, needles=("nested",))),
    case("config.json-over-16MiB", _config_too_big),
    case("ociVersion-2", _bundle(_spec(ociVersion="2.0.0"), needles=("ociVersion",))),
    case("missing-process", _bundle(_spec(process=_DROP), needles=("process",))),
    case("process-a-list", _bundle(_spec(process=["sleep"]), needles=("process",))),
    case("args-empty", _bundle(_spec(process__args=[]), needles=("process.args",))),
    case("args-a-string", _bundle(_spec(process__args="sleep 3600"), needles=("process.args",))),
    case("args-ints", _bundle(_spec(process__args=[1, 2]), needles=("process.args",))),
    case("args-empty-program", _bundle(_spec(process__args=["", "x"]), needles=("process.args",))),
    case("env-not-strings", _bundle(_spec(process__env=[1]), needles=("process.env",))),
    case("missing-root", _bundle(_spec(root=_DROP), needles=("root.path",))),
    case("root-path-empty", _bundle(_spec(root={"path": ""}), needles=("root.path",))),
    case("root-path-nonexistent", _bundle(_spec(root={"path": "nope"}), rootfs=None, needles=("nope", "does not exist"))),
    case("root-path-a-file", _bundle(SPEC, rootfs="file", needles=("not a directory",))),
    case("config.json-symlink-to-passwd", _config_symlink_passwd),
    case("rootfs-symlink-outside-dangling", _rootfs_link(lambda w, b: str(w.path("nowhere")), "rootfs", "nowhere", "cannot be reached")),
    case("rootfs-symlink-loop", _rootfs_link(lambda w, b: str(b / "rootfs"), "rootfs", "config.json")),
    case("rootfs-symlink-to-file", _rootfs_link(lambda w, b: "/etc/passwd", "/etc/passwd", "not a directory")),
    case("bundle-and-rootfs", lambda w: Attempt(("create", "--bundle", str(w.inputs), "--rootfs", str(w.rootfs), "--", "true"), ("--bundle", "--rootfs"))),
]  # fmt: skip


@pytest.mark.parametrize("build", BUNDLE_CASES)
def test_bad_bundle_is_rejected(world: World, build: Build) -> None:
    world.attempt(build(world))


def test_rootfs_symlink_to_a_real_dir_outside_runs(world: World) -> None:
    """A bundle's rootfs may be a symlink out of the bundle to a real directory: it runs there,
    and the record keeps the resolved path (so a later change of the link is not followed)."""
    real = world.path("real-rootfs")
    real.mkdir()
    b = world.path("bundle")
    b.mkdir()
    (b / "rootfs").symlink_to(os.path.relpath(real, b))
    doc = _spec(process__args=["sh", "-c", "pwd -P"])
    (b / "config.json").write_text(json.dumps(doc))
    proc = world.run("run", "--name", "linked", "--bundle", str(b))
    try:
        assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
        assert proc.stdout.strip() == os.path.realpath(real)
        rec = json.loads(world.ok("inspect", "linked"))[0]
        assert rec["config"]["rootfs"] == os.path.realpath(real)
    finally:
        world.run("rm", "-f", "-t", "0", "linked")
        world.db = world.ps()


# --- 4. signals, timeouts, exec, update ----------------------------------------------------------


def _kill(sig: str) -> Build:
    return lambda w: Attempt(("kill", "-s", sig, w.live), ("invalid signal", repr(sig)))


SIGNAL_CASES = [
    case("0", _kill("0")),
    case("65", _kill("65")),
    case("minus-1", _kill("-1")),
    case("NOPE", _kill("NOPE")),
    case("SIGNOPE", _kill("SIGNOPE")),
    case("empty", _kill("")),
    case("20-digits", _kill("99999999999999999999")),
    case("hex", _kill("0x9")),
    case("float", _kill("9.0")),
    case("RTMIN+31", _kill("RTMIN+31")),
    case("RTMAX+1", _kill("RTMAX+1")),
    case("SIG-alone", _kill("SIG")),
    case("two-names", _kill("KILL TERM")),
    case("bidi-in-name", lambda w: Attempt(("kill", "-s", "KI\u202eLL", w.live), ("invalid signal", "\\u202e"))),
    case("arabic-indic-digit", lambda w: Attempt(("kill", "-s", "\u0669", w.victim()), ("invalid signal",))),
    case("fullwidth-digits", lambda w: Attempt(("kill", "-s", "\uff11\uff15", w.victim()), ("invalid signal",))),
]  # fmt: skip


@pytest.mark.parametrize("build", SIGNAL_CASES)
def test_bad_signal_is_rejected_before_anything_runs(world: World, build: Build) -> None:
    world.attempt(build(world))


TIMEOUT_CASES = [
    case("stop-t-minus-1", lambda w: Attempt(("stop", "-t", "-1", w.live), ("timeout", "-1"))),
    case("stop-t-word", lambda w: Attempt(("stop", "-t", "soon", w.live), ("--time", "soon"))),
    case("rm-f-t-minus-5", lambda w: Attempt(("rm", "-f", "-t", "-5", w.victim()), ("timeout", "-5"))),
    case("stop-t-nan", lambda w: Attempt(("stop", "-t", "nan", w.victim()), ("timeout", "nan"))),
    case("rm-f-t-nan", lambda w: Attempt(("rm", "-f", "-t", "nan", w.victim()), ("timeout", "nan"))),
    case("stop-t-inf", lambda w: Attempt(("stop", "-t", "inf", w.victim()), ("timeout", "inf"))),
    case("run-stop-timeout-minus-1", lambda w: Attempt(("run", "--stop-timeout", "-1", "--rootfs", str(w.rootfs), "--", "true"), ("stop timeout", "-1"))),
    case("create-stop-timeout-minus-1", lambda w: Attempt(("create", "--stop-timeout", "-1", "--rootfs", str(w.rootfs), "--", "true"), ("stop timeout", "-1"))),
    case("run-stop-timeout-word", lambda w: Attempt(("run", "--stop-timeout", "ten", "--rootfs", str(w.rootfs), "--", "true"), ("--stop-timeout", "ten"))),
    case("exec-stop-time-minus-1", _ref("exec", "--stop", "X", "--time", "-1", needles=("timeout", "-1"))),
]  # fmt: skip


@pytest.mark.parametrize("build", TIMEOUT_CASES)
def test_bad_timeout_is_rejected(world: World, build: Build) -> None:
    world.attempt(build(world))


EXEC_LEFTOVER = (
    "a failed exec leaves an empty exec/ directory in the container's directory (mock "
    "_exec.prepare_session makes it; execs._attached/_detached remove only the session's own)"
)
EXEC_UNCHECKED = (
    "exec options are checked by each runtime, not the Dispatcher: runc/crun reject {what} "
    "(spec helpers, after the session is recorded), the mock runs it"
)


def _exec_into_victim(
    *cmd: str,
    opts: tuple[str, ...] = (),
    needles: tuple[str, ...] = (),
    codes: tuple[int, ...] = (125,),
    any_of: tuple[str, ...] = (),
) -> Build:
    """`exec OPTS VICTIM CMD...`: an exec that might run something gets its own container.

    For 126/127 (the command itself failed) the session was legitimately recorded and removed,
    so the database file may have been rewritten; its content must still be equal.
    """

    def build(w: World) -> Attempt:
        return Attempt(
            ("exec", *opts, w.victim(), *cmd),
            needles,
            codes=codes,
            any_of=any_of,
            db_rewrite_ok=bool(set(codes) & {126, 127}),
        )

    return build


EXEC_CASES = [
    case("no-container-no-command", _ref("exec", needles=("exec needs a command",))),
    case("no-command", lambda w: Attempt(("exec", w.live), ("exec needs a command",))),
    # podman: 127, the runtime's "executable file not found"; ocimux says so before recording anything
    case("empty-string-command", _exec_into_victim("", codes=(127,), needles=("''",))),
    case("into-created", lambda w: Attempt(("exec", "fresh", "true"), ("fresh", "created"))),
    case("into-stopped", lambda w: Attempt(("exec", "done", "true"), ("done", "stopped"))),
    case("command-not-found", _exec_into_victim("/no/such/binary", needles=("/no/such/binary",), codes=(127,))),
    case("command-not-executable", _exec_into_victim("/etc/passwd", needles=("/etc/passwd",), codes=(126,))),
    case("detached-command-not-found", _exec_into_victim("/no/such/binary", opts=("-d",), needles=("/no/such/binary",), codes=(127,))),
    case("bad-detach-keys", lambda w: Attempt(("exec", "--detach-keys", "ctrl-zz", w.live, "true"), ("ctrl-zz",))),
    case("relative-workdir", _exec_into_victim("true", opts=("-w", "relative"), needles=("'relative'",))),
    case("env-without-key", _exec_into_victim("true", opts=("-e", "=x"), needles=("'=x'",))),
    case("inspect-ghost-session", _ref("exec", "--inspect", "nope", needles=("'nope'",))),
]  # fmt: skip


@pytest.mark.parametrize("build", EXEC_CASES)
def test_bad_exec_is_rejected(world: World, build: Build) -> None:
    world.attempt(build(world))


UPDATE_CASES = [
    case("no-limits", lambda w: Attempt(("update", w.live), ("nothing to update",))),
    case("memory-negative", lambda w: Attempt(("update", "--memory", "-5", w.live), ("invalid memory", "'-5'"))),
    case("memory-unknown-unit", lambda w: Attempt(("update", "--memory", "1x", w.live), ("invalid memory", "'1x'"))),
    case("memory-overflows-float", lambda w: Attempt(("update", "--memory", "1e400", w.live), ("invalid memory", "'1e400'"))),
    case("memory-beyond-i64", lambda w: Attempt(("update", "--memory", "99999999999g", w.live), ("invalid memory", "99999999999g"))),
    case("memory-nan", lambda w: Attempt(("update", "--memory", "nan", w.live), ("invalid memory", "'nan'"))),
    case("pids-limit-word", lambda w: Attempt(("update", "--pids-limit", "notanumber", w.live), ("--pids-limit", "notanumber"))),
    case("cpu-shares-float", lambda w: Attempt(("update", "--cpu-shares", "1.5", w.live), ("--cpu-shares", "1.5"))),
    case("limit-mock-cannot-apply", lambda w: Attempt(("update", "--memory", "64m", w.live), ("update_resources", "live"))),
]  # fmt: skip


@pytest.mark.parametrize("build", UPDATE_CASES)
def test_bad_update_is_rejected(world: World, build: Build) -> None:
    world.attempt(build(world))
