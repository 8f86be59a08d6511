"""Security properties of ocimux's state and of how it starts processes (issue 5, deliverable 4).

1. Modes: after containers are created, started, exited and exec'd into, every file, FIFO and
   socket under the state directory, the run directory and the cache directory is private to
   its owner (`mode & 0o077 == 0`), and so is every directory. A few files are made by conmon
   or by the runtime with their own modes; each is listed in FOREIGN with its creator, the mode
   it was seen with, and the directory that keeps it private (asserted 0700).
2. An unprivileged user pointed at root's configuration cannot list, inspect or remove root's
   containers: each command fails with exit 125 and one "Error:" line, and the container runs on.
3. No shell: only `ocimux.base.process` imports subprocess, nothing uses a shell (checked in the
   source with `ast`), and shell metacharacters in a command line reach the container literally.
4. The API socket (`ocimux serve`) has not landed yet; its modes and its refusal of other users
   will be tested here when it does.

Runs on the mock (no root needed) and on runc and crun under conmon (root, the binaries).
"""

from __future__ import annotations

import ast
import json
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.integration.conftest import (
    Oci,
    alive,
    one_line,
    pids_matching,
    runtime_params,
    wait_until,
)

#: the runtimes every runtime test here runs on
ALL_RUNTIMES = [pytest.param("mock", id="mock"), *runtime_params()]


@pytest.fixture(params=ALL_RUNTIMES)
def runtime(request: pytest.FixtureRequest) -> str:
    """Overrides the conftest's `runtime` (runc, crun) to add the mock, which needs no conmon."""
    name = str(request.param)
    if name != "mock" and shutil.which("conmon") is None:
        pytest.skip("conmon not on PATH (apt install conmon)")
    return name


# --- 1. modes of the state tree ------------------------------------------------------------

ID = "[0-9a-f]{64}"
OCI_RUNTIMES = ("runc", "crun")


@dataclass(frozen=True)
class Entry:
    """One thing found under a state root, as `os.lstat` sees it (symlinks are not followed)."""

    path: Path
    #: "lib/...", "run/..." or "cache/...", ids as they are
    rel: str
    kind: str
    mode: int
    uid: int

    def __str__(self) -> str:
        return f"{self.rel} ({self.kind} {self.mode:04o}, uid {self.uid})"


_KINDS = {
    stat.S_IFDIR: "dir",
    stat.S_IFREG: "file",
    stat.S_IFIFO: "fifo",
    stat.S_IFSOCK: "socket",
    stat.S_IFLNK: "symlink",
}


def walk(root: Path, label: str) -> list[Entry]:
    """Every entry under `root` (and `root` itself), by lstat; entries that vanish are skipped."""
    out: list[Entry] = []

    def add(path: Path) -> None:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return  # e.g. an exec session's files, removed as it ended
        rel = label if path == root else f"{label}/{path.relative_to(root)}"
        kind = _KINDS.get(stat.S_IFMT(st.st_mode), "other")
        out.append(Entry(path, rel, kind, stat.S_IMODE(st.st_mode), st.st_uid))

    if not os.path.lexists(root):
        return out
    add(root)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in (*dirnames, *filenames):
            add(Path(dirpath, name))
    return out


@dataclass(frozen=True)
class Foreign:
    """A file ocimux does not create itself, with the mode its creator gives it.

    Seen under umask 022. Each is safe only because a private directory `guard_up` levels up
    (0700, ours) keeps other users out; the test asserts that directory too. Spawning conmon
    with umask 077 would make every one of these private (checked by hand: conmon, runc and
    crun then create them 0600/0700, and the container's own umask stays the spec's 0022).
    """

    pattern: str
    kind: str
    creator: str
    #: the most permissive mode it was seen with
    mode: int
    guard_up: int
    runtimes: tuple[str, ...]

    def matches(self, entry: Entry, runtime: str) -> bool:
        return (
            runtime in self.runtimes
            and entry.kind == self.kind
            and re.fullmatch(self.pattern.format(id=ID, rt=runtime), entry.rel) is not None
            and entry.mode & ~self.mode == 0
        )


