"""The `ocimux` command line: argparse at module level, everything else imported by commands.

Only argparse and three small modules (errors, the error report, the version) load at
start-up, so `ocimux --version` and `--help` never touch the engine, pydantic, stevedore or
pluggy; `_commands` loads the one group of commands a verb needs. Every error becomes one line on stderr and podman's
exit codes: 125 when ocimux failed, 126 when the container's command cannot be invoked,
127 when it was not found, else the container's own exit code. A bug (in a runtime plugin: the
Registry's guard names it; anywhere else: caught here) is one line and 125 too. `--debug`, or
`OCIMUX_DEBUG=1`, prints the traceback of the original exception before that line.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ocimux._version import VERSION
from ocimux.base.errors import OcimuxError

from ._report import debug_requested, internal_error, report_error, set_debug

__all__ = ["build_parser", "entry", "main"]

EXIT_FAILED = 125


class _Parser(argparse.ArgumentParser):
    """argparse that exits 125 (podman's "ocimux failed") on bad usage, with one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"Error: {message} (see `{self.prog} --help`)\n")
        sys.exit(EXIT_FAILED)


def _add_format(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format")


def _add_new_container(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", help="the container's name (default: generated)")
    p.add_argument("--runtime", help="runtime name or absolute path (default: [engine] runtime)")
    p.add_argument(
        "--rootfs",
        help="root filesystem directory; ocimux writes config.json (DIR:O: writes go to a layer)",
    )
    p.add_argument("--bundle", help="an OCI bundle directory (config.json + rootfs)")
    p.add_argument(
        "-e", "--env", action="append", default=[], help="KEY=VALUE, or KEY to copy ours"
    )
    p.add_argument("-w", "--workdir", help="working directory inside the container")
    p.add_argument("-u", "--user", help="user[:group], by id or by name in the rootfs")
    p.add_argument("-i", "--interactive", action="store_true", help="keep stdin open")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-terminal")
    p.add_argument("--annotation", action="append", default=[], help="KEY=VALUE annotation")
    p.add_argument("--stop-timeout", type=int, help="seconds between stop signal and SIGKILL")
    p.add_argument(
        "--no-cgroups", action="store_true", help="run without cgroups (needs no_cgroups)"
    )
    _add_container_options(p)
    p.add_argument("command", nargs=argparse.REMAINDER, help="command and arguments")


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"use true or false, not {text!r}")


def _add_switch(p: argparse.ArgumentParser, name: str, text: str) -> None:
    """A podman boolean flag: `--NAME`, `--NAME=true` or `--NAME=false`; unset, None (the
    containers.conf default applies). As with podman's, a separate `--NAME false` is not a
    value: the word after the flag stays the command's."""
    dest = name.removeprefix("--").replace("-", "_")
    p.add_argument(name, dest=dest, action="store_const", const=True, help=f"{text} (=false: no)")
    for word, value in (("true", True), ("false", False)):
        p.add_argument(
            f"{name}={word}", dest=dest, action="store_const", const=value, help=argparse.SUPPRESS
        )


def _add_container_options(p: argparse.ArgumentParser) -> None:
    """podman's container flags, same names and meanings (parsed in `_runflags.py`)."""
    add = p.add_argument
    many = {"action": "append", "default": []}
    add("--help", action="help", help="show this help and exit (-h is --hostname, as in podman)")
    add(
        "-v",
        "--volume",
        **many,
        metavar="SRC:DST[:OPTS]",
        help="bind mount a host path; OPTS: ro, rw, nosuid, nodev, noexec, rprivate, shared, "
        "... (z and Z are accepted and do nothing: this host has no SELinux)",
    )
    add("--mount", **many, metavar="type=bind|tmpfs,...", help="a bind or tmpfs mount")
    add("--tmpfs", **many, metavar="DST[:OPTS]", help="a tmpfs (default rw,noexec,nosuid,nodev)")
    _add_switch(p, "--read-only", "mount the root filesystem read-only ([containers] read_only)")
    add(
        "--read-only-tmpfs",
        type=_bool,
        nargs="?",
        const=True,
        default=True,
        metavar="BOOL",
        help="with --read-only, tmpfs on /dev/shm, /run, /tmp, /var/tmp (default true)",
    )
    add("-m", "--memory", help="memory limit (e.g. 64m, 1g)")
    add("--memory-swap", help="memory plus swap limit (-1: unlimited swap)")
    add("--memory-reservation", help="memory soft limit")
    add("--cpus", help="number of CPUs (e.g. 0.5)")
    add("-c", "--cpu-shares", type=int, help="CPU shares (relative weight)")
    add("--cpuset-cpus", help="CPUs to run on (e.g. 0-1)")
    add("--cpuset-mems", help="memory nodes to use (e.g. 0)")
    add("--pids-limit", help="process limit (-1: unlimited; default [containers] pids_limit)")
    add("--cap-add", **many, help="add a capability (or ALL)")
    add("--cap-drop", **many, help="drop a capability (or ALL)")
    _add_switch(
        p, "--privileged", "every capability, host devices, no seccomp ([containers] privileged)"
    )
    add(
        "--security-opt",
        **many,
        metavar="OPT",
        help="no-new-privileges, seccomp=unconfined|FILE, mask=PATHS, unmask=ALL|PATHS",
    )
    add("-h", "--hostname", help="the container's hostname (default: its short id)")
    add("--domainname", help="the container's NIS domain name")
    add("--env-file", **many, metavar="FILE", help="read KEY=VALUE lines from FILE")
    add("-l", "--label", **many, metavar="KEY=VALUE", help="a label (shown by inspect)")
    add("--group-add", **many, metavar="GROUP", help="an additional group, by name or id")
    _add_switch(p, "--init", "run catatonit as PID 1 (reaps, forwards signals; [containers] init)")
    add("--init-path", help="the init binary (default [containers] init_path, else catatonit)")
    add("--ulimit", **many, metavar="NAME=SOFT[:HARD]", help="a resource limit, e.g. nofile=1024")
    add("--sysctl", **many, metavar="NAME=VALUE", help="a namespaced sysctl")
    add("--device", **many, metavar="HOST[:CONTAINER][:PERMS]", help="a host device")
    add("--stop-signal", help="the signal that stops it (default SIGTERM)")
    add(
        "--network",
        "--net",
        help="none or host; ocimux has no network stack (default [containers] netns: none)",
    )
    add("--shm-size", help="size of /dev/shm, e.g. 64m (default [containers] shm_size, 64m)")
    add("--oom-score-adj", type=int, help="the OOM score adjustment, -1000 to 1000")
    _add_switch(
        p, "--env-host", "pass every variable of ocimux's environment ([containers] env_host)"
    )
    _add_switch(
        p, "--http-proxy", "pass ocimux's proxy variables (default [containers] http_proxy, true)"
    )
    add("--pidfile", help="write the container's pid to this file")
    add("--entrypoint", help="the program to run before the command (a string or a JSON array)")
    add("--umask", help="file mode creation mask (default [containers] umask, 0022)")
    add("--tz", help="timezone: local or a zone name such as Europe/Paris")
    add("--no-hosts", action="store_true", default=None, help="do not generate /etc/hosts")
    add(
        "--log-opt",
        **many,
        metavar="max-size=SIZE",
        help="cap the log at SIZE (decimal: 100k, 10m; -1 none; default [containers] "
        "log_size_max); past it the log starts again empty, as conmon does",
    )


def _add_sig_proxy(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--sig-proxy",
        type=_bool,
        nargs="?",
        const=True,
        default=True,
        metavar="BOOL",
        help="forward SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 to the container's "
        "process while attached (default true)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The whole command line (cheap: no command module is imported)."""
    parser = _Parser(prog="ocimux", description="Run OCI containers on several runtimes at once.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("--config", help="use this containers.conf instead of the search path")
    parser.add_argument(
        "--runtime",
        dest="global_runtime",
        help="default runtime for this call (a name or an absolute path)",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="print an error's traceback to stderr before its line (or set OCIMUX_DEBUG=1)",
    )
    sub = parser.add_subparsers(dest="cmd", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("run", help="create and start a container", add_help=False)
    _add_new_container(p)
    p.add_argument("-d", "--detach", action="store_true", help="print the id and leave it running")
    p.add_argument("--rm", action="store_true", help="remove the container when it exits")
    p.add_argument("--detach-keys", help="key sequence that detaches (default ctrl-p,ctrl-q)")
    _add_sig_proxy(p)

    p = sub.add_parser("create", help="create a container without starting it", add_help=False)
    _add_new_container(p)

    for verb, text in (
        ("start", "start created containers"),
        ("pause", "pause containers"),
        ("unpause", "unpause containers"),
    ):
        p = sub.add_parser(verb, help=text)
        p.add_argument("containers", nargs="+", metavar="CONTAINER")

    p = sub.add_parser("ps", help="list containers")
    p.add_argument("-a", "--all", action="store_true", help="show all, not only running ones")
    p.add_argument("-q", "--quiet", action="store_true", help="print ids only")
    _add_format(p)

    p = sub.add_parser("inspect", help="print containers' records as JSON")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")

    p = sub.add_parser("kill", help="send a signal to containers")
    p.add_argument("-s", "--signal", default="KILL", help="signal name or number (default KILL)")
    p.add_argument("-a", "--all", action="store_true", help="signal every process, not just init")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")

    p = sub.add_parser("stop", help="stop containers (stop signal, timeout, SIGKILL)")
    p.add_argument("-t", "--time", type=float, help="seconds to wait before SIGKILL")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")

    p = sub.add_parser("rm", help="remove containers")
    p.add_argument("-f", "--force", action="store_true", help="stop running containers first")
    p.add_argument("-t", "--time", type=float, help="seconds to wait before SIGKILL with -f")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")

    p = sub.add_parser(
        "exec",
        help="run a process in a running container; list, inspect and stop exec sessions",
        usage="ocimux exec [options] CONTAINER CMD [ARG...] | --list CONTAINER | "
        "--inspect SESSION | --stop SESSION [--time N]",
    )
    p.add_argument("-d", "--detach", action="store_true", help="print the session id and return")
    p.add_argument("-i", "--interactive", action="store_true", help="keep stdin open")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-terminal")
    p.add_argument("-e", "--env", action="append", default=[], help="KEY=VALUE")
    p.add_argument(
        "--env-file", action="append", default=[], metavar="FILE", help="KEY=VALUE lines"
    )
    p.add_argument("-w", "--workdir", help="working directory")
    p.add_argument("-u", "--user", help="user[:group]")
    p.add_argument(
        "--privileged", action="store_true", help="every capability in the container's bounding set"
    )
    p.add_argument("--detach-keys", help="key sequence that detaches (default ctrl-p,ctrl-q)")
    _add_sig_proxy(p)
    p.add_argument("--list", metavar="CONTAINER", help="list the container's exec sessions")
    p.add_argument("--inspect", metavar="SESSION", help="print one exec session as JSON")
    p.add_argument("--stop", metavar="SESSION", help="stop an exec session (TERM, wait, KILL)")
    p.add_argument("--time", type=float, default=10.0, help="seconds --stop waits before KILL")
    _add_format(p)
    p.add_argument("container", nargs="?", metavar="CONTAINER")
    p.add_argument("command", nargs=argparse.REMAINDER)

    p = sub.add_parser("attach", help="attach to a running container's stdio")
    p.add_argument("--no-stdin", action="store_true", help="do not forward stdin")
    p.add_argument("--detach-keys", help="key sequence that detaches")
    _add_sig_proxy(p)
    p.add_argument("container", metavar="CONTAINER")

    p = sub.add_parser("logs", help="print a container's log")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing until it exits")
    p.add_argument("--since", help="only lines since TIME (timestamp, date, or duration: 10m)")
    p.add_argument("--until", help="only lines until TIME (timestamp, date, or duration)")
    p.add_argument("-t", "--timestamps", action="store_true", help="prefix each line with its time")
    p.add_argument("--tail", type=int, default=-1, help="only the last N lines (-1: all)")
    p.add_argument("container", metavar="CONTAINER")

    p = sub.add_parser("update", help="change a running container's limits")
    p.add_argument("-m", "--memory", help="memory limit (bytes, or with k/m/g)")
    p.add_argument("--memory-swap", help="memory+swap limit")
    p.add_argument("--cpu-shares", type=int)
    p.add_argument("--cpu-quota", type=int)
    p.add_argument("--cpu-period", type=int)
    p.add_argument("--cpuset-cpus")
    p.add_argument("--pids-limit", type=int)
    p.add_argument("containers", nargs="+", metavar="CONTAINER")

    p = sub.add_parser("rename", help="give a container a new name")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("name", metavar="NAME")

    p = sub.add_parser("top", help="a running container's processes, as ps shows them")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("ps_args", nargs=argparse.REMAINDER, metavar="PS-OPTIONS", help="default -ef")

    p = sub.add_parser("container", help="container housekeeping: prune")
    consub = p.add_subparsers(
        dest="container_cmd", metavar="ACTION", parser_class=_Parser, required=True
    )
    q = consub.add_parser("prune", help="remove every container that is not running")
    q.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")

    p = sub.add_parser("checkpoint", help="save a running container's state (needs checkpoint)")
    p.add_argument("--leave-running", action="store_true", help="keep it running afterwards")
    p.add_argument("--tcp-established", action="store_true", help="checkpoint open TCP connections")
    p.add_argument("--export", metavar="FILE", help="also write the checkpoint to a tar archive")
    p.add_argument("container", metavar="CONTAINER")

    p = sub.add_parser("restore", help="bring a checkpointed container back (needs checkpoint)")
    p.add_argument(
        "--import", dest="import_", metavar="FILE", help="restore from an exported archive"
    )
    p.add_argument("--name", help="with --import: restore as a new container of this name")
    p.add_argument("--tcp-established", action="store_true", help="restore open TCP connections")
    p.add_argument("container", nargs="?", metavar="CONTAINER")

    p = sub.add_parser("runtimes", help="list runtimes, their plugins and capabilities")
    _add_format(p)

    p = sub.add_parser("info", help="show configuration, runtimes and state locations")
    _add_format(p)

    p = sub.add_parser("rootfs", help="build a root filesystem for tests and demos")
    p.add_argument("kind", choices=("busybox",))
    p.add_argument("dest", metavar="DIR")

    p = sub.add_parser("image", help="name root filesystems as images for the Docker API")
    isub = p.add_subparsers(dest="image_cmd", metavar="ACTION", parser_class=_Parser, required=True)
    q = isub.add_parser("add", help="register DIR as image NAME")
    q.add_argument("name")
    q.add_argument("dir")
    q.add_argument(
        "--cmd", dest="default_cmd", nargs="+", help="the default command of its containers"
    )
    q.add_argument("-e", "--env", action="append", default=[], help="KEY=VALUE for its containers")
    q = isub.add_parser("ls", help="list images")
    _add_format(q)
    q = isub.add_parser("rm", help="forget an image (its directory stays)")
    q.add_argument("name")

    p = sub.add_parser("serve", help="serve a Docker Engine API subset until SIGINT/SIGTERM")
    p.add_argument("--socket", help="unix socket path (default: <run_dir>/ocimux.sock, mode 0600)")
    p.add_argument(
        "--tcp",
        metavar="HOST:PORT",
        help="listen on TCP instead; beyond loopback needs --tlsverify or --insecure",
    )
    p.add_argument(
        "--tlsverify", action="store_true", help="TLS; clients need a certificate signed by CA"
    )
    p.add_argument(
        "--tlscacert", metavar="CA", help="CA certificate clients' certificates chain to"
    )
    p.add_argument("--tlscert", metavar="CERT", help="the server's TLS certificate")
    p.add_argument("--tlskey", metavar="KEY", help="the server's TLS key")
    p.add_argument(
        "--insecure", action="store_true", help="serve a non-loopback --tcp without TLS (warns)"
    )
    p.add_argument(
        "--max-connections", type=int, default=0, metavar="N",
        help="open connections at most (default: the fd limit minus 128)",
    )  # fmt: skip
    p.add_argument(
        "--idle-timeout", type=float, default=120.0, metavar="S",
        help="close a keep-alive connection idle this long (default 120)",
    )  # fmt: skip
    p.add_argument(
        "--header-timeout", type=float, default=30.0, metavar="S",
        help="a request must arrive whole within this (default 30)",
    )  # fmt: skip
    p.add_argument("--openapi", action="store_true", help="print the OpenAPI description and exit")

    p = sub.add_parser("config", help="check the configuration, or show it with its sources")
    csub = p.add_subparsers(
        dest="config_cmd", metavar="ACTION", parser_class=_Parser, required=True
    )
    csub.add_parser("check", help="list every warning and error; exit 1 on a warning")
    q = csub.add_parser("show", help="print the merged configuration as TOML")
    q.add_argument(
        "--sources", action="store_true", help="say which file:line or variable set each value"
    )
    q.add_argument("--format", choices=("toml", "json"), default="toml", help="output format")

    p = sub.add_parser("system", help="find and remove what no container record names")
    ssub = p.add_subparsers(
        dest="system_cmd", metavar="ACTION", parser_class=_Parser, required=True
    )
    ssub.add_parser("check", help="list orphaned monitors, runtime state, mounts, directories")
    q = ssub.add_parser("repair", help="remove them (see `system check`)")
    q.add_argument("--dry-run", action="store_true", help="say what would be done, do nothing")

    sub.add_parser("version", help="print the version")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:2] == ["container", "cleanup"]:  # hidden: what a container's monitor runs
        # lazy: it opens a Dispatcher
        from .cleanup import main as cleanup

        return cleanup(argv[2:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version or args.cmd == "version":
        print(f"ocimux version {VERSION}")
        return 0
    if args.cmd is None:
        parser.print_help(sys.stderr)
        return EXIT_FAILED
    set_debug(debug_requested(args.debug))
    try:
        # lazy: the commands import the engine; --version and --help stay at argparse
        from . import _commands

        return _commands.dispatch(args)
    except OcimuxError as exc:
        report_error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `ocimux logs c | head -1`: the reader left, a normal end (exit 0, silent); what is
        # still buffered goes to /dev/null, so nothing prints "Exception ignored ...
        # BrokenPipeError" when Python flushes at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (BrokenPipeError, ValueError):
                os.dup2(devnull, stream.fileno())
        return 0
    except Exception as exc:  # noqa: BLE001 - a bug must still end as one line and 125
        report_error(exc, internal_error(exc))
        return EXIT_FAILED


def entry() -> None:
    """The console script: run `main`, flush, and leave without interpreter teardown.

    Tearing down the interpreter (module and object finalisation) costs ~11 ms after every
    command; nothing ocimux holds needs it once the store is closed and output flushed.
    """
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass
    os._exit(code)


if __name__ == "__main__":
    entry()
