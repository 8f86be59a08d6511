"""`ocimux runtimes`, `ocimux info` and `ocimux system check|repair [--dry-run]`.

system check: one line per finding, exit 0 when there is none, 1 otherwise.
system repair: one line per finding with its outcome; exit 0 when everything was removed, 125
if something stayed; `--dry-run` prints what it would do and changes nothing (exit as check).
The work is in `repair.py`.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ocimux._version import VERSION
from ocimux.base.errors import OcimuxError
from ocimux.engine.containersconf import notes as containers_conf_notes
from ocimux.engine.repair import repair, scan

from ._output import print_json, print_table

if TYPE_CHECKING:
    from ocimux.engine.dispatcher import Dispatcher

__all__ = ["cmd_info", "cmd_runtimes", "cmd_system"]

#: what `check` (and `repair --dry-run`) exits with when it found something
FOUND = 1


def cmd_runtimes(d: Dispatcher, args: argparse.Namespace) -> int:
    d.registry.load_all()
    default = _default_or_none(d)
    reports = []
    names = d.registry.runtime_names()
    if default and default not in names:
        names.append(default)  # a default given by path is a runtime of its own
    for name in names:
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
    """Print what ocimux runs with; a default runtime that cannot be used, each unknown key of
    the config files, each `[containers]` value refused and each one ignored on purpose
    (`[ocimux] ignore_container_defaults`) is a warning line (podman refuses to run at all
    without a default runtime), since `info` is where one looks for why."""
    c = d.config
    # the files' unknown keys too: shown once when read, and here whenever one asks
    warnings = [f"config: {line}" for line in c.warnings]
    warnings += [f"config: {line}" for line in containers_conf_notes(c)]
    try:
        default: str | None = d.registry.default_name()
    except OcimuxError as exc:
        default = None
        warnings.append(f"no default runtime: {exc}")
    info = {
        "version": VERSION,
        "config_files": list(c.files),
        "default_runtime": default,
        "runtimes": d.registry.runtime_names(),
        "state_dir": str(c.state_dir),
        "run_dir": str(c.run_dir),
        "containers": len(d.store.list_containers()),
        "hook_plugins": [e.name for e in d.hooks.entries],
        "broken_hook_plugins": [f"{b.name} ({b.distribution}): {b.error}" for b in d.hooks.broken],
        "warnings": warnings,
    }
    if args.format == "json":
        print_json(info)
    else:
        for key, value in info.items():
            if key == "warnings":
                continue
            shown = ", ".join(map(str, value)) if isinstance(value, list) else value
            print(f"{key}: {shown if shown not in ('', None) else '-'}")
        for warning in warnings:
            print(f"warning: {warning}")
    return 0


def cmd_system(d: Dispatcher, args: argparse.Namespace) -> int:
    findings = scan(d)
    if args.system_cmd == "check" or getattr(args, "dry_run", False):
        for f in findings:
            print(f.line() if args.system_cmd == "check" else f.line(f"would {f.action}"))
        if not findings:
            print(
                "nothing to repair: every container directory, monitor and runtime state has a record"
            )
        return FOUND if findings else 0
    failed = 0
    for f, outcome in repair(d, findings):
        failed += outcome != "done"
        print(f.line(outcome))
    if not findings:
        print(
            "nothing to repair: every container directory, monitor and runtime state has a record"
        )
    return 125 if failed else 0
