#!/usr/bin/env python3
"""Scale figures: what N created containers cost, and how fast `ocimux ps` lists them.

For each runtime (the mock; crun under conmon, as root), in a temporary state of its own:

1. create N containers (not started) through the Python API, several threads, timed;
2. measure, interleaved over --runs rounds (shuffled order, seeded), medians:
   `ocimux ps -a`, `ocimux ps -a --format json`, `ocimux --version`, `python -c pass`,
   `podman ps -a` (an empty, isolated store: it lists 0 containers), and for crun
   `crun --root <ocimux's crun root> list` (the runtime listing the same N containers);
3. footprint: the store (.db, -wal, -shm), disk per container in the state and run
   directories, memory per container (VmRSS, PSS, USS of every monitor and container process);
4. where an in-process `ps -a` spends its time, and how many runtime commands it runs;
5. remove them all (API `rm -f`, several threads), timed.

The mock's shims are Python processes (~14 MB RSS, ~6 MB PSS each, plus the gated container
process): before creating N of them the benchmark measures what 20 cost in MemAvailable and
creates only as many as fit above a safety floor; it also stops creating if MemAvailable falls
below the floor. Everything is removed at the end and after Ctrl-C or SIGTERM. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess  # noqa: TID251 - a benchmark outside the package drives processes itself
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from floor import kill_if_conmon, run_exact, sweep_root  # noqa: E402
from lifecycle import binary, conmons_under, mounts_under, ocimux_cli  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
RUNTIMES = ("mock", "crun")
#: issue 5's target for `ocimux ps` over 1,000 containers
PS_TARGET_MS = 300.0
#: containers created first to measure what one costs in memory
SAMPLE = 50
GIB = 1 << 30
SHIM_MODULE = b"ocimux.plugins.mock.shim"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- memory ----------------------------------------------------------------------------------


def meminfo() -> dict[str, int]:
    """/proc/meminfo in bytes."""
    out = {}
    with open("/proc/meminfo", encoding="ascii") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            out[key] = int(rest.split()[0]) * 1024
    return out


def mem_available() -> int:
    return meminfo()["MemAvailable"]


def process_memory(pid: int) -> dict[str, int] | None:
    """VmRSS, PSS and USS (private clean + dirty) of `pid` in bytes; None if it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            rss = next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))
        rollup: dict[str, int] = {}
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                if key in ("Pss", "Private_Clean", "Private_Dirty"):
                    rollup[key] = int(rest.split()[0])
    except (OSError, StopIteration, ValueError):
        return None
    return {
        "rss": rss * 1024,
        "pss": rollup.get("Pss", 0) * 1024,
        "uss": (rollup.get("Private_Clean", 0) + rollup.get("Private_Dirty", 0)) * 1024,
    }


# --- the world each runtime runs in ----------------------------------------------------------


@dataclass
class World:
    """One runtime's private ocimux state, configuration and caches under the work directory."""

    runtime: str
    dir: Path
    rootfs: Path
    cli_env: dict[str, str]
    api_environ: dict[str, str]
    timeout: float

    @property
    def state_dir(self) -> Path:
        return self.dir / "state"

    @property
    def run_dir(self) -> Path:
        return self.dir / "run"

    @property
    def runtime_root(self) -> Path:
        return self.run_dir / "runtimes" / self.runtime


