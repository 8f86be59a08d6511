"""Data: OCI CLI binaries driven under an `[engine.runtimes]` name whose verbs differ from the
driving plugin's (host.md §3), for what `ocimux-oci` refuses or lets through.

binary basename -> (verb -> why the front refuses it, verbs the plugin's probes wrongly deny:
runsc checkpoints without CRIU, and `checkpoint --help` is not how it answers).
"""

from __future__ import annotations

__all__ = ["BINARY_GAPS"]

BINARY_GAPS: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "runsc": (
        {"update": "capability update_resources is no (runsc has no update command)"},
        ("checkpoint",),
    ),
}
