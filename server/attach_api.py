"""`POST /containers/{id}/attach`: a hijacked stream of a container's stdio, as Docker's.

- Detaching: with a TTY, the `detachKeys` sequence (Docker's default ctrl-p,ctrl-q; `""` is
  the default too) typed on the attached stdin ends the stream and the container runs on;
  the keys are not passed through. Without a TTY every byte goes through (Docker's rule:
  its escape proxy wraps only a terminal's input).
- After a detach the server stops writing (half-close) and reads what the client still sends
  for up to `LINGER` seconds, as Docker's half-closed stream does: a client that writes once
  more gets no broken pipe.
- Attaching before the start: Docker lets a client attach to an exited container and
  stream the next run (`docker start -a` attaches, then starts). The attach answers at once
  and waits; `start` re-creates the container and lets the waiting attaches connect to the
  new run's output before it starts it (`release_attachers`), so no output is lost.
"""

from __future__ import annotations

import contextlib
import select
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ocimux.base.errors import NotFoundError, OcimuxError
from ocimux.io.attach import MultiplexWriter, parse_detach_keys
from ocimux.io.logview import LogWindow

from .container_api import REMOVED_AFTER
from .httpd import ApiError, Request
from .shapes import MUX, RAW, tail_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from ocimux.engine.dispatcher import Dispatcher
    from ocimux.engine.store import ContainerRecord
    from ocimux.interface.runtime import Runtime

__all__ = ["DEFAULT_DETACH_KEYS", "AttachEndpoints", "detach_keys", "linger"]

#: Docker's default detach sequence, ctrl-p ctrl-q
DEFAULT_DETACH_KEYS = b"\x10\x11"
#: seconds a detached stream keeps reading what its client still sends
LINGER = 5.0
#: seconds `start` waits for each waiting attach to connect before it starts anyway
CONNECT_TIMEOUT = 5.0


def detach_keys(spec: Any, what: str = "detachKeys") -> bytes:
    """Docker's detach keys (`ctrl-p,ctrl-q`, `a,ctrl-@`) as bytes; empty: the default."""
    if spec is None or spec == "":
        return DEFAULT_DETACH_KEYS
    if not isinstance(spec, str):
        raise ApiError(400, f"{what} must be a string")
    try:
        return parse_detach_keys(spec)
    except ValueError as exc:
        raise ApiError(400, f"Invalid detach keys ({spec}) provided: {exc}") from None


def linger(r: Request, rfile: Any) -> None:
    """End a detached stream as Docker does: stop writing, then drop what the client still
    sends until it closes, for `LINGER` seconds at most."""
    conn = r.handler.connection
    with contextlib.suppress(OSError):
        r.handler.wfile.flush()
        conn.shutdown(socket.SHUT_WR)
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN | select.POLLRDHUP)
    deadline = time.monotonic() + LINGER
    while (left := deadline - time.monotonic()) > 0:
        if not poller.poll(left * 1000):
            return
        if not rfile.read(65536):
            return


@dataclass
class _Waiter:
    """An attach waiting for its container's next start."""

    go: threading.Event = field(default_factory=threading.Event)
    connected: threading.Event = field(default_factory=threading.Event)


