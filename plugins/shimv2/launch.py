"""Running a shim v2 binary's own actions: `start` (spawn the shim daemon) and `delete` (clean up).

containerd's runtime v2 contract (runtime/v2/README.md; runtime/v2/shim/shim.go in v1.6):
`<shim> -namespace NS -address ADDR -id ID [-debug] start` runs with the bundle as working
directory and `TTRPC_ADDRESS` (where the daemon publishes events) in its environment; it
reads optional create options (a protobuf Any) from stdin, starts the daemon, writes the
daemon's socket address to `address` in the bundle and prints it. `ADDR` (containerd's own
address) only seeds the socket's name (/run/containerd/s/<sha256(ADDR/NS/ID)>), so each
ocimux state directory gets shims of its own. The daemon logs to `log` in the bundle (a
FIFO for containerd; a regular file works and is what ocimux gives it).

`<shim> ... -id ID delete`, run in the bundle, removes what a dead shim left behind (the
runc shim runs `runc delete --force`) and prints a DeleteResponse.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ocimux.base import process
from ocimux.base.errors import OcimuxError, RuntimeCommandError

__all__ = ["SHIM_BINARY", "ShimCommand"]

#: a shim v2 binary's name: containerd maps runtime `io.containerd.X.v2` to `containerd-shim-X-v2`
SHIM_BINARY = re.compile(r"^containerd-shim-[A-Za-z0-9+-]+-v2$")
#: the longest path a unix socket address holds (sun_path is 108 bytes, with its NUL)
MAX_SOCKET_PATH = 107


@dataclass(frozen=True, slots=True)
class ShimCommand:
    """The shim binary and the arguments every action of it gets."""

    binary: str
    namespace: str
    #: the "containerd address" the shim hashes into its socket name (no containerd runs there)
    address: str
    #: where the shim publishes events (TTRPC_ADDRESS)
    events: str
    runtime: str
    timeout: float = 60.0
    debug: bool = False
    #: more environment for the shim (e.g. Kata's KATA_CONF_FILE)
    env: dict[str, str] | None = None

    def argv(self, cid: str, action: str) -> list[str]:
        args = [self.binary, "-namespace", self.namespace, "-address", self.address, "-id", cid]
        return [*args, *(["-debug"] if self.debug else []), action]

    def _env(self, cid: str, bundle: Path) -> dict[str, str]:
        return {**(self.env or {}), "TTRPC_ADDRESS": self._events_address(cid, bundle)}

    def _events_address(self, cid: str, bundle: Path) -> str:
        """TTRPC_ADDRESS as the shim can dial it: a unix socket path fits in 107 bytes.

        A deep run_dir makes the absolute path too long, and the shim then drops every
        event silently; the shim's working directory is the bundle, so a path relative to
        it serves when shorter.
        """
        if len(os.fsencode(self.events)) <= MAX_SOCKET_PATH:
            return self.events
        relative = os.path.relpath(self.events, bundle)
        if len(os.fsencode(relative)) <= MAX_SOCKET_PATH:
            return relative
        raise RuntimeCommandError(
            f"the shim's event socket path {self.events} is longer than a unix socket "
            f"allows ({MAX_SOCKET_PATH} bytes)",
            runtime=self.runtime, container=cid, verb="create",
            hint="set a shorter [ocimux] run_dir",
        )  # fmt: skip

    def start(self, cid: str, bundle: Path, options: bytes = b"") -> str:
        """Start the shim daemon for `cid`; return its ttrpc address."""
        argv = self.argv(cid, "start")
        try:
            done = process.run(
                argv, timeout=self.timeout, input=options, cwd=bundle, env=self._env(cid, bundle)
            )
        except OSError as exc:
            raise RuntimeCommandError(
                f"cannot run {self.binary}: {exc.strerror or exc}",
                argv=argv, runtime=self.runtime, container=cid, verb="create",
            ) from exc  # fmt: skip
        address = done.stdout.decode(errors="replace").strip()
        if done.returncode != 0 or not address:
            detail = done.stderr_text or f"exit status {done.returncode} and no address"
            raise RuntimeCommandError(
                f"shim start failed: {detail}",
                argv=argv, exit_status=done.returncode, runtime=self.runtime, container=cid,
                verb="create", hint=f"see the shim's log {bundle / 'log'}",
            )  # fmt: skip
        return address

    def delete(self, cid: str, bundle: Path) -> None:
        """Let the shim binary clean up after a shim daemon that is gone (errors are ignored)."""
        try:
            env = self._env(cid, bundle)
            process.run(self.argv(cid, "delete"), timeout=self.timeout, cwd=bundle, env=env)
        except (OSError, OcimuxError):
            pass
