"""`ocimux image add|rm|ls` (names for root filesystem directories) and `ocimux rootfs DEST`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ocimux.engine.images import ImageStore
from ocimux.oci.rootfs import build_busybox_rootfs

from ._output import print_json, print_table

if TYPE_CHECKING:
    from ocimux.engine.dispatcher import Dispatcher

__all__ = ["cmd_image", "cmd_rootfs"]


def cmd_rootfs(args: argparse.Namespace) -> int:
    print(build_busybox_rootfs(Path(args.dest)))
    return 0


def cmd_image(d: Dispatcher, args: argparse.Namespace) -> int:
    images = ImageStore(d.config.state_dir)
    if args.image_cmd == "add":
        entry = images.add(args.name, Path(args.dir), args.default_cmd, args.env)
        print(entry["name"])
    elif args.image_cmd == "rm":
        images.remove(args.name)
        print(args.name)
    elif args.format == "json":
        print_json(images.list())
    else:
        rows = [[i["name"], i["rootfs"], " ".join(i["cmd"]) or "-"] for i in images.list()]
        print_table(["IMAGE", "ROOTFS", "COMMAND"], rows)
    return 0
