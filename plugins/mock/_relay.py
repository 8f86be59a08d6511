"""The shim's relay: the process's output to the log and attach clients, clients to its stdin.

conmon's protocol on the SEQPACKET attach socket: output packets are one stream-id byte
(2 stdout, 3 stderr) and at most 8192 payload bytes; input from a client is raw bytes for
the process's stdin, and a client's EOF (`shutdown(SHUT_WR)` or close) closes that stdin.
With a terminal everything the process writes is stdout (it is all one pty), input goes
raw to the pty's master whatever `--stdin` says (conmon's `-t`), and a client's EOF closes
nothing: the terminal stays the process's stdin.

The control FIFO (`ctl`, conmon's) carries lines `TYPE ARGS`; type 1 is `1 <height>
<width>`, applied with TIOCSWINSZ on the master (the kernel then sends SIGWINCH to the
terminal's foreground process group). Other types and malformed lines are ignored, as is a
resize without a terminal. The log is k8s-file: `TIMESTAMP STREAM F|P LINE`, `P` for a
partial line.
"""

from __future__ import annotations

import errno
import fcntl
import os
import selectors
import signal
import socket
import struct
import termios
import time
from pathlib import Path

from ocimux.logs import STDERR, STDOUT, format_log
from ocimux.logwriter import LogWriter

from ._proc import (
    ATTACH_SOCKET,
    CTL_FIFO,
    EXIT_FILE,
    START_FIFO,
    pids_in_session,
    remove_quietly,
    write_atomic,
)

__all__ = ["STDERR", "STDOUT", "Relay", "format_log"]

#: payload bytes per packet (conmon's STDIO_BUF_SIZE)
STDIO_BUF_SIZE = 8192
#: bytes read from a client at once (conmon's CONN_SOCK_BUF_SIZE)
CONN_SOCK_BUF_SIZE = 32768
#: a client that accepts no packet for this long is dropped
SEND_TIMEOUT = 5.0
#: after the process exits: stop draining after this long without output, or this long at all
DRAIN_IDLE = 0.05
DRAIN_MAX = 2.0
#: a control line longer than this is garbage: it is dropped
CTL_LINE_MAX = 256
#: conmon's control message types
CTL_RESIZE = 1


