"""What runsc's binary says it can do."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ocimux import Capability
from ocimux.oci.cli import error_message

if TYPE_CHECKING:
    from ocimux import Runtime


def probe_checkpoint(runtime: Runtime) -> list[tuple[str, Capability]]:
    """checkpoint: `runsc help checkpoint` exits 0 (`runsc help NOSUCH` exits 128).

    Not `checkpoint --help`: runsc 20221219 prints the usage for it but exits 128 (Go's
    `flag.ErrHelp` is a usage error for google/subcommands), verb or no verb.

    gVisor saves the sandbox's state itself, without CRIU, so ocimux's shared probe (which
    also runs `criu check`) would answer for the wrong tool. runsc 20221219: checkpoint takes
    0.12 s and restore 0.24 s on the development host, where CRIU 3.17.1 fails (host.md §5).
    """
    from ocimux.base import process  # not on the hot path: probes run once per binary

    assert runtime.path is not None
    done = process.run(
        [runtime.path, "help", "checkpoint"], timeout=runtime.context.command_timeout
    )
    if done.returncode != 0:
        message = error_message(done.stderr) or done.stdout.decode(errors="replace").strip()
        return [
            (
                "checkpoint",
                Capability(False, "probed", f"`runsc help checkpoint` failed: {message}"),
            )
        ]
    return [("checkpoint", Capability(True, "probed", "gVisor checkpoints without CRIU"))]
