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

from ocimux.engine.session import open_dispatcher

__all__ = ["COMMANDS", "command", "dispatch"]

#: command -> "module:function" that runs it
COMMANDS: dict[str, str] = {
    "ps": "ocimux.cli.containers:cmd_ps",
    "inspect": "ocimux.cli.containers:cmd_inspect",
    "start": "ocimux.cli.containers:cmd_start",
    "pause": "ocimux.cli.containers:cmd_pause",
    "unpause": "ocimux.cli.containers:cmd_unpause",
    "kill": "ocimux.cli.containers:cmd_kill",
    "stop": "ocimux.cli.containers:cmd_stop",
    "rm": "ocimux.cli.containers:cmd_rm",
    "update": "ocimux.cli.containers:cmd_update",
    "logs": "ocimux.cli.containers:cmd_logs",
    "rename": "ocimux.cli.container_admin:cmd_rename",
    "top": "ocimux.cli.container_admin:cmd_top",
    "container": "ocimux.cli.container_admin:cmd_container",
    "run": "ocimux.cli.run:cmd_run",
    "create": "ocimux.cli.run:cmd_create",
    "exec": "ocimux.cli.run:cmd_exec",
    "attach": "ocimux.cli.run:cmd_attach",
    "checkpoint": "ocimux.cli.checkpoint:cmd_checkpoint",
    "restore": "ocimux.cli.checkpoint:cmd_restore",
    "image": "ocimux.cli.images:cmd_image",
    "rootfs": "ocimux.cli.images:cmd_rootfs",
    "runtimes": "ocimux.cli.system:cmd_runtimes",
    "info": "ocimux.cli.system:cmd_info",
    "system": "ocimux.cli.system:cmd_system",
    "config": "ocimux.cli.configuration:cmd_config",
    "serve": "ocimux.cli.serve:cmd_serve",
}

#: commands that run without a Dispatcher (nothing is configured or opened)
STANDALONE = frozenset({"rootfs", "config"})


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