CONTAINER = "lib/containers/{id}"
SESSION = "lib/containers/{id}/exec/{id}"
# fmt: off
FOREIGN = (
    Foreign(rf"{CONTAINER}(/exec/{{id}})?/conmon\.pid", "file", "conmon --conmon-pidfile", 0o644, 1, OCI_RUNTIMES),
    Foreign(rf"{CONTAINER}(/exec/{{id}})?/(ctl|winsz)", "fifo", "conmon: control and window-size FIFOs", 0o640, 1, OCI_RUNTIMES),
    Foreign(rf"{CONTAINER}(/exec/{{id}})?/exit", "file", "conmon --persist-dir: the exit code", 0o644, 1, OCI_RUNTIMES),
    Foreign(rf"{SESSION}/exits/{{id}}", "file", "conmon --exit-dir of an exec session", 0o644, 1, OCI_RUNTIMES),
    Foreign(r"run/runtimes/{rt}\.exits/{id}", "file", "conmon --exit-dir", 0o644, 1, OCI_RUNTIMES),
    Foreign(rf"{CONTAINER}/oci-log", "file", "the runtime's --log", 0o644, 1, OCI_RUNTIMES),
    # crun writes its pid files 0700 (private already); runc 0644
    Foreign(rf"{CONTAINER}/(pidfile|exec/{{id}}/exec_pid)", "file", "runc --pid-file", 0o644, 1, ("runc",)),
    Foreign(rf"{CONTAINER}/(hosts|hostname|resolv\.conf)", "file", "ocimux: /etc files bound into the container, readable by its users (podman's userdata/hosts is 0644 too)", 0o644, 1, OCI_RUNTIMES),
    Foreign(r"run/runtimes/runc/{id}", "dir", "runc: its per-container state directory", 0o711, 1, ("runc",)),
    # inside the 0711 directory above: the guard is runc's --root, two levels up
    Foreign(r"run/runtimes/runc/{id}/exec\.fifo", "fifo", "runc: exec.fifo until start", 0o622, 2, ("runc",)),
)
# fmt: on
# Not in FOREIGN because they are private already: conmon's attach sockets (0700, `srwx------`),
# its k8s-file logs (0600), crun's whole --root (0700 directories and files).


def foreign(entry: Entry, runtime: str) -> Foreign | None:
    return next((f for f in FOREIGN if f.matches(entry, runtime)), None)


def private(entry: Entry) -> bool:
    return entry.mode & 0o077 == 0 and entry.uid == os.geteuid()


def populate(oci: Oci) -> None:
    """Containers in every state, plus exec sessions attached, detached, running and ended."""
    oci.ok(*oci.new("create", "true", name="created"))
    oci.detach("exited", "true")
    oci.detach("running", "sleep", "300")
    assert oci.ok("exec", "running", "echo", "hi") == "hi\n"
    oci.ok("exec", "-d", "running", "sleep", "300")
    ended = oci.ok("exec", "-d", "running", "true").strip()
    wait_until(
        lambda: json.loads(oci.ok("exec", "--inspect", ended))["status"] == "stopped",
        10,
        "the detached exec session to end",
        poll=0.05,
    )
    oci.wait_status("exited", "stopped", timeout=10)


@pytest.fixture
def state_tree(oci: Oci) -> Iterator[list[Entry]]:
    """`populate`, then every entry of the state, run and cache directories.

    A Store is held open while walking so the database's -wal and -shm files exist (SQLite
    removes them when the last connection closes; they have the database file's mode).
    """
    from ocimux.engine.store import Store

    populate(oci)
    with Store(oci.state / "lib" / "ocimux.db") as store:
        store.list_containers()
        entries = [
            *walk(oci.state / "lib", "lib"),
            *walk(oci.state / "run", "run"),
            *walk(Path(oci.env["OCIMUX_CACHE_DIR"]), "cache"),
        ]
    yield entries


