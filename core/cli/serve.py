"""`ocimux serve`: the Docker Engine API on a unix socket (or TCP with TLS), until signalled."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ocimux.base.errors import InvalidArgumentError
from ocimux.server.httpd import Limits
from ocimux.server.listener import default_socket, serve
from ocimux.server.openapi import openapi
from ocimux.server.tls import TlsFiles

from ._output import print_json

if TYPE_CHECKING:
    from ocimux.engine.dispatcher import Dispatcher

__all__ = ["cmd_serve"]


def cmd_serve(d: Dispatcher, args: argparse.Namespace) -> int:
    if args.openapi:
        print_json(openapi())
        return 0
    tcp = None
    if args.tcp:
        host, sep, port = args.tcp.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise InvalidArgumentError(f"--tcp wants HOST:PORT (got {args.tcp!r})")
        tcp = (host.strip("[]") or "127.0.0.1", int(port))
    tls = None
    files = {"--tlscacert": args.tlscacert, "--tlscert": args.tlscert, "--tlskey": args.tlskey}
    if args.tlsverify:
        missing = [flag for flag, value in files.items() if not value]
        if missing:
            raise InvalidArgumentError(f"--tlsverify needs {', '.join(missing)}")
        tls = TlsFiles(args.tlscacert, args.tlscert, args.tlskey)
    elif any(files.values()):
        raise InvalidArgumentError(
            f"{', '.join(f for f, v in files.items() if v)} need --tlsverify"
        )
    if tls is not None and args.insecure:
        raise InvalidArgumentError("--insecure and --tlsverify exclude each other")
    path = Path(args.socket) if args.socket else default_socket(d.config.run_dir)
    where = f"tcp://{tcp[0]}:{tcp[1]}" if tcp else f"unix://{path}"
    if tls:
        where += " (TLS, client certificates required)"
    limits = Limits(
        header_timeout=args.header_timeout,
        idle_timeout=args.idle_timeout,
        max_connections=args.max_connections,
    )
    serve(
        d,
        socket_path=path,
        tcp=tcp,
        tls=tls,
        insecure=args.insecure,
        limits=limits,
        ready=lambda: print(f"ocimux serving the Docker API on {where}", flush=True),
    )
    return 0
