"""conmon as the monitor of OCI-CLI runtimes: launching it and speaking its pipe protocol.

conmon (podman-oci.md §2, host.md §4) is started with `_OCI_SYNCPIPE` and `_OCI_STARTPIPE`
file descriptors in its environment. It blocks reading the start pipe; we write one byte.
Without `--sync` it double-forks: the first process writes `--conmon-pidfile` and exits at
once, and we reap it. The daemon then runs `<runtime> <runtime-args> create --bundle B
--pid-file P ID` and writes one JSON line to the sync pipe: `{"data": <pid>}` on success,
`{"data": -1, "message": "<runtime stderr>"}` on failure. When the container exits it writes
the exit code to `<persist-dir>/exit` and `<exit-dir>/<id>`, and ends. It also serves the
attach socket and `ctl` FIFO in the bundle (`--full-attach`) and writes a k8s-file log.

Both exit files are on the run dir: conmon 2.1 writes the persist one first and exits without
writing the other if that fails (a full disk lost every exit code). With `--log-size-max N`,
conmon 2.1 replaces the log by an empty file (`<log>.tmp` renamed over it) whenever the next
line would take it past N bytes: the log never exceeds N and keeps only the lines written
since the last such turn; no earlier part is kept.

conmon's own stdio is /dev/null: its daemon outlives us, and any pipe we gave it would
keep our reads open until the container exits. Its environment, which the runtime inherits,
is `conmon_environ`'s: podman's rules.
"""

from __future__ import annotations

import json
import os
import select
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ocimux.base import process
from ocimux.base.errors import ConfigError, RuntimeCommandError
from ocimux.base.monitorfiles import named_process_alive, read_pidfile
from ocimux.io.exitcommand import exit_command_argv

__all__ = [
    "ConmonLaunch",
    "SyncMessage",
    "conmon_alive",
    "conmon_environ",
    "launch",
    "prepare_exec",
    "release_exec",
]


@dataclass(frozen=True, slots=True)
class ConmonLaunch:
    """Everything one conmon needs for one container or exec session; its argv comes from here.

    `directory` is conmon's `-b`: the container's bundle, or an exec session's own directory
    (conmon puts `attach`, `ctl` and `winsz` there). With `exec_spec`, conmon runs
    `<runtime> exec --process SPEC --detach` instead of `create`, and (`--exec-attach`) waits
    on the attach pipe until the caller has connected to the socket.
    """

    conmon: str
    cid: str
    name: str
    runtime_path: str
    runtime_args: tuple[str, ...]
    directory: Path
    exit_dir: Path
    stdin: bool = False
    terminal: bool = False
    runtime_opts: tuple[str, ...] = ()
    log_level: str = "error"
    #: the exec session id (conmon's `-u`), with `exec_spec`
    session: str | None = None
    exec_spec: Path | None = None
    #: restore from this checkpoint image instead of creating (`--restore`)
    restore: Path | None = None
    #: conmon's `--persist-dir`, where it writes `exit` (None: `directory`). On the run dir:
    #: conmon writes this file first and gives up on the `--exit-dir` one if it cannot
    persist_dir: Path | None = None
    #: conmon's `--log-size-max` in bytes (-1: unlimited)
    log_size_max: int = -1
    #: run when the container has exited (`--exit-command` + `--exit-command-arg`s): conmon
    #: forks it after writing the exit files and waits for it; never for an exec session
    exit_command: tuple[str, ...] = ()
    #: the k8s-file log (None: `ctr.log` / `exec.log` in `directory`)
    log: Path | None = None
    #: `--systemd-cgroup` (`-s`): conmon then passes `--systemd-cgroup` to the runtime first,
    #: for create and restore (not exec); `[engine] cgroup_manager = "systemd"`
    systemd_cgroup: bool = False

    @property
    def pidfile(self) -> Path:
        return self.directory / ("exec_pid" if self.exec_spec else "pidfile")

    @property
    def conmon_pidfile(self) -> Path:
        return self.directory / "conmon.pid"

    @property
    def log_path(self) -> Path:
        if self.log is not None:
            return self.log
        return self.directory / ("exec.log" if self.exec_spec else "ctr.log")

    def argv(self) -> list[str]:
        argv = [
            self.conmon, "--api-version", "1", "-c", self.cid, "-u", self.session or self.cid,
            "-r", self.runtime_path, "-b", str(self.directory), "-p", str(self.pidfile),
            "-n", self.name, "--exit-dir", str(self.exit_dir),
            "--persist-dir", str(self.persist_dir or self.directory),
            "--full-attach", "-l", f"k8s-file:{self.log_path}", "--log-level", self.log_level,
            "--conmon-pidfile", str(self.conmon_pidfile), "--syslog",
        ]  # fmt: skip
        if self.systemd_cgroup:
            argv.append("--systemd-cgroup")
        for arg in self.runtime_args:
            argv += ["--runtime-arg", arg]
        for opt in self.runtime_opts:
            argv += ["--runtime-opt", opt]
        if self.terminal:
            argv.append("-t")
        elif self.stdin:
            argv.append("-i")
        if self.exec_spec is not None:
            argv += ["-e", "--exec-attach", "--exec-process-spec", str(self.exec_spec)]
        if self.restore is not None:
            argv += ["--restore", str(self.restore)]
        if self.log_size_max > 0:
            argv += ["--log-size-max", str(self.log_size_max)]
        if self.exit_command and self.exec_spec is None:
            argv += exit_command_argv(self.exit_command)
        return argv