def test_state_files_fifos_and_sockets_are_private(
    oci: Oci, runtime: str, state_tree: list[Entry]
) -> None:
    by_rel = {e.rel: e for e in state_tree}
    # what must be there for the walk to mean anything
    for rel in ("lib", "lib/ocimux.db", "lib/ocimux.db-wal", "lib/ocimux.db-shm", "lib/locks"):
        assert rel in by_rel, f"{rel} missing: {sorted(by_rel)[:20]}"
    kinds = {e.kind for e in state_tree}
    assert {"file", "fifo", "socket", "dir"} <= kinds, kinds
    assert any(e.rel.endswith("/config.json") for e in state_tree)
    assert any(e.rel.endswith("/ctr.log") for e in state_tree)
    assert any(e.rel.endswith("/exit") for e in state_tree), "no exit file"
    assert any(e.rel.endswith("/attach") and e.kind == "socket" for e in state_tree)
    assert any(e.rel.endswith(".lock") for e in state_tree)
    assert any(e.rel.startswith("cache/") for e in state_tree)

    # the directories that guard everything: state dir, cache dir, locks, each container's
    for e in state_tree:
        if e.rel in ("lib", "cache", "lib/locks") or re.fullmatch(
            rf"{CONTAINER}(/exec/{{id}})?".format(id=ID), e.rel
        ):
            assert e.kind == "dir" and private(e), f"not a private directory: {e}"

    symlinks = [str(e) for e in state_tree if e.kind == "symlink"]
    assert not symlinks, f"unexpected symlinks: {symlinks}"
    exposed, excused = [], []
    for e in state_tree:
        if e.kind == "dir" or private(e):
            continue
        why = foreign(e, runtime)
        if why is None:
            exposed.append(str(e))
            continue
        guard = by_rel.get(e.rel.rsplit("/", why.guard_up)[0])
        assert guard is not None and guard.kind == "dir" and private(guard), (
            f"{e}, made by {why.creator}, is not inside a private directory: {guard}"
        )
        excused.append(e)
    assert not exposed, "readable or writable by group/other:\n  " + "\n  ".join(exposed)
    if runtime == "mock":
        assert not excused, "the mock makes every file itself: nothing is foreign"


def test_state_directories_are_private(runtime: str, state_tree: list[Entry]) -> None:
    exposed = [
        str(e)
        for e in state_tree
        if e.kind == "dir" and not private(e) and foreign(e, runtime) is None
    ]
    assert not exposed, "directories open to group/other:\n  " + "\n  ".join(exposed)


# --- 2. another user and root's state ----------------------------------------------------------


def _nobody() -> tuple[int, int]:
    try:
        pw = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user `nobody` on this host")
    return pw.pw_uid, pw.pw_gid


# Run as root in a private mount namespace: bind the interpreter's prefix where `nobody` can
# reach it, then become `nobody` (setpriv) and run the rest of argv. Needed when the interpreter
# lives under a 0700 directory (pyenv in /root); nothing leaks out of the namespace.
_AS_NOBODY = """
import os, subprocess, sys
prefix, mountpoint, uid, gid, *argv = sys.argv[1:]
subprocess.run(["mount", "--bind", "-o", "ro", prefix, mountpoint], check=True)
os.execvp("setpriv", ["setpriv", "--reuid=" + uid, "--regid=" + gid, "--clear-groups", *argv])
"""


@dataclass
class Shared:
    """root's ocimux state in a world-traversable directory, and a way to run ocimux as nobody."""

    top: Path
    conf: Path
    root_env: dict[str, str]
    nobody_env: dict[str, str]
    nobody_python: list[str]
    uid: int
    gid: int
    rootfs: Path

    def as_root(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ocimux.cli", *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=self.root_env,
            stdin=subprocess.DEVNULL,
        )

    def as_nobody(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.nobody_python, "-m", "ocimux.cli", *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=self.nobody_env,
            cwd="/",
            stdin=subprocess.DEVNULL,
        )


def _nobody_python(top: Path, uid: int, gid: int, env: dict[str, str]) -> list[str]:
    """argv that runs this interpreter as `nobody`, directly or through a bind mount."""
    setpriv = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]
    probe = [sys.executable, "-c", "import ocimux.cli"]
    done = subprocess.run([*setpriv, *probe], capture_output=True, env=env, cwd="/", timeout=60)
    if done.returncode == 0:
        return [*setpriv, sys.executable]
    if sys.prefix != sys.base_prefix or shutil.which("unshare") is None:
        pytest.skip(f"`nobody` cannot run {sys.executable} and no bind mount is possible here")
    prefix = os.path.realpath(sys.base_prefix)
    exe = os.path.relpath(os.path.realpath(sys.executable), prefix)
    mountpoint = top / "python"
    mountpoint.mkdir(mode=0o755)
    env["LD_LIBRARY_PATH"] = str(mountpoint / "lib")  # a RUNPATH into the hidden prefix
    return [
        "unshare", "--mount", "--propagation", "private", "--",
        sys.executable, "-c", _AS_NOBODY, prefix, str(mountpoint), str(uid), str(gid),
        str(mountpoint / exe),
    ]  # fmt: skip


