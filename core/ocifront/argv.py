"""The runc command line, parsed as runc's urfave/cli parses it (no processes, no config).

Global flags come before the verb; a verb's flags may be `--flag value`, `--flag=value`,
`-flag value` (urfave/cli treats one and two dashes alike) or a short alias (`-b`, `-d`...).
Flags after the container id are accepted as urfave/cli v1 reorders them, except for `exec`
and `ps`, whose arguments after the id belong to the command.
"""

from __future__ import annotations

__all__ = ["GLOBAL", "VERBS", "Call", "UsageError", "parse", "verb_argv"]


class UsageError(Exception):
    """The command line is not one runc would accept (runc: exit 1, one error line)."""


class FlagSpec:
    """One verb's flags: those taking a value, the booleans, and alias -> canonical name.

    `rest_is_command`: the arguments after the container id are the command's (exec, ps);
    `no_id`: the verb names no container (list, features, spec). A plain class: the hot
    path does not import dataclasses (~10 ms).
    """

    __slots__ = ("aliases", "bools", "no_id", "rest_is_command", "values")

    def __init__(
        self, values: str = "", bools: str = "", aliases: str = "",
        rest_is_command: bool = False, no_id: bool = False,
    ) -> None:  # fmt: skip
        self.values = frozenset(values.split())
        self.bools = frozenset(bools.split())
        self.aliases = dict(a.split("=") for a in aliases.split())
        self.rest_is_command = rest_is_command
        self.no_id = no_id


_spec = FlagSpec


#: runc 1.1's global flags, ocimux's `--backend`, and crun's `--cgroup-manager`
GLOBAL = _spec(
    values="root log log-format criu rootless backend cgroup-manager",
    bools="debug systemd-cgroup version help",
    aliases="v=version h=help",
)

_CHECKPOINT = (
    "image-path work-path parent-path page-server manage-cgroups-mode empty-ns status-fd "
    "lsm-profile lsm-mount-context"
)
_CHECKPOINT_BOOLS = (
    "leave-running tcp-established tcp-skip-in-flight link-remap ext-unix-sk shell-job "
    "lazy-pages file-locks pre-dump auto-dedup"
)

VERBS: dict[str, FlagSpec] = {
    "create": _spec(
        "bundle pid-file console-socket preserve-fds pidfd-socket",
        "no-pivot no-new-keyring",
        "b=bundle",
    ),
    "run": _spec(
        "bundle pid-file console-socket preserve-fds pidfd-socket",
        "no-pivot no-new-keyring detach no-subreaper keep",
        "b=bundle d=detach",
    ),
    "start": _spec(),
    "state": _spec(),
    "kill": _spec(bools="all", aliases="a=all"),
    "delete": _spec(bools="force", aliases="f=force"),
    "pause": _spec(),
    "resume": _spec(),
    "exec": _spec(
        "process pid-file console-socket cwd env user cap preserve-fds additional-gids "
        "process-label apparmor cgroup pidfd-socket",
        "detach tty no-new-privs ignore-paused",
        "p=process d=detach t=tty e=env u=user c=cap g=additional-gids",
        rest_is_command=True,
    ),
    "ps": _spec("format", aliases="f=format", rest_is_command=True),
    "update": _spec(
        "resources blkio-weight cpu-period cpu-quota cpu-burst cpu-rt-period cpu-rt-runtime "
        "cpu-share cpuset-cpus cpuset-mems memory memory-reservation memory-swap kernel-memory "
        "kernel-memory-tcp pids-limit l3-cache-schema mem-bw-schema",
        aliases="r=resources",
    ),
    "checkpoint": _spec(_CHECKPOINT, _CHECKPOINT_BOOLS),
    "restore": _spec(
        f"{_CHECKPOINT} console-socket bundle pid-file",
        f"{_CHECKPOINT_BOOLS} detach no-subreaper no-pivot",
        "b=bundle d=detach",
    ),
    "events": _spec("interval", "stats"),
    "list": _spec("format", "quiet", "f=format q=quiet", no_id=True),
    "features": _spec(no_id=True),
    "spec": _spec("bundle", "rootless", "b=bundle", no_id=True),
}

#: flags that may be given more than once (each value kept)
REPEATED = frozenset({"env", "cap", "additional-gids"})


