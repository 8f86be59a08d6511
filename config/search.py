"""The containers.conf search path, and the environment that selects it.

Load order (containers.conf(5); go.podman.io/common `pkg/config/new.go` systemConfigs):

1. `config_file` (the CLI's `--config FILE`) if given, else `$CONTAINERS_CONF` if set: that one
   file ONLY, which must exist. Otherwise, each skipped when missing:
   `/usr/share/containers/containers.conf`, `/etc/containers/containers.conf`,
   `/etc/containers/containers.conf.d/*.conf`; for euid > 0 also
   `/etc/containers/containers.rootless.conf`, `…/containers.rootless.conf.d/*.conf` and
   `…/containers.rootless.conf.d/<UID>/*.conf`; then `$XDG_CONFIG_HOME/containers/containers.conf`
   (else `~/.config/containers/containers.conf`) and its `containers.conf.d/*.conf`.
2. `$CONTAINERS_CONF_OVERRIDE` last, always; it must exist.

Drop-in directories hold `*.conf` non-directories, read in sorted (byte) order; a `*.conf`
symlink to a directory is listed and fails to load, as in podman. This is containers/common's
order since v0.57; Debian's podman 4.3.1 (v0.50) differs: root reads no user file, and a
non-root user reads no `containers.rootless.conf*`. A relative `XDG_CONFIG_HOME` counts from the
working directory, as in podman. This module
imports nothing heavy: the warm path calls `config_sources` and `relevant_environ` to stat the
search path and key its cache.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ocimux.base.errors import ConfigError

__all__ = [
    "CONFIG_NAME",
    "ENV_PREFIX",
    "NON_CONFIG_VARIABLES",
    "SYSTEM_DIRS",
    "Source",
    "config_sources",
    "home_dir",
    "relevant_environ",
    "search_path",
    "xdg_dir",
]

#: The prefix of every environment variable that overrides a setting (pydantic-settings).
ENV_PREFIX = "OCIMUX_"

#: `OCIMUX_*` variables that are not configuration (other parts of ocimux read them: the warm
#: cache's switch and location, `core/base/_cache.py`; the CLI's tracebacks, `core/cli/_report.py`).
#: Every other `OCIMUX_*` variable must name a setting, or loading fails with "did you mean".
#: Add a new non-config variable here.
NON_CONFIG_VARIABLES: frozenset[str] = frozenset(
    {"OCIMUX_NO_CACHE", "OCIMUX_CACHE_DIR", "OCIMUX_CRASH_AT", "OCIMUX_DEBUG"}
)

#: The vendor and the administrator directory, in load order. Tests point these at tmp dirs.
SYSTEM_DIRS: tuple[str, str] = ("/usr/share/containers", "/etc/containers")

#: The file name looked for in each directory of the search path.
CONFIG_NAME = "containers.conf"

#: The variables, besides `OCIMUX_*`, that change what `load_config` returns.
_RELEVANT = (
    "CONTAINERS_CONF",
    "CONTAINERS_CONF_OVERRIDE",
    "XDG_CONFIG_HOME",
    "HOME",
    "XDG_RUNTIME_DIR",
    "XDG_DATA_HOME",
)


@dataclass(frozen=True, slots=True)
class Source:
    """One entry of the search path.

    `is_dir` marks a drop-in directory (listed so a cache can stat it; the files found in it
    follow it as entries of their own). `required` files must exist; `origin` says who named a
    required file ("--config", "CONTAINERS_CONF", ...), for the error message.
    """

    path: Path
    is_dir: bool = False
    required: bool = False
    origin: str | None = None


def relevant_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """Return the variables of `environ` that affect configuration.

    That is CONTAINERS_CONF, CONTAINERS_CONF_OVERRIDE, XDG_CONFIG_HOME, HOME, XDG_RUNTIME_DIR,
    XDG_DATA_HOME (those set) and every `OCIMUX_*` variable (prefix matched case-insensitively,
    as pydantic-settings does) except NON_CONFIG_VARIABLES. The result is sorted by name, so it
    can be compared or hashed as is.
    """
    found = {name: environ[name] for name in _RELEVANT if name in environ}
    for name, value in environ.items():
        if name.upper().startswith(ENV_PREFIX) and name not in NON_CONFIG_VARIABLES:
            found[name] = value
    return dict(sorted(found.items()))


def config_sources(
    config_file: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> list[Path]:
    """Return every file and drop-in directory of the search path, existing or not, in load order.

    A cache that stats these paths sees an edited file, a new or removed file (its own stat
    changes from or to "missing") and a new or removed drop-in (the directory's mtime changes).
    Raises ConfigError only if a drop-in directory exists but cannot be listed.
    """
    return [source.path for source in search_path(config_file, environ)]


def search_path(
    config_file: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> list[Source]:
    """Return the search path as `Source` entries, in load order (see the module docstring).

    `environ` defaults to `os.environ`. Files inside drop-in directories are listed now, so the
    result reflects the directories' contents at call time. Missing files are listed too; the
    loader skips those that are not `required`.
    """
    env = os.environ if environ is None else environ
    sources: list[Source] = []
    if config_file is not None:
        sources.append(_required(config_file, "--config"))
    elif env.get("CONTAINERS_CONF"):
        sources.append(_required(env["CONTAINERS_CONF"], "CONTAINERS_CONF"))
    else:
        share, etc = (Path(d) for d in SYSTEM_DIRS)
        sources.append(Source(share / CONFIG_NAME))
        sources.append(Source(etc / CONFIG_NAME))
        sources.extend(_drop_ins(etc / f"{CONFIG_NAME}.d"))
        euid = os.geteuid()
        if euid > 0:
            rootless = etc / "containers.rootless.conf"
            sources.append(Source(rootless))
            sources.extend(_drop_ins(Path(f"{rootless}.d")))
            sources.extend(_drop_ins(Path(f"{rootless}.d") / str(euid)))
        user = _user_config_dir(env) / "containers" / CONFIG_NAME
        sources.append(Source(user))
        sources.extend(_drop_ins(Path(f"{user}.d")))
    if env.get("CONTAINERS_CONF_OVERRIDE"):
        sources.append(_required(env["CONTAINERS_CONF_OVERRIDE"], "CONTAINERS_CONF_OVERRIDE"))
    return sources


def home_dir(environ: Mapping[str, str]) -> Path:
    """Return `$HOME` from `environ`, else the password database's entry for the euid, else `/`."""
    home = environ.get("HOME")
    if home:
        return Path(home)
    try:
        return Path(pwd.getpwuid(os.geteuid()).pw_dir)
    except KeyError:
        return Path("/")


def xdg_dir(environ: Mapping[str, str], name: str) -> Path | None:
    """Return `$name` as a Path if it is set to an absolute path (the XDG spec ignores others)."""
    value = environ.get(name, "")
    return Path(value) if os.path.isabs(value) else None


def _user_config_dir(environ: Mapping[str, str]) -> Path:
    # podman takes any non-empty XDG_CONFIG_HOME, a relative one from the working directory
    # (containers/common userConfigPath), where the XDG spec would ignore it
    value = environ.get("XDG_CONFIG_HOME", "")
    return Path(os.path.abspath(value)) if value else home_dir(environ) / ".config"


def _required(path: str | os.PathLike[str], origin: str) -> Source:
    return Source(Path(os.path.abspath(os.fspath(path))), required=True, origin=origin)


def _drop_ins(directory: Path) -> list[Source]:
    """List `directory` itself, then its `*.conf` non-directories in sorted order."""
    found = [Source(directory, is_dir=True)]
    try:
        with os.scandir(directory) as entries:
            names = sorted(
                entry.name
                for entry in entries
                if entry.name.endswith(".conf") and not _is_dir(entry)
            )
    except (FileNotFoundError, NotADirectoryError):
        return found
    except OSError as exc:
        raise ConfigError(
            f"cannot list drop-in directory: {exc.strerror or exc}", path=str(directory)
        ) from exc
    found.extend(Source(directory / name) for name in names)
    return found


def _is_dir(entry: os.DirEntry[str]) -> bool:
    # a symlink to a directory is listed, as podman lists it (os.ReadDir's type is "symlink"),
    # and then fails to load as "is a directory": an error, not a file silently skipped
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False