@pytest.fixture
def shared(runtime: str, busybox_rootfs: Path) -> Iterator[Shared]:
    """root's state under a fresh /tmp directory (0755: `nobody` may walk up to ocimux's own
    directories, which alone must keep it out), with a conf file `nobody` can read."""
    if os.geteuid() != 0:
        pytest.skip("requires root (euid 0): becomes `nobody` with setpriv")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) not on PATH")
    uid, gid = _nobody()
    top = Path(tempfile.mkdtemp(prefix="ocimux-sec-", dir="/tmp"))
    helper: Shared | None = None
    try:
        top.chmod(0o755)
        conf = top / "containers.conf"
        conf.write_text(
            f'[ocimux]\nstate_dir = "{top}/state/lib"\nrun_dir = "{top}/state/run"\n'
            f'command_timeout = 20\n[engine]\nruntime = "{runtime}"\n'
        )
        conf.chmod(0o644)
        nobody_cache = top / "nobody-cache"
        nobody_cache.mkdir(mode=0o700)
        os.chown(nobody_cache, uid, gid)
        base = {k: v for k, v in os.environ.items() if not k.startswith("OCIMUX_")}
        base.pop("CONTAINERS_CONF_OVERRIDE", None)
        root_env = {**base, "CONTAINERS_CONF": str(conf), "OCIMUX_CACHE_DIR": str(top / "cache")}
        nobody_env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            "LANG": "C.UTF-8",
            "HOME": str(nobody_cache),
            "CONTAINERS_CONF": str(conf),
            "OCIMUX_CACHE_DIR": str(nobody_cache),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        python = _nobody_python(top, uid, gid, nobody_env)
        helper = Shared(top, conf, root_env, nobody_env, python, uid, gid, busybox_rootfs)
        yield helper
    finally:
        if helper is not None:
            left = helper.as_root("ps", "-a", "-q").stdout.split()
            if left:
                helper.as_root("rm", "-f", "-t", "0", *left)
        for pid in pids_matching(str(top)):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        shutil.rmtree(top, ignore_errors=True)


def _unprivileged_runtimes() -> list[Any]:
    return [pytest.param("mock", id="mock"), *runtime_params(("runc",))]


