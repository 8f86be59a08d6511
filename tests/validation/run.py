#!/usr/bin/env python3
"""Run the OCI runtime validation suite (runtime-tools `validation/*/*.t`) against one runtime.

Each program runs with `RUNTIME` set to a small wrapper that execs the runtime with a `--root`
of the run's own (so cleanup lists and removes only the run's containers, never anyone else's)
and with `TMPDIR` of its own (the programs untar their bundles there), cwd the suite directory
(they read `runtimetest` and `rootfs-amd64.tar.gz` from it). Programs run in parallel up to
`--jobs`, each with a timeout; their TAP output is counted per program (`ok`, `not ok` with the
test names, `skip`) and in total, and written as a JSON summary. After each program the
containers left under its root are deleted with `--force` and the mounts left under its TMPDIR
are unmounted. Needs root, as the suite does.

Usage: run.py --suite DIR --name crun --json OUT [--jobs 2] [--timeout 300] -- /usr/bin/crun
       (programs may be narrowed with --program default/default.t, repeated)
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: the runtime-tools commit the suite is built from (tests/validation/build.sh)
SUITE_COMMIT = "260e151"
DEFAULT_SUITE_DIR = Path(f"/var/cache/ocimux-validation/{SUITE_COMMIT}")
#: held while the programs sharing the suite's fixed cgroup path run (see shares_cgroup)
CGROUP_LOCK = Path("/run/lock/ocimux-validation-cgroups.lock")

# "ok 3 - name", "not ok 4 - name # TODO why", "ok 1 # SKIP why"; indented lines are YAML
_TAP_LINE = re.compile(r"^(not ok|ok)\b\s*(\d+)?\s*(?:-\s*)?(.*)$")
_TAP_START = re.compile(r"^(TAP version|1\.\.\d+)", re.MULTILINE)
_DIRECTIVE = re.compile(r"\s*#\s*(skip|todo)\b(.*)$", re.IGNORECASE)


@dataclass
class ProgramResult:
    """The outcome of one validation program: TAP counts, names of failures, how it ended."""

    program: str
    #: every "ok" line, "# SKIP" ones included (as prove counts them)
    ok: int = 0
    #: the "ok ... # SKIP" lines among `ok`
    skip: int = 0
    todo: int = 0
    not_ok: list[str] = field(default_factory=list)
    #: "passed" (exit 0), "failed" (exit != 0 after TAP), "error" (no TAP header), "timeout"
    status: str = "passed"
    exit_code: int | None = None
    seconds: float = 0.0
    #: the last lines of a program that did not pass (its TAP header missing, or exit != 0)
    output_tail: list[str] = field(default_factory=list)
    #: containers and mounts the program left behind (removed by the runner)
    leftovers: list[str] = field(default_factory=list)


def parse_tap(text: str, result: ProgramResult) -> int:
    """Count the TAP test lines of `text` into `result`; return how many test lines there were."""
    lines = 0
    for line in text.splitlines():
        m = _TAP_LINE.match(line)
        if m is None:
            continue
        lines += 1
        verdict, desc = m.group(1), m.group(3).strip()
        d = _DIRECTIVE.search(desc)
        directive = d.group(1).lower() if d else ""
        name = desc[: d.start()].strip() if d else desc
        if directive == "todo":
            result.todo += 1
        elif verdict == "ok":
            result.ok += 1
            result.skip += directive == "skip"
        else:
            result.not_ok.append(name)
    return lines


def discover_programs(suite: Path) -> list[str]:
    """Every `validation/*/*.t` of the built suite, as paths relative to `suite`, sorted."""
    return sorted(str(p.relative_to(suite)) for p in suite.glob("validation/*/*.t"))


def shares_cgroup(program: str) -> bool:
    """Whether `program` puts its containers in the suite's one fixed cgroup path.

    The cgroup programs (and delete_resources) all use cgroups.AbsCgroupPath or RelCgroupPath,
    so two of them at once see each other's limits: they run one after another, under a lock
    that other runs of this runner on the machine take too.
    """
    name = Path(program).name
    return name.startswith("linux_cgroups_") or name == "delete_resources.t"


def _write_wrapper(path: Path, runtime: Sequence[str], root: Path) -> None:
    # the suite runs RUNTIME as one executable: a script adds our --root in front of the verb
    argv = " ".join(shlex.quote(a) for a in [*runtime, "--root", str(root)])
    path.write_text(f'#!/bin/sh\nexec {argv} "$@"\n')
    path.chmod(0o755)


def _cleanup(runtime: Sequence[str], root: Path, tmpdir: Path) -> list[str]:
    """Delete the containers left under `root` and unmount what is left under `tmpdir`."""
    left: list[str] = []
    if root.is_dir():
        listed = subprocess.run(
            [*runtime, "--root", str(root), "list", "-q"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        for cid in listed.stdout.split():
            left.append(f"container {cid}")
            subprocess.run(
                [*runtime, "--root", str(root), "delete", "--force", cid],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=60,
                check=False,
            )
    prefix = str(tmpdir) + "/"
    mounts = [
        line.split()[4].encode().decode("unicode_escape")
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
    ]
    for target in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        left.append(f"mount {target}")
        subprocess.run(["umount", "-l", target], capture_output=True, check=False)
    shutil.rmtree(tmpdir, ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)
    return left


def run_program(
    suite: Path, program: str, runtime: Sequence[str], work: Path, timeout: float
) -> ProgramResult:
    """Run one validation program against `runtime`; always clean up after it."""
    result = ProgramResult(program)
    slug = program.replace("/", "_").removesuffix(".t")
    root, tmpdir, wrapper = work / "root" / slug, work / "tmp" / slug, work / f"{slug}.sh"
    root.mkdir(parents=True)
    tmpdir.mkdir(parents=True)
    _write_wrapper(wrapper, runtime, root)
    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "RUNTIME": str(wrapper),
        "TMPDIR": str(tmpdir),
        "HOME": str(tmpdir),
    }
    out_path = work / f"{slug}.tap"
    started = time.monotonic()
    # output to a file: a runtime's `create` hands its stdio to the container (a pipe would
    # stay open as long as a container lives); a session of its own so a timeout kills all
    with out_path.open("wb") as out:
        proc = subprocess.Popen(
            [str(suite / program)],
            cwd=suite,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            result.exit_code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            result.status = "timeout"
    result.seconds = round(time.monotonic() - started, 2)
    output = out_path.read_text(errors="replace")
    parse_tap(output, result)
    if result.status != "timeout":
        if not _TAP_START.search(output):
            result.status = "error"
        elif result.exit_code != 0:
            result.status = "failed"
    if result.status != "passed":
        result.output_tail = output.splitlines()[-10:]
    try:
        result.leftovers = _cleanup(runtime, root, tmpdir)
    except subprocess.TimeoutExpired as e:
        result.leftovers = [f"cleanup timed out: {e.cmd}"]
    return result


def runtime_version(runtime: Sequence[str]) -> str:
    """The first line of `RUNTIME --version` (empty when it has none)."""
    done = subprocess.run(
        [*runtime, "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    return (
        (done.stdout or done.stderr).strip().splitlines()[0] if done.stdout or done.stderr else ""
    )


#: the suite's fixed cgroup paths (cgroups.AbsCgroupPath, RelCgroupPath), deepest first: a
#: runtime removes only the container's own cgroup and leaves the parents behind
SUITE_CGROUPS = ("testdir/cgrouptest/container", "testdir/cgrouptest", "testdir", "cgrouptest")


def _remove_suite_cgroups() -> None:
    # rmdir removes only an empty cgroup with no process: one in use stays
    hierarchies = [Path("/sys/fs/cgroup"), *Path("/sys/fs/cgroup").glob("*/")]
    for hierarchy in hierarchies:
        for rel in SUITE_CGROUPS:
            with contextlib.suppress(OSError):
                (hierarchy / rel).rmdir()


@contextlib.contextmanager
def _cgroup_lock() -> Iterator[None]:
    """Held by the one lane of cgroup programs; the suite's cgroups are gone before and after."""
    with CGROUP_LOCK.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        _remove_suite_cgroups()
        try:
            yield
        finally:
            _remove_suite_cgroups()


