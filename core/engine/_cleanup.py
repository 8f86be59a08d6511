"""The container's end, carried out by its monitor's exit command: `ocimux container cleanup DIR`.

podman hands `--rm` to conmon: `--exit-command podman --exit-command-arg ... container cleanup
--rm ID` runs when the container exits, whoever is still alive. ocimux does the same for a
container created with `auto_remove` (`run --rm`, the Docker API's AutoRemove): `create`
writes `DIR/cleanup.json` (the container id and the configuration the creating process used:
its config file and the environment variables that shape the configuration), and each
monitor (conmon, the shim v2 I/O monitor, the mock's shim) runs `exit_command(DIR)` when the
container has exited: `ocimux container cleanup --detach DIR` (not in `--help`; the command
itself is `_cli_cleanup.py`, this module is what it and the Dispatcher share). It:

1. detaches at once: conmon waits for its exit command, and a client's `rm` waits for conmon;
2. waits while a client that removes the container itself holds the removal claim
   (`DIR/removal.claim`, held by a foreground `run --rm` and by `ocimux serve`): that client
   reads the exit code first and removes the container; its death (any signal, SIGKILL too)
   drops the claim, and then the removal is ours;
3. under the container's lock, reconciles the record with the runtime and removes the
   container if it asked to be removed and has stopped (`decide`). A container already gone,
   re-created meanwhile (Docker's restart) or running again is left alone: the race with a
   client is harmless either way.

Errors go to syslog (stdio is /dev/null under a monitor); the next `ocimux` call reconciles.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ocimux.config import relevant_environ

if TYPE_CHECKING:
    from .store import ContainerRecord

__all__ = [
    "CLAIM",
    "ORIGIN",
    "claimed",
    "cleanup_environ",
    "decide",
    "exit_command",
    "read_origin",
    "removal_claim",
    "write_origin",
]

#: what `create` writes for the exit command: the container id, config file and environment
ORIGIN = "cleanup.json"
#: flock'ed (exclusively) by a client that removes the container itself
CLAIM = "removal.claim"
#: variables the cleanup keeps besides those that shape the configuration
_KEPT = ("PATH", "OCIMUX_CACHE_DIR", "OCIMUX_NO_CACHE")

Action = Literal["gone", "remove", "reconciled", "leave"]


# --- what create writes, what the monitor runs ---------------------------------------------


def exit_command(directory: Path) -> tuple[str, ...]:
    """The argv a monitor runs when the container of `directory` exits (absolute program first).

    `-I`: the interpreter ignores PYTHON* variables and the current directory (the monitor's
    working directory is the container's).
    """
    return (
        sys.executable, "-I", "-m", "ocimux.cli", "container", "cleanup", "--detach",
        str(directory),
    )  # fmt: skip


def cleanup_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables of `environ` the cleanup needs to see the same configuration and store.

    Those that shape the configuration (`relevant_environ`), the cache's and PATH (runtimes
    are found on it); never fault injection (`OCIMUX_CRASH_AT`) or anything else.
    """
    kept = relevant_environ(environ)
    for name in _KEPT:
        if name in environ:
            kept[name] = environ[name]
    kept.setdefault("PATH", os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"))
    return kept


def write_origin(
    directory: Path, cid: str, config_file: str | None, environ: Mapping[str, str]
) -> None:
    """Write `DIR/cleanup.json` (0600): what the exit command needs to find the container."""
    data = {"id": cid, "config_file": config_file, "environ": dict(environ)}
    path = directory / ORIGIN
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh)


def read_origin(directory: Path) -> dict[str, Any] | None:
    """`DIR/cleanup.json` if it is ours (owned by us, not writable by others), else None."""
    try:
        fd = os.open(directory / ORIGIN, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None  # removed with its container
    with os.fdopen(fd, encoding="utf-8") as fh:
        st = os.fstat(fh.fileno())
        if st.st_uid != os.geteuid() or st.st_mode & 0o022:
            return None
        try:
            data = json.load(fh)
        except ValueError:
            return None
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        return None
    return data


# --- the removal claim ---------------------------------------------------------------------


@contextmanager
def removal_claim(directory: Path) -> Iterator[None]:
    """Hold the removal claim on the container of `directory` while the `with` block runs.

    The holder promises to remove the container itself once it has exited (and to read its
    exit code first); the exit command waits until the claim is dropped, by the holder's end
    or its death. Never fails: without a claim the exit command may simply remove it sooner.
    """
    try:
        fd = os.open(
            directory / CLAIM, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
        )
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pass  # someone else claims it: their removal serves us as well
        yield
    finally:
        os.close(fd)


def claimed(directory: Path, *, wait: bool = False) -> bool:
    """Whether a client holds the removal claim; with `wait`, first wait until none does."""
    try:
        fd = os.open(directory / CLAIM, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | (0 if wait else fcntl.LOCK_NB))
                return False
            except InterruptedError:
                continue
            except BlockingIOError:
                return True
            except OSError:
                return False
    finally:
        os.close(fd)


# --- the decision --------------------------------------------------------------------------


def decide(rec: ContainerRecord | None) -> Action:
    """What the exit command does with the container's record (reconciled, under its lock).

    - no record: "gone" (its client removed it already);
    - it asked to be removed (`auto_remove`) and has stopped, or a dead process left it half
      created or half removed: "remove";
    - it did not ask: "reconciled" (the record now says stopped, with the exit code);
    - anything else (running or created again, e.g. Docker's restart; status unknown): "leave".
    """
    if rec is None:
        return "gone"
    if not rec.config.get("auto_remove"):
        return "reconciled"
    if rec.status in ("stopped", "creating", "removing"):
        return "remove"
    return "leave"