def base_env(work: Path, inherit_bytecode: bool) -> dict[str, str]:
    """Our environment without anything that would change what ocimux or podman does."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("OCIMUX_") and k not in ("CONTAINERS_CONF", "CONTAINERS_CONF_OVERRIDE")
    }
    if not inherit_bytecode:
        # as bench/lifecycle.py: .pyc files, but in our temporary directory (see bench/README.md)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    return env


def make_world(
    work: Path, runtime: str, rootfs: Path, env: dict[str, str], timeout: float
) -> World:
    d = work / runtime
    d.mkdir(mode=0o700)
    conf = d / "containers.conf"
    conf.write_text(
        f'[engine]\nruntime = "{runtime}"\n\n[ocimux]\nstate_dir = "{d / "state"}"\n'
        f'run_dir = "{d / "run"}"\ncommand_timeout = {int(timeout)}\n'
    )
    cli_env = {**env, "CONTAINERS_CONF": str(conf), "OCIMUX_CACHE_DIR": str(d / "cache-cli")}
    # this process's sys.path differs from the console script's: a cache of its own, or each
    # open_dispatcher() here would make the next CLI call cold (bench/README.md, "Cache")
    api_environ = {**cli_env, "OCIMUX_CACHE_DIR": str(d / "cache-api")}
    return World(runtime, d, rootfs, cli_env, api_environ, timeout)


# --- create and remove -----------------------------------------------------------------------


@dataclass
class Batch:
    """The outcome of creating or removing containers on several threads."""

    done: int = 0
    wall_s: float = 0.0
    errors: list[str] = field(default_factory=list)
    stopped: str = ""


def on_threads(
    jobs: list[Any],
    workers: int,
    setup: Callable[[], Callable[[Any], None]],
    guard: Callable[[], str] | None = None,
) -> Batch:
    """Run `work(job)` for every job on `workers` threads, each with its own `setup()` result.

    `guard()` is asked before each job; a non-empty answer stops every thread (the reason is
    kept). The clock starts once every thread is set up. Ctrl-C lets running jobs finish.
    """
    batch = Batch()
    stop = threading.Event()
    lock = threading.Lock()
    queue = iter(jobs)
    ready = threading.Barrier(workers + 1)

    def worker() -> None:
        try:
            work = setup()
        except Exception as exc:  # noqa: BLE001
            with lock:
                batch.errors.append(f"setup: {type(exc).__name__}: {exc}")
            work = None
        try:
            ready.wait()
        except threading.BrokenBarrierError:
            return
        while not stop.is_set():
            with lock:
                job = next(queue, None)
            if job is None or work is None:
                return
            why = guard() if guard else ""
            if why:
                batch.stopped = why
                stop.set()
                return
            try:
                work(job)
                with lock:
                    batch.done += 1
            except Exception as exc:  # noqa: BLE001 - count it and go on
                with lock:
                    batch.errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    try:
        ready.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        batch.wall_s = time.perf_counter() - t0
    except BaseException:
        stop.set()
        ready.abort()
        for t in threads:
            t.join()
        raise
    return batch


def creator(world: World) -> Callable[[], Callable[[str], None]]:
    def setup() -> Callable[[str], None]:
        import ocimux

        d = ocimux.open_dispatcher(environ=world.api_environ)

        def create(name: str) -> None:
            d.create(
                ocimux.NewContainer(
                    rootfs=world.rootfs, args=("/bin/true",), runtime=world.runtime, name=name
                )
            )

        return create

    return setup


def remover(world: World, timeout: float = 0) -> Callable[[], Callable[[str], None]]:
    def setup() -> Callable[[str], None]:
        import ocimux

        d = ocimux.open_dispatcher(environ=world.api_environ)
        return lambda cid: d.delete(cid, force=True, timeout=timeout)

    return setup


def records(world: World) -> list[Any]:
    """Every container record in the world's store, read directly (no runtime is asked)."""
    from ocimux.engine.store import Store

    with Store(world.state_dir / "ocimux.db") as store:
        return store.list_containers()


