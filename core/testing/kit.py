"""The `Kit`: the runtime under test, the Dispatchers that drive it, and shortcuts for tests.

A runtime must keep no container state between calls (every answer comes from the runtime,
its monitor or files), because every `ocimux` command is a new process with a new instance.
So the kit creates a container through one Dispatcher and runs every later verb through a
*second* one (`Kit.second`: its own Registry, hence its own runtime instance, on the same
state directories), and where it matters through a second process (`Kit.cli`).
"""

from __future__ import annotations

import io
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from ocimux.base import process
from ocimux.base.errors import ContainerNotFoundError, OcimuxError
from ocimux.engine.dispatcher import Dispatcher, NewContainer
from ocimux.engine.session import open_dispatcher
from ocimux.engine.store import ContainerRecord, ExecRecord
from ocimux.interface.capabilities import Capabilities, Capability
from ocimux.interface.options import ExecOptions, StdStreams

__all__ = ["WAIT_TIMEOUT", "Attached", "Captured", "Kit", "run_container"]

#: how long a helper waits for a container to reach a state, or an attach to end
WAIT_TIMEOUT = 10.0
#: how long one `ocimux` command of the second process may take
CLI_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class Captured:
    """What a foreground container did: its record, exit code and both output streams."""

    record: ContainerRecord
    code: int | None
    stdout: bytes
    stderr: bytes


@dataclass(frozen=True, slots=True)
class Attached:
    """How an attach ended: the exit code (None if detached) and what each stream received."""

    code: int | None
    stdout: bytes
    stderr: bytes


