"""containers/common's built-in values of the `[engine]` string arrays that files can extend.

A file's `{append = true}` appends to the value so far, and before any file has set the key
that value is podman's built-in default, not nothing: `runtime_supports_json = ["myrt",
{append = true}]` means podman's list plus myrt. The values are go.podman.io/common's
`pkg/config/default.go` from v0.57 on, where the append marker came (attributedstring);
Debian's podman 4.3.1 (containers/common v0.50.1) has no append marker at all.

A list a file sets replaces the built-in unless it holds an append marker. When no file sets a
`runtime_supports_*` key, a plugin's own runtime keeps its plugin's declaration, and a name driven
by another plugin (`myrt` in `[engine.runtimes]`, driven by runc's) is answered by these built-in
lists, as podman answers every name (`ocimux.engine.registry`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = ["BUILTIN_ARRAYS", "CONMON_ENV_VARS", "CONMON_PATHS", "SOURCE"]

#: where the values come from
SOURCE: Final = "go.podman.io/common pkg/config/default.go (v0.57 and later)"

CONMON_PATHS: Final = (
    "/usr/libexec/podman/conmon",
    "/usr/local/libexec/podman/conmon",
    "/usr/local/lib/podman/conmon",
    "/usr/bin/conmon",
    "/usr/sbin/conmon",
    "/usr/local/bin/conmon",
    "/usr/local/sbin/conmon",
    "/run/current-system/sw/bin/conmon",
)
CONMON_ENV_VARS: Final = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
_NOCGROUPS: Final = ("crun", "krun")

#: key path -> podman's built-in value, for the arrays `{append = true}` can extend
BUILTIN_ARRAYS: Final[Mapping[tuple[str, ...], tuple[str, ...]]] = {
    ("engine", "runtime_supports_json"): (
        "crun", "runc", "kata", "runsc", "youki", "krun", "ocijail",
    ),
    ("engine", "runtime_supports_kvm"): ("kata", "kata-runtime", "kata-qemu", "kata-fc", "krun"),
    # podman's code reads the singular; ocimux unions both spellings, so both start the same
    ("engine", "runtime_supports_nocgroup"): _NOCGROUPS,
    ("engine", "runtime_supports_nocgroups"): _NOCGROUPS,
    ("engine", "conmon_path"): CONMON_PATHS,
    ("engine", "conmon_env_vars"): CONMON_ENV_VARS,
}  # fmt: skip