@pytest.mark.requires_root
@pytest.mark.parametrize("runtime", _unprivileged_runtimes(), indirect=True)
def test_nobody_cannot_list_inspect_or_remove_roots_containers(
    runtime: str, shared: Shared
) -> None:
    done = shared.as_root(
        "run", "-d", "--name", "victim", "--runtime", runtime,
        "--rootfs", str(shared.rootfs), "--", "sleep", "300",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    cid = done.stdout.strip()
    state_dir = f"{shared.top}/state/lib"

    for verb in (["ps", "-a"], ["inspect", "victim"], ["rm", "-f", "victim"], ["rm", "-f", cid]):
        done = shared.as_nobody(*verb)
        assert done.returncode == 125, (verb, done.returncode, done.stdout, done.stderr)
        line = one_line(done.stderr)
        assert line.startswith("Error: "), line
        assert "permission denied" in line.lower() and state_dir in line, line
        assert done.stdout == "", (verb, done.stdout)

    # nobody's configuration cache is its own; root's was not touched by nobody
    assert all(p.stat().st_uid == shared.uid for p in (shared.top / "nobody-cache").iterdir())
    assert list((shared.top / "nobody-cache").iterdir()), "nobody wrote no cache of its own"
    assert all(p.stat().st_uid == 0 for p in (shared.top / "cache").iterdir())

    rec = json.loads(shared.as_root("inspect", "victim").stdout)[0]
    assert rec["id"] == cid and rec["status"] == "running", rec
    assert alive(rec["pid"]), rec
    owned = [p for p in (shared.top / "state").rglob("*") if p.lstat().st_uid != 0]
    assert not owned, f"files of another user in root's state: {owned}"


@pytest.mark.requires_root
@pytest.mark.parametrize("runtime", [pytest.param("mock", id="mock")], indirect=True)
def test_nobody_is_told_whose_state_it_is_and_what_to_do(runtime: str, shared: Shared) -> None:
    done = shared.as_root(
        "create", "--name", "victim", "--rootfs", str(shared.rootfs), "--", "true"
    )
    assert done.returncode == 0, done.stderr
    line = one_line(shared.as_nobody("ps", "-a").stderr)
    assert "cannot create" not in line, line
    assert "state_dir" in line, line


# --- 3. no shell -------------------------------------------------------------------------------

SOURCE_DIRS = ("core", "config", "plugins")
#: the one module allowed to import subprocess (and asyncio's subprocess functions)
SPAWN_MODULE = "core/base/process.py"
#: never anywhere: they run a shell, or are the spawning API `ocimux.base.process` is there to replace
SHELL_NAMES = {
    "os.system",
    "os.popen",
    "asyncio.create_subprocess_shell",
    "asyncio.subprocess.create_subprocess_shell",
}
SPAWN_NAMES = {"asyncio.create_subprocess_exec", "asyncio.subprocess.create_subprocess_exec"}


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """`a.b.c` for a Name/Attribute chain, its first name resolved through the imports."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(aliases.get(node.id, node.id))
    return ".".join(reversed(parts))


def shell_findings(source: str, filename: str) -> list[str]:
    """Every use of a shell, and of subprocess outside `ocimux.base.process`, in one module's source."""
    tree = ast.parse(source, filename=filename)
    may_spawn = filename == SPAWN_MODULE
    aliases: dict[str, str] = {}
    found: list[str] = []

    def flag(node: ast.AST, what: str) -> None:
        found.append(f"{filename}:{getattr(node, 'lineno', '?')}: {what}")

    for node in ast.walk(tree):  # imports first: aliases must be known before calls
        if isinstance(node, ast.Import):
            for alias in node.names:
                aliases[alias.asname or alias.name.split(".")[0]] = (
                    alias.name if alias.asname else alias.name.split(".")[0]
                )
                if alias.name.split(".")[0] == "subprocess" and not may_spawn:
                    flag(node, f"import {alias.name}")
                if alias.name == "asyncio.subprocess" and not may_spawn:
                    flag(node, "import asyncio.subprocess")
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if module.split(".")[0] == "subprocess" and not may_spawn:
                flag(node, f"from {module} import ...")
            for alias in node.names:
                full = f"{module}.{alias.name}"
                aliases[alias.asname or alias.name] = full
                if full in SHELL_NAMES or (full in SPAWN_NAMES and not may_spawn):
                    flag(node, f"from {module} import {alias.name}")
                if full == "asyncio.subprocess" and not may_spawn:
                    flag(node, "from asyncio import subprocess")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg == "shell" and not (
                    isinstance(kw.value, ast.Constant) and kw.value.value is False
                ):
                    flag(node, f"shell={ast.unparse(kw.value)}")
            name = _dotted(node.func, aliases)
            if name in ("__import__", "importlib.import_module") and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and str(arg.value).split(".")[0] == "subprocess":
                    if not may_spawn:
                        flag(node, f"{name}({arg.value!r})")
        elif isinstance(node, ast.Attribute | ast.Name):
            name = _dotted(node, aliases)
            if name in SHELL_NAMES or (name in SPAWN_NAMES and not may_spawn):
                flag(node, name)
    return sorted(set(found))


def _sources() -> list[Path]:
    return sorted(p for d in SOURCE_DIRS for p in (REPO / d).rglob("*.py"))


def test_only_spawn_imports_subprocess_and_nothing_uses_a_shell() -> None:
    files = _sources()
    assert any(p.relative_to(REPO).as_posix() == SPAWN_MODULE for p in files)
    assert len(files) > 40, files  # the whole package, not an empty glob
    found = [
        finding
        for path in files
        for finding in shell_findings(path.read_text(), path.relative_to(REPO).as_posix())
    ]
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import subprocess", "import subprocess"),
        ("import subprocess as sp", "import subprocess"),
        ("from subprocess import run", "from subprocess import"),
        ("import os\nos.system('x')", "os.system"),
        ("from os import system as s\ns('x')", "from os import system"),
        ("import os as o\no.popen('x')", "os.popen"),
        ("run(['a'], shell=True)", "shell=True"),
        ("run(['a'], shell=flag)", "shell=flag"),
        ("import asyncio\nasyncio.create_subprocess_shell('x')", "create_subprocess_shell"),
        ("from asyncio import create_subprocess_exec", "create_subprocess_exec"),
        ("__import__('subprocess')", "__import__('subprocess')"),
        ("import importlib\nimportlib.import_module('subprocess')", "import_module"),
    ],
)
def test_the_shell_scan_finds_each_form(source: str, expected: str) -> None:
    found = shell_findings(source, "core/example.py")
    assert any(expected in f for f in found), found


