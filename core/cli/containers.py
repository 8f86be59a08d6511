"""`ocimux ps`, `inspect`, `start`, `pause`, `unpause`, `kill`, `stop`, `rm`, `update`, `logs`.

The light verbs on existing containers: each turns its arguments into one Dispatcher call per
container and prints the result (a failure reports one line per container, as podman does).
"""

from __future__ import annotations

import argparse
import calendar
import re
import sys
import time
from typing import TYPE_CHECKING, Any

from ocimux.base.errors import InvalidArgumentError, OcimuxError
from ocimux.base.signals import parse_signal
from ocimux.interface.options import Resources
from ocimux.io.logs import container_ended
from ocimux.io.logview import LogWindow, podman_stamp, read_window

from ._output import ago, print_json, print_table, short_id
from ._report import report_error

if TYPE_CHECKING:
    from ocimux.engine.dispatcher import Dispatcher
    from ocimux.engine.store import ContainerRecord

__all__ = [
    "cmd_inspect",
    "cmd_kill",
    "cmd_logs",
    "cmd_pause",
    "cmd_ps",
    "cmd_rm",
    "cmd_start",
    "cmd_stop",
    "cmd_unpause",
    "cmd_update",
    "log_time_ns",
    "record_dict",
]


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


#: podman's date forms (util.ParseInputTime): RFC 3339 with or without fraction and zone, a
#: date alone, a date with a zone; no zone means UTC
_DATE = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)(?:T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?)?(Z|[+-]\d\d:\d\d)?"
)
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}  # fmt: skip


def _go_duration_ns(text: str) -> int | None:
    """Go's `time.ParseDuration` (`10m`, `1h30m`, `-1.5h`, `0`) in ns; None if it is not one."""
    sign, rest = (-1, text[1:]) if text.startswith("-") else (1, text.removeprefix("+"))
    if rest == "0":
        return 0
    total, pos = 0.0, 0
    while pos < len(rest):
        match = _DURATION_PART.match(rest, pos)
        if match is None:
            return None
        total += float(match.group(1)) * _UNIT_NS[match.group(2)]
        pos = match.end()
    return sign * int(total) if rest else None


def log_time_ns(text: str, *, since: bool, now_ns: int | None = None) -> int:
    """`--since`/`--until` as podman reads them, in ns since the epoch: a date (RFC 3339, a
    date alone, UTC without a zone), Unix seconds (`1733600000.5`), or a Go duration counted
    back from now for `--since` and forward for `--until` (podman's rule).

    Raises InvalidArgumentError for anything else."""
    match = _DATE.fullmatch(text)
    if match:
        year, month, day, hh, mm, ss, frac, zone = match.groups()
        seconds = calendar.timegm(
            (int(year), int(month), int(day), int(hh or 0), int(mm or 0), int(ss or 0))
        )
        if zone and zone != "Z":
            offset = int(zone[1:3]) * 3600 + int(zone[4:6]) * 60
            seconds -= offset if zone[0] == "+" else -offset
        return seconds * 10**9 + int((frac or "0").ljust(9, "0"))
    if re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)", text):
        return int(float(text) * 10**9)
    duration = _go_duration_ns(text)
    if duration is None:
        flag = "--since" if since else "--until"
        raise InvalidArgumentError(
            f"invalid {flag} value {text!r}: unable to interpret time value",
            hint="use a timestamp (2026-12-07T10:00:00Z), Unix seconds or a duration (10m)",
        )
    now = time.time_ns() if now_ns is None else now_ns
    return now - duration if since else now + duration


def cmd_logs(d: Dispatcher, args: argparse.Namespace) -> int:
    window = LogWindow(
        since_ns=log_time_ns(args.since, since=True) if args.since else None,
        until_ns=log_time_ns(args.until, since=False) if args.until else None,
        tail=args.tail if args.tail >= 0 else None,
        stamp=podman_stamp if args.timestamps else None,
    )
    rec = d.inspect(args.container)
    runtime = d.runtime_of(rec)
    # the monitor's exit file and pid say when it ends: no `<runtime> state` per poll
    ended = container_ended(runtime, rec.id, rec.monitor_pid)
    log = runtime.layout.log(rec.id)
    for stream, data in read_window(log, window, follow=args.follow, ended=ended):
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
