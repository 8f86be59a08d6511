"""Who may reach `ocimux serve` over TCP: loopback, TLS with client certificates, or `--insecure`.

The Docker API is root-equivalent (a client can bind-mount `/` into a privileged
container), so, as dockerd's `--tlsverify`, a TCP address other than loopback needs TLS
that *requires* a client certificate signed by `--tlscacert`; serving it in the clear
anyway takes an explicit `--insecure`, and gets a warning.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from dataclasses import dataclass

from ocimux.base.errors import InvalidArgumentError

__all__ = ["TlsFiles", "check_exposure", "is_loopback", "server_context"]


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """dockerd's `--tlscacert` (the CA clients' certificates must chain to), `--tlscert`, `--tlskey`."""

    cacert: str
    cert: str
    key: str


def is_loopback(host: str) -> bool:
    """Whether every address `host` names is a loopback one (127.0.0.0/8, ::1)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return False
    addresses = {str(info[4][0]).split("%", 1)[0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


def check_exposure(tcp: tuple[str, int] | None, tls: TlsFiles | None, insecure: bool) -> str | None:
    """Refuse a non-loopback TCP address without TLS or `insecure`; return a warning or None.

    Raises InvalidArgumentError (one line, naming the address and the flags to add).
    """
    if tcp is None:
        if tls is not None:
            raise InvalidArgumentError("--tlsverify applies to --tcp only (a unix socket is 0600)")
        return None
    where = f"{tcp[0]}:{tcp[1]}"
    if tls is not None or is_loopback(tcp[0]):
        return None
    if not insecure:
        raise InvalidArgumentError(
            f"refusing to serve the Docker API on {where} without TLS: anyone who reaches it "
            "controls this host as root",
            hint="add --tlsverify --tlscacert CA --tlscert CERT --tlskey KEY (clients need a "
            "certificate signed by CA), or --insecure to serve it unauthenticated anyway",
        )
    return (
        f"WARNING: serving the Docker API on {where} without TLS (--insecure): "
        "anyone who can reach this address controls this host as root"
    )


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """A TLS 1.2+ server context that requires a client certificate signed by `files.cacert`.

    Raises InvalidArgumentError naming the file that cannot be loaded.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    try:
        ctx.load_cert_chain(files.cert, files.key)
    except (OSError, ssl.SSLError) as exc:
        raise InvalidArgumentError(
            f"cannot load --tlscert {files.cert} / --tlskey {files.key}: {_reason(exc)}"
        ) from None
    try:
        ctx.load_verify_locations(cafile=files.cacert)
    except (OSError, ssl.SSLError) as exc:
        raise InvalidArgumentError(
            f"cannot load --tlscacert {files.cacert}: {_reason(exc)}"
        ) from None
    return ctx


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
