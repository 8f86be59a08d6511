"""Signal proxying for attached `run`, `attach` and `exec` (podman's and Docker's `--sig-proxy`).

While the client is attached, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent to
it go to the container's process instead of ending the client: `timeout 3 ocimux run ...`,
a closed terminal (SIGHUP) or ctrl-c without a terminal reach the container, the container
decides, and the client keeps relaying until it exits (and removes it with `--rm`). With a
terminal (`-t`) ctrl-c is a byte in raw mode: the container's terminal turns it into SIGINT.
SIGWINCH is a resize (`_terminal.py`); SIGKILL and SIGSTOP cannot be caught, and job control
signals (SIGTSTP, SIGCONT, SIGTTIN, SIGTTOU) stay the client's, as in podman.

The handler only queues the signal: a thread sends it (`Dispatcher.kill` takes a lock and
spawns the runtime, which a signal handler must not do). A signal the container cannot get
any more (it exited, or was never started) is dropped: its end is already under way.
"""

from __future__ import annotations

import queue
import signal
import threading
from collections.abc import Callable
from contextlib import suppress

__all__ = ["PROXIED", "Hangup", "SignalProxy"]

#: the signals forwarded to the container (podman proxies every catchable one but these matter)
PROXIED: tuple[signal.Signals, ...] = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)


class Hangup(BaseException):
    """Our terminal hung up (SIGHUP with `-t`): forwarded, and the attached client ends.

    A BaseException like KeyboardInterrupt, so that no `except Exception` swallows it: `run`
    removes a `--rm` container on the way out, as for any client that cannot go on.
    """


class SignalProxy:
    """Forward PROXIED signals to `send(signum)` between `start` and `stop`.

    `start` may be called late (once the container exists); `stop` restores the previous
    handlers and is safe to call more than once, or without `start`. Only the main thread
    can install handlers: elsewhere `start` does nothing.

    With `hangup_ends` (a terminal session), SIGHUP is forwarded and then raises `Hangup` in
    the main thread: the terminal is gone, nothing can be relayed any more, and a container's
    PID 1 ignores a signal it set no handler for (an interactive shell's SIGHUP). `Hangup` is
    raised only once the forwarder has sent it (it signals the main thread again): the
    client's way out may remove what `send` needs (an exec session's record and directory).
    """

    def __init__(self, *, hangup_ends: bool = False) -> None:
        self._queue: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self._previous: dict[int, object] = {}
        self._thread: threading.Thread | None = None
        self._hangup = "" if hangup_ends else "done"  # "", "pending" (queued), "sent", "done"
        self._installed = threading.Lock()  # the forwarder signals the main thread only under ours

    def start(self, send: Callable[[int], object]) -> None:
        if self._thread is not None or threading.current_thread() is not threading.main_thread():
            return
        self._thread = threading.Thread(
            target=self._forward, args=(send,), daemon=True, name="ocimux-sig-proxy"
        )
        self._thread.start()
        for sig in PROXIED:
            self._previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: object) -> None:
        if signum == signal.SIGHUP and self._hangup != "done":
            if self._hangup == "sent":  # the forwarder's own: it reached the container
                self._hangup = "done"  # once: never again in the middle of the removal
                raise Hangup
            if self._hangup == "pending":
                return  # the terminal's second SIGHUP: one is on its way
            self._hangup = "pending"
        self._queue.put(signum)

    def _forward(self, send: Callable[[int], object]) -> None:
        while (signum := self._queue.get()) is not None:
            with suppress(Exception):  # exited meanwhile, or not started: nothing to forward to
                send(signum)
            if signum == signal.SIGHUP and self._hangup == "pending":
                with self._installed:
                    if self._previous:  # our handler is still there to raise Hangup
                        self._hangup = "sent"
                        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGHUP)

    def stop(self) -> None:
        with self._installed:
            for sig, previous in self._previous.items():
                with suppress(ValueError, TypeError):
                    signal.signal(sig, previous)  # type: ignore[arg-type]
            self._previous.clear()
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SignalProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