def run_suite(
    suite: Path,
    name: str,
    runtime: Sequence[str],
    programs: Iterable[str] | None = None,
    jobs: int = 2,
    timeout: float = 300,
) -> dict:
    """Run `programs` (default: all) against `runtime`; return the JSON-ready summary."""
    if os.geteuid() != 0:
        raise SystemExit("the validation suite needs root")
    chosen = list(programs) if programs is not None else discover_programs(suite)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"ocivalidation-{name}-") as tmp:
        work = Path(tmp)
        # bundles live below: a container with a user namespace must be able to traverse it
        work.chmod(0o755)
        serial = [p for p in chosen if shares_cgroup(p)]
        lanes = [[p] for p in chosen if not shares_cgroup(p)]

        def run_lane(lane: list[str], lock: bool) -> list[ProgramResult]:
            with _cgroup_lock() if lock else contextlib.nullcontext():
                return [run_program(suite, p, runtime, work, timeout) for p in lane]

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            # the serial lane first: it is the longest
            futures = [pool.submit(run_lane, serial, True)] if serial else []
            futures += [pool.submit(run_lane, lane, False) for lane in lanes]
            by_name = {r.program: r for f in futures for r in f.result()}
        results = [by_name[p] for p in chosen]
    totals = {
        "programs": len(results),
        "ok": sum(r.ok for r in results),
        "not_ok": sum(len(r.not_ok) for r in results),
        "skip": sum(r.skip for r in results),
        "todo": sum(r.todo for r in results),
        "timeouts": sum(r.status == "timeout" for r in results),
        "errors": sum(r.status == "error" for r in results),
        "seconds": round(time.monotonic() - started, 1),
    }
    return {
        "runtime": name,
        "command": list(runtime),
        "version": runtime_version(runtime),
        "suite_commit": SUITE_COMMIT,
        "totals": totals,
        "programs": {r.program: asdict(r) for r in results},
    }


