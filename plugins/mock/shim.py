"""The mock runtime's monitor, a small conmon: `python -m ocimux.plugins.mock.shim ...`.

Command line (built by `MockRuntime`, not meant for people):

    --dir DIR      the directory it monitors: a container's bundle or an exec session's dir
    --spec FILE    the runtime spec to run, relative to DIR (`config.json`, `process.json`)
    --log FILE     the k8s-file log, relative to DIR (`ctr.log`, `exec.log`)
    --sync-fd N    conmon's sync pipe: one JSON line, `{"data": PID}` or
                   `{"data": -1, "message": TEXT}` (plus `"errno": N` when the exec failed)
    --gate         hold the process until the FIFO `DIR/start` is written (create/start split;
                   an attached exec session: conmon's `--exec-attach`)
    --stdin        give the process a stdin pipe fed by attach clients (else /dev/null)
    --terminal     give the process a pseudo-terminal as stdin, stdout and stderr (`-t`)
    --check-command  before anything runs, check that `args[0]` resolves to an executable
                   file and report ENOENT / EACCES on the sync pipe if not (for a gated exec,
                   whose exec cannot be waited for)
    --pid-file F   write the process's pid to `DIR/F` (`exec_pid` for an exec session)
    --log-size-max N  cap the log at N bytes as conmon does (`ocimux.logwriter`; -1: none)
    --exit-file F  where to write the exit code (default `DIR/exit`; the runtime gives one on
                   the run dir, as conmon's `--persist-dir`: a full state disk cannot refuse it)
    --exit-command=ARG  (repeated) the argv to run once the process has exited and `exit`
                   is written, detached (conmon's `--exit-command`; `ocimux.exitcommand`)

Lifecycle:

1. Daemonize like conmon: fork; the parent writes the child's pid to its stdout (conmon's
   `--conmon-pidfile`) and exits at once (the caller reaps it); the child calls setsid and
   carries on, surviving the `ocimux` process that created it.
2. Record itself in `mock-state.json`, validate the spec (the rootfs must exist; with
   `--check-command` the command too), create the start FIFO, the control FIFO `ctl` (held
   open for reading and writing, so it never reads EOF), the attach socket (bound by its
   relative name after chdir into DIR: sun_path holds only 108 bytes) and the log, allocate
   the pseudo-terminal with `--terminal`, then fork the process.
3. The process gets its own session and process group, default signal dispositions and pipes
   to the shim as stdout/stderr, or with `--terminal` the pty's slave as stdin, stdout, stderr
   and controlling terminal. With `--gate` it blocks opening `start` for reading until
   `MockRuntime.start_container` (or an attaching exec) writes a byte; meanwhile signals take
   their default action (SIGTERM and SIGKILL kill it, SIGSTOP stops it). A gated process with
   a terminal then waits for the shim to apply the resizes already written to `ctl`. Then it
   chdirs to `<rootfs>/<cwd>` (or the rootfs) and execs `args` with exactly the spec's env.
   If the exec fails it writes a message to stderr and exits 127 (not found) or 126 (cannot
   invoke), as a shell does. Without `--gate` the shim waits for the exec before reporting,
   so the failure is reported on the sync pipe instead.
4. Report `{"data": PID}`, then relay: output goes to the log (`TIMESTAMP STREAM F|P LINE`)
   and to every attach client as packets `b"\\x02"+data` (stdout) / `b"\\x03"+data` (stderr)
   of at most 8192 payload bytes; bytes from a client go to stdin; a client's EOF
   (`shutdown(SHUT_WR)` or close) closes stdin. Output produced while no client is connected
   goes only to the log. With a terminal all output is stdout, input goes to the pty and EOF
   closes nothing. `1 <height> <width>` lines on `ctl` resize the terminal.
5. When the process exits: SIGKILL what is left of its process group (with a terminal, of its
   session), as the end of a pid namespace would, drain the output, write `exit` (the exit
   code, or 128+signal), reap the process, close every client (their `recv` returns b""),
   remove the socket and the FIFOs, start the exit command (if any), exit. The output is
   drained before `exit` is written, so whoever sees the exit file sees the whole log.
   `exit` is the one file the end must write: it goes where `--exit-file` says.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import socket
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from ocimux.monitor import STDERR, STDOUT, Monitor, exit_code_of

from ._bundle import (
    ProcessSpec,
    SpecError,
    classify_exec_error,
    command_error,
    env_map,
    load_spec,
    resolve_cwd,
)
from ._child import exec_child, write_all
from ._proc import (
    EXIT_FILE,
    START_FIFO,
    STATE_FILE,
    ShimState,
    pids_in_session,
    proc_stat,
    remove_quietly,
    write_atomic,
)

__all__ = ["main"]

#: how long an ungated process may take to exec before the shim gives up waiting
EXEC_CHECK_TIMEOUT = 30.0


class SetupError(Exception):
    """The shim cannot start the process; `message` goes to the sync pipe."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errno = errno


