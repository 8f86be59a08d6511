"""`NewContainer`: what `Dispatcher.create` and `run` are asked for.

A rootfs plus a command, or a user's bundle (plus overrides), and the container's
configuration (`ContainerConfig`). The CLI's flags, the Python API and the Docker API all
build one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ocimux.oci.containerconfig import ContainerConfig

__all__ = ["NewContainer"]


@dataclass(frozen=True, slots=True)
class NewContainer:
    """What `create` and `run` need: a rootfs plus command, or a bundle (plus overrides)."""

    args: tuple[str, ...] = ()
    rootfs: Path | None = None
    bundle: Path | None = None
    name: str | None = None
    runtime: str | None = None
    env: tuple[str, ...] = ()
    cwd: str | None = None
    user: str | None = None
    stdin: bool = False
    terminal: bool = False
    annotations: dict[str, str] = field(default_factory=dict)
    auto_remove: bool = False
    stop_timeout: int | None = None
    no_cgroups: bool = False
    #: restore this checkpoint image (e.g. an imported archive) instead of creating afresh
    restore_image: Path | None = None
    #: reuse this id (a container re-created by `restart`); None: a fresh one
    id: str | None = None
    #: mounts, limits, security and the rest (see `containerconfig.py`)
    #: None means every default; imported only by `create`, off the other verbs' path
    config: ContainerConfig | None = None
