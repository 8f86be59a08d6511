"""What crun's binary says it can do."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ocimux import Capability
from ocimux.oci.cli import OciCli

if TYPE_CHECKING:
    from ocimux import Runtime


def probe_build_features(runtime: Runtime) -> list[tuple[str, Capability]]:
    """crun lists its build options on the last line of `--version` (`+SYSTEMD +CRIU ...`).

    Without `+CRIU` it has no checkpoint command at all (crun 1.8.1 on Debian 12:
    "unknown command checkpoint"), which is the clearest reason to give.
    """
    assert runtime.path is not None
    cli = OciCli(
        path=runtime.path,
        root=runtime.context.state_dir,
        name=runtime.name,
        timeout=runtime.context.command_timeout,
    )
    lines = cli.version().splitlines()
    flags = next((ln.split() for ln in reversed(lines) if ln.startswith(("+", "-"))), None)
    if flags is not None and "+CRIU" not in flags:
        return [
            (
                "checkpoint",
                Capability(
                    False, "probed", "crun was built without CRIU (no +CRIU in `crun --version`)"
                ),
            )
        ]
    return []