@dataclass(frozen=True, slots=True)
class CliResult:
    """One `ocimux` command run by the second process: exit status and output (text)."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def run_container(dispatcher: Dispatcher, new: NewContainer) -> Captured:
    """Run `new` in the foreground with one Dispatcher, capturing stdout and stderr apart."""
    out, err = io.BytesIO(), io.BytesIO()
    rec, code = dispatcher.run(new, StdStreams(stdout=out, stderr=err))
    return Captured(rec, code, out.getvalue(), err.getvalue())


@dataclass
class Kit:
    """The runtime under test, its Dispatchers and rootfs, with shortcuts for contract tests.

    `dispatcher` creates containers; `second` (a Dispatcher opened afresh on the same
    configuration) runs every later verb; `cli` runs `ocimux` in another process.
    """

    dispatcher: Dispatcher
    runtime: str
    rootfs: Path
    #: the test's node name, named in skip reasons
    test: str = "test"
    _second: Dispatcher | None = field(default=None, repr=False)

    # --- capabilities and skips -------------------------------------------------------------

    @property
    def capabilities(self) -> Capabilities:
        """The runtime's merged capabilities (declared < probed < configured)."""
        registry = self.dispatcher.registry
        return registry.capabilities(registry.get(self.runtime))

    def capability(self, name: str) -> Capability:
        return self.capabilities.get(name)

    def skip(self, why: str) -> None:
        """Skip the test; the reason names it (`test_x[runc]: why`)."""
        pytest.skip(f"{self.test}: {why}")

    def require(self, name: str) -> None:
        """Skip the test, naming it and the capability's reason, unless the runtime has `name`."""
        cap = self.capability(name)
        if not cap:
            self.skip(f"runtime {self.runtime} declares {name} false ({cap.source}): {cap.reason}")

    # --- Dispatchers and the second process -------------------------------------------------

    def fresh(self) -> Dispatcher:
        """A new Dispatcher (new Registry, new runtime instance) on the same configuration.

        It is what another `ocimux` process builds, minus what a class or module of the
        plugin keeps in this process (`cli` catches that).
        """
        if self.dispatcher.origin is None:
            raise pytest.UsageError("the kit's dispatcher must come from open_dispatcher()")
        config_file, environ = self.dispatcher.origin
        return open_dispatcher(config_file, environ)

    @property
    def second(self) -> Dispatcher:
        """The Dispatcher every verb after `create` goes through (opened once per test)."""
        if self._second is None:
            self._second = self.fresh()
        return self._second

    def cli(
        self, *args: str, input: bytes | None = None, timeout: float = CLI_TIMEOUT
    ) -> CliResult:
        """Run `python -m ocimux.cli ARGS` in a new process with the kit's configuration."""
        environ = dict(self.dispatcher.origin[1]) if self.dispatcher.origin else dict(os.environ)
        config_file = self.dispatcher.origin[0] if self.dispatcher.origin else None
        if config_file is not None:
            environ["CONTAINERS_CONF"] = config_file
        argv = [sys.executable, "-m", "ocimux.cli", *args]
        done = process.run(argv, timeout=timeout, input=input, env=environ)
        return CliResult(
            argv,
            done.returncode,
            done.stdout.decode(errors="replace"),
            done.stderr.decode(errors="replace"),
        )

    # --- containers ---------------------------------------------------------------------------

    def new(self, *args: str, **fields: object) -> NewContainer:
        """A NewContainer running `args` in the kit's rootfs on the runtime under test."""
        return NewContainer(args=args, rootfs=self.rootfs, runtime=self.runtime, **fields)  # type: ignore[arg-type]

    def create(self, *args: str, **fields: object) -> ContainerRecord:
        """Create (not start) `args` through the first Dispatcher."""
        return self.dispatcher.create(self.new(*args, **fields))

    def detach(self, *args: str, **fields: object) -> ContainerRecord:
        """Create through the first Dispatcher, start through the second; the running record."""
        rec = self.create(*args, **fields)
        return self.second.start(rec.id)

    def attach(
        self,
        ref: str,
        *,
        stdin: bytes | None = None,
        start: bool = False,
        size: tuple[int, int] | None = None,
        timeout: float = WAIT_TIMEOUT,
    ) -> Attached:
        """Attach to `ref` through a fresh Dispatcher (starting it with `start`) until it exits.

        `stdin` is sent to the container, then EOF. After `timeout` seconds the container is
        removed (which ends the attach) and the test fails.
        """
        out, err = io.BytesIO(), io.BytesIO()
        streams = StdStreams(stdout=out, stderr=err, stdin=io.BytesIO(stdin) if stdin else None)
        result: dict[str, Any] = {}

        def attach() -> None:
            try:
                result["code"] = self.fresh().attach(
                    ref, streams, stdin=stdin is not None, start=start, size=size
                )
            except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
                result["error"] = exc

        thread = threading.Thread(target=attach, name=f"ocimux-kit-attach-{ref[:12]}", daemon=True)
        thread.start()
        thread.join(timeout)
        if thread.is_alive():
            with suppress(OcimuxError):
                self.fresh().delete(ref, force=True, timeout=0)
            thread.join(WAIT_TIMEOUT)
            raise AssertionError(
                f"attach to {ref[:12]} did not end within {timeout:g}s; output so far: "
                f"stdout {out.getvalue()[-200:]!r}, stderr {err.getvalue()[-200:]!r}"
            )
        if "error" in result:
            raise result["error"]
        return Attached(result["code"], out.getvalue(), err.getvalue())

    def run(
        self,
        *args: str,
        stdin: bytes | None = None,
        size: tuple[int, int] | None = None,
        **fields: object,
    ) -> Captured:
        """Create `args` (first Dispatcher), start and attach (a second one), then remove it.

        With `stdin` the container is created with `-i` and gets those bytes, then EOF;
        `size` is the terminal's (with `terminal=True`). Raises what `create` raises (e.g.
        CommandNotFoundError), so a test sees both ways a runtime may report a bad command.
        """
        if stdin is not None:
            fields["stdin"] = True
        rec = self.create(*args, **fields)
        try:
            done = self.attach(rec.id, stdin=stdin, start=True, size=size)
        finally:
            with suppress(ContainerNotFoundError):
                self.second.delete(rec.id, force=True, timeout=0)
        return Captured(rec, done.code, done.stdout, done.stderr)

    def exec(self, ref: str, *args: str, **options: object) -> Captured:
        """Run `args` in running container `ref` through the second Dispatcher; capture it."""
        out, err = io.BytesIO(), io.BytesIO()
        code = self.second.exec(
            ref,
            ExecOptions(args=args, **options),
            StdStreams(stdout=out, stderr=err),  # type: ignore[arg-type]
        )
        return Captured(self.second.inspect(ref), code, out.getvalue(), err.getvalue())

    # --- waiting ------------------------------------------------------------------------------

    def wait_for(
        self,
        ref: str,
        predicate: Callable[[ContainerRecord], bool],
        timeout: float = WAIT_TIMEOUT,
        what: str = "",
    ) -> ContainerRecord:
        """Poll `inspect` (second Dispatcher) until `predicate(record)`; fail after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            rec = self.second.inspect(ref)
            if predicate(rec):
                return rec
            if time.monotonic() > deadline:
                why = f" ({rec.status_reason})" if rec.status_reason else ""
                raise AssertionError(
                    f"container {rec.name} still {rec.status}{why} after {timeout:g}s"
                    + (f": {what}" if what else "")
                )
            time.sleep(0.05)

    def wait_status(
        self, ref: str, status: str, timeout: float = WAIT_TIMEOUT, what: str = ""
    ) -> ContainerRecord:
        return self.wait_for(ref, lambda r: r.status == status, timeout, what)

    def wait_exec(self, session: str, timeout: float = WAIT_TIMEOUT) -> ExecRecord:
        """Poll a fresh Dispatcher's `exec_inspect` until the session has stopped."""
        deadline = time.monotonic() + timeout
        while True:
            rec = self.fresh().exec_inspect(session)
            if rec.status == "stopped":
                return rec
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"exec session {session[:12]} still {rec.status} after {timeout:g}s"
                )
            time.sleep(0.05)
