"""`top`: a container's processes as the host's `ps` shows them, Docker's way.

Docker runs `ps` on the host with the client's arguments (default `-ef`) and keeps the rows
whose PID column names one of the container's processes, merging the fields after the last
title into it (the command has spaces). A container's processes here: every host process in
its init's pid namespace (exec'd processes join it), or, for a runtime that gives it none
(the mock's host processes), the init and its descendants.
"""

from __future__ import annotations

import os
import shutil

from ocimux.base import process
from ocimux.base.errors import InvalidArgumentError, StateError

__all__ = ["DEFAULT_PS_ARGS", "container_pids", "parse_ps", "top"]

DEFAULT_PS_ARGS = "-ef"
_PS_TIMEOUT = 30.0


def _pid_namespace(pid: int | str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def _host_pids() -> list[int]:
    return [int(n) for n in os.listdir("/proc") if n.isdigit()]


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
    except OSError:
        return None
    # the command (field 2) may hold spaces and parentheses: the parent comes after the last ')'
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else None


def container_pids(init_pid: int) -> set[int]:
    """The host pids of the container whose init is `init_pid` (empty once it is gone)."""
    namespace = _pid_namespace(init_pid)
    if namespace is None:
        return set()
    if namespace != _pid_namespace("self"):
        return {p for p in _host_pids() if _pid_namespace(p) == namespace}
    children: dict[int, list[int]] = {}
    for pid in _host_pids():
        parent = _parent(pid)
        if parent is not None:
            children.setdefault(parent, []).append(pid)
    found, todo = set(), [init_pid]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return found


def parse_ps(output: str, pids: set[int]) -> tuple[list[str], list[list[str]]]:
    """(titles, rows of the processes in `pids`) from `ps` output with a PID column.

    Raises InvalidArgumentError when the output has no PID column (Docker's 'Couldn't find
    PID field in ps output').
    """
    lines = output.splitlines()
    titles = lines[0].split() if lines else []
    if "PID" not in titles:
        raise InvalidArgumentError("Couldn't find PID field in ps output", hint="add -o pid")
    column = titles.index("PID")
    rows = []
    for line in lines[1:]:
        fields = line.split()
        if len(fields) <= column or not fields[column].isdigit():
            continue
        if int(fields[column]) in pids:
            last = len(titles) - 1
            rows.append([*fields[:last], " ".join(fields[last:])])
    return titles, rows


def top(
    init_pid: int | None, ps_args: str = "", *, container: str
) -> tuple[list[str], list[list[str]]]:
    """`ps ps_args` (default -ef) restricted to the container's processes: (titles, rows).

    Raises StateError when the container has no processes, InvalidArgumentError when `ps`
    refuses the arguments or prints no PID column.
    """
    if "\0" in ps_args:
        raise InvalidArgumentError("ps options contain a NUL byte")
    pids = container_pids(init_pid) if init_pid else set()
    if not pids:
        raise StateError("container is not running", container=container, verb="cannot top")
    binary = shutil.which("ps")
    if binary is None:
        raise InvalidArgumentError("ps is not installed on this host", hint="install procps")
    done = process.run([binary, *(ps_args or DEFAULT_PS_ARGS).split()], timeout=_PS_TIMEOUT)
    if done.returncode != 0:
        raise InvalidArgumentError(
            f"ps {ps_args or DEFAULT_PS_ARGS} failed: {done.stderr_text or done.returncode}"
        )
    return parse_ps(done.stdout.decode(errors="replace"), pids)
