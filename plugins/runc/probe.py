"""What runc's binary says it can do."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ocimux import Capability
from ocimux.oci.cli import OciCli

if TYPE_CHECKING:
    from ocimux import Runtime

#: runc's features document carries this annotation (runc ≥ 1.1, libcontainer/... features.go)
CHECKPOINT_ANNOTATION = "org.opencontainers.runc.checkpoint.enabled"


def probe_features(runtime: Runtime) -> list[tuple[str, Capability]]:
    """A runc built without checkpoint support says so in `runc features` (runc ≥ 1.1.0).

    Older runc has no `features`; then this probe says nothing and the checkpoint probe decides.
    """
    assert runtime.path is not None
    cli = OciCli(
        path=runtime.path,
        root=runtime.context.state_dir,
        name=runtime.name,
        timeout=runtime.context.command_timeout,
    )
    features = cli.features()
    if not features:
        return []
    enabled = (features.get("annotations") or {}).get(CHECKPOINT_ANNOTATION)
    if enabled is not None and enabled != "true":
        return [
            (
                "checkpoint",
                Capability(
                    False, "probed", f"`runc features` says {CHECKPOINT_ANNOTATION}={enabled}"
                ),
            )
        ]
    return []