@dataclass(frozen=True, slots=True)
class SyncMessage:
    """One `{"data": N, "message": ...}` line from conmon's sync pipe."""

    data: int
    message: str = ""


def conmon_environ(
    config_vars: Sequence[str],
    extra: Sequence[str] = (),
    *,
    environ: Mapping[str, str] | None = None,
    euid: int | None = None,
) -> dict[str, str]:
    """conmon's environment as podman (v4.8 and later) builds it; the runtime inherits it.

    Later wins, as with duplicate names in Go's `exec.Cmd.Env`:
    1. `config_vars`: `[engine] conmon_env_vars` (podman's default: its PATH list);
    2. ocimux's own environment (`environ`), but NOTIFY_SOCKET, and DBUS_SESSION_BUS_ADDRESS
       when root (podman's configureConmonEnv, containers/podman#20148: the whole
       environment, so a variable ocimux has, PATH included, wins over the configured one);
    3. `XDG_RUNTIME_DIR=` (empty) when root: podman's rootless runtime dir, empty for root;
    4. `extra`: `[ocimux.plugins.NAME] conmon_env`, ocimux's per-runtime items.
    Raises ConfigError for an item that is not `NAME=value`.
    """
    environ = os.environ if environ is None else environ
    root = (os.geteuid() if euid is None else euid) == 0
    out = _items(config_vars, "[engine] conmon_env_vars")
    for name, value in environ.items():
        if name == "NOTIFY_SOCKET" or (root and name == "DBUS_SESSION_BUS_ADDRESS"):
            continue
        out[name] = value
    if root:
        out["XDG_RUNTIME_DIR"] = ""
    out.update(_items(extra, "conmon_env"))
    return out