@pytest.mark.parametrize(
    "source",
    ["from . import process\nprocess.run(['a'], timeout=1)", "run(['a'], shell=False)", "x.system"],
)
def test_the_shell_scan_passes_argv_calls(source: str) -> None:
    assert shell_findings(source, "core/example.py") == []


#: command arguments that would create the file they name if any shell ever saw them
METACHAR_FORMS = {
    "subst": "$(touch {path})",
    "backtick": "`touch {path}`",
    "semicolon": "; touch {path}",
    "and": "&& touch {path}",
    "pipe": "| touch {path}",
    "newline": "\ntouch {path}",
}


@pytest.fixture
def shell_canaries(oci: Oci) -> Iterator[Callable[[str], dict[Path, str]]]:
    """`make(tag)` -> {canary path under /tmp: argument}; afterwards no canary may exist, on the
    host or in the rootfs (the mock runs host processes, runc and crun see the rootfs's /tmp)."""
    made: list[Path] = []

    def make(tag: str) -> dict[Path, str]:
        out = {}
        for key, form in METACHAR_FORMS.items():
            canary = Path("/tmp") / f"ocimux-shell-{tag}-{key}-{uuid.uuid4().hex[:12]}"
            out[canary] = form.format(path=canary)
            made.append(canary)
        return out

    yield make
    places = [p for c in made for p in (c, oci.rootfs / "tmp" / c.name)]
    leaked = [p for p in places if os.path.lexists(p)]
    for p in leaked:
        p.unlink()
    assert not leaked, f"a shell ran: {leaked}"


def created(canary: Path, rootfs: Path) -> bool:
    return os.path.lexists(canary) or os.path.lexists(rootfs / "tmp" / canary.name)


def test_metacharacters_in_run_arguments_reach_the_container_literally(
    oci: Oci, shell_canaries: Callable[[str], dict[Path, str]]
) -> None:
    canaries = shell_canaries("run")
    for canary, arg in canaries.items():
        done = oci(*oci.new("run", "echo", arg, flags=["--rm"]))
        assert (done.returncode, done.stdout) == (0, f"{arg}\n"), done.stderr
        assert not created(canary, oci.rootfs), arg
    env_canary, env_arg = next(iter(shell_canaries("env").items()))
    done = oci(*oci.new("run", "env", flags=["--rm", "-e", f"X={env_arg}"]))
    assert done.returncode == 0, done.stderr
    assert f"\nX={env_arg}\n" in f"\n{done.stdout}", done.stdout
    assert not created(env_canary, oci.rootfs)
    assert oci.ps() == []


def test_metacharacters_in_exec_arguments_reach_the_container_literally(
    oci: Oci, shell_canaries: Callable[[str], dict[Path, str]]
) -> None:
    oci.detach("target", "sleep", "300")
    for canary, arg in shell_canaries("exec").items():
        done = oci("exec", "target", "echo", arg)
        assert (done.returncode, done.stdout) == (0, f"{arg}\n"), done.stderr
        assert not created(canary, oci.rootfs), arg
    for canary, arg in shell_canaries("exec-d").items():
        sid = oci.ok("exec", "-d", "target", "echo", arg).strip()
        wait_until(
            lambda sid=sid: json.loads(oci.ok("exec", "--inspect", sid))["status"] == "stopped",
            10,
            "the detached exec to end",
            poll=0.05,
        )
        assert json.loads(oci.ok("exec", "--inspect", sid))["exit_code"] == 0
        assert not created(canary, oci.rootfs), arg


@pytest.mark.parametrize("runtime", [pytest.param("mock", id="mock")], indirect=True)
def test_a_name_with_shell_metacharacters_is_refused(
    oci: Oci, shell_canaries: Callable[[str], dict[Path, str]]
) -> None:
    for canary, arg in shell_canaries("name").items():
        name = f"a{arg}"
        done = oci(*oci.new("run", "true", name=name, flags=["--rm"]))
        assert done.returncode == 125, (name, done.stdout, done.stderr)
        line = one_line(done.stderr)
        assert line.startswith("Error: invalid container name"), line
        assert not created(canary, oci.rootfs)
    assert oci.ps() == []


# --- 4. the API socket ---------------------------------------------------------------------------
# `ocimux serve` (the Docker/podman API on a unix socket) has not landed. When it does, test
# here: the socket is 0600 (or 0660 with a configured group) inside a 0700 directory, and a
# connection from another uid is refused (SO_PEERCRED), as the CLI is refused above.
