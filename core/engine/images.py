"""Images for the Docker API: names for root filesystem directories, no registry involved.

`ocimux image add NAME DIR [--cmd ...]` records `NAME` → DIR in `<state_dir>/images.json`;
`containers/create` with `"Image": "NAME"` runs that directory. Names are normalised as
Docker does for the common cases: `busybox`, `busybox:latest`, `library/busybox` and
`docker.io/library/busybox:latest` are one image.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ocimux.base.errors import InvalidArgumentError, NotFoundError

__all__ = ["ImageStore", "normalize"]

_COMPONENT = r"[a-z0-9]+(?:[._-][a-z0-9]+)*"
#: [registry[:port]/]path[/path...][:tag], Docker's reference grammar for the common cases
_NAME = re.compile(
    rf"^(?:[a-zA-Z0-9.-]+(?::\d+)?/)?{_COMPONENT}(?:/{_COMPONENT})*(?::\w[\w.-]{{0,127}})?$"
)


def normalize(name: str) -> str:
    """`docker.io/library/busybox:latest` → `busybox:latest`; a missing tag is `latest`."""
    ref = name.strip()
    for prefix in ("docker.io/", "index.docker.io/"):
        ref = ref.removeprefix(prefix)
    ref = ref.removeprefix("library/")
    if ":" not in ref.rsplit("/", 1)[-1]:
        ref += ":latest"
    return ref


def image_id(name: str, rootfs: str) -> str:
    return "sha256:" + hashlib.sha256(f"{name}\0{rootfs}".encode()).hexdigest()


class ImageStore:
    """The image names of one state directory (a JSON file, written under a lock)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / "images.json"

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise InvalidArgumentError(f"cannot read {self.path}: {exc}") from exc
        return data if isinstance(data, dict) else {}

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, dict[str, Any]]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            images = self._read()
            yield images
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(images, indent=1, sort_keys=True))
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        finally:
            os.close(fd)

    def add(
        self, name: str, rootfs: Path, cmd: list[str] | None = None, env: list[str] | None = None
    ) -> dict[str, Any]:
        if not _NAME.match(name.strip()):
            raise InvalidArgumentError(
                f"invalid image name {name!r}",
                hint="use lowercase letters, digits, '.', '_', '-', '/' and an optional :tag",
            )
        directory = Path(rootfs).resolve()
        if not directory.is_dir():
            raise InvalidArgumentError(f"rootfs {rootfs} is not a directory")
        key = normalize(name)
        entry = {
            "rootfs": str(directory),
            "created": time.time(),
            "cmd": list(cmd or []),
            "env": list(env or []),
        }
        with self._locked() as images:
            images[key] = entry
        return {"name": key, **entry}

    def remove(self, name: str) -> None:
        key = normalize(name)
        with self._locked() as images:
            if key not in images:
                raise NotFoundError(f"no such image: {name}")
            del images[key]

    def get(self, name: str) -> dict[str, Any]:
        key = normalize(name)
        images = self._read()
        if key in images:
            return {"name": key, **images[key]}
        for other, entry in images.items():  # an image id or its prefix
            if (
                image_id(other, entry["rootfs"])
                .removeprefix("sha256:")
                .startswith(name.removeprefix("sha256:"))
                and len(name.removeprefix("sha256:")) >= 12
            ):
                return {"name": other, **entry}
        # Docker's 404 wording (clients match "No such image"), and where images come from here
        raise NotFoundError(f"No such image: {name} (ocimux image add / docker load)")

    def list(self) -> list[dict[str, Any]]:
        return [{"name": name, **entry} for name, entry in sorted(self._read().items())]