class Relay:
    """Relay one process's stdio until it exits, then record the exit and clean up.

    Runs with the monitored directory as working directory (every name is relative to it).
    Takes ownership of every fd it is given. `outputs` maps a pipe's (or the pty master's)
    read end to its stream id; `stdin_w` is the write end of the process's stdin pipe (or a
    descriptor of the master), or None (/dev/null). `ctl_fd` is the control FIFO, open for
    reading and writing so that it never reads EOF. `tty_fd`, a descriptor of the master,
    says the process has a terminal. `sync_fd` is the shim's end of the socket a gated
    terminal process writes to once its gate opened: the relay applies every pending
    control line, then answers.
    """

    def __init__(
        self,
        *,
        pid: int,
        listener: socket.socket,
        outputs: dict[int, int],
        stdin_w: int | None,
        log_fd: int,
        gate: bool,
        ctl_fd: int,
        tty_fd: int | None = None,
        sync_fd: int | None = None,
        log_name: str = "ctr.log",
        log_size_max: int = -1,
        exit_file: str = EXIT_FILE,
    ) -> None:
        self.pid = pid
        self.pidfd = os.pidfd_open(pid)
        self.listener = listener
        self.outputs = outputs
        self.stdin_w = stdin_w
        #: the log, capped as conmon caps it (`log_size_max`, `ocimux.logwriter`)
        self.log = LogWriter(log_name, log_size_max, fd=log_fd)
        #: where the exit code goes: on the run dir, which a full state disk cannot refuse
        self.exit_file = Path(exit_file)
        self.gate = gate
        self.ctl_fd = ctl_fd
        self.ctl_buf = b""
        self.tty_fd = tty_fd
        self.sync_fd = sync_fd
        self.stdin_buf = bytearray()
        self.stdin_eof = False
        self.clients: list[socket.socket] = []
        self.sel = selectors.DefaultSelector()

    def run(self) -> None:
        """Relay until the process exits, then record its exit and clean up."""
        self.sel.register(self.listener, selectors.EVENT_READ, "accept")
        for fd in self.outputs:
            self.sel.register(fd, selectors.EVENT_READ, "output")
        self.sel.register(self.ctl_fd, selectors.EVENT_READ, "ctl")
        if self.sync_fd is not None:
            self.sel.register(self.sync_fd, selectors.EVENT_READ, "sync")
        self.sel.register(self.pidfd, selectors.EVENT_READ, "exit")
        exited = False
        while not exited:
            # Accept first: a client that connected before some output was produced (e.g.
            # before start) is still in the backlog and must receive that output too.
            events = sorted(self.sel.select(), key=lambda event: event[0].data != "accept")
            for key, _mask in events:
                if key.data == "exit":
                    exited = True
                elif key.data == "accept":
                    self._accept()
                elif key.data == "output":
                    self._read_output(key.fd)
                elif key.data == "stdin":
                    self._write_stdin()
                elif key.data == "ctl":
                    self._read_ctl()
                elif key.data == "sync":
                    self._answer_sync()
                elif isinstance(key.fileobj, socket.socket):
                    self._read_client(key.fileobj)
        self._finish()

    # --- control FIFO ---------------------------------------------------------------------

    def _read_ctl(self) -> None:
        """Apply every complete control line waiting in the FIFO."""
        while True:
            try:
                data = os.read(self.ctl_fd, 4096)
            except BlockingIOError:
                return
            if not data:  # cannot happen while we hold a write end; be safe
                return
            self.ctl_buf += data
            *lines, self.ctl_buf = self.ctl_buf.split(b"\n")
            if len(self.ctl_buf) > CTL_LINE_MAX:
                self.ctl_buf = b""
            for line in lines:
                self._control(line)

    def _control(self, line: bytes) -> None:
        fields = line.split()
        try:
            kind, *args = (int(f) for f in fields)
        except ValueError:
            return
        if kind == CTL_RESIZE and len(args) == 2 and self.tty_fd is not None:
            height, width = args
            if 0 <= height <= 0xFFFF and 0 <= width <= 0xFFFF:
                try:
                    size = struct.pack("HHHH", height, width, 0, 0)
                    fcntl.ioctl(self.tty_fd, termios.TIOCSWINSZ, size)
                except OSError:
                    pass

    def _answer_sync(self) -> None:
        """The gated process passed its gate: apply pending resizes, then let it exec."""
        assert self.sync_fd is not None
        self._read_ctl()
        try:
            os.write(self.sync_fd, b"g")
        except OSError:
            pass  # it died meanwhile
        self.sel.unregister(self.sync_fd)
        os.close(self.sync_fd)
        self.sync_fd = None

    # --- clients --------------------------------------------------------------------------

    def _accept(self) -> None:
        """Accept every pending connection (none is left to be reset when the socket closes)."""
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:  # BlockingIOError: no more
                return
            conn.settimeout(SEND_TIMEOUT)
            self.clients.append(conn)
            self.sel.register(conn, selectors.EVENT_READ, "client")

    def _drop(self, conn: socket.socket) -> None:
        try:
            self.sel.unregister(conn)
        except (KeyError, ValueError):
            pass
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
            if self.stdin_w is not None and not self.stdin_eof:
                if not self.stdin_buf:
                    self.sel.register(self.stdin_w, selectors.EVENT_WRITE, "stdin")
                self.stdin_buf += data
            return
        # EOF: the client shut its sending side (or left); it may still read output.
        self.sel.unregister(conn)
        if self.tty_fd is not None:
            return  # the terminal stays the process's stdin (and other clients' input)
        self.stdin_eof = True
        if not self.stdin_buf:
            self._close_stdin()

    def _write_stdin(self) -> None:
        assert self.stdin_w is not None
        try:
            written = os.write(self.stdin_w, self.stdin_buf)
        except BlockingIOError:
            return
        except OSError:  # EPIPE: the process closed its stdin; later input is dropped
            self._close_stdin()
            return
        del self.stdin_buf[:written]
        if not self.stdin_buf:
            self.sel.unregister(self.stdin_w)
            if self.stdin_eof:
                self._close_stdin()

    def _close_stdin(self) -> None:
        if self.stdin_w is not None:
            if self.stdin_buf:
                self.sel.unregister(self.stdin_w)
            os.close(self.stdin_w)
            self.stdin_w = None
            self.stdin_buf.clear()

    def _read_output(self, fd: int) -> None:
        if not self._relay(fd):
            self.sel.unregister(fd)
            self._close_output(fd)

    def _close_output(self, fd: int) -> None:
        os.close(fd)
        del self.outputs[fd]

    def _relay(self, fd: int) -> bool:
        """Relay one read from `fd` to the log and the clients; return False at EOF."""
        try:
            data = os.read(fd, STDIO_BUF_SIZE)
        except BlockingIOError:
            return True
        except OSError as exc:
            if exc.errno == errno.EIO:  # a pty master once no slave is open: its EOF
                return False
            raise
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

    # --- exit -----------------------------------------------------------------------------

    def _finish(self) -> None:
        info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)
        assert info is not None
        code = info.si_status if info.si_code == os.CLD_EXITED else 128 + info.si_status
        try:
            os.killpg(self.pid, signal.SIGKILL)  # the leader is a zombie: its group id is ours
        except OSError:
            pass
        if self.tty_fd is not None:
            # A terminal's jobs may run in groups of their own (a shell's job control), and
            # they hold the slave: the whole session goes, as with the end of a pid namespace.
            for pid in pids_in_session(self.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        if self.sync_fd is not None:
            self.sel.unregister(self.sync_fd)
            os.close(self.sync_fd)
            self.sync_fd = None
        self._accept()
        self._drain()
        write_atomic(self.exit_file, str(code).encode())
        os.waitpid(self.pid, 0)
        os.close(self.pidfd)
        self._close_stdin()
        self.log.close()
        os.close(self.ctl_fd)
        if self.tty_fd is not None:
            os.close(self.tty_fd)
        # Remove the socket first: a client that sees EOF finds it gone and `exit` written.
        self.listener.close()
        remove_quietly(Path(ATTACH_SOCKET))
        remove_quietly(Path(CTL_FIFO))
        if self.gate:
            remove_quietly(Path(START_FIFO))
        for conn in list(self.clients):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._drop(conn)

    def _drain(self) -> None:
        """Relay what is left in the pipes: until EOF, a quiet spell, or DRAIN_MAX seconds."""
        for fd in self.outputs:
            self.sel.unregister(fd)
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