def baseline_entry(summary: dict) -> dict:
    """The part of a summary a baseline keeps: version, totals, per program ok / not ok / status."""
    t = summary["totals"]
    return {
        "version": summary["version"],
        "command": summary["command"],
        "totals": {k: t[k] for k in ("programs", "ok", "not_ok", "skip", "errors", "timeouts")},
        "programs": {
            prog: {"ok": r["ok"], "not_ok": sorted(set(r["not_ok"])), "status": r["status"]}
            for prog, r in summary["programs"].items()
        },
    }


def write_baseline(path: Path, summary: dict) -> None:
    """Set the summary's runtime in the baseline file at `path` (other runtimes kept)."""
    baseline = json.loads(path.read_text()) if path.exists() else {}
    baseline.setdefault("suite_commit", SUITE_COMMIT)
    baseline.setdefault("runtimes", {})[summary["runtime"]] = baseline_entry(summary)
    path.write_text(json.dumps(baseline, indent=1, sort_keys=True) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", type=Path, default=DEFAULT_SUITE_DIR)
    parser.add_argument("--name", required=True, help="the runtime's name in the summary")
    parser.add_argument("--json", type=Path, required=True, help="where to write the summary")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=300, help="seconds per program")
    parser.add_argument("--program", action="append", help="relative path; default: all")
    parser.add_argument(
        "--write-baseline",
        type=Path,
        help="record this run as the runtime's baseline in FILE (a full run; only ever raise it)",
    )
    parser.add_argument("runtime", nargs="+", help="the runtime command (after --)")
    args = parser.parse_args(argv)
    summary = run_suite(args.suite, args.name, args.runtime, args.program, args.jobs, args.timeout)
    args.json.write_text(json.dumps(summary, indent=1) + "\n")
    if args.write_baseline:
        write_baseline(args.write_baseline, summary)
    t = summary["totals"]
    for prog, r in summary["programs"].items():
        print(f"{prog}: {r['ok']} ok, {len(r['not_ok'])} not ok, {r['skip']} skip, {r['status']}")
    print(
        f"{args.name}: {t['ok']} ok, {t['not_ok']} not ok, {t['skip']} skip over "
        f"{t['programs']} programs ({t['timeouts']} timeouts, {t['errors']} errors) in {t['seconds']} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
