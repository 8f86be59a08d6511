"""The CLI's commands: which module runs each, and running it with a Dispatcher.

One module per group of commands (`_cli_containers`, `_cli_run`, `_cli_checkpoint`,
`_cli_images`, `_cli_system`, `_cli_serve`); a verb imports only its own group, so `ocimux ps`
never loads what `run` needs to parse container flags or drive a terminal.
"""

from __future__ import annotations

import argparse
import importlib
import os
from collections.abc import Callable

from .session import open_dispatcher

__all__ = ["COMMANDS", "command", "dispatch"]

#: command -> "module:function" that runs it
COMMANDS: dict[str, str] = {
    "ps": "ocimux._cli_containers:cmd_ps",
    "inspect": "ocimux._cli_containers:cmd_inspect",
    "start": "ocimux._cli_containers:cmd_start",
    "pause": "ocimux._cli_containers:cmd_pause",
    "unpause": "ocimux._cli_containers:cmd_unpause",
    "kill": "ocimux._cli_containers:cmd_kill",
    "stop": "ocimux._cli_containers:cmd_stop",
    "rm": "ocimux._cli_containers:cmd_rm",
    "update": "ocimux._cli_containers:cmd_update",
    "logs": "ocimux._cli_containers:cmd_logs",
    "run": "ocimux._cli_run:cmd_run",
    "create": "ocimux._cli_run:cmd_create",
    "exec": "ocimux._cli_run:cmd_exec",
    "attach": "ocimux._cli_run:cmd_attach",
    "checkpoint": "ocimux._cli_checkpoint:cmd_checkpoint",
    "restore": "ocimux._cli_checkpoint:cmd_restore",
    "image": "ocimux._cli_images:cmd_image",
    "rootfs": "ocimux._cli_images:cmd_rootfs",
    "runtimes": "ocimux._cli_system:cmd_runtimes",
    "info": "ocimux._cli_system:cmd_info",
    "system": "ocimux._cli_system:cmd_system",
    "serve": "ocimux._cli_serve:cmd_serve",
}

#: commands that run without a Dispatcher (nothing is configured or opened)
STANDALONE = frozenset({"rootfs"})


def command(name: str) -> Callable[..., int]:
    """The function that runs command `name`, its group's module imported now."""
    module, _, function = COMMANDS[name].partition(":")
    # the one lazy import of the CLI's commands: each verb loads only its own group
    return getattr(importlib.import_module(module), function)


def dispatch(args: argparse.Namespace) -> int:
    """Run the command named by `args.cmd`; return the exit status."""
    if args.cmd in STANDALONE:
        return command(args.cmd)(args)
    env = os.environ
    if args.global_runtime:
        env = {**os.environ, "OCIMUX_ENGINE__RUNTIME": args.global_runtime}
    dispatcher = open_dispatcher(args.config, env)
    try:
        return command(args.cmd)(dispatcher, args)
    finally:
        dispatcher.store.close()
