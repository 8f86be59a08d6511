"""The monitor of one process of a `ProcessRuntime`: `python -m ocimux.io.processmonitor`.

A small conmon. Started by the runtime (`ocimux.oci._monitorctl.launch`) with `--dir DIR` (the
directory it serves and works in: a container's bundle, or an exec session's directory; also
what `ocimux system check` finds it by), `--sync-fd N` and its `Launch` (JSON) on stdin; not
meant for people.

1. Daemonize like conmon: fork; the parent writes the child's pid to its stdout and exits at
   once (the caller reaps it); the child calls setsid and carries on, surviving the `ocimux`
   process that created it.
2. Record itself in `monitor.json`; make the start FIFO, the control FIFO and attach socket
   and the log (`ocimux.io.monitor.Monitor`), the pseudo-terminal of `io.size` with a terminal;
   fork the child (`_processchild.exec_child`), held before exec until `start` opens the
   gate, or, with `Command.gate_fd`, exec'd at once: then wait until the exec succeeded, the
   sandbox said which process is the container's (`pid_fd`) and that process sleeps reading
   the gate (its /proc syscall names the fd), so setup errors are create's errors.
3. Report `{"data": PID}` (or `{"data": -1, "message": TEXT}`) on the sync fd; then relay
   output, input and resizes (`Monitor`) until the child exits.
4. Then SIGKILL what is left of the child's process group (with a terminal, its session), as
   the end of a pid namespace would; drain the output; write the exit file (the exit code, or
   128+signal); reap; close the clients; remove the socket, FIFOs; start the exit command.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import selectors
import signal
import struct
import sys
import termios
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from ._launch import Launch
from ._processchild import enter_pid_namespace, exec_child, restore_pid_namespace, write_all
from ._procfs import START_FIFO, MonitorState, pids_in_session, proc_stat, remove_quietly
from .monitor import STDERR, STDOUT, Monitor, exit_code_of

__all__ = ["main"]

#: how long a sandbox may take to exec, report its pid and reach its gate
SETUP_TIMEOUT = 60.0


class SetupError(Exception):
    """The monitor cannot start the process; the message goes to the sync fd."""


class Setup:
    """Create the files and the process (step 2), serve it (3, 4), or undo it all after a
    failure. Runs with the monitored directory as its working directory."""

    def __init__(self, launch: Launch) -> None:
        self.launch = launch
        self.command = launch.command
        self.child = 0
        self.pid = 0
        self.monitor: Monitor | None = None
        self._made: list[str] = []
        #: with `gate_fd`: the read ends of the exec check and of `pid_fd` (-1: none)
        self.err_r = self.pid_r = -1

    def start(self) -> int:
        """Create the files and the process; return the container process's pid."""
        me = os.getpid()
        state = MonitorState(me, _starttime(me))
        state.save(Path("."))
        self._made.append("monitor.json")
        remove_quietly(START_FIFO)
        os.mkfifo(START_FIFO, 0o600)
        self._made.append(START_FIFO)
        launch = self.launch
        self.monitor = Monitor(
            log=launch.log,
            exit_file=launch.exit_file,
            terminal=launch.terminal,
            log_size_max=launch.log_size_max,
            exit_command=launch.exit_command,
        )
        self._spawn(self.monitor)
        child_start = _starttime(self.child)
        if self.command.gate_fd is not None:  # recorded at once: a runtime that gives up kills it
            MonitorState(me, state.monitor_start, 0, 0, self.child, child_start).save(Path("."))
        self.pid = self._wait_for_sandbox() if self.command.gate_fd is not None else self.child
        MonitorState(
            me,
            state.monitor_start,
            self.pid,
            _starttime(self.pid),
            self.child,
            _starttime(self.child),
        ).save(Path("."))
        return self.pid

    def _spawn(self, monitor: Monitor) -> None:
        command, launch = self.command, self.launch
        passed: dict[int, int] = {}
        mine: list[int] = []  # the child's ends, closed here after the fork
        if launch.terminal:
            master, slave = os.openpty()
            if launch.size:
                _set_size(master, *launch.size)
            stdio = [slave, slave, slave]
            mine.append(slave)
        else:
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            in_r, in_w = os.pipe() if launch.stdin else (os.open(os.devnull, os.O_RDONLY), -1)
            stdio = [in_r, out_w, err_w]
            mine += stdio
        errpipe = None
        if command.gate_fd is not None:
            passed[command.gate_fd] = os.open(START_FIFO, os.O_RDWR | os.O_CLOEXEC)
            self.err_r, errpipe = os.pipe()  # EOF: the sandbox's exec succeeded
            mine += [passed[command.gate_fd], errpipe]
        if command.pid_fd is not None:
            self.pid_r, passed[command.pid_fd] = os.pipe()
            mine.append(passed[command.pid_fd])
        # an entered pid namespace counts from the next fork: the child's, not ours
        own_ns = enter_pid_namespace(command.enter) if command.enter else None
        try:
            pid = os.fork()
            if pid == 0:
                gated = command.gate_fd is None
                exec_child(
                    command, stdio, gated=gated, passed=passed, errpipe=errpipe,
                    terminal=launch.terminal,
                )  # fmt: skip
        finally:
            restore_pid_namespace(own_ns)
        self.child = pid
        for fd in mine:
            os.close(fd)
        if launch.terminal:
            monitor.add_output(master, STDOUT)
            monitor.set_stdin(os.dup(master))
            monitor.set_terminal(os.dup(master))
        else:
            monitor.add_output(out_r, STDOUT)
            monitor.add_output(err_r, STDERR)
            if in_w >= 0:
                monitor.set_stdin(in_w)

    def _wait_for_sandbox(self) -> int:
        """A self-gated sandbox: its exec, the pid it reports, its sleep on the gate."""
        deadline = time.monotonic() + SETUP_TIMEOUT
        failure = _read_until(self.err_r, deadline, self.child, lambda _: False).strip()
        if failure:
            raise SetupError(failure.decode(errors="replace"))
        pid: int | None = self.child
        if self.pid_r >= 0:
            pid = _parse_pid(_read_until(self.pid_r, deadline, self.child, _parse_pid))
            if pid is None:
                raise SetupError(self._exit_message("reported no pid"))
        wanted = hex(self.command.gate_fd or 0)
        while not _sleeps_reading(pid, wanted):
            if _exited(self.child):
                raise SetupError(self._exit_message("exited while setting up"))
            if time.monotonic() > deadline:
                raise SetupError(f"{self.command.argv[0]} never waited on its start gate")
            time.sleep(0.001)
        return pid

    def _exit_message(self, what: str) -> str:
        """What the sandbox wrote on stderr (its own words), or that it `what`."""
        assert self.monitor is not None
        text = b""
        for fd, stream in self.monitor.outputs.items():
            try:
                text += os.read(fd, 65536) if stream == STDERR or self.launch.terminal else b""
            except OSError:
                pass
        lines = text.decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"{self.command.argv[0]} {what}"

    def abort(self) -> None:
        """Undo `start` after a failure: kill the process if any, remove every file made."""
        if self.child:
            for kill in (os.killpg, os.kill):  # not a group leader yet if just forked
                try:
                    kill(self.child, signal.SIGKILL)
                    break
                except OSError:
                    continue
            os.waitpid(self.child, 0)
        if self.monitor is not None:
            self.monitor.abandon()
            log = Path(self.launch.log)
            if log.exists() and log.stat().st_size == 0:
                remove_quietly(log)
        for name in reversed(self._made):
            remove_quietly(name)

    def relay(self) -> None:
        """Serve the process until its child exits, then end it (step 4)."""
        monitor = self.monitor
        assert monitor is not None
        pidfd = os.pidfd_open(self.child)
        monitor.watch(pidfd, monitor.stop)
        monitor.remove_on_close.append(START_FIFO)
        monitor.run()
        info = os.waitid(os.P_PID, self.child, os.WEXITED | os.WNOWAIT)
        assert info is not None
        try:
            os.killpg(self.child, signal.SIGKILL)  # the leader is a zombie: its group id is ours
        except OSError:
            pass
        if self.launch.terminal:
            # A terminal's jobs may run in groups of their own (a shell's job control), and
            # they hold the slave: the whole session goes, as with the end of a pid namespace.
            for pid in pids_in_session(self.child):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        monitor.record_exit(exit_code_of(info))
        os.waitpid(self.child, 0)
        os.close(pidfd)
        monitor.close()  # and the exit command: the container's end is ours to start


