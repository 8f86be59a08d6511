"""Probes every OCI-CLI runtime shares: whether `checkpoint` works (the verb and CRIU).

A plugin for a runc-like runtime lists them in its `probes` beside its own
(`probes = (probe_features, probe_checkpoint)`); `ocimux.interface.probes` runs and caches them.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from ocimux.base import process
from ocimux.interface.capabilities import Capability
from ocimux.interface.probes import kernel_release, probe

from .cli import error_message

if TYPE_CHECKING:
    from ocimux.interface.runtime import Runtime

__all__ = ["probe_checkpoint"]


def _criu(runtime: Runtime) -> str | None:
    return runtime.context.options.get("criu_path") or shutil.which("criu")


@probe(files=[_criu], values=[kernel_release])  # CRIU's answer is the kernel's
def probe_checkpoint(runtime: Runtime) -> list[tuple[str, Capability]]:
    """checkpoint: the runtime has the verb (`checkpoint --help` exits 0) AND `criu check` passes.

    podman stops at the first test (pkg/checkpoint/crutils); on a kernel CRIU cannot handle
    that promises a checkpoint which then fails, so the real CRIU check decides.
    """
    assert runtime.path is not None
    timeout = runtime.context.command_timeout
    done = process.run([runtime.path, "checkpoint", "--help"], timeout=timeout)
    if done.returncode != 0:
        message = error_message(done.stderr) or done.stdout.decode(errors="replace").strip()
        return [
            ("checkpoint", Capability(False, "probed", f"`checkpoint --help` failed: {message}"))
        ]
    criu = _criu(runtime)
    if not criu:
        return [("checkpoint", Capability(False, "probed", "criu is not installed"))]
    try:
        check = process.run([criu, "check"], timeout=timeout)
    except OSError as exc:
        return [("checkpoint", Capability(False, "probed", f"cannot run {criu}: {exc.strerror}"))]
    if check.returncode != 0:
        out = (check.stdout + check.stderr).decode(errors="replace")
        errors = [ln.strip() for ln in out.splitlines() if ln.strip().startswith("Error")]
        why = errors[0] if errors else (out.strip().splitlines() or ["no output"])[-1]
        return [("checkpoint", Capability(False, "probed", f"`criu check` failed: {why}"))]
    return [
        (
            "checkpoint",
            Capability(True, "probed", "`checkpoint --help` works and `criu check` passed"),
        )
    ]
