"""The CLI's commands: turn parsed arguments into Dispatcher calls and print the results."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._output import ago, print_json, print_table, short_id
from ._report import report_error
from .errors import InvalidArgumentError, OcimuxError

if TYPE_CHECKING:
    from .dispatcher import Dispatcher
    from .store import ContainerRecord, ExecRecord

__all__ = ["dispatch"]


def dispatch(args: argparse.Namespace) -> int:
    """Run the command named by `args.cmd`; return the exit status."""
    if args.cmd == "rootfs":
        return cmd_rootfs(args)
    from .session import open_dispatcher

    env = os.environ
    if args.global_runtime:
        env = {**os.environ, "OCIMUX_ENGINE__RUNTIME": args.global_runtime}
    dispatcher = open_dispatcher(args.config, env)
    try:
        return COMMANDS[args.cmd](dispatcher, args)
    finally:
        dispatcher.store.close()


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


def _new_container(args: argparse.Namespace, *, auto_remove: bool = False):  # noqa: ANN202
    from ._runflags import container_config, entrypoint, env_files, split_rootfs
    from .dispatcher import NewContainer

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


def _streams(stdin: bool):  # noqa: ANN202
    from .options import StdStreams

    return StdStreams(
        stdout=sys.stdout.buffer,
        stderr=sys.stderr.buffer,
        stdin=sys.stdin.buffer if stdin else None,
    )


def _detach_keys(d: Dispatcher, value: str | None) -> bytes:
    from .attach import parse_detach_keys

    try:
        return parse_detach_keys(d.config.detach_keys if value is None else value)
    except ValueError as exc:
        raise InvalidArgumentError(str(exc)) from None


def cmd_run(d: Dispatcher, args: argparse.Namespace) -> int:
    from ._terminal import local_size, raw_terminal

    new = _new_container(args, auto_remove=args.rm)
    keys = _detach_keys(d, args.detach_keys)
    if args.detach:
        rec, _ = d.run(new, None, detach=True)
        print(rec.id)
        return 0
    from .sigproxy import Hangup, SignalProxy

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


def _each(d: Dispatcher, refs: list[str], action) -> int:  # noqa: ANN001
    """Apply `action` to every container; report each failure on its own line, as podman does."""
    status = 0
    for ref in refs:
        try:
            action(ref)
            print(ref)
        except OcimuxError as exc:
            report_error(exc)
            status = exc.exit_code
    return status


def cmd_start(d: Dispatcher, args: argparse.Namespace) -> int:
    return _each(d, args.containers, d.start)


def cmd_pause(d: Dispatcher, args: argparse.Namespace) -> int:
    return _each(d, args.containers, d.pause)


def cmd_unpause(d: Dispatcher, args: argparse.Namespace) -> int:
    return _each(d, args.containers, d.unpause)


def cmd_kill(d: Dispatcher, args: argparse.Namespace) -> int:
    from .signals import parse_signal

    sig = parse_signal(args.signal)
    return _each(d, args.containers, lambda ref: d.kill(ref, sig, all_procs=args.all))


def cmd_stop(d: Dispatcher, args: argparse.Namespace) -> int:
    return _each(d, args.containers, lambda ref: d.stop(ref, args.time))


def cmd_rm(d: Dispatcher, args: argparse.Namespace) -> int:
    if args.time is not None and not args.force:
        raise InvalidArgumentError("--time only applies with --force (as in podman)")
    return _each(d, args.containers, lambda ref: d.delete(ref, force=args.force, timeout=args.time))


def _status_text(rec: ContainerRecord) -> str:
    if rec.status == "stopped":
        return (
            f"Exited ({rec.exit_code if rec.exit_code is not None else '?'}) {ago(rec.finished_at)}"
        )
    if rec.status == "running":
        return f"Up {ago(rec.started_at).removesuffix(' ago')}"
    if rec.status == "unknown":
        return f"Unknown ({rec.status_reason})" if rec.status_reason else "Unknown"
    return rec.status.capitalize()


def record_dict(rec: ContainerRecord) -> dict[str, Any]:
    return {
        "id": rec.id,
        "name": rec.name,
        "runtime": rec.runtime,
        "status": rec.status,
        "status_reason": rec.status_reason,
        "pid": rec.pid,
        "exit_code": rec.exit_code,
        "created_at": rec.created_at,
        "started_at": rec.started_at,
        "finished_at": rec.finished_at,
        "monitor_pid": rec.monitor_pid,
        "bundle": rec.bundle,
        "config": rec.config,
    }


def cmd_ps(d: Dispatcher, args: argparse.Namespace) -> int:
    recs = [r for r in d.list() if args.all or r.status in ("running", "paused")]
    if args.quiet:
        for rec in recs:
            print(short_id(rec.id))
    elif args.format == "json":
        print_json([record_dict(r) for r in recs])
    else:
        rows = [
            [
                short_id(r.id),
                r.name,
                r.runtime,
                _status_text(r),
                ago(r.created_at),
                " ".join(r.config.get("command", [])),
            ]
            for r in recs
        ]
        print_table(["CONTAINER ID", "NAME", "RUNTIME", "STATUS", "CREATED", "COMMAND"], rows)
    return 0


def cmd_inspect(d: Dispatcher, args: argparse.Namespace) -> int:
    out, status = [], 0
    for ref in args.containers:
        try:
            out.append(record_dict(d.inspect(ref)))
        except OcimuxError as exc:
            report_error(exc)
            status = exc.exit_code
    print_json(out)
    return status


def _exec_env_files(args: argparse.Namespace) -> list[str]:
    from ._runflags import env_files

    return env_files(args.env_file, os.environ)


def cmd_exec(d: Dispatcher, args: argparse.Namespace) -> int:
    from ._terminal import local_size, raw_terminal
    from .options import ExecOptions

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
    from .sigproxy import Hangup, SignalProxy

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
    from ._terminal import local_size, raw_terminal

    rec = d.inspect(args.container)
    stdin = not args.no_stdin and bool(rec.config.get("stdin"))
    tty = bool(rec.config.get("terminal"))
    keys = _detach_keys(d, args.detach_keys)
    from .sigproxy import SignalProxy

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


def cmd_logs(d: Dispatcher, args: argparse.Namespace) -> int:
    from .logs import container_ended, follow_log

    rec = d.inspect(args.container)
    runtime = d.runtime_of(rec)
    # the monitor's exit file and pid say when it ends: no `<runtime> state` per poll
    ended = container_ended(runtime, rec.id, rec.monitor_pid)
    log = runtime.layout.log(rec.id)
    for stream, data in follow_log(log, follow=args.follow, ended=ended):
        out = sys.stdout.buffer if stream == "stdout" else sys.stderr.buffer
        out.write(data)
        out.flush()
    return 0


def _size(value: str | None, what: str) -> int | None:
    """`"64m"`, `"1g"`, `"512k"`, `"100"` (bytes) → bytes; anything else is an error."""
    if value is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmg]?)b?\s*", value.lower())
    if not match:
        raise InvalidArgumentError(
            f"invalid {what} {value!r}: use bytes or a number with k, m or g (e.g. 64m)"
        )
    size = int(
        float(match.group(1)) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[match.group(2)]
    )
    if size >= 2**63:
        raise InvalidArgumentError(f"invalid {what} {value!r}: too large")
    return size


def cmd_update(d: Dispatcher, args: argparse.Namespace) -> int:
    from .options import Resources

    res = Resources(
        memory=_size(args.memory, "memory"),
        memory_swap=_size(args.memory_swap, "memory swap"),
        cpu_shares=args.cpu_shares,
        cpu_quota=args.cpu_quota,
        cpu_period=args.cpu_period,
        cpuset_cpus=args.cpuset_cpus,
        pids_limit=args.pids_limit,
    )
    return _each(d, args.containers, lambda ref: d.update(ref, res))


def _checkpoint_dir(d: Dispatcher, ref: str) -> tuple[str, Path]:
    rec = d.inspect(ref)
    return rec.id, d.runtime_of(rec).container_dir(rec.id) / "checkpoint"


def cmd_checkpoint(d: Dispatcher, args: argparse.Namespace) -> int:
    from .options import CheckpointOptions

    cid, image = _checkpoint_dir(d, args.container)
    if image.exists():
        shutil.rmtree(image)
    rec = d.checkpoint(
        cid,
        CheckpointOptions(
            image_path=image, leave_running=args.leave_running, tcp_established=args.tcp_established
        ),
    )
    if args.export:
        _export(rec, image, Path(args.export))
    print(rec.name)
    return 0


def _export(rec: ContainerRecord, image: Path, dest: Path) -> None:
    from .configure import GENERATED_FILES

    """A tar.gz of the checkpoint image, the container's config.json and what ocimux knew of it."""
    import io
    import json
    import tarfile

    meta = json.dumps({"name": rec.name, "runtime": rec.runtime, "config": rec.config}).encode()
    with tarfile.open(dest, "w:gz") as tar:
        tar.add(image, arcname="checkpoint")
        tar.add(Path(rec.bundle) / "config.json", arcname="config.json")
        for name in GENERATED_FILES:  # bound into the container: its restore needs them again
            if (Path(rec.bundle) / name).is_file():
                tar.add(Path(rec.bundle) / name, arcname=name)
        info = tarfile.TarInfo("ocimux.json")
        info.size = len(meta)
        tar.addfile(info, io.BytesIO(meta))