class AttachEndpoints:
    """`containers/{id}/attach`; mixed into DockerApi."""

    d: Dispatcher
    _lock: threading.Lock
    #: attaches waiting for the next start of an exited container, by container id
    attach_waiters: dict[str, list[_Waiter]]
    _record: Callable[[str], ContainerRecord]  # ContainerEndpoints': a container by reference
    _write_log: Callable[..., None]  # LogEndpoints'

    def attach(self, r: Request) -> None:
        rec = self._record(r.params["id"])
        tty = bool(rec.config.get("terminal"))
        stream, logs = r.flag("stream"), r.flag("logs")
        stdin = r.flag("stdin") and bool(rec.config.get("stdin"))
        keys = detach_keys(r.query.get("detachKeys"))
        if rec.status == "paused" and stream:
            raise ApiError(409, "You cannot attach to a paused container, unpause it first")
        waits = stream and rec.status == "stopped"  # streams the next run (`docker start -a`)
        if rec.status not in ("created", "running", "stopped") and stream and not logs:
            raise ApiError(409, f"container {r.params['id']} is not running")
        tail = tail_of(r)
        window = LogWindow(tail=int(tail) if tail not in ("all", "") and int(tail) >= 0 else None)
        r.flag("stdout"), r.flag("stderr")  # a bad value is a 400 before the stream starts
        runtime = self.d.runtime_of(rec)
        rfile, wfile, answer = r.hijack_later(RAW if tty else MUX)
        waiter = self._wait_for_start(rec.id) if waits else None
        detached = False
        try:
            if logs:
                answer()
                self._write_log(runtime, rec.id, MultiplexWriter(wfile, raw=tty), r, window, follow=False)  # fmt: skip
            if waiter is not None:
                answer()  # the client starts the container once answered
                if not self._await_go(waiter, rec.id, r):
                    return None
            if stream and (waiter is not None or rec.status in ("created", "running")):
                detached = self._stream(rec, runtime, r, rfile, wfile, answer, stdin, tty, keys, waiter)  # fmt: skip
        except (BrokenPipeError, ConnectionResetError):
            pass
        except OcimuxError as exc:  # the stream has begun: no status left to answer with
            sys.stderr.write(f"attach {rec.name}: {exc}\n")
        finally:
            if waiter is not None:
                waiter.connected.set()
                self._forget_waiter(rec.id, waiter)
            with contextlib.suppress(OSError):
                answer()
        if detached:
            linger(r, rfile)
        return None

    def _stream(
        self,
        rec: ContainerRecord,
        runtime: Runtime,
        r: Request,
        rfile: Any,
        wfile: Any,
        answer: Callable[[], None],
        stdin: bool,
        tty: bool,
        keys: bytes,
        waiter: _Waiter | None,
    ) -> bool:
        """Relay the container's stdio until it ends (False) or the client detaches (True)."""

        def ready() -> None:
            answer()
            if waiter is not None:
                waiter.connected.set()  # `start` may start it now

        # through the Dispatcher: its state check, lock and hooks, as `ocimux attach`;
        # answered once connected to the container's output (the client starts it then)
        streams = MultiplexWriter(wfile, raw=tty).streams(rfile if stdin else None)
        code = self.d.attach(
            rec.id, streams, stdin=stdin, detach_keys=keys if tty else None, ready=ready
        )
        return code is None and stdin and tty

    # --- attaching before the start -------------------------------------------------------

    def _wait_for_start(self, cid: str) -> _Waiter:
        """Register an attach that waits for the container's next start."""
        waiter = _Waiter()
        with self._lock:
            self.attach_waiters.setdefault(cid, []).append(waiter)
        return waiter

    def _forget_waiter(self, cid: str, waiter: _Waiter) -> None:
        with self._lock:
            waiters = self.attach_waiters.get(cid, [])
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters:
                self.attach_waiters.pop(cid, None)

    def _await_go(self, waiter: _Waiter, cid: str, r: Request) -> bool:
        """Wait until `start` lets the attach connect; False if the client or container went."""
        conn = r.handler.connection
        poller = select.poll()
        poller.register(conn.fileno(), 0)  # POLLHUP is always reported: the client closed
        checked = time.monotonic()
        missing_since: float | None = None
        while not waiter.go.wait(0.25):
            if poller.poll(0):
                return False
            if time.monotonic() - checked >= 1.0:
                checked = time.monotonic()
                try:
                    self.d.store.get_container(cid)
                    missing_since = None
                except NotFoundError:
                    # missing for a moment while `start` re-creates it; for long: removed
                    missing_since = missing_since or checked
                    if checked - missing_since >= REMOVED_AFTER:
                        return False
                except OcimuxError:
                    pass
        return True

    def release_attachers(self, cid: str) -> None:
        """Let the attaches waiting for `cid`'s start connect to its (re-created) monitor, and
        wait until each has (`CONNECT_TIMEOUT` each at most), so none misses the first output."""
        with self._lock:
            waiters = self.attach_waiters.pop(cid, [])
        for waiter in waiters:
            waiter.go.set()
        for waiter in waiters:
            waiter.connected.wait(CONNECT_TIMEOUT)
