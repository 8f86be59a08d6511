"""`ocimux checkpoint [--export FILE]` and `ocimux restore [--import FILE [--name NEW]]`."""

from __future__ import annotations

import argparse
import io
import json
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ocimux.base.errors import InvalidArgumentError
from ocimux.base.ids import validate_name
from ocimux.engine.configure import GENERATED_FILES
from ocimux.engine.newcontainer import NewContainer
from ocimux.interface.options import CheckpointOptions, RestoreOptions

if TYPE_CHECKING:
    from ocimux.engine.dispatcher import Dispatcher
    from ocimux.engine.store import ContainerRecord

__all__ = ["cmd_checkpoint", "cmd_restore"]


def _checkpoint_dir(d: Dispatcher, ref: str) -> tuple[str, Path]:
    rec = d.inspect(ref)
    return rec.id, d.runtime_of(rec).container_dir(rec.id) / "checkpoint"


def cmd_checkpoint(d: Dispatcher, args: argparse.Namespace) -> int:
    cid, image = _checkpoint_dir(d, args.container)
    if image.exists():
        shutil.rmtree(image)
    rec = d.checkpoint(
        cid,
        CheckpointOptions(
            image_path=image, leave_running=args.leave_running, tcp_established=args.tcp_established
        ),
    )
    if args.export:
        _export(rec, image, Path(args.export))
    print(rec.name)
    return 0


def _export(rec: ContainerRecord, image: Path, dest: Path) -> None:
    """A tar.gz of the checkpoint image, the container's config.json and what ocimux knew of it."""
    meta = json.dumps({"name": rec.name, "runtime": rec.runtime, "config": rec.config}).encode()
    with tarfile.open(dest, "w:gz") as tar:
        tar.add(image, arcname="checkpoint")
        tar.add(Path(rec.bundle) / "config.json", arcname="config.json")
        for name in GENERATED_FILES:  # bound into the container: its restore needs them again
            if (Path(rec.bundle) / name).is_file():
                tar.add(Path(rec.bundle) / name, arcname=name)
        info = tarfile.TarInfo("ocimux.json")
        info.size = len(meta)
        tar.addfile(info, io.BytesIO(meta))


def _restore_new(d: Dispatcher, args: argparse.Namespace) -> int:
    """`restore --import FILE --name NEW`: a new container from an exported checkpoint."""
    validate_name(args.name)
    work = Path(tempfile.mkdtemp(prefix="import-", dir=d.config.state_dir))
    try:
        try:
            with tarfile.open(args.import_, "r:*") as tar:
                tar.extractall(work, filter="data")
            meta = json.loads((work / "ocimux.json").read_text())
        except (OSError, ValueError, tarfile.TarError) as exc:
            raise InvalidArgumentError(f"cannot import checkpoint {args.import_}: {exc}") from None
        if not (work / "checkpoint").is_dir() or not (work / "config.json").is_file():
            raise InvalidArgumentError(
                f"{args.import_} is not an `ocimux checkpoint --export` archive"
            )
        config = meta.get("config") or {}
        new = NewContainer(
            bundle=work, name=args.name, runtime=meta.get("runtime"),
            stdin=bool(config.get("stdin")), terminal=bool(config.get("terminal")),
            stop_timeout=config.get("stop_timeout"), restore_image=work / "checkpoint",
        )  # fmt: skip
        print(d.create(new).name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def cmd_restore(d: Dispatcher, args: argparse.Namespace) -> int:
    if args.name:
        if not args.import_:
            raise InvalidArgumentError(
                "restore --name needs --import FILE (an exported checkpoint)"
            )
        return _restore_new(d, args)
    if not args.container:
        raise InvalidArgumentError("restore needs a container, or --import FILE --name NEW")
    cid, image = _checkpoint_dir(d, args.container)
    if args.import_:
        if image.exists():
            shutil.rmtree(image)
        try:
            with tarfile.open(args.import_, "r:*") as tar:
                tar.extractall(image.parent, filter="data")
        except (OSError, tarfile.TarError) as exc:
            raise InvalidArgumentError(f"cannot import checkpoint {args.import_}: {exc}") from None
    if not image.is_dir():
        raise InvalidArgumentError(
            f"container {args.container} has no checkpoint",
            hint="run `ocimux checkpoint` first, or --import FILE",
        )
    print(
        d.restore(cid, RestoreOptions(image_path=image, tcp_established=args.tcp_established)).name
    )
    return 0
