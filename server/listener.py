"""Where `ocimux serve` listens, and serving there until SIGINT/SIGTERM.

`serve(dispatcher, socket_path=...)` binds a unix socket (mode 0600, in a private directory)
or a TCP address (`tls.py` decides who may connect), sweeps the auto-removed containers that
exited while no server ran, answers until a signal, then removes its socket.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ocimux.base.errors import InvalidArgumentError
from ocimux.base.files import private_dir

from .docker_api import DockerApi
from .httpd import Limits, make_server, serve_until_signalled
from .requestlog import log_line
from .tls import check_exposure, server_context

if TYPE_CHECKING:
    from ocimux.engine.dispatcher import Dispatcher

    from .tls import TlsFiles

__all__ = ["default_socket", "serve"]


def default_socket(run_dir: Path) -> Path:
    return Path(run_dir) / "ocimux.sock"


def serve(
    dispatcher: Dispatcher,
    *,
    socket_path: Path | None = None,
    tcp: tuple[str, int] | None = None,
    tls: TlsFiles | None = None,
    insecure: bool = False,
    limits: Limits | None = None,
    ready: object = None,
) -> None:
    """Serve until SIGINT/SIGTERM. `ready`, if callable, is called once the socket listens.

    A TCP address other than loopback needs `tls` (client certificates required) or
    `insecure` (a warning is printed); InvalidArgumentError otherwise, before binding.
    """
    warning = check_exposure(tcp, tls, insecure)
    context = server_context(tls) if tls is not None else None
    api = DockerApi(dispatcher)
    api.sweep_auto_removed()  # AutoRemove containers that exited while no server ran
    path = None
    if tcp is None:
        path = socket_path or default_socket(dispatcher.config.run_dir)
        private_dir(Path(path).parent)
    try:
        server = make_server(
            api.routes(),
            socket_path=str(path) if path else None,
            tcp=tcp,
            tls=context,
            limits=limits or Limits(),
        )
    except OSError as exc:
        where = f"{tcp[0]}:{tcp[1]}" if tcp else str(path)
        raise InvalidArgumentError(
            f"cannot listen on {where}: {exc.strerror or exc}",
            hint="is another `ocimux serve` running there? choose another --socket or --tcp",
        ) from None
    try:
        if warning:
            log_line(warning)
        if callable(ready):
            ready()
        serve_until_signalled(server)
    finally:
        server.server_close()
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