def _items(items: Sequence[str], key: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = str(item).partition("=")
        if not sep or not name:
            raise ConfigError(f"{item!r} is not NAME=value", key=key)
        out[name] = value
    return out


def launch(
    spec: ConmonLaunch, *, env: Mapping[str, str], timeout: float
) -> tuple[SyncMessage, int]:
    """Start conmon for a container (create or restore), release it, and return its first
    sync message and its pid. Exec sessions start through `prepare_exec`/`release_exec`.

    `env` is conmon's whole environment (`conmon_environ`), plus its pipes.

    Raises RuntimeCommandError if conmon cannot start, dies, or says nothing within
    `timeout`; in the timeout case the conmon daemon is killed.
    """
    pipes = _Pipes(2)
    sync_r, sync_w = pipes.pair(0)
    start_r, start_w = pipes.pair(1)
    extra = {**env, "_OCI_SYNCPIPE": str(sync_w), "_OCI_STARTPIPE": str(start_r)}
    child_fds = [sync_w, start_r]
    argv = spec.argv()
    with pipes:
        try:
            # umask 077: conmon's pid, exit, ctl and log files are private; the container's
            # process keeps its own umask (the runtime sets it from the spec)
            proc = process.spawn(
                argv,
                env=extra,
                inherit_env=False,
                pass_fds=child_fds,
                cwd=spec.directory,
                umask=0o077,
            )
        except OSError as exc:
            raise RuntimeCommandError(
                f"cannot run conmon {spec.conmon}: {exc.strerror}",
                argv=argv,
                verb=_verb(spec),
                hint="install conmon or set [engine] conmon_path",
            ) from exc
        pipes.close(*child_fds)
        os.write(start_w, b"0")
        # the first process exits right after forking the daemon (it writes the pid file first)
        try:
            rc = process.wait(proc, timeout)
        except RuntimeCommandError as exc:
            raise exc.add_context(verb=_verb(spec)) from None
        if rc != 0:
            raise RuntimeCommandError(
                f"conmon exited {rc} before starting", argv=argv, exit_status=rc, verb=_verb(spec)
            )
        monitor_pid = read_pidfile(spec.conmon_pidfile)
        try:
            message = _read_sync(sync_r, timeout, argv)
        except BaseException:
            if monitor_pid:
                _kill(monitor_pid)
            raise
        return message, monitor_pid or 0


#: an exec session's start gate and sync channel: FIFOs in its directory, so that the
#: process that releases it (`release_exec`) need not be the one that prepared it
START_FIFO = "conmon-start"
SYNC_FIFO = "conmon-sync"


def prepare_exec(spec: ConmonLaunch, *, env: Mapping[str, str], timeout: float) -> int:
    """Start conmon for an exec session; return its pid once its attach socket is ready.

    The process runs only after `release_exec`. conmon's start and sync pipes are FIFOs in
    the session's directory, opened read-write on both sides: a read of the start FIFO
    blocks until a byte comes (there is always a writer), and the sync message waits in
    the sync FIFO's buffer for whoever releases the session.
    """
    directory = spec.directory
    fds: list[int] = []
    try:
        for name in (START_FIFO, SYNC_FIFO):
            (directory / name).unlink(missing_ok=True)
            os.mkfifo(directory / name, 0o600)
        start_fd = os.open(directory / START_FIFO, os.O_RDWR | os.O_CLOEXEC)
        fds.append(start_fd)
        sync_fd = os.open(directory / SYNC_FIFO, os.O_RDWR | os.O_CLOEXEC)
        fds.append(sync_fd)
        attach_r, attach_w = os.pipe()
        fds += [attach_r, attach_w]
        extra = {
            **env,
            "_OCI_SYNCPIPE": str(sync_fd),
            "_OCI_STARTPIPE": str(start_fd),
            "_OCI_ATTACHPIPE": str(attach_w),
        }
        argv = spec.argv()
        try:
            proc = process.spawn(
                argv,
                env=extra,
                inherit_env=False,
                pass_fds=[sync_fd, start_fd, attach_w],
                cwd=spec.directory,
                umask=0o077,
            )
        except OSError as exc:
            raise RuntimeCommandError(
                f"cannot run conmon {spec.conmon}: {exc.strerror}",
                argv=argv,
                verb="exec",
                hint="install conmon or set [engine] conmon_path",
            ) from exc
        os.close(attach_w)
        fds.remove(attach_w)
        os.write(start_fd, b"0")
        try:
            rc = process.wait(proc, timeout)
        except RuntimeCommandError as exc:
            raise exc.add_context(verb="exec") from None
        if rc != 0:
            raise RuntimeCommandError(
                f"conmon exited {rc} before starting", argv=argv, exit_status=rc, verb="exec"
            )
        monitor_pid = read_pidfile(spec.conmon_pidfile)
        try:
            ready = _read_sync(attach_r, timeout, argv)
            if ready.data < 0:
                raise RuntimeCommandError(
                    ready.message or "conmon could not set up the attach socket",
                    argv=argv,
                    verb="exec",
                )
        except BaseException:
            if monitor_pid:
                _kill(monitor_pid)
            raise
        return monitor_pid or 0
    finally:
        for fd in fds:
            os.close(fd)


def release_exec(directory: Path, *, timeout: float) -> SyncMessage:
    """Let a prepared exec session's process run; conmon's message (its pid, or the error)."""
    try:
        sync_fd = os.open(directory / SYNC_FIFO, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise RuntimeCommandError(
            f"the exec session was not prepared ({exc.strerror})", verb="exec"
        ) from exc
    try:
        try:
            start_fd = os.open(directory / START_FIFO, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:  # ENXIO: no reader, conmon is gone
            raise RuntimeCommandError(
                f"the exec session's conmon is gone ({exc.strerror})", verb="exec"
            ) from exc
        try:
            os.write(start_fd, b"0")
        finally:
            os.close(start_fd)
        return _read_sync(sync_fd, timeout, [str(directory / SYNC_FIFO)])
    finally:
        os.close(sync_fd)
        for name in (START_FIFO, SYNC_FIFO):
            (directory / name).unlink(missing_ok=True)


def _verb(spec: ConmonLaunch) -> str:
    return "exec" if spec.exec_spec else "create"


class _Pipes:
    """Pipes for conmon, closed on exit from the `with` block unless handed over already."""

    def __init__(self, count: int) -> None:
        self._fds: list[int] = []
        for _ in range(count):
            self._fds.extend(os.pipe())

    def pair(self, n: int) -> tuple[int, int]:
        return self._fds[2 * n], self._fds[2 * n + 1]

    def close(self, *fds: int) -> None:
        for fd in fds:
            if fd in self._fds:
                os.close(fd)
                self._fds[self._fds.index(fd)] = -1

    def __enter__(self) -> _Pipes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(*[fd for fd in self._fds if fd >= 0])


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
        raise RuntimeCommandError("conmon exited without reporting a pid", argv=argv)
    try:
        obj = json.loads(buf.split(b"\n", 1)[0])
        return SyncMessage(int(obj["data"]), str(obj.get("message", "")))
    except (ValueError, KeyError, TypeError) as exc:
        raise RuntimeCommandError(
            f"conmon sent an unreadable message: {buf[:200]!r}", argv=argv
        ) from exc


def conmon_alive(pid: int | None) -> bool:
    """Whether `pid` is a live conmon."""
    return named_process_alive(pid, "conmon")


def _kill(pid: int) -> None:
    try:
        os.kill(pid, 9)
    except (ProcessLookupError, PermissionError):
        pass