class Setup:
    """Create a shim's files and process (step 2 above), or undo them after a failure.

    Runs with DIR as its working directory; every file name is relative to it.
    """

    def __init__(
        self,
        directory: Path,
        spec_name: str,
        log_name: str,
        *,
        gate: bool,
        stdin: bool,
        terminal: bool = False,
        check_command: bool = False,
        pid_file: str | None = None,
        log_size_max: int = -1,
        exit_file: str = EXIT_FILE,
        exit_command: Sequence[str] = (),
    ):
        self.directory = directory
        self.log_size_max = log_size_max
        self.exit_file = exit_file
        self.spec_name = spec_name
        self.log_name = log_name
        self.gate = gate
        self.want_stdin = stdin
        self.terminal = terminal
        self.check_command = check_command
        self.pid_file = pid_file
        self.exit_command = tuple(exit_command)
        self.pid = 0
        self.monitor: Monitor | None = None
        self.sync_fd: int | None = None
        self._made: list[str] = []

    def start(self) -> int:
        """Create the files and the process; return its pid. Raises SetupError."""
        me = os.getpid()
        my_stat = proc_stat(me)
        state = ShimState(me, my_stat.starttime if my_stat else 0)
        state.save(self.directory)
        self._made.append(STATE_FILE)
        try:
            spec = load_spec(Path(self.spec_name).resolve())
        except SpecError as exc:
            raise SetupError(str(exc)) from None
        if not spec.rootfs.is_dir():
            raise SetupError(f"rootfs {spec.rootfs} does not exist or is not a directory")
        if self.check_command:
            error = command_error(
                spec.args[0], env_map(spec.env), resolve_cwd(spec.rootfs, spec.cwd)
            )
            if error is not None:
                raise SetupError(classify_exec_error(spec.args[0], error)[1], error.errno)
        if self.gate:
            remove_quietly(Path(START_FIFO))
            os.mkfifo(START_FIFO, 0o600)
            self._made.append(START_FIFO)
        self.monitor = Monitor(  # the attach socket, the ctl FIFO and the log
            log=self.log_name,
            exit_file=self.exit_file,
            terminal=self.terminal,
            log_size_max=self.log_size_max,
            exit_command=self.exit_command,
        )
        if self.terminal:
            self._spawn_with_terminal(spec, self.monitor)
        else:
            self._spawn_process(spec, self.monitor)
        child = proc_stat(self.pid)
        ShimState(state.shim_pid, state.shim_start, self.pid, child.starttime if child else 0).save(
            self.directory
        )
        if self.pid_file:
            write_atomic(Path(self.pid_file), b"%d" % self.pid)
            self._made.append(self.pid_file)
        return self.pid

    def _spawn_process(self, spec: ProcessSpec, monitor: Monitor) -> None:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        if self.want_stdin:
            in_r, in_w = os.pipe()
        else:
            in_r, in_w = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC), -1
        check_r, check_w = (-1, -1) if self.gate else os.pipe()
        pid = os.fork()
        if pid == 0:
            exec_child(spec, (in_r, out_w, err_w), self.gate, None if self.gate else check_w)
        self.pid = pid
        for fd in (in_r, out_w, err_w, check_w):
            if fd >= 0:
                os.close(fd)
        monitor.add_output(out_r, STDOUT)
        monitor.add_output(err_r, STDERR)
        if in_w >= 0:
            monitor.set_stdin(in_w)
        self._check_exec(check_r)

    def _spawn_with_terminal(self, spec: ProcessSpec, monitor: Monitor) -> None:
        """Fork the process on a new pty: the master is its output, its input and its size.

        The shim keeps no slave open, so reading the master fails with EIO once the
        process and its session are gone: that is the output's EOF.
        """
        master, slave = os.openpty()
        sync_fd: int | None = None  # the child's end
        if self.gate:
            shim_end, child_end = socket.socketpair()
            self.sync_fd, sync_fd = shim_end.detach(), child_end.detach()
        check_r, check_w = (-1, -1) if self.gate else os.pipe()
        pid = os.fork()
        if pid == 0:
            exec_child(
                spec,
                (slave, slave, slave),
                self.gate,
                None if self.gate else check_w,
                terminal=True,
                sync=sync_fd,
            )
        self.pid = pid
        for fd in (slave, check_w, sync_fd if sync_fd is not None else -1):
            if fd >= 0:
                os.close(fd)
        monitor.add_output(master, STDOUT)
        monitor.set_stdin(os.dup(master))
        monitor.set_terminal(os.dup(master))
        self._check_exec(check_r)

    def _check_exec(self, check_r: int) -> None:
        """For an ungated process: wait for its exec; raise SetupError if it failed."""
        if check_r < 0:
            return
        failure = _read_to_eof(check_r, EXEC_CHECK_TIMEOUT)
        if failure:
            os.waitpid(self.pid, 0)
            self.pid = 0
            number, _, message = failure.decode(errors="replace").partition(":")
            raise SetupError(message, int(number) if number.isdigit() else None)

    def abort(self) -> None:
        """Undo `start` after a failure: kill the process if any, remove every file made."""
        if self.pid:
            for kill in (os.killpg, os.kill):  # not a group leader yet if just forked
                try:
                    kill(self.pid, signal.SIGKILL)
                    break
                except OSError:
                    continue
            os.waitpid(self.pid, 0)
        if self.monitor is not None:
            self.monitor.abandon()
            log = Path(self.log_name)
            if log.exists() and log.stat().st_size == 0:
                remove_quietly(log)
        for name in reversed(self._made):
            remove_quietly(Path(name))

    def relay(self) -> None:
        """Serve the process until it exits (step 4), then end it (step 5)."""
        monitor = self.monitor
        assert monitor is not None
        pidfd = os.pidfd_open(self.pid)
        monitor.watch(pidfd, monitor.stop)
        if self.sync_fd is not None:
            monitor.watch(self.sync_fd, self._answer_sync)
        if self.gate:
            monitor.remove_on_close.append(START_FIFO)
        monitor.run()
        info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)
        assert info is not None
        try:
            os.killpg(self.pid, signal.SIGKILL)  # the leader is a zombie: its group id is ours
        except OSError:
            pass
        if self.terminal:
            # A terminal's jobs may run in groups of their own (a shell's job control), and
            # they hold the slave: the whole session goes, as with the end of a pid namespace.
            for pid in pids_in_session(self.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        self._close_sync()
        monitor.record_exit(exit_code_of(info))
        os.waitpid(self.pid, 0)
        os.close(pidfd)
        monitor.close()  # and the exit command: the container's end is ours to start

    def _answer_sync(self) -> None:
        """The gated process passed its gate: apply pending resizes, then let it exec."""
        assert self.monitor is not None and self.sync_fd is not None
        self.monitor.read_control()
        try:
            os.write(self.sync_fd, b"g")
        except OSError:
            pass  # it died meanwhile
        self._close_sync()

    def _close_sync(self) -> None:
        if self.sync_fd is not None and self.monitor is not None:
            self.monitor.unwatch(self.sync_fd)
            os.close(self.sync_fd)
            self.sync_fd = None


def _read_to_eof(fd: int, timeout: float) -> bytes:
    """Read `fd` until EOF or `timeout` seconds; close it; return what was read."""
    deadline = time.monotonic() + timeout
    chunks = []
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0 and sel.select(timeout=left):
            data = os.read(fd, 4096)
            if not data:
                break
            chunks.append(data)
    os.close(fd)
    return b"".join(chunks)


def _report(fd: int, payload: dict[str, object]) -> None:
    try:
        write_all(fd, json.dumps(payload).encode() + b"\n")
    except OSError:
        pass  # the runtime gave up waiting; it cleans up after us
    finally:
        os.close(fd)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ocimux.plugins.mock.shim")
    parser.add_argument("--dir", required=True)
    parser.add_argument("--spec", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--sync-fd", type=int, required=True)
    parser.add_argument("--gate", action="store_true")
    parser.add_argument("--stdin", action="store_true")
    parser.add_argument("--terminal", action="store_true")
    parser.add_argument("--check-command", action="store_true")
    parser.add_argument("--pid-file")
    parser.add_argument("--log-size-max", type=int, default=-1)
    parser.add_argument("--exit-file", default=EXIT_FILE)
    parser.add_argument("--exit-command", action="append", default=[])
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Daemonize, set up, report on the sync pipe, relay until the process exits."""
    opts = _parse(argv)
    shim = os.fork()
    if shim != 0:  # the intermediate: tell the caller the shim's pid (stdout), exit, be reaped
        write_all(1, b"%d\n" % shim)
        os._exit(0)
    os.setsid()
    os.umask(0o077)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    os.chdir(opts.dir)
    setup = Setup(
        Path(opts.dir),
        opts.spec,
        opts.log,
        gate=opts.gate,
        stdin=opts.stdin,
        terminal=opts.terminal,
        check_command=opts.check_command,
        pid_file=opts.pid_file,
        log_size_max=opts.log_size_max,
        exit_file=opts.exit_file,
        exit_command=opts.exit_command,
    )
    try:
        pid = setup.start()
    except Exception as exc:
        if isinstance(exc, SetupError):
            failure = exc
        else:
            traceback.print_exc()  # stderr is mock-shim.log
            failure = SetupError(f"mock shim failed: {exc}")
        setup.abort()
        payload: dict[str, object] = {"data": -1, "message": failure.message}
        if failure.errno is not None:
            payload["errno"] = failure.errno
        _report(opts.sync_fd, payload)
        return 1
    _report(opts.sync_fd, {"data": pid})
    setup.relay()
    return 0


if __name__ == "__main__":
    status = main()
    sys.stderr.flush()
    os._exit(status)  # skip the interpreter's teardown: an attached exec waits for our end