def _starttime(pid: int) -> int:
    stat = proc_stat(pid)
    return stat.starttime if stat else 0


def _set_size(fd: int, height: int, width: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def _exited(pid: int) -> bool:
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def _sleeps_reading(pid: int, fd_hex: str) -> bool:
    """Whether `pid` is blocked in a system call whose first argument is the fd `fd_hex`."""
    try:
        with open(f"/proc/{pid}/syscall", "rb") as fh:
            fields = fh.read().split()
    except OSError:
        return False
    return len(fields) > 2 and fields[1].decode() == fd_hex


def _parse_pid(data: bytes) -> int | None:
    """A pid as a number or JSON with `child-pid`, once complete (a newline, or EOF)."""
    if not data.endswith(b"\n"):
        return None
    try:
        doc = json.loads(data)
        pid = int(doc["child-pid"] if isinstance(doc, dict) else doc)
    except (ValueError, KeyError, TypeError):
        return None
    return pid if pid > 0 else None


def _read_until(fd: int, deadline: float, child: int, done: Callable[[bytes], object]) -> bytes:
    """Read `fd` until `done(what was read)`, EOF, `deadline`, or the child's exit; close it."""
    data = b""
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0 and not done(data):
            if not sel.select(timeout=min(left, 0.05)):
                if _exited(child) and not sel.select(timeout=0):
                    break
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                data += b"\n"  # EOF completes a number without a newline
                break
            data += chunk
    os.close(fd)
    return data


def _report(fd: int, payload: dict[str, object]) -> None:
    try:
        write_all(fd, json.dumps(payload).encode() + b"\n")
    except OSError:
        pass  # the runtime gave up waiting; it cleans up after us
    finally:
        os.close(fd)


def main(argv: Sequence[str] | None = None) -> int:
    """Read the launch, daemonize, set up, report on the sync fd, relay until the end."""
    parser = argparse.ArgumentParser(prog="ocimux.io.processmonitor")
    parser.add_argument("--dir", required=True)
    parser.add_argument("--sync-fd", type=int, required=True)
    opts = parser.parse_args(argv)
    raw = sys.stdin.buffer.read()
    monitor = os.fork()
    if monitor != 0:  # the intermediate: tell the caller the monitor's pid (stdout), exit
        write_all(1, b"%d\n" % monitor)
        os._exit(0)
    os.setsid()
    os.umask(0o077)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    setup: Setup | None = None
    os.chdir(opts.dir)
    try:
        setup = Setup(Launch.from_json(raw))
        pid = setup.start()
    except Exception as exc:
        if not isinstance(exc, SetupError):
            traceback.print_exc()  # stderr is monitor.log
        if setup is not None:
            setup.abort()
        message = str(exc) if isinstance(exc, SetupError) else f"the monitor failed: {exc}"
        _report(opts.sync_fd, {"data": -1, "message": message})
        return 1
    _report(opts.sync_fd, {"data": pid})
    setup.relay()
    return 0


if __name__ == "__main__":
    status = main()
    sys.stderr.flush()
    os._exit(status)  # skip the interpreter's teardown: an attached exec waits for our end