def _restore_new(d: Dispatcher, args: argparse.Namespace) -> int:
    """`restore --import FILE --name NEW`: a new container from an exported checkpoint."""
    import json
    import tarfile
    import tempfile

    from .dispatcher import NewContainer
    from .ids import validate_name

    validate_name(args.name)
    work = Path(tempfile.mkdtemp(prefix="import-", dir=d.config.state_dir))
    try:
        try:
            with tarfile.open(args.import_, "r:*") as tar:
                tar.extractall(work, filter="data")
            meta = json.loads((work / "ocimux.json").read_text())
        except (OSError, ValueError, tarfile.TarError) as exc:
            raise InvalidArgumentError(f"cannot import checkpoint {args.import_}: {exc}") from None
        if not (work / "checkpoint").is_dir() or not (work / "config.json").is_file():
            raise InvalidArgumentError(
                f"{args.import_} is not an `ocimux checkpoint --export` archive"
            )
        config = meta.get("config") or {}
        new = NewContainer(
            bundle=work, name=args.name, runtime=meta.get("runtime"),
            stdin=bool(config.get("stdin")), terminal=bool(config.get("terminal")),
            stop_timeout=config.get("stop_timeout"), restore_image=work / "checkpoint",
        )  # fmt: skip
        print(d.create(new).name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def cmd_restore(d: Dispatcher, args: argparse.Namespace) -> int:
    from .options import RestoreOptions

    if args.name:
        if not args.import_:
            raise InvalidArgumentError(
                "restore --name needs --import FILE (an exported checkpoint)"
            )
        return _restore_new(d, args)
    if not args.container:
        raise InvalidArgumentError("restore needs a container, or --import FILE --name NEW")
    cid, image = _checkpoint_dir(d, args.container)
    if args.import_:
        import tarfile

        if image.exists():
            shutil.rmtree(image)
        try:
            with tarfile.open(args.import_, "r:*") as tar:
                tar.extractall(image.parent, filter="data")
        except (OSError, tarfile.TarError) as exc:
            raise InvalidArgumentError(f"cannot import checkpoint {args.import_}: {exc}") from None
    if not image.is_dir():
        raise InvalidArgumentError(
            f"container {args.container} has no checkpoint",
            hint="run `ocimux checkpoint` first, or --import FILE",
        )
    print(
        d.restore(cid, RestoreOptions(image_path=image, tcp_established=args.tcp_established)).name
    )
    return 0


def cmd_runtimes(d: Dispatcher, args: argparse.Namespace) -> int:
    d.registry.load_all()
    default = _default_or_none(d)
    reports = []
    for name in d.registry.runtime_names():
        report = d.registry.describe(name)
        report.default = name == default
        reports.append(report)
    if args.format == "json":
        print_json([r.as_dict() for r in reports])
        return 0
    rows = [
        [
            r.name + (" (default)" if r.default else ""),
            r.status,
            r.plugin or "-",
            r.version or "-",
            r.path or "-",
        ]
        for r in reports
    ]
    print_table(["NAME", "STATUS", "PLUGIN", "VERSION", "PATH"], rows)
    for r in reports:
        if r.error:
            where = f" [{r.entry_point} from {r.distribution}]" if r.entry_point else ""
            said = r.error if r.error.startswith(r.status) else f"{r.status}: {r.error}"
            print(f"\n{r.name}: {said}{where}")
        if r.capabilities:
            monitor = f" (monitor: {r.monitor})" if r.monitor else ""
            print(f"\n{r.name} capabilities{monitor}:")
            for cap, ans in r.capabilities.items():
                yes = "yes" if ans["value"] else "no"
                reason = f": {ans['reason']}" if ans["reason"] else ""
                print(f"  {cap:<17} {yes:<4} ({ans['source']}{reason})")
    return 0


def _default_or_none(d: Dispatcher) -> str | None:
    try:
        return d.registry.default_name()
    except OcimuxError:
        return None


def cmd_info(d: Dispatcher, args: argparse.Namespace) -> int:
    from ._version import VERSION

    c = d.config
    info = {
        "version": VERSION,
        "config_files": list(c.files),
        "default_runtime": _default_or_none(d),
        "runtimes": d.registry.runtime_names(),
        "state_dir": str(c.state_dir),
        "run_dir": str(c.run_dir),
        "containers": len(d.store.list_containers()),
        "hook_plugins": [e.name for e in d.hooks.entries],
        "broken_hook_plugins": [f"{b.name} ({b.distribution}): {b.error}" for b in d.hooks.broken],
    }
    if args.format == "json":
        print_json(info)
    else:
        for key, value in info.items():
            shown = ", ".join(map(str, value)) if isinstance(value, list) else value
            print(f"{key}: {shown if shown not in ('', None) else '-'}")
    return 0


def cmd_rootfs(args: argparse.Namespace) -> int:
    from .rootfs import build_busybox_rootfs

    print(build_busybox_rootfs(Path(args.dest)))
    return 0


def cmd_image(d: Dispatcher, args: argparse.Namespace) -> int:
    from ocimux.server.images import ImageStore

    images = ImageStore(d.config.state_dir)
    if args.image_cmd == "add":
        entry = images.add(args.name, Path(args.dir), args.default_cmd, args.env)
        print(entry["name"])
    elif args.image_cmd == "rm":
        images.remove(args.name)
        print(args.name)
    elif args.format == "json":
        print_json(images.list())
    else:
        rows = [[i["name"], i["rootfs"], " ".join(i["cmd"]) or "-"] for i in images.list()]
        print_table(["IMAGE", "ROOTFS", "COMMAND"], rows)
    return 0


def cmd_serve(d: Dispatcher, args: argparse.Namespace) -> int:
    from ocimux.server import default_socket, serve

    if args.openapi:
        from ocimux.server.openapi import openapi

        print_json(openapi())
        return 0
    from ocimux.server.httpd import Limits
    from ocimux.server.tls import TlsFiles

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


def _system(d: Dispatcher, args: argparse.Namespace) -> int:
    from ._system import cmd_system

    return cmd_system(d, args)


COMMANDS = {
    "image": cmd_image,
    "serve": cmd_serve,
    "run": cmd_run,
    "create": cmd_create,
    "start": cmd_start,
    "pause": cmd_pause,
    "unpause": cmd_unpause,
    "kill": cmd_kill,
    "stop": cmd_stop,
    "rm": cmd_rm,
    "ps": cmd_ps,
    "inspect": cmd_inspect,
    "exec": cmd_exec,
    "attach": cmd_attach,
    "logs": cmd_logs,
    "update": cmd_update,
    "checkpoint": cmd_checkpoint,
    "restore": cmd_restore,
    "runtimes": cmd_runtimes,
    "info": cmd_info,
    "system": _system,
}
