"""The I/O monitor of one shim v2 container or exec session: conmon's part that a shim lacks.

A shim v2 copies a process's stdio to and from paths its client names (FIFOs here); whoever
holds the other ends must outlive the `ocimux` command that created the container. This
monitor does, one per container and per exec session, started before `Create`/`Exec`:

- it makes the FIFOs `stdout.fifo`, `stderr.fifo` (and `stdin.fifo` with stdin or a
  terminal) and opens their other ends before the shim opens them (the shim blocks until a
  reader exists);
- it writes everything to the k8s-file log (capped by `--log-size-max` the way conmon caps
  it: `ocimux.logwriter`) and relays it to clients of the `attach` socket,
  speaking conmon's SEQPACKET protocol (so `ocimux attach`, `run` and exec use one client);
  client input goes to the stdin FIFO, a client's EOF closes stdin (never with a terminal:
  the shim would tear the console down);
- `ctl` (conmon's control FIFO) lines `1 H W` become `ResizePty` calls to the shim;
- once the output FIFOs reached EOF it asks the shim `Wait` for the exit status, writes it
  to `exit` (`--exit-file`: the container's is on the run dir), removes an exec session
  from the shim (`Delete`), starts the container's exit command (`--exit-command`,
  conmon's; `ocimux.exitcommand`), and ends.

Started as `python -m ocimux.plugins.shimv2.monitor`; it forks, and the parent prints
`<pid>` once the child is ready (or the error) and exits. SIGTERM ends it at once.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import selectors
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from ocimux.exitcommand import run_exit_command
from ocimux.logs import STDERR, STDOUT
from ocimux.logwriter import LogWriter

from .task import TaskClient
from .ttrpc import TtrpcError

__all__ = ["ATTACH", "CTL", "EXIT", "PIDFILE", "STDERR_FIFO", "STDIN_FIFO", "STDOUT_FIFO", "main"]

ATTACH = "attach"
CTL = "ctl"
EXIT = "exit"
PIDFILE = "monitor.pid"
STDIN_FIFO = "stdin.fifo"
STDOUT_FIFO = "stdout.fifo"
STDERR_FIFO = "stderr.fifo"

STDIO_BUF_SIZE = 8192  # conmon's packet payload
CONN_SOCK_BUF_SIZE = 32768
SEND_TIMEOUT = 5.0
CTL_LINE_MAX = 256


class Monitor:
    """Relay one process's FIFOs; the working directory is the monitored directory."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.terminal = args.terminal
        os.umask(0o077)
        self.outputs: dict[int, int] = {}
        for name, stream in ((STDOUT_FIFO, STDOUT), (STDERR_FIFO, STDERR)):
            if stream == STDERR and self.terminal:
                continue  # a terminal is one stream: the shim copies the console to stdout
            _mkfifo(name)
            self.outputs[os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)] = stream
        self.stdin_fd: int | None = None
        if args.stdin or self.terminal:
            _mkfifo(STDIN_FIFO)
            # read-write: the open never blocks and the shim never reads EOF unless we close it
            self.stdin_fd = os.open(STDIN_FIFO, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        _mkfifo(CTL)
        self.ctl_fd = os.open(CTL, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        self.ctl_buf = b""
        self.log = LogWriter(args.log, args.log_size_max)  # capped as conmon caps it
        with contextlib.suppress(FileNotFoundError):
            os.unlink(ATTACH)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        self.listener.bind(ATTACH)  # relative: the directory's path may exceed sun_path
        self.listener.listen(16)
        self.listener.setblocking(False)
        self.clients: list[socket.socket] = []
        self.stdin_buf = bytearray()
        self.stdin_eof = False
        self.sel = selectors.DefaultSelector()
        self.wake_r, self.wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self.exit_status: int | None = None
        self.waiting = False

    # --- main loop --------------------------------------------------------------------------

    def run(self) -> None:
        self.sel.register(self.listener, selectors.EVENT_READ, "accept")
        for fd in self.outputs:
            self.sel.register(fd, selectors.EVENT_READ, "output")
        self.sel.register(self.ctl_fd, selectors.EVENT_READ, "ctl")
        self.sel.register(self.wake_r, selectors.EVENT_READ, "exited")
        done = False
        while not done:
            events = sorted(self.sel.select(), key=lambda e: e[0].data != "accept")
            for key, _mask in events:
                if key.data == "accept":
                    self._accept()
                elif key.data == "output":
                    self._read_output(key.fd)
                elif key.data == "stdin":
                    self._write_stdin()
                elif key.data == "ctl":
                    self._read_ctl()
                elif key.data == "exited":
                    done = True
                elif isinstance(key.fileobj, socket.socket):
                    self._read_client(key.fileobj)
            if not self.outputs and not self.waiting:
                self._start_wait()
        self._finish()

    def _client(self) -> TaskClient:
        return TaskClient(
            self.args.address, namespace=self.args.namespace, timeout=self.args.timeout
        )

    def _start_wait(self) -> None:
        """The process's output ended: ask the shim for its exit status in a thread."""
        self.waiting = True

        def wait() -> None:
            try:
                with self._client() as client:
                    self.exit_status = client.wait(self.args.id, self.args.exec_id)["exit_status"]
            except (TtrpcError, OSError):
                self.exit_status = None  # the shim is gone: no exit code to record
            os.write(self.wake_w, b"x")

        threading.Thread(target=wait, daemon=True).start()

    # --- control FIFO -----------------------------------------------------------------------

    def _read_ctl(self) -> None:
        try:
            data = os.read(self.ctl_fd, 4096)
        except BlockingIOError:
            return
        self.ctl_buf += data
        *lines, self.ctl_buf = self.ctl_buf.split(b"\n")
        if len(self.ctl_buf) > CTL_LINE_MAX:
            self.ctl_buf = b""
        for line in lines:
            fields = line.split()
            if len(fields) != 3 or fields[0] != b"1" or not self.terminal:
                continue  # only resizes of a terminal mean anything to a shim
            try:
                height, width = int(fields[1]), int(fields[2])
            except ValueError:
                continue
            if 0 <= height <= 0xFFFF and 0 <= width <= 0xFFFF:
                try:
                    with self._client() as client:
                        client.resize_pty(self.args.id, width, height, self.args.exec_id)
                except (TtrpcError, OSError):
                    pass  # the process may have exited meanwhile

    # --- clients ----------------------------------------------------------------------------

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            conn.settimeout(SEND_TIMEOUT)
            self.clients.append(conn)
            self.sel.register(conn, selectors.EVENT_READ, "client")

    def _drop(self, conn: socket.socket) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(conn)
        if conn in self.clients:
            self.clients.remove(conn)
        conn.close()

    def _read_client(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(CONN_SOCK_BUF_SIZE)
        except OSError:
            self._drop(conn)
            return
        if data:
            if self.stdin_fd is not None:
                if not self.stdin_buf:
                    self.sel.register(self.stdin_fd, selectors.EVENT_WRITE, "stdin")
                self.stdin_buf += data
            return
        self.sel.unregister(conn)  # EOF: it may still read output
        if self.terminal:
            return  # the terminal stays the process's stdin (and other clients' input)
        self.stdin_eof = True
        if not self.stdin_buf:
            self._close_stdin()

    def _write_stdin(self) -> None:
        assert self.stdin_fd is not None
        try:
            written = os.write(self.stdin_fd, self.stdin_buf)
        except BlockingIOError:
            return
        except OSError:
            self._close_stdin()
            return
        del self.stdin_buf[:written]
        if not self.stdin_buf:
            self.sel.unregister(self.stdin_fd)
            if self.stdin_eof:
                self._close_stdin()

    def _close_stdin(self) -> None:
        """Close stdin: our end of the FIFO, and the shim's own writer (CloseIO).

        The shim keeps a write end of the stdin FIFO open itself (runc shim's openStdin), so
        the process reads EOF only after `CloseIO(stdin=true)`, as containerd clients send it.
        """
        if self.stdin_fd is None:
            return
        if self.stdin_buf:
            self.sel.unregister(self.stdin_fd)
        os.close(self.stdin_fd)
        self.stdin_fd = None
        self.stdin_buf.clear()
        try:
            with self._client() as client:
                client.close_io(self.args.id, self.args.exec_id, stdin=True)
        except (TtrpcError, OSError):
            pass  # the process is gone already

    # --- output -----------------------------------------------------------------------------

    def _read_output(self, fd: int) -> None:
        try:
            data = os.read(fd, STDIO_BUF_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.sel.unregister(fd)
            os.close(fd)
            del self.outputs[fd]
            return
        stream = self.outputs[fd]
        self.log.write(stream, data)  # never raises: a full disk must not stop the relay
        packet = bytes([stream]) + data
        for conn in list(self.clients):
            try:
                conn.send(packet)
            except OSError:
                self._drop(conn)

    # --- the end ----------------------------------------------------------------------------

    def _finish(self) -> None:
        if self.exit_status is not None:
            try:
                _write_atomic(self.args.exit_file, str(self.exit_status).encode())
            except OSError as exc:  # still end the session and run the exit command
                print(f"cannot write {self.args.exit_file}: {exc.strerror}", file=sys.stderr)
            if self.args.exec_id:
                try:  # an exec session is the monitor's to remove from the shim
                    with self._client() as client:
                        client.delete(self.args.id, self.args.exec_id)
                except (TtrpcError, OSError):
                    pass
        cleanup(self.listener, [c for c in self.clients])
        if self.args.exit_command and not self.args.exec_id:
            # whether or not the shim told the status: the container has ended
            run_exit_command(self.args.exit_command)


def cleanup(listener: socket.socket | None = None, clients: Sequence[socket.socket] = ()) -> None:
    """Remove the socket first (a client that sees EOF finds it gone and `exit` written)."""
    if listener is not None:
        listener.close()
    for name in (ATTACH, CTL, STDIN_FIFO, STDOUT_FIFO, STDERR_FIFO, PIDFILE):
        with contextlib.suppress(OSError):
            os.unlink(name)
    for conn in clients:
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_RDWR)
        conn.close()


def _mkfifo(name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name)
    os.mkfifo(name, 0o600)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _write_atomic(name: str, data: bytes) -> None:
    path = Path(name)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        _write_all(fd, data)
    finally:
        os.close(fd)
    os.rename(tmp, name)


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
        monitor = Monitor(args)
        _write_atomic(PIDFILE, str(os.getpid()).encode())
    except OSError as exc:
        os.write(ready_w, f"cannot set up the I/O monitor in {args.dir}: {exc}".encode())
        cleanup()
        os._exit(1)
    signal.signal(
        signal.SIGTERM, lambda *_: (cleanup(monitor.listener, monitor.clients), os._exit(0))
    )
    devnull = os.open(os.devnull, os.O_RDWR)
    os.write(ready_w, f"ok {os.getpid()}".encode())
    os.close(ready_w)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    monitor.run()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
