"""`ocimux run`, `create`, `exec` and `attach`: the commands that start a process or join one.

They share the container's command after `--`, the attached session's streams, detach keys,
the local terminal (raw mode, window size) and signal proxying (`--sig-proxy`).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocimux.base.errors import InvalidArgumentError
from ocimux.engine.newcontainer import NewContainer
from ocimux.interface.options import ExecOptions, StdStreams
from ocimux.io.attach import parse_detach_keys

from ._output import print_json, print_table, short_id
from ._runflags import container_config, entrypoint, env_files, split_rootfs
from ._terminal import local_size, raw_terminal
from .sigproxy import Hangup, SignalProxy

if TYPE_CHECKING:
    from ocimux.engine.dispatcher import Dispatcher
    from ocimux.engine.store import ContainerRecord, ExecRecord

__all__ = ["cmd_attach", "cmd_create", "cmd_exec", "cmd_run", "exec_dict"]


def _command(args: argparse.Namespace) -> tuple[str, ...]:
    cmd = list(args.command)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    return tuple(cmd)


def _annotations(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidArgumentError(f"invalid annotation {item!r}: use KEY=VALUE")
        out[key] = value
    return out


def _new_container(args: argparse.Namespace, *, auto_remove: bool = False) -> NewContainer:
    command = (*entrypoint(args.entrypoint), *_command(args))
    if args.rootfs and not command:
        raise InvalidArgumentError(
            "a container needs a command: ocimux run --rootfs DIR -- CMD [ARG...]"
        )
    rootfs, overlay = split_rootfs(args.rootfs) if args.rootfs else (None, False)
    config = container_config(args, overlay=overlay)
    return NewContainer(
        args=command,
        rootfs=Path(rootfs) if rootfs else None,
        bundle=Path(args.bundle) if args.bundle else None,
        name=args.name,
        runtime=args.runtime,
        env=(*env_files(args.env_file, os.environ), *args.env),
        config=config,
        cwd=args.workdir,
        user=args.user,
        stdin=args.interactive,
        terminal=args.tty,
        annotations=_annotations(args.annotation),
        auto_remove=auto_remove,
        stop_timeout=args.stop_timeout,
        no_cgroups=args.no_cgroups,
    )


def _streams(stdin: bool) -> StdStreams:
    return StdStreams(
        stdout=sys.stdout.buffer,
        stderr=sys.stderr.buffer,
        stdin=sys.stdin.buffer if stdin else None,
    )


def _detach_keys(d: Dispatcher, value: str | None) -> bytes:
    try:
        return parse_detach_keys(d.config.detach_keys if value is None else value)
    except ValueError as exc:
        raise InvalidArgumentError(str(exc)) from None


def cmd_run(d: Dispatcher, args: argparse.Namespace) -> int:
    new = _new_container(args, auto_remove=args.rm)
    keys = _detach_keys(d, args.detach_keys)
    if args.detach:
        rec, _ = d.run(new, None, detach=True)
        print(rec.id)
        return 0
    created: list[str] = []
    resize = (lambda h, w: d.resize(created[0], h, w) if created else None) if args.tty else None
    proxy = SignalProxy(hangup_ends=args.tty)

    def on_create(rec: ContainerRecord) -> None:
        created.append(rec.id)
        if args.sig_proxy:  # from now on a signal to us is the container's
            proxy.start(lambda sig: d.kill(rec.id, sig))

    try:
        with proxy, raw_terminal(resize) if args.tty else _nothing():
            rec, code = d.run(
                new,
                _streams(args.interactive),
                detach_keys=keys,
                size=local_size(),
                on_create=on_create,
            )
    except Hangup:  # the terminal is gone (a `--rm` container was removed on the way out)
        return 128 + signal.SIGHUP
    if code is None:
        sys.stderr.write(f"detached from {rec.name}\n")
        return 0
    return code


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def cmd_create(d: Dispatcher, args: argparse.Namespace) -> int:
    print(d.create(_new_container(args)).id)
    return 0


def _exec_env_files(args: argparse.Namespace) -> list[str]:
    return env_files(args.env_file, os.environ)


def cmd_exec(d: Dispatcher, args: argparse.Namespace) -> int:
    if args.list or args.inspect or args.stop:
        return _exec_sessions(d, args)
    command = _command(args)
    if not args.container or not command:
        raise InvalidArgumentError("exec needs a command: ocimux exec CONTAINER CMD [ARG...]")
    options = ExecOptions(
        args=command, env=(*_exec_env_files(args), *args.env), cwd=args.workdir, user=args.user, terminal=args.tty,
        stdin=args.interactive, privileged=args.privileged,
        detach_keys=_detach_keys(d, args.detach_keys), size=local_size() if args.tty else None,
    )  # fmt: skip
    if args.detach:
        print(d.exec_detached(args.container, options).id)
        return 0
    sessions: list[str] = []
    resize = (
        (lambda h, w: d.exec_resize(sessions[0], h, w) if sessions else None) if args.tty else None
    )
    proxy = SignalProxy(hangup_ends=args.tty)

    def on_start(session: str) -> None:
        sessions.append(session)
        if args.sig_proxy:  # from now on a signal to us is the exec'd process's
            proxy.start(lambda sig: d.exec_kill(session, sig))

    try:
        with proxy, raw_terminal(resize) if args.tty else _nothing():
            code = d.exec(args.container, options, _streams(args.interactive), on_start=on_start)
    except Hangup:  # the terminal is gone: the session got the SIGHUP, nothing to relay to
        return 128 + signal.SIGHUP
    if code is None:
        sys.stderr.write(f"detached from exec session {sessions[0][:12] if sessions else ''}\n")
        return 0
    return code


def exec_dict(session: ExecRecord) -> dict[str, Any]:
    return {
        "id": session.id, "container": session.container_id, "status": session.status,
        "pid": session.pid, "exit_code": session.exit_code, "process": session.process,
        "created_at": session.created_at, "finished_at": session.finished_at,
    }  # fmt: skip


def _exec_sessions(d: Dispatcher, args: argparse.Namespace) -> int:
    if args.list:
        sessions = d.exec_sessions(args.list)
        if args.format == "json":
            print_json([exec_dict(e) for e in sessions])
        else:
            rows = [[short_id(e.id), e.status, str(e.pid or "-"),
                     "-" if e.exit_code is None else str(e.exit_code), " ".join(e.process.get("args", []))]
                    for e in sessions]  # fmt: skip
            print_table(["SESSION", "STATUS", "PID", "EXIT", "COMMAND"], rows)
    elif args.inspect:
        print_json(exec_dict(d.exec_inspect(args.inspect)))
    else:
        print(d.exec_stop(args.stop, args.time).id)
    return 0


def cmd_attach(d: Dispatcher, args: argparse.Namespace) -> int:
    rec = d.inspect(args.container)
    stdin = not args.no_stdin and bool(rec.config.get("stdin"))
    tty = bool(rec.config.get("terminal"))
    keys = _detach_keys(d, args.detach_keys)
    with (
        SignalProxy() as proxy,
        raw_terminal(lambda h, w: d.resize(rec.id, h, w)) if tty else _nothing(),
    ):
        if args.sig_proxy:
            proxy.start(lambda sig: d.kill(rec.id, sig))
        code = d.attach(rec.id, _streams(stdin), stdin=stdin, detach_keys=keys, size=local_size())
    if code is None:
        sys.stderr.write(f"detached from {rec.name}\n")
        return 0
    return code
