"""Bad exec input on the real runc and crun under conmon: where the runtime plugin, not the
CLI, decides.

The corpus in tests/integration/cli/test_bad_input_corpus.py covers every parser on the mock; these
pin what depends on the runtime: an empty command, a relative working directory, an env entry
without a key (rejected by the OCI plugins' spec helpers) and a command that is missing (127)
or not executable (126). Each must be one line with podman's exit code, and leave the state
directory as it was.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Oci, one_line

SIDE_FILES = ("ocimux.db-wal", "ocimux.db-shm")


def state_tree(state: Path) -> dict[str, tuple[Any, ...]]:
    """Every entry under `state` (but SQLite's side files): mode, and size/mtime/inode of files."""
    out: dict[str, tuple[Any, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(state):
        for name in dirnames + filenames:
            if name in SIDE_FILES:
                continue
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, state)
            if stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", st.st_mode)
            else:
                out[rel] = (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino)
    return out


def sessions(oci: Oci, ref: str) -> list[dict[str, Any]]:
    return json.loads(oci.ok("exec", "--list", ref, "--format", "json"))


EMPTY_COMMAND = pytest.param((), ("",), (127,), "''", id="empty-command")
BAD_OPTIONS = [
    pytest.param(("-w", "relative"), ("true",), (125,), "'relative'", id="relative-workdir"),
    pytest.param(("-e", "=x"), ("true",), (125,), "'=x'", id="env-without-key"),
]


@pytest.mark.parametrize(("opts", "cmd", "codes", "needle"), [EMPTY_COMMAND, *BAD_OPTIONS])
def test_bad_exec_option_is_one_line_and_records_nothing(
    oci: Oci, opts: tuple[str, ...], cmd: tuple[str, ...], codes: tuple[int, ...], needle: str
) -> None:
    """`exec CTR ''` is 127, as podman answers it (the runtime's "executable file not found");
    ocimux says so itself, before anything is recorded, on every runtime."""
    oci.detach("live", "sleep", "300")
    records = oci.ps()
    done = oci("exec", *opts, "live", *cmd)
    assert done.returncode in codes, done.stderr
    line = one_line(done.stderr)
    assert line.startswith("Error: ") and needle in line and "live" in line, line
    assert sessions(oci, "live") == []
    assert oci.ps() == records


def test_empty_exec_command_leaves_the_state_dir_untouched(oci: Oci) -> None:
    oci.detach("live", "sleep", "300")
    before = state_tree(oci.state)
    assert oci("exec", "live", "").returncode == 127
    assert state_tree(oci.state) == before


@pytest.mark.parametrize(("opts", "cmd", "codes", "needle"), BAD_OPTIONS)
def test_bad_exec_option_leaves_the_state_dir_untouched(
    oci: Oci, opts: tuple[str, ...], cmd: tuple[str, ...], codes: tuple[int, ...], needle: str
) -> None:
    oci.detach("live", "sleep", "300")
    before = state_tree(oci.state)
    done = oci("exec", *opts, "live", *cmd)
    assert done.returncode in codes, done.stderr
    assert state_tree(oci.state) == before


@pytest.mark.parametrize(
    ("command", "code"),
    [pytest.param("/nonexistent", 127, id="127"), pytest.param("/etc/passwd", 126, id="126")],
)
def test_failed_exec_leaves_no_session(oci: Oci, command: str, code: int) -> None:
    cid = oci.detach("live", "sleep", "300")
    sessions_dir = oci.containers_dir / cid / "exec"
    for _ in range(10):  # the leak is a race; ten tries make it all but certain
        done = oci("exec", "live", command)
        assert done.returncode == code, done.stderr
        assert command in one_line(done.stderr)
    assert sessions(oci, "live") == []
    assert not sessions_dir.exists() or list(sessions_dir.iterdir()) == []
