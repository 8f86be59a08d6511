"""The I/O monitor of one shim v2 container or exec session: conmon's part that a shim lacks.

A shim v2 copies a process's stdio to and from paths its client names (FIFOs here); whoever
holds the other ends must outlive the `ocimux` command that created the container. This
monitor does, one per container and per exec session, started before `Create`/`Exec`:

- it makes the FIFOs `stdout.fifo`, `stderr.fifo` (and `stdin.fifo` with stdin or a
  terminal) and opens their other ends before the shim opens them (the shim blocks until a
  reader exists);
- it writes everything to the k8s-file log (capped by `--log-size-max` the way conmon caps
  it: `ocimux.io.logwriter`) and relays it to clients of the `attach` socket,
  speaking conmon's SEQPACKET protocol (so `ocimux attach`, `run` and exec use one client);
  client input goes to the stdin FIFO, a client's EOF closes stdin (never with a terminal:
  the shim would tear the console down);
- `ctl` (conmon's control FIFO) lines `1 H W` become `ResizePty` calls to the shim;
- once the output FIFOs reached EOF it asks the shim `Wait` for the exit status, writes it
  to `exit` (`--exit-file`: the container's is on the run dir), removes an exec session
  from the shim (`Delete`), starts the container's exit command (`--exit-command`,
  conmon's; `ocimux.io.exitcommand`), and ends.

Started as `python -m ocimux.plugins.shimv2.monitor`; it forks, and the parent prints
`<pid>` once the child is ready (or the error) and exits. SIGTERM ends it at once.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from ocimux.base.files import write_atomic
from ocimux.io.monitor import ATTACH, CTL, STDERR, STDOUT, Monitor

from .task import TaskClient
from .ttrpc import TtrpcError

__all__ = ["ATTACH", "CTL", "EXIT", "PIDFILE", "STDERR_FIFO", "STDIN_FIFO", "STDOUT_FIFO", "main"]

EXIT = "exit"
PIDFILE = "monitor.pid"
STDIN_FIFO = "stdin.fifo"
STDOUT_FIFO = "stdout.fifo"
STDERR_FIFO = "stderr.fifo"
#: every file the monitor makes besides the log and the exit file
_FILES = (ATTACH, CTL, STDIN_FIFO, STDOUT_FIFO, STDERR_FIFO, PIDFILE)


class ShimIOMonitor(Monitor):
    """`ocimux.io.monitor.Monitor` over the shim's FIFOs, its hooks turned into shim calls.

    The working directory is the monitored directory. Resizes become `ResizePty`, the end
    of stdin `CloseIO`, and the end of every output a `Wait` for the exit status (in a
    thread: the loop keeps serving clients meanwhile).
    """

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        os.umask(0o077)
        fifos: dict[int, int] = {}
        for name, stream in ((STDOUT_FIFO, STDOUT), (STDERR_FIFO, STDERR)):
            if stream == STDERR and args.terminal:
                continue  # a terminal is one stream: the shim copies the console to stdout
            _mkfifo(name)
            fifos[os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)] = stream
        stdin_fd: int | None = None
        if args.stdin or args.terminal:
            _mkfifo(STDIN_FIFO)
            # read-write: the open never blocks and the shim never reads EOF unless we close it
            stdin_fd = os.open(STDIN_FIFO, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        super().__init__(
            log=args.log,
            exit_file=args.exit_file,
            terminal=args.terminal,
            log_size_max=args.log_size_max,
            # an exec session's end is not the container's
            exit_command=() if args.exec_id else args.exit_command,
        )
        self.remove_on_close += [STDIN_FIFO, STDOUT_FIFO, STDERR_FIFO, PIDFILE]
        for fd, stream in fifos.items():
            self.add_output(fd, stream)
        if stdin_fd is not None:
            self.set_stdin(stdin_fd)
        self.wake_r, self.wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self.watch(self.wake_r, self.stop)
        self.exit_status: int | None = None

    def _client(self) -> TaskClient:
        return TaskClient(
            self.args.address, namespace=self.args.namespace, timeout=self.args.timeout
        )

    def on_outputs_closed(self) -> None:
        """The process's output ended: ask the shim for its exit status in a thread."""

        def wait() -> None:
            try:
                with self._client() as client:
                    self.exit_status = client.wait(self.args.id, self.args.exec_id)["exit_status"]
            except (TtrpcError, OSError):
                self.exit_status = None  # the shim is gone: no exit code to record
            os.write(self.wake_w, b"x")

        threading.Thread(target=wait, daemon=True).start()

    def on_resize(self, height: int, width: int) -> None:
        try:
            with self._client() as client:
                client.resize_pty(self.args.id, width, height, self.args.exec_id)
        except (TtrpcError, OSError):
            pass  # the process may have exited meanwhile

    def on_stdin_eof(self) -> None:
        """Close stdin: our end of the FIFO, and the shim's own writer (CloseIO).

        The shim keeps a write end of the stdin FIFO open itself (runc shim's openStdin), so
        the process reads EOF only after `CloseIO(stdin=true)`, as containerd clients send it.
        """
        super().on_stdin_eof()
        try:
            with self._client() as client:
                client.close_io(self.args.id, self.args.exec_id, stdin=True)
        except (TtrpcError, OSError):
            pass  # the process is gone already

    def end(self) -> None:
        """Record the exit status, remove an exec session from the shim, clean up, and
        start the container's exit command (whether or not the shim told the status)."""
        self.record_exit(self.exit_status)
        if self.exit_status is not None and self.args.exec_id:
            try:  # an exec session is the monitor's to remove from the shim
                with self._client() as client:
                    client.delete(self.args.id, self.args.exec_id)
            except (TtrpcError, OSError):
                pass
        self.close()


def cleanup() -> None:
    """Remove the monitor's files after a failed start."""
    for name in _FILES:
        with contextlib.suppress(OSError):
            os.unlink(name)


def _mkfifo(name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name)
    os.mkfifo(name, 0o600)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ocimux-shimv2-monitor")
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--address", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--id", required=True)
    parser.add_argument("--exec-id", default="")
    parser.add_argument("--log", required=True)
    parser.add_argument("--terminal", action="store_true")
    parser.add_argument("--stdin", action="store_true")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--log-size-max", type=int, default=-1)
    #: where to write the exit status: the run dir's, which a full state disk cannot refuse
    parser.add_argument("--exit-file", default=EXIT)
    parser.add_argument("--exit-command", action="append", default=[])
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    os.chdir(args.dir)
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid:
        os.close(ready_w)
        with os.fdopen(ready_r, "rb") as fh:
            answer = fh.read().decode(errors="replace")
        if answer.startswith("ok "):
            print(answer[3:], flush=True)
            return 0
        print(answer or "the monitor died while starting", file=sys.stderr, flush=True)
        os.waitpid(pid, 0)
        return 1
    os.close(ready_r)
    os.setsid()
    try:
        monitor = ShimIOMonitor(args)
        write_atomic(PIDFILE, str(os.getpid()).encode())
    except OSError as exc:
        os.write(ready_w, f"cannot set up the I/O monitor in {args.dir}: {exc}".encode())
        cleanup()
        os._exit(1)
    signal.signal(signal.SIGTERM, lambda *_: (monitor.abandon(), os._exit(0)))
    devnull = os.open(os.devnull, os.O_RDWR)
    os.write(ready_w, f"ok {os.getpid()}".encode())
    os.close(ready_w)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    monitor.run()
    monitor.end()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
