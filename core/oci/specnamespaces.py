"""The spec's namespaces and environment as containers.conf and the container's options make them.

`apply_namespaces` leaves out the namespaces a container shares with the host (`--network
host`, `[containers] pidns/ipcns/utsns = "host"`) and adds a cgroup namespace for
`cgroupns = "private"`; `host_env` is what `env_host` and `http_proxy` pass from the host, below
containers.conf's `env`, the image's and the container's own (podman's GetDefaultEnvEx);
`check_sysctls` refuses a namespaced sysctl whose namespace the container shares with the host.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, Final

from ocimux.base.errors import InvalidArgumentError

from .containerconfig import ContainerConfig
from .containerdefaults import ContainerDefaults

__all__ = ["PROXY_ENV", "apply_namespaces", "check_sysctls", "host_env"]

#: podman's ProxyEnv (go.podman.io/common pkg/config): what `http_proxy = true` passes on
PROXY_ENV: Final = (
    "http_proxy", "https_proxy", "ftp_proxy", "no_proxy",
    "HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY",
)  # fmt: skip
_ENV_KEY: Final = re.compile(r"[^=\x00-\x20\x7f]+")
_IPC_SYSCTL: Final = ("kernel.msg", "kernel.sem", "kernel.shm", "fs.mqueue.")


def host_env(cfg: ContainerConfig, environ: Mapping[str, str] | None = None) -> list[str]:
    """`KEY=VALUE` items from ocimux's environment: all of it with `env_host`, else the proxy
    variables it has with `http_proxy`; names a spec cannot hold are left out."""
    env = os.environ if environ is None else environ
    if cfg.env_host:
        names = list(env)
    elif cfg.http_proxy:
        names = [n for n in PROXY_ENV if n in env]
    else:
        return []
    return [f"{n}={env[n]}" for n in names if _ENV_KEY.fullmatch(n) and "\x00" not in env[n]]


def apply_namespaces(linux: dict[str, Any], cfg: ContainerConfig, d: ContainerDefaults) -> None:
    """Drop the namespaces shared with the host; add or drop the cgroup namespace."""
    shared = {
        "network": cfg.network == "host",
        "pid": d.pidns == "host",
        "ipc": d.ipcns == "host",
        "uts": d.utsns == "host",
        "cgroup": d.cgroupns == "host",
    }
    kept = [n for n in linux.get("namespaces") or [] if not shared.get(str(n.get("type")))]
    if d.cgroupns == "private" and not any(n.get("type") == "cgroup" for n in kept):
        kept.append({"type": "cgroup"})
    linux["namespaces"] = kept


def check_sysctls(sysctls: Mapping[str, str], d: ContainerDefaults) -> None:
    """Refuse an IPC or UTS sysctl when that namespace is the host's: it would change the host."""
    for key in sysctls:
        if d.ipcns == "host" and key.startswith(_IPC_SYSCTL):
            shared = "ipcns"
        elif d.utsns == "host" and key in ("kernel.domainname", "kernel.hostname"):
            shared = "utsns"
        else:
            continue
        raise InvalidArgumentError(
            f'cannot set sysctl {key}: containers.conf [containers] {shared} = "host" shares '
            "that namespace with the host, whose setting it would change",
            hint=f"leave the sysctl out, or set {shared} to private",
        )