class Call:
    """One parsed command line.

    `extra_globals`: global flags we do not know, passed to the backend as given; `flags`: the
    verb's flags in order, (canonical name, value or True/False); `rest`: the arguments after
    the id (exec's command, ps's options, kill's signal).
    """

    __slots__ = ("container", "extra_globals", "flags", "globals", "rest", "verb")

    def __init__(self) -> None:
        self.globals: dict[str, str | bool] = {}
        self.extra_globals: list[str] = []
        self.verb: str | None = None
        self.flags: list[tuple[str, str | bool]] = []
        self.container: str | None = None
        self.rest: list[str] = []

    def flag(self, name: str) -> str | bool | None:
        """The last value of verb flag `name`, or None."""
        found: str | bool | None = None
        for key, value in self.flags:
            if key == name:
                found = value
        return found

    def global_str(self, name: str) -> str | None:
        value = self.globals.get(name)
        return value if isinstance(value, str) else None


def _split(token: str) -> tuple[str, str | None] | None:
    """`--name=value` / `-name` -> (name, value or None); not a flag -> None."""
    if token in ("-", "--") or not token.startswith("-"):
        return None
    body = token.lstrip("-")
    if token.startswith("---") or not body:
        return None
    name, eq, value = body.partition("=")
    return name, (value if eq else None)


def _take(
    spec: FlagSpec, tokens: list[str], i: int, out: list[tuple[str, str | bool]]
) -> int | None:
    """Parse the flag at tokens[i] into `out`; return the next index, None if not a known flag."""
    split = _split(tokens[i])
    if split is None:
        return None
    name, value = split
    name = spec.aliases.get(name, name)
    if name in spec.values:
        if value is None:
            if i + 1 >= len(tokens):
                raise UsageError(f"flag needs an argument: -{name}")
            value = tokens[i + 1]
            i += 1
        out.append((name, value))
        return i + 1
    if name in spec.bools:
        if value is not None and value not in ("true", "false"):
            raise UsageError(f'invalid boolean value "{value}" for -{name}')
        out.append((name, value != "false"))
        return i + 1
    return None


def parse(argv: list[str]) -> Call:
    """Parse `ocimux-oci`'s arguments (without argv[0])."""
    call = Call()
    i = 0
    pairs: list[tuple[str, str | bool]] = []
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "--":
        nxt = _take(GLOBAL, argv, i, pairs)
        if nxt is None:
            # a global flag of the backend's (runsc's --network=none): passed on as given
            call.extra_globals.append(argv[i])
            nxt = i + 1
        i = nxt
    call.globals = dict(pairs)
    if i < len(argv) and argv[i] == "--":
        i += 1
    if i >= len(argv):
        return call
    call.verb = argv[i]
    spec = VERBS.get(call.verb)
    if spec is None:
        raise UsageError(f"No help topic for '{call.verb}'")
    _parse_verb(call, spec, argv[i + 1 :])
    return call


def _parse_verb(call: Call, spec: FlagSpec, tokens: list[str]) -> None:
    positionals: list[str] = []
    i = 0
    only_positionals = False
    while i < len(tokens):
        token = tokens[i]
        if only_positionals or (spec.rest_is_command and positionals):
            positionals.append(token)
            i += 1
            continue
        if token == "--":
            only_positionals = True
            i += 1
            continue
        nxt = _take(spec, tokens, i, call.flags)
        if nxt is not None:
            i = nxt
            continue
        if _split(token) is not None and not (call.verb == "kill" and positionals):
            raise UsageError(f"flag provided but not defined: -{_split(token)[0]}")  # type: ignore[index]
        positionals.append(token)
        i += 1
    if spec.no_id:
        call.rest = positionals
        return
    if not positionals:
        raise UsageError(f'"{call.verb}" requires a container id')
    call.container, call.rest = positionals[0], positionals[1:]


def verb_argv(call: Call) -> list[str]:
    """The verb and its arguments in the long spelling every runc-compatible backend accepts.

    Long flags with separate values (`--detach`, not runc's `-d`: runsc knows only the long
    one), then the id, then the rest after `--` where the rest could look like flags.
    """
    assert call.verb is not None
    out = [call.verb]
    for name, value in call.flags:
        if value is True:
            out.append(f"--{name}")
        elif value is False:
            out.append(f"--{name}=false")
        else:
            out += [f"--{name}", value]
    if call.container is not None:
        out.append(call.container)
    out += call.rest
    return out
