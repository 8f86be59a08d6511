"""The relay: the process an engine sees as a shim v2 container's (or exec's) process.

An engine that drives runc (conmon, containerd's runc shim) waits on the pid that `create` or
`exec` writes to `--pid-file`, hands the process its stdio (or takes a terminal from
`--console-socket`), and reads its exit status from `waitpid`. A shim v2 runs the workload
itself, out of the engine's reach, and speaks FIFOs and ttrpc. The relay stands in between, as
Kata 1's `kata-shim` did: forked by the front, it

- makes the FIFOs the shim copies the process's stdio to and from, in its directory, and opens
  their read ends before the shim opens them (holding a writer of its own until the shim has
  its: a FIFO without writers reads as EOF);
- copies the engine's stdin (fd 0, or the terminal's slave) to the stdin FIFO, and the output
  FIFOs to fds 1 and 2 (or the slave); the end of stdin becomes `CloseIO`;
- with a terminal, owns the slave of a pty whose master went to the engine: resizes of the
  master reach it as SIGWINCH (the slave is its controlling terminal) and become `ResizePty`;
- forwards the signals it gets (SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2) with `Kill`;
- waits for the process with `Wait`, drains the output, and exits with the process's status.

The front forks it, and tells it "go" once the shim has the task (or exec); if the front dies
first (the pipe ends without "go"), the relay undoes the container (the `abandon` callback)
and exits, so a crash in `create` leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import struct
import termios
import threading
import tty
from collections.abc import Callable

from ocimux.plugins.shimv2.task import TaskClient
from ocimux.plugins.shimv2.ttrpc import TtrpcConnectionError, TtrpcError

__all__ = ["FORWARDED", "STDERR_FIFO", "STDIN_FIFO", "STDOUT_FIFO", "Relay", "send_console"]

STDIN_FIFO = "stdin.fifo"
STDOUT_FIFO = "stdout.fifo"
STDERR_FIFO = "stderr.fifo"
#: the signals a relay passes on to the workload (SIGKILL and SIGSTOP cannot be caught)
FORWARDED = (
    signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
)  # fmt: skip
#: the status a relay exits with when the shim went away before telling the process's
SHIM_LOST = 255
#: how long the output may take to drain after the process exited (an orphan may hold it)
DRAIN_GRACE = {"container": 10.0, "exec": 1.0}


def send_console(socket_path: str, master: int, name: str) -> None:
    """Send a pty master over `--console-socket` as runc does (SCM_RIGHTS, the pty's name)."""
    import socket  # lazy: terminals only

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(socket_path)
        sock.sendmsg(
            [name.encode()], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", master))]
        )


def window_size(fd: int) -> tuple[int, int]:
    """(rows, columns) of the terminal `fd`; (0, 0) if it is none."""
    try:
        rows, cols, _x, _y = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        return 0, 0
    return rows, cols


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _mkfifo(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    os.mkfifo(path, 0o600)


class Relay:
    """One relay: the FIFOs in `directory`, the engine's side (`stdio` fds or a pty slave).

    `tty`: our pty's slave for `--console-socket`, which the relay reads input from and writes
    output to; None: the engine's stdio (fds 0, 1, 2; with `terminal`, the caller's own
    terminal of a foreground `exec -t`, whose size is fd 0's).
    """

    def __init__(
        self, *, address: str, namespace: str, cid: str, exec_id: str, directory: str,
        terminal: bool, tty: int | None, timeout: float,
    ) -> None:  # fmt: skip
        self.address, self.namespace, self.cid, self.exec_id = address, namespace, cid, exec_id
        self.directory, self.terminal, self.tty, self.timeout = directory, terminal, tty, timeout
        self._outputs: list[int] = []
        self._holds: list[int] = []
        self._stdin = -1

    # --- the FIFOs ----------------------------------------------------------------------------

    def fifo(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def io_paths(self) -> dict[str, str]:
        """The stdio paths for the shim's Create/Exec request."""
        return {
            "stdin": self.fifo(STDIN_FIFO),
            "stdout": self.fifo(STDOUT_FIFO),
            "stderr": "" if self.terminal else self.fifo(STDERR_FIFO),
        }

    def prepare(self) -> None:
        """Make the FIFOs and open our ends before the shim opens its own."""
        names = [STDOUT_FIFO] if self.terminal else [STDOUT_FIFO, STDERR_FIFO]
        for name in (STDIN_FIFO, *names):
            _mkfifo(self.fifo(name))
        for name in names:
            self._outputs.append(os.open(self.fifo(name), os.O_RDONLY | os.O_NONBLOCK))
            self._holds.append(os.open(self.fifo(name), os.O_WRONLY))
        # read-write: never blocks, and the shim reads EOF only once we close it (CloseIO)
        self._stdin = os.open(self.fifo(STDIN_FIFO), os.O_RDWR)

    def keep_fds(self) -> set[int]:
        return {*self._outputs, *self._holds, self._stdin, *([self.tty] if self.tty else [])}

    # --- running ------------------------------------------------------------------------------

    def client(self) -> TaskClient:
        return TaskClient(self.address, namespace=self.namespace, timeout=self.timeout)

    def run(self) -> int:
        """Relay until the process exits; its exit status (SHIM_LOST if the shim went away)."""
        for fd in self._holds:  # the shim has its writers now: EOF means the process is done
            os.close(fd)
        for fd in self._outputs:
            os.set_blocking(fd, True)
        for signum in FORWARDED:
            signal.signal(signum, self._forward)
        if self.terminal:
            signal.signal(signal.SIGWINCH, lambda *_: self.resize())
            self.resize()
        sinks = [self.tty] if self.tty is not None else [1, 2]
        pumps = [
            threading.Thread(target=self._pump, args=(fd, sink), daemon=True)
            for fd, sink in zip(self._outputs, sinks, strict=False)
        ]
        source = self.tty if self.tty is not None else 0
        feeder = threading.Thread(target=self._feed, args=(source,), daemon=True)
        for thread in (*pumps, feeder):
            thread.start()
        status = self._wait()
        grace = DRAIN_GRACE["exec" if self.exec_id else "container"]
        for thread in pumps:
            thread.join(grace)
        if self.exec_id:  # the session is the relay's to remove from the shim
            with contextlib.suppress(TtrpcError, OSError), self.client() as task:
                task.delete(self.cid, self.exec_id)
        return status

    def _wait(self) -> int:
        while True:
            try:
                with self.client() as task:
                    return int(task.wait(self.cid, self.exec_id)["exit_status"]) & 0xFF
            except TtrpcConnectionError:
                return SHIM_LOST
            except TtrpcError:
                return SHIM_LOST  # the shim no longer knows the process (deleted meanwhile)

    def _forward(self, signum: int, _frame: object) -> None:
        with contextlib.suppress(TtrpcError, OSError), self.client() as task:
            task.kill(self.cid, signum, exec_id=self.exec_id)

    def resize(self) -> None:
        rows, cols = window_size(self.tty if self.tty is not None else 0)
        if rows and cols:
            with contextlib.suppress(TtrpcError, OSError), self.client() as task:
                task.resize_pty(self.cid, cols, rows, self.exec_id)

    @staticmethod
    def _pump(source: int, sink: int | None) -> None:
        """Copy until EOF; a sink that went away is dropped, and the source still drained
        (the shim must never block on a full FIFO)."""
        while True:
            try:
                data = os.read(source, 65536)
            except OSError:
                return
            if not data:
                return
            if sink is not None:
                try:
                    _write_all(sink, data)
                except OSError:
                    sink = None

    def _feed(self, source: int) -> None:
        """The engine's input to the stdin FIFO; its end closes the process's stdin (never
        with a terminal: a pty has no end of input, and CloseIO would tear its console down)."""
        while True:
            try:
                data = os.read(source, 65536)
            except OSError:
                data = b""
            if not data:
                break
            try:
                _write_all(self._stdin, data)
            except OSError:
                break
        if self.terminal:
            return
        os.close(self._stdin)
        with contextlib.suppress(TtrpcError, OSError), self.client() as task:
            task.close_io(self.cid, self.exec_id, stdin=True)


def become_relay(
    relay: Relay, *, go: int, ready: int, abandon: Callable[[], None] | None,
    console: bool, raw: bool,
) -> None:  # fmt: skip
    """The forked child's life (never returns): set up, say ready, wait for "go", relay, exit.

    `console`: the relay's tty is a pty slave to own (new session, controlling terminal);
    `raw`: the tty is the caller's terminal, put in raw mode while the process runs.
    """
    status = 1
    saved = None
    try:
        os.setsid()
        if console and relay.tty is not None:
            fcntl.ioctl(relay.tty, termios.TIOCSCTTY, 0)  # the front made it raw
        if raw and os.isatty(0):
            saved = termios.tcgetattr(0)
            tty.setraw(0)
        if console:  # the engine's stdio is not the process's with a console
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            os.close(devnull)
        relay.prepare()
        _close_other_fds({0, 1, 2, go, ready, *relay.keep_fds()})
        os.write(ready, b"ok")
        os.close(ready)
        word = b""
        with contextlib.suppress(OSError):
            word = os.read(go, 2)
        os.close(go)
        if word != b"go":
            if abandon is not None:
                abandon()
            os._exit(1)
        status = relay.run()
    except BaseException as exc:  # noqa: BLE001 - the child must never return into the front
        with contextlib.suppress(OSError):
            os.write(ready, f"cannot start the relay: {exc}".encode())
    finally:
        if saved is not None:
            with contextlib.suppress(termios.error, OSError):
                termios.tcsetattr(0, termios.TCSADRAIN, saved)
        os._exit(status)


def _close_other_fds(keep: set[int]) -> None:
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)
