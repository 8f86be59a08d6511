"""conmon's server side for one process: attach socket, ctl FIFO, k8s-file log, exit file.

A public building block: every monitor that is not conmon (the mock's shim, the shim v2 I/O
monitor, a third party's) runs one `Monitor` in its own long-lived process, so every runtime
speaks one protocol to `ocimux attach`, `run`, exec and the log readers:

- `attach` (in the monitor's working directory, the io directory): an AF_UNIX SOCK_SEQPACKET
  socket, mode 0600, bound by its relative name (sun_path holds only 108 bytes and io
  directories can be deeper). Output goes to every client as packets of one stream byte
  (2 stdout, 3 stderr; with a terminal everything is stdout) and at most 8192 payload bytes;
  output produced while no client is connected goes only to the log. Bytes from a client go
  to the process's stdin; a client's EOF (`shutdown(SHUT_WR)` or close) closes stdin, except
  with a terminal (it stays the process's input, and other clients'). A client that accepts
  no packet for 5 s is dropped.
- `ctl`: conmon's control FIFO, held open read-write (it never reads EOF). Lines `TYPE ARGS`;
  type 1 is `1 <height> <width>`, a resize (honoured with a terminal only). Other types and
  malformed lines are ignored.
- the k8s-file log, written through `ocimux.io.logwriter.LogWriter` (capped as conmon caps it).
- the exit file: the exit code in decimal (128+signal for a signal), written atomically once
  the output is drained, so whoever sees it sees the whole log. Then the attach socket and
  the FIFO are removed (a client that sees EOF finds the socket gone and the exit written),
  clients are closed and the exit command runs detached (`ocimux.io.exitcommand`).

Hooks, for monitors whose process is not a child with plain fds (e.g. a shim v2's): override
`on_stdin_eof()` (default: close the stdin fd), `on_resize(height, width)` (default:
TIOCSWINSZ on the terminal's master) and `on_outputs_closed()` (default: nothing).

Use, in the monitor process (single-threaded loop; the hooks run on it):

    os.chdir(io.directory)
    mon = Monitor(log=io.log, exit_file=io.exit_file, terminal=io.terminal,
                  log_size_max=io.log_size_max, exit_command=io.exit_command)
    mon.add_output(out_r, STDOUT); mon.add_output(err_r, STDERR); mon.set_stdin(in_w)
    mon.watch(os.pidfd_open(pid), mon.stop)   # the loop ends when the process exits
    mon.run()
    mon.finish(exit_code)                      # drain, exit file, clean up, exit command
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import selectors
import socket
import struct
import sys
import termios
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ocimux.base.files import write_atomic

from .exitcommand import run_exit_command
from .logs import STDERR, STDOUT
from .logwriter import LogWriter

__all__ = [
    "ATTACH",
    "CTL",
    "STDERR",
    "STDOUT",
    "Monitor",
    "exit_code_of",
]

ATTACH = "attach"
CTL = "ctl"
#: payload bytes per packet (conmon's STDIO_BUF_SIZE)
STDIO_BUF_SIZE = 8192
#: bytes read from a client at once (conmon's CONN_SOCK_BUF_SIZE)
CONN_SOCK_BUF_SIZE = 32768
#: a client that accepts no packet for this long is dropped
SEND_TIMEOUT = 5.0
#: after the process exited: stop draining after this long without output, or this long at all
DRAIN_IDLE = 0.05
DRAIN_MAX = 2.0
#: a control line longer than this is garbage: it is dropped
CTL_LINE_MAX = 256
#: conmon's control message type for a resize
CTL_RESIZE = 1


def exit_code_of(status: os.waitid_result) -> int:
    """The exit code a monitor records for a `waitid` result: the code, or 128+signal."""
    if status.si_code == os.CLD_EXITED:
        return status.si_status
    return 128 + status.si_status


def _unlink(name: str | Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name)


class Monitor:
    """Serve one process's stdio, control FIFO, log and exit file (see the module docstring).

    The constructor makes `ctl` and `attach` in the working directory and opens the log
    (relative paths: to the working directory); if any of that fails it removes what it
    made and raises OSError. It then owns every fd given to it. `log_fd`, if given, is the
    log already open (it is taken over).
    """

    def __init__(
        self,
        *,
        log: str | Path,
        exit_file: str | Path,
        terminal: bool = False,
        log_size_max: int = -1,
        exit_command: Sequence[str] = (),
        log_fd: int | None = None,
    ) -> None:
        self.terminal = terminal
        self.exit_file = Path(exit_file)
        self.exit_command = tuple(exit_command)
        #: fd -> stream id (STDOUT, STDERR) of the outputs still open
        self.outputs: dict[int, int] = {}
        #: where client input goes (a pipe's write end, a FIFO, a pty master), or None
        self.stdin_fd: int | None = None
        #: the terminal's master, for the default `on_resize`
        self.tty_fd: int | None = None
        #: files removed with `attach` and `ctl` when the monitor ends (relative names)
        self.remove_on_close: list[str | Path] = []
        self.clients: list[socket.socket] = []
        self.sel = selectors.DefaultSelector()
        self._stdin_buf = bytearray()
        self._stdin_eof = False
        self._ctl_buf = b""
        self._callbacks: dict[int, Callable[[], object]] = {}
        self._stopped = False
        self.log = LogWriter(log, log_size_max, fd=log_fd)  # capped as conmon caps it
        made: list[str] = []
        try:
            _unlink(CTL)
            os.mkfifo(CTL, 0o600)
            made.append(CTL)
            self.ctl_fd = os.open(CTL, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
            _unlink(ATTACH)
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
            try:
                listener.bind(ATTACH)  # relative: dodges the 108-byte sun_path limit
                made.append(ATTACH)
                os.chmod(ATTACH, 0o600)
                listener.listen(10)  # conmon's backlog
                listener.setblocking(False)
            except OSError:
                listener.close()
                raise
        except OSError:
            for name in made:
                _unlink(name)
            if made:
                with contextlib.suppress(AttributeError, OSError):
                    os.close(self.ctl_fd)
            self.log.close()
            raise
        self.listener = listener
        self.sel.register(self.listener, selectors.EVENT_READ, self._accept)
        self.sel.register(self.ctl_fd, selectors.EVENT_READ, self.read_control)

    # --- what to serve ----------------------------------------------------------------------

    def add_output(self, fd: int, stream: int = STDOUT) -> None:
        """Relay `fd` (a pipe, FIFO or pty master; made non-blocking) as `stream`."""
        os.set_blocking(fd, False)
        self.outputs[fd] = stream
        self.sel.register(fd, selectors.EVENT_READ, lambda fd=fd: self._read_output(fd))

    def set_stdin(self, fd: int) -> None:
        """Send client input to `fd` (made non-blocking)."""
        os.set_blocking(fd, False)
        self.stdin_fd = fd

    def set_terminal(self, master: int) -> None:
        """Resize `master` (a pty master; the monitor owns this fd) on `1 H W` lines."""
        self.tty_fd = master

    def watch(self, fd: int, callback: Callable[[], object]) -> None:
        """Call `callback()` from the loop whenever `fd` is readable (e.g. a pidfd, a pipe)."""
        self.sel.register(fd, selectors.EVENT_READ, callback)

    def unwatch(self, fd: int) -> None:
        """Stop watching `fd` (it is not closed)."""
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(fd)

    # --- hooks ------------------------------------------------------------------------------

    def on_stdin_eof(self) -> None:
        """Stdin ends (a client's EOF, or the process closed it): close the stdin fd."""
        self.close_stdin()

    def on_resize(self, height: int, width: int) -> None:
        """Apply a valid resize of the terminal: TIOCSWINSZ on its master (the kernel sends
        SIGWINCH to the terminal's foreground process group)."""
        if self.tty_fd is not None:
            with contextlib.suppress(OSError):
                size = struct.pack("HHHH", height, width, 0, 0)
                fcntl.ioctl(self.tty_fd, termios.TIOCSWINSZ, size)

    def on_outputs_closed(self) -> None:
        """Every output reached EOF while the loop ran (a shim's FIFOs: the process ended)."""

    # --- the loop ---------------------------------------------------------------------------

    def run(self) -> None:
        """Serve until `stop()` is called (by a watched fd's callback or a hook)."""
        while not self._stopped:
            # Accept first: a client that connected before some output was produced (e.g.
            # before start) is still in the backlog and must receive that output too.
            events = sorted(self.sel.select(), key=lambda e: e[0].data != self._accept)
            for key, _mask in events:
                if self._current(key):
                    key.data()

    def _current(self, key: selectors.SelectorKey) -> bool:
        """Whether `key` is still registered: an earlier callback of the same batch may
        have unregistered (and closed) its fd."""
        try:
            return self.sel.get_key(key.fd) is key
        except (KeyError, ValueError):
            return False

    def stop(self) -> None:
        """End `run()` after the events at hand."""
        self._stopped = True

    # --- control FIFO -----------------------------------------------------------------------

    def read_control(self) -> None:
        """Apply every complete control line waiting in the FIFO (call it to apply them now)."""
        while True:
            try:
                data = os.read(self.ctl_fd, 4096)
            except BlockingIOError:
                return
            if not data:  # cannot happen while we hold a write end; be safe
                return
            self._ctl_buf += data
            *lines, self._ctl_buf = self._ctl_buf.split(b"\n")
            if len(self._ctl_buf) > CTL_LINE_MAX:
                self._ctl_buf = b""
            for line in lines:
                self._control(line)

    def _control(self, line: bytes) -> None:
        try:
            kind, *args = (int(f) for f in line.split())
        except ValueError:
            return
        if kind == CTL_RESIZE and len(args) == 2 and self.terminal:
            height, width = args
            if 0 <= height <= 0xFFFF and 0 <= width <= 0xFFFF:
                self.on_resize(height, width)

    # --- clients ----------------------------------------------------------------------------

    def _accept(self) -> None:
        """Accept every pending connection (none is left to be reset when the socket closes)."""
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:  # BlockingIOError: no more
                return
            conn.settimeout(SEND_TIMEOUT)
            self.clients.append(conn)
            self.sel.register(conn, selectors.EVENT_READ, lambda c=conn: self._read_client(c))

    def _drop(self, conn: socket.socket) -> None:
        if conn.fileno() >= 0:
            self.unwatch(conn.fileno())
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
            if self.stdin_fd is not None and not self._stdin_eof:
                if not self._stdin_buf:
                    self.sel.register(self.stdin_fd, selectors.EVENT_WRITE, self._write_stdin)
                self._stdin_buf += data
            return
        # EOF: the client shut its sending side (or left); it may still read output.
        self.unwatch(conn.fileno())
        if self.terminal:
            return  # the terminal stays the process's stdin (and other clients' input)
        self._stdin_eof = True
        if not self._stdin_buf and self.stdin_fd is not None:
            self.on_stdin_eof()

    def _write_stdin(self) -> None:
        assert self.stdin_fd is not None
        try:
            written = os.write(self.stdin_fd, self._stdin_buf)
        except BlockingIOError:
            return
        except OSError:  # EPIPE: the process closed its stdin; later input is dropped
            self._stdin_eof = True
            self.on_stdin_eof()
            return
        del self._stdin_buf[:written]
        if not self._stdin_buf:
            self.unwatch(self.stdin_fd)
            if self._stdin_eof:
                self.on_stdin_eof()

    def close_stdin(self) -> None:
        """Close the stdin fd (pending input is dropped); later input is dropped too."""
        self._stdin_eof = True
        if self.stdin_fd is not None:
            self.unwatch(self.stdin_fd)
            os.close(self.stdin_fd)
            self.stdin_fd = None
            self._stdin_buf.clear()

    # --- output -----------------------------------------------------------------------------

    def _read_output(self, fd: int) -> None:
        if not self._relay(fd):
            self.unwatch(fd)
            self._close_output(fd)
            if not self.outputs:
                self.on_outputs_closed()

    def _close_output(self, fd: int) -> None:
        os.close(fd)
        del self.outputs[fd]

    def _relay(self, fd: int) -> bool:
        """Relay one read from `fd` to the log and the clients; return False at EOF."""
        try:
            data = os.read(fd, STDIO_BUF_SIZE)
        except BlockingIOError:
            return True
        except OSError:  # EIO: a pty master once no slave is open; its EOF
            return False
        if not data:
            return False
        stream = self.outputs[fd]
        self.log.write(stream, data)  # never raises: a full disk must not stop the relay
        packet = bytes([stream]) + data
        for conn in list(self.clients):
            try:
                conn.send(packet)
            except OSError:
                self._drop(conn)
        return True

    # --- the end ----------------------------------------------------------------------------

    def finish(self, exit_code: int | None) -> None:
        """`record_exit(exit_code)`, then `close()`."""
        self.record_exit(exit_code)
        self.close()

    def record_exit(self, exit_code: int | None) -> None:
        """Drain the outputs, then write `exit_code` to the exit file (None: write nothing).

        The drain takes what is left until EOF, a quiet spell of 50 ms, or 2 s at most (a
        process that left a child holding its output must not hold up the exit file).
        A failed write is reported on stderr; the monitor still ends normally.
        """
        self._accept()  # a client in the backlog gets the last output too
        self._drain()
        if exit_code is None:
            return
        try:
            write_atomic(self.exit_file, str(exit_code).encode())
        except OSError as exc:
            print(f"cannot write {self.exit_file}: {exc.strerror}", file=sys.stderr)

    def close(self) -> None:
        """Close every fd, remove `attach`, `ctl` and `remove_on_close`, close the clients
        (their `recv` returns b""), then start the exit command (if any), detached."""
        self.abandon()
        run_exit_command(self.exit_command)

    def abandon(self) -> None:
        """End without an exit file or exit command (e.g. on SIGTERM): close and remove."""
        self.close_stdin()
        for fd in list(self.outputs):
            self.unwatch(fd)
            self._close_output(fd)
        self.log.close()
        for fd in (self.ctl_fd, self.tty_fd):
            if fd is not None and fd >= 0:
                self.unwatch(fd)
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.ctl_fd, self.tty_fd = -1, None
        # Remove the socket first: a client that sees EOF finds it gone and `exit` written.
        self.listener.close()
        for name in (ATTACH, CTL, *self.remove_on_close):
            _unlink(name)
        for conn in list(self.clients):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            self._drop(conn)

    def _drain(self) -> None:
        for fd in self.outputs:
            self.unwatch(fd)
        deadline = time.monotonic() + DRAIN_MAX
        with selectors.DefaultSelector() as sel:
            for fd in self.outputs:
                sel.register(fd, selectors.EVENT_READ)
            while self.outputs and time.monotonic() < deadline:
                ready = sel.select(timeout=DRAIN_IDLE)
                if not ready:
                    break
                for key, _mask in ready:
                    if not self._relay(key.fd):
                        sel.unregister(key.fd)
                        self._close_output(key.fd)
        for fd in list(self.outputs):
            self._close_output(fd)