def create_containers(world: World, n: int, workers: int, floor: int) -> dict[str, Any]:
    """Create SAMPLE containers, size N to the memory left, create the rest; report."""
    names = [f"scale-{i:05d}" for i in range(n)]

    def guard() -> str:
        left = mem_available()
        if left < floor:
            return f"MemAvailable {left / GIB:.1f} GiB fell below the floor {floor / GIB:.1f} GiB"
        return ""

    # imports, plugin, probes and caches first: they must not count as the containers' memory
    import ocimux

    ocimux.open_dispatcher(environ=world.api_environ).registry.get(world.runtime)
    before = mem_available()
    sample = min(n, SAMPLE)
    first = on_threads(names[:sample], workers, creator(world), guard)
    if first.stopped or first.done == 0:
        return {"requested": n, "created": first.done, "create": first, "plan": "sample failed"}
    time.sleep(0.5)
    after = mem_available()
    recs = records(world)
    # PSS, not USS: a shim shares most of its pages with its forked child only, so the pair's
    # PSS is what one more container costs (USS misses those shared pages, RSS counts them twice)
    pss = sum(
        (m or {}).get("pss", 0)
        for rec in recs
        for m in (process_memory(rec.monitor_pid or 0), process_memory(rec.pid or 0))
    )
    per = max((before - after) / first.done, pss / first.done, 1 << 20)
    fit = first.done + int(max(0, after - floor) / (per * 1.25))
    target = min(n, fit)
    plan = (
        f"{SAMPLE} containers cost {per / (1 << 20):.1f} MiB each (max of MemAvailable drop and"
        f" PSS, x1.25 headroom); {after / GIB:.1f} GiB available, floor {floor / GIB:.1f} GiB:"
        f" room for {fit}"
    )
    log(f"[{world.runtime}] {plan}; creating {target}")
    rest = on_threads(names[first.done : target], workers, creator(world), guard)
    batch = Batch(
        done=first.done + rest.done,
        wall_s=first.wall_s + rest.wall_s,
        errors=first.errors + rest.errors,
        stopped=first.stopped or rest.stopped,
    )
    return {
        "requested": n,
        "created": batch.done,
        "create": batch,
        "plan": plan,
        "mem_available_before": before,
    }


# --- measuring commands ----------------------------------------------------------------------


@dataclass
class Command:
    key: str
    label: str
    argv: list[str]
    env: dict[str, str]
    samples: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    note: str = ""

    def once(self, timeout: float) -> float:
        t0 = time.perf_counter()
        code, err = run_exact(self.argv, timeout, self.env)
        ms = (time.perf_counter() - t0) * 1e3
        if code != 0:
            tail = err.decode(errors="replace").strip().splitlines()[-2:]
            raise RuntimeError(f"exit {code}: {' | '.join(tail)}")
        return ms


def podman_argv(work: Path, *args: str) -> list[str]:
    p = work / "podman"
    podman = binary("podman")
    assert podman
    return [podman, "--root", str(p / "storage"), "--runroot", str(p / "runroot"),
            "--tmpdir", str(p / "tmp"), *args]  # fmt: skip


def commands(world: World, work: Path, env: dict[str, str], count: int) -> list[Command]:
    cli = ocimux_cli()
    out = [
        Command("ps", f"ocimux ps -a ({count} containers)", [*cli, "ps", "-a"], world.cli_env),
        Command(
            "ps_json",
            "ocimux ps -a --format json",
            [*cli, "ps", "-a", "--format", "json"],
            world.cli_env,
        ),
        Command("version", "ocimux --version", [*cli, "--version"], world.cli_env),
        Command("python", "python -c pass", [sys.executable, "-c", "pass"], world.cli_env),
    ]
    if binary("podman") and os.geteuid() == 0:
        out.append(Command("podman", "podman ps -a (empty store: 0)", podman_argv(work, "ps", "-a"), env))  # fmt: skip
    if world.runtime != "mock":
        path = binary(world.runtime)
        if path:
            out.append(
                Command(
                    "runtime_list",
                    f"{world.runtime} --root ... list ({count})",
                    [path, "--root", str(world.runtime_root), "list"],
                    env,
                )
            )
    return out


