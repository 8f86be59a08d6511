"""conmon as the monitor of OCI-CLI runtimes: launching it and speaking its pipe protocol.

conmon (podman-oci.md §2, host.md §4) is started with `_OCI_SYNCPIPE` and `_OCI_STARTPIPE`
file descriptors in its environment. It blocks reading the start pipe; we write one byte.
Without `--sync` it double-forks: the first process writes `--conmon-pidfile` and exits at
once, and we reap it. The daemon then runs `<runtime> <runtime-args> create --bundle B
--pid-file P ID` and writes one JSON line to the sync pipe: `{"data": <pid>}` on success,
`{"data": -1, "message": "<runtime stderr>"}` on failure. When the container exits it writes
the exit code to `<persist-dir>/exit` and `<exit-dir>/<id>`, and ends. It also serves the
attach socket and `ctl` FIFO in the bundle (`--full-attach`) and writes a k8s-file log.

conmon's own stdio is /dev/null: its daemon outlives us, and any pipe we gave it would
keep our reads open until the container exits.
"""

from __future__ import annotations

import json
import os
import select
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import _spawn
from .errors import RuntimeCommandError

__all__ = ["ConmonLaunch", "SyncMessage", "conmon_alive", "launch", "read_pidfile"]


@dataclass(frozen=True, slots=True)
class ConmonLaunch:
    """Everything one conmon needs for one container (create) — its argv comes from here."""

    conmon: str
    cid: str
    name: str
    runtime_path: str
    runtime_args: tuple[str, ...]
    bundle: Path
    exit_dir: Path
    stdin: bool = False
    terminal: bool = False
    runtime_opts: tuple[str, ...] = ()
    log_level: str = "error"

    @property
    def pidfile(self) -> Path:
        return self.bundle / "pidfile"

    @property
    def conmon_pidfile(self) -> Path:
        return self.bundle / "conmon.pid"

    @property
    def log_path(self) -> Path:
        return self.bundle / "ctr.log"

    def argv(self) -> list[str]:
        argv = [
            self.conmon, "--api-version", "1", "-c", self.cid, "-u", self.cid,
            "-r", self.runtime_path, "-b", str(self.bundle), "-p", str(self.pidfile),
            "-n", self.name, "--exit-dir", str(self.exit_dir), "--persist-dir", str(self.bundle),
            "--full-attach", "-l", f"k8s-file:{self.log_path}", "--log-level", self.log_level,
            "--conmon-pidfile", str(self.conmon_pidfile), "--syslog",
        ]  # fmt: skip
        for arg in self.runtime_args:
            argv += ["--runtime-arg", arg]
        for opt in self.runtime_opts:
            argv += ["--runtime-opt", opt]
        if self.terminal:
            argv.append("-t")
        elif self.stdin:
            argv.append("-i")
        return argv


@dataclass(frozen=True, slots=True)
class SyncMessage:
    """One `{"data": N, "message": ...}` line from conmon's sync pipe."""

    data: int
    message: str = ""


def launch(spec: ConmonLaunch, *, env: Sequence[str], timeout: float) -> tuple[SyncMessage, int]:
    """Start conmon for `spec`, release it, and return its first sync message and its pid.

    Raises RuntimeCommandError if conmon cannot start, dies, or says nothing within
    `timeout`; in the timeout case the conmon daemon is killed.
    """
    sync_r, sync_w = os.pipe()
    start_r, start_w = os.pipe()
    extra = dict(kv.split("=", 1) for kv in env if "=" in kv)
    extra.update({"_OCI_SYNCPIPE": str(sync_w), "_OCI_STARTPIPE": str(start_r)})
    argv = spec.argv()
    try:
        try:
            proc = _spawn.spawn(argv, env=extra, pass_fds=(sync_w, start_r), cwd=spec.bundle)
        except OSError as exc:
            raise RuntimeCommandError(
                f"cannot run conmon {spec.conmon}: {exc.strerror}",
                argv=argv,
                verb="create",
                hint="install conmon or set [engine] conmon_path",
            ) from exc
        os.close(sync_w)
        os.close(start_r)
        sync_w = start_r = -1
        os.write(start_w, b"0")
        # the first process exits right after forking the daemon (it writes the pid file first)
        try:
            rc = _spawn.wait(proc, timeout)
        except RuntimeCommandError as exc:
            raise exc.add_context(verb="create") from None
        if rc != 0:
            raise RuntimeCommandError(
                f"conmon exited {rc} before creating the container",
                argv=argv,
                exit_status=rc,
                verb="create",
            )
        monitor_pid = read_pidfile(spec.conmon_pidfile)
        try:
            message = _read_sync(sync_r, timeout, argv)
        except RuntimeCommandError:
            if monitor_pid:
                _kill(monitor_pid)
            raise
        return message, monitor_pid or 0
    finally:
        for fd in (sync_r, sync_w, start_r, start_w):
            if fd >= 0:
                os.close(fd)


def _read_sync(fd: int, timeout: float, argv: list[str]) -> SyncMessage:
    """Read one JSON line from the sync pipe within `timeout`."""
    deadline = time.monotonic() + timeout
    buf = b""
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise RuntimeCommandError(
                f"conmon said nothing for {timeout:g}s",
                argv=argv,
                verb="create",
                hint="the runtime may hang; raise [ocimux] command_timeout or check it",
            )
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buf += chunk
    if not buf.strip():
        raise RuntimeCommandError(
            "conmon exited without reporting the container's pid", argv=argv, verb="create"
        )
    try:
        obj = json.loads(buf.split(b"\n", 1)[0])
        return SyncMessage(int(obj["data"]), str(obj.get("message", "")))
    except (ValueError, KeyError, TypeError) as exc:
        raise RuntimeCommandError(
            f"conmon sent an unreadable message: {buf[:200]!r}", argv=argv, verb="create"
        ) from exc


def read_pidfile(path: Path) -> int | None:
    """The pid in `path`, or None if it is missing or not a number."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def conmon_alive(pid: int | None) -> bool:
    """Whether `pid` is a live conmon (guards against pid reuse through /proc/PID/comm)."""
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8") as fh:
            if fh.read().strip() != "conmon":
                return False
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return False


def _kill(pid: int) -> None:
    try:
        os.kill(pid, 9)
    except (ProcessLookupError, PermissionError):
        pass