def check_listing(world: World, count: int, timeout: float) -> list[str]:
    """Run the listings once untimed; return problems (a wrong count, a failure)."""
    problems = []
    cli = ocimux_cli()
    done = subprocess.run(  # noqa: S603 - argv list
        [*cli, "ps", "-a", "--format", "json"],
        env=world.cli_env,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        problems.append(f"ps --format json exited {done.returncode}: {done.stderr[-300:]!r}")
    else:
        listed = json.loads(done.stdout)
        statuses = Counter(r["status"] for r in listed)
        if len(listed) != count or set(statuses) != {"created"}:
            problems.append(f"ps lists {len(listed)} containers {dict(statuses)}, expected {count}")
    if world.runtime != "mock" and (path := binary(world.runtime)):
        done = subprocess.run(  # noqa: S603 - argv list
            [path, "--root", str(world.runtime_root), "list", "-q"],
            capture_output=True,
            timeout=world.timeout,
            check=False,
        )
        if len(done.stdout.split()) != count:
            problems.append(f"{world.runtime} list shows {len(done.stdout.split())}, not {count}")
    return problems


def measure(cmds: list[Command], runs: int, seed: int, timeout: float) -> None:
    """One warm-up each, then `runs` rounds, every command once per round in shuffled order."""
    rng = random.Random(seed)
    for c in cmds:
        try:
            c.once(timeout)
        except Exception as exc:  # noqa: BLE001
            c.errors.append(f"warm-up: {exc}")
    for r in range(runs):
        order = list(cmds)
        rng.shuffle(order)
        for c in order:
            if len(c.errors) >= 3:
                continue
            try:
                c.samples.append(c.once(timeout))
            except Exception as exc:  # noqa: BLE001 - report it in the row, go on
                c.errors.append(f"{type(exc).__name__}: {exc}")
        log(f"  round {r + 1}/{runs}")


def summary(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {}
    s = sorted(samples)
    if len(s) >= 2:
        deciles = statistics.quantiles(s, n=10, method="inclusive")
        p10, p90 = deciles[0], deciles[-1]
    else:
        p10 = p90 = s[0]
    return {"median": statistics.median(s), "p10": p10, "p90": p90, "min": s[0], "max": s[-1]}


# --- footprint -------------------------------------------------------------------------------


def tree_usage(root: Path) -> dict[str, int]:
    """Bytes on disk (st_blocks), apparent bytes and inodes of everything under `root`."""
    disk = size = inodes = 0
    if not root.exists():
        return {"disk": 0, "apparent": 0, "inodes": 0}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames, None):
            path = dirpath if name is None else os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            disk += st.st_blocks * 512
            size += st.st_size
            inodes += 1
    return {"disk": disk, "apparent": size, "inodes": inodes}


def store_files(world: World) -> dict[str, int]:
    out = {}
    for suffix in ("", "-wal", "-shm"):
        path = world.state_dir / f"ocimux.db{suffix}"
        out[path.name] = path.stat().st_size if path.exists() else 0
    return out


def footprint(world: World, count: int, mem_before: int | None) -> dict[str, Any]:
    recs = records(world)
    mem: dict[str, dict[str, int]] = {}
    for role, pids in (
        ("monitor", [r.monitor_pid for r in recs]),
        ("container", [r.pid for r in recs]),
    ):
        totals = {"rss": 0, "pss": 0, "uss": 0, "processes": 0}
        for pid in pids:
            m = process_memory(pid or 0)
            if m:
                for k, v in m.items():
                    totals[k] += v
                totals["processes"] += 1
        mem[role] = totals
    usage = {
        "containers_dir": tree_usage(world.state_dir / "containers"),
        "locks_dir": tree_usage(world.state_dir / "locks"),
        "runtime_root": tree_usage(world.runtime_root),
        "exit_dir": tree_usage(world.runtime_root.with_name(f"{world.runtime}.exits")),
    }
    out: dict[str, Any] = {
        "containers": count,
        "store": store_files(world),
        "disk": usage,
        "memory": mem,
    }
    if mem_before is not None:
        out["mem_available_drop"] = mem_before - mem_available()
    return out


# --- where ps goes ---------------------------------------------------------------------------


def ps_breakdown(world: World, runs: int) -> dict[str, Any]:
    """Time the parts of `ps -a` in this process and count the runtime commands it runs."""
    import ocimux
    from ocimux.base import process
    from ocimux.cli import containers as _cli_containers

    spawned: Counter[str] = Counter()
    real_run, real_spawn = process.run, process.spawn
    verbs = {"state", "list", "create", "start", "delete", "kill", "ps", "exec", "--version"}

    def label(argv: Any) -> str:
        args = [os.fspath(a) for a in argv]
        verb = next((a for a in args[1:] if a in verbs), "?")
        return f"{os.path.basename(args[0])} {verb}"

    def counting_run(argv: Any, *a: Any, **kw: Any) -> Any:
        spawned[label(argv)] += 1
        return real_run(argv, *a, **kw)

    def counting_spawn(argv: Any, *a: Any, **kw: Any) -> Any:
        spawned[label(argv)] += 1
        return real_spawn(argv, *a, **kw)

    times: dict[str, list[float]] = {}

    def timed(key: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        value = fn()
        times.setdefault(key, []).append((time.perf_counter() - t0) * 1e3)
        return value

    table = argparse.Namespace(all=True, quiet=False, format="table")
    as_json = argparse.Namespace(all=True, quiet=False, format="json")
    process.run, process.spawn = counting_run, counting_spawn
    try:
        for i in range(runs + 1):  # the first round warms up and is dropped
            if i == 1:
                times.clear()
                spawned.clear()
            d = timed("open_dispatcher", lambda: ocimux.open_dispatcher(environ=world.api_environ))
            try:
                timed("store.list_containers", d.store.list_containers)
                timed("Dispatcher.list (reconcile)", d.list)
                with contextlib.redirect_stdout(io.StringIO()):
                    timed("cmd_ps table", lambda d=d: _cli_containers.cmd_ps(d, table))
                    timed("cmd_ps json", lambda d=d: _cli_containers.cmd_ps(d, as_json))
            finally:
                d.store.close()
    finally:
        process.run, process.spawn = real_run, real_spawn
    # cmd_ps runs Dispatcher.list again: per ps call that is one list's worth of commands
    per_call = {k: v / max(runs, 1) / 3 for k, v in spawned.items()}
    return {
        "median_ms": {k: statistics.median(v) for k, v in times.items()},
        "runtime_commands_per_list": per_call,
    }


# --- cleanup ---------------------------------------------------------------------------------


def shims_under(work: Path) -> list[int]:
    """Pids of mock shims (and their gated children) whose command line names `work`."""
    out = []
    marker = str(work).encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read()
        except OSError:
            continue
        if SHIM_MODULE in cmd and marker in cmd:
            out.append(int(entry))
    return out


def cleanup(worlds: list[World], work: Path, workers: int, keep: bool) -> dict[str, Any]:
    """Remove every container, monitor, mount and file of this run (best effort, bounded)."""
    report: dict[str, Any] = {}
    for world in worlds:
        try:
            left = [r.id for r in records(world)]
        except Exception as exc:  # noqa: BLE001
            log(f"cleanup: {world.runtime}: cannot read the store: {exc}")
            left = []
        if left:
            log(f"cleanup: removing {len(left)} {world.runtime} containers")
            batch = on_threads(left, workers, remover(world))
            report[world.runtime] = {"removed": batch.done, "errors": batch.errors[:3]}
        if world.runtime != "mock" and (path := binary(world.runtime)):
            sweep_root(path, world.runtime_root, world.timeout)
    for pid in conmons_under(work):
        kill_if_conmon(pid)
    for pid in shims_under(work):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    for mount in mounts_under(work):
        subprocess.run(["umount", "-l", mount], timeout=30, check=False)  # noqa: S603, S607
    if keep:
        log(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return report


# --- one runtime -----------------------------------------------------------------------------


def bench_runtime(
    world: World, work: Path, env: dict[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    floor = max(args.floor_gib * GIB, int(meminfo()["MemTotal"] * 0.2))
    log(f"[{world.runtime}] creating up to {args.n} containers on {args.workers} threads")
    made = create_containers(world, args.n, args.workers, floor)
    batch: Batch = made.pop("create")
    count = made["created"]
    result: dict[str, Any] = {
        **made,
        "create_wall_s": batch.wall_s,
        "create_errors": batch.errors[:5],
        "create_failed": len(batch.errors),
        "create_stopped": batch.stopped,
    }
    log(f"[{world.runtime}] created {count} in {batch.wall_s:.1f} s")
    result["footprint"] = footprint(world, count, made.get("mem_available_before"))
    result["listing_problems"] = check_listing(world, count, args.timeout)
    for problem in result["listing_problems"]:
        log(f"[{world.runtime}] {problem}")
    cmds = commands(world, work, env, count)
    log(f"[{world.runtime}] measuring {len(cmds)} commands, {args.runs} rounds")
    measure(cmds, args.runs, args.seed, args.timeout)
    result["commands"] = {
        c.key: {
            "label": c.label,
            "argv": c.argv,
            "samples_ms": c.samples,
            "errors": c.errors[:3],
            "failures": len(c.errors),
            **summary(c.samples),
        }
        for c in cmds
    }
    log(f"[{world.runtime}] ps breakdown in-process")
    try:
        result["ps_breakdown"] = ps_breakdown(world, args.breakdown_runs)
    except Exception as exc:  # noqa: BLE001
        result["ps_breakdown"] = {"error": f"{type(exc).__name__}: {exc}"}
    log(f"[{world.runtime}] removing {count} containers")
    ids = [r.id for r in records(world)]
    gone = on_threads(ids, args.workers, remover(world))
    result["remove_wall_s"] = gone.wall_s
    result["removed"] = gone.done
    result["remove_errors"] = gone.errors[:5]
    result["left_after_remove"] = len(records(world))
    result["monitors_left"] = len(conmons_under(world.dir)) + len(shims_under(world.dir))
    return result


# --- output ----------------------------------------------------------------------------------


def mib(n: float) -> str:
    return f"{n / (1 << 20):.2f} MiB"


def kib(n: float) -> str:
    return f"{n / 1024:.1f} KiB"


def print_runtime(rt: str, r: dict[str, Any]) -> None:
    count = r.get("created", 0)
    load = f"; load average after: {r['loadavg_after'][0]:.2f}" if r.get("loadavg_after") else ""
    print(f"\n== {rt}: {count} created containers (asked for {r.get('requested')}){load} ==")
    if r.get("plan"):
        print(f"memory plan: {r['plan']}")
    if r.get("create_stopped"):
        print(f"creation stopped early: {r['create_stopped']}")
    if "skipped" in r:
        print(f"skipped: {r['skipped']}")
        return
    if count:
        wall = r["create_wall_s"]
        fails = (
            f", {r['create_failed']} failed: {r['create_errors'][:1]}" if r["create_failed"] else ""
        )
        print(f"create {count} (API, threads)   {wall:8.1f} s   {wall / count * 1e3:6.1f} ms each, {count / wall:6.1f}/s{fails}")  # fmt: skip
    if "remove_wall_s" in r and r.get("removed"):
        wall = r["remove_wall_s"]
        print(f"remove {r['removed']} (API rm -f)    {wall:8.1f} s   {wall / r['removed'] * 1e3:6.1f} ms each, {r['removed'] / wall:6.1f}/s; left: {r['left_after_remove']} records, {r['monitors_left']} monitors")  # fmt: skip
    for problem in r.get("listing_problems", []):
        print(f"listing problem: {problem}")
    cmds = r.get("commands", {})
    if cmds:
        print(f"\n{'command':42} {'median':>9} {'p10–p90':>17} {'min–max':>17} {'n':>3}")
        for c in cmds.values():
            if not c["samples_ms"]:
                print(f"{c['label']:42} {'—':>9}  {c['errors'][:1]}")
                continue
            fail = f"  ({c['failures']} failed: {c['errors'][0][:60]})" if c["failures"] else ""
            print(
                f"{c['label']:42} {c['median']:7.1f}ms {c['p10']:8.1f}–{c['p90']:<8.1f} "
                f"{c['min']:8.1f}–{c['max']:<8.1f} {len(c['samples_ms']):>3}{fail}"
            )
        ps = cmds.get("ps", {})
        if ps.get("median") is not None:
            verdict = "met" if ps["median"] <= PS_TARGET_MS else "MISSED"
            scale = "" if count >= 1000 else f" (measured at N={count}, not 1000)"
            print(f"target: ocimux ps -a at 1,000 ≤ {PS_TARGET_MS:.0f} ms: {verdict} ({ps['median']:.0f} ms){scale}")  # fmt: skip
            ref = cmds.get("python", {}).get("median")
            ver = cmds.get("version", {}).get("median")
            if ref and ver:
                print(
                    f"  split by medians: python -c pass {ref:.0f} ms; --version {ver - ref:+.0f} ms;"
                    f" ps -a over --version {ps['median'] - ver:+.0f} ms ({(ps['median'] - ver) / max(count, 1) * 1e3:.0f} µs per container)"
                )  # fmt: skip
    fp = r.get("footprint")
    if fp and count:
        st = fp["store"]
        total = sum(st.values())
        print(f"\nstore: {', '.join(f'{k} {kib(v)}' for k, v in st.items())} = {kib(total)}, {total / count:.0f} B per container")  # fmt: skip
        for key, label in (
            ("containers_dir", "state dir (containers/)"),
            ("locks_dir", "lock files (locks/)"),
            ("runtime_root", f"runtime root (run/runtimes/{rt})"),
            ("exit_dir", "exit dir"),
        ):
            u = fp["disk"][key]
            if u["inodes"]:
                print(f"{label:34} {kib(u['disk'] / count):>11} on disk, {kib(u['apparent'] / count):>10} apparent, {u['inodes'] / count:4.1f} inodes per container")  # fmt: skip
        names = {"mock": ("mock shim", "gated process"), "crun": ("conmon", "crun init (created)")}
        mon, ctr = names.get(rt, ("monitor", "container process"))
        for role, label in (("monitor", mon), ("container", ctr)):
            m = fp["memory"][role]
            if m["processes"]:
                print(f"memory per container, {label:20} RSS {mib(m['rss'] / count)}, PSS {mib(m['pss'] / count)}, USS {mib(m['uss'] / count)}  ({m['processes']} processes)")  # fmt: skip
        drop = fp.get("mem_available_drop")
        if drop is not None and drop > 0:
            print(f"MemAvailable dropped by {mib(drop / count)} per container (system view, noisy)")
        elif drop is not None:
            print("MemAvailable rose meanwhile: other processes freed memory (no system view)")
    bd = r.get("ps_breakdown")
    if bd:
        if "error" in bd:
            print(f"\nps breakdown failed: {bd['error']}")
        else:
            parts = ", ".join(f"{k} {v:.1f}" for k, v in bd["median_ms"].items())
            cmds_per = (
                ", ".join(f"{k} ×{v:.0f}" for k, v in bd["runtime_commands_per_list"].items())
                or "none"
            )
            print(f"\nin-process ps -a, median ms: {parts}")
            print(f"runtime commands per listing: {cmds_per}")


def print_result(result: dict[str, Any]) -> None:
    print(
        f"ocimux {result.get('git', '?')}; {result.get('versions', {})}; "
        f"{result.get('nproc')} CPUs; {mib(result.get('mem_total', 0))} RAM"
    )
    print(f"N={result['n']} asked, {result['runs']} interleaved runs per command (shuffled, seed {result['seed']})")  # fmt: skip
    print(
        f"load average at start {result['loadavg_start'][0]:.2f}; compare ratios, not ms, across runs"
    )
    if result.get("interrupted"):
        print("INTERRUPTED: results are partial; everything was cleaned up")
    for rt, r in result["runtimes"].items():
        print_runtime(rt, r)


# --- main ------------------------------------------------------------------------------------


def git_state() -> str:
    try:
        head = subprocess.run(  # noqa: S603, S607
            ["git", "-C", str(REPO), "log", "-1", "--format=%h %s"],
            capture_output=True, text=True, timeout=10, check=False,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(  # noqa: S603, S607
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "core", "config", "plugins"],
            capture_output=True, text=True, timeout=10, check=False,
        ).stdout.split("\n")  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    changed = len([line for line in dirty if line.strip()])
    return f"at {head!r}" + (f" + {changed} uncommitted files in core/config/plugins" if changed else "")  # fmt: skip


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("crun", "conmon", "podman"):
        path = binary(name)
        if path:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                text = subprocess.run(  # noqa: S603
                    [path, "--version"], capture_output=True, timeout=10, check=False
                ).stdout.decode(errors="replace")
                out[name] = (text.strip().splitlines() or ["?"])[0]
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--n", type=int, default=1000, help="containers per runtime (default 1000)")
    p.add_argument("--runtime", default="all", choices=(*RUNTIMES, "all"))
    p.add_argument("--runs", type=int, default=10, help="timed runs per command (default 10)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    p.add_argument("--workers", type=int, default=4, help="threads for create and remove")
    p.add_argument("--seed", type=int, default=1, help="seed of the shuffled order")
    p.add_argument("--breakdown-runs", type=int, default=3, help="in-process ps breakdown runs")
    p.add_argument(
        "--floor-gib",
        type=float,
        default=4.0,
        help="never let MemAvailable fall below this (or 20%% of RAM, if more)",
    )
    p.add_argument("--timeout", type=float, default=600.0, help="seconds any one command may take")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument(
        "--inherit-bytecode",
        action="store_true",
        help="leave PYTHONDONTWRITEBYTECODE as it is (default: a private .pyc cache)",
    )
    args = p.parse_args(argv)
    if args.n < 1 or args.runs < 1 or args.workers < 1:
        p.error("--n, --runs and --workers must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wanted = RUNTIMES if args.runtime == "all" else (args.runtime,)
    skipped: dict[str, str] = {}
    for rt in wanted:
        if rt == "mock":
            continue
        if os.geteuid() != 0:
            skipped[rt] = "needs root (runtime under conmon)"
        elif not binary(rt) or not binary("conmon"):
            skipped[rt] = f"{rt if not binary(rt) else 'conmon'} is not installed"
    for rt, why in skipped.items():
        log(f"skipping {rt}: {why}")

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    work = Path(tempfile.mkdtemp(prefix="oms-", dir="/tmp"))
    worlds: list[World] = []
    result: dict[str, Any] = {
        "n": args.n,
        "runs": args.runs,
        "seed": args.seed,
        "git": git_state(),
        "versions": versions(),
        "nproc": os.cpu_count(),
        "mem_total": meminfo()["MemTotal"],
        "ps_target_ms": PS_TARGET_MS,
        "loadavg_start": os.getloadavg(),
        "runtimes": {rt: {"requested": args.n, "skipped": why} for rt, why in skipped.items()},
    }
    status = 0
    try:
        env = base_env(work, args.inherit_bytecode)
        from ocimux.oci.rootfs import build_busybox_rootfs

        rootfs = work / "rootfs"
        build_busybox_rootfs(rootfs)
        for rt in wanted:
            if rt in skipped:
                continue
            world = make_world(work, rt, rootfs, env, args.timeout)
            worlds.append(world)
            result["runtimes"][rt] = bench_runtime(world, work, env, args)
            result["runtimes"][rt]["loadavg_after"] = os.getloadavg()
    except KeyboardInterrupt:
        log("interrupted: cleaning up")
        result["interrupted"] = True
        status = 130
    finally:
        result["cleanup"] = cleanup(worlds, work, args.workers, args.keep)
    if args.json:
        json.dump(result, sys.stdout, indent=2, default=str)
        print()
    else:
        print_result(result)
    return status


if __name__ == "__main__":
    sys.exit(main())
