#!/usr/bin/env python3
"""Benchmark a container lifecycle of `/bin/true` four ways, side by side, and print ratios.

Modes, measured interleaved in one process run — N rounds, each running every mode once, in a
shuffled order by default (--order fixed: a, b, c, d, ref, a, b, ...) — so that machine noise
hits them alike:

  (a) floor   the raw runtime driven through conmon by `floor.py` (host.md §4/§8 "via conmon")
  (b) api     `Dispatcher.run(NewContainer(..., auto_remove=True), streams)` in this process
  (c) cli     `ocimux run --rm --runtime R --rootfs ROOTFS -- /bin/true` as a subprocess
  (d) podman  `podman run --rm --runtime R --rootfs COPY /bin/true` (host.md §6 flags), if installed
  ref         `python -c pass` with the same interpreter: what any Python CLI pays to start

Then the ratios b/a and c/d against the targets of issue 3, a concurrent-throughput run (50
containers, 4 workers, ocimux API vs floor), and with --profile, where (b) and (c) spend time.

Everything lives in one temporary directory (ocimux state and cache, the floor's --root,
podman's storage), removed at the end, also after Ctrl-C. See bench/README.md.
"""

from __future__ import annotations

import argparse
import io
import itertools
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import profiling  # noqa: E402
from floor import Floor, kill_if_conmon, run_exact, sweep_root  # noqa: E402

#: issue 3's targets, as (numerator, denominator, maximum ratio)
TARGETS = {
    "b/a": ("api", "floor", 1.15),
    "c/d": ("cli", "podman", 0.6),
    "c/a": ("cli", "floor", None),
}
LABELS = {
    "floor": "(a) floor: conmon + runtime CLI",
    "api": "(b) ocimux API, one process",
    "cli": "(c) ocimux run --rm (CLI)",
    "podman": "(d) podman run --rm",
    "ref": "ref: python -c pass",
}
ORDER = ("floor", "api", "cli", "podman", "ref")
#: a mode that fails this often is dropped for the rest of the run
MAX_FAILURES = 3
RUNTIMES = ("crun", "runc")
PODMAN_FLAGS = ("--network", "none", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768")  # fmt: skip


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- the environment -------------------------------------------------------------------------


@dataclass
class Bench:
    """The temporary world every mode runs in, and what must be cleaned up."""

    work: Path
    rootfs: Path
    timeout: float
    config: bytes = b""
    floors: list[Floor] = field(default_factory=list)
    podman: str | None = None
    api_environ: dict[str, str] = field(default_factory=dict)

    @property
    def podman_rootfs(self) -> Path:
        return self.work / "podman-rootfs"

    def podman_argv(self, runtime: str, *args: str) -> list[str]:
        p = self.work / "p"
        assert self.podman
        return [self.podman, "--root", str(p / "storage"), "--runroot", str(p / "runroot"),
                "--tmpdir", str(p / "tmp"), *args]  # fmt: skip


def ocimux_cli() -> list[str]:
    """The `ocimux` console script next to this interpreter, else `python -m ocimux.cli`."""
    script = Path(sys.executable).with_name("ocimux")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "ocimux.cli"]


def prepare(
    work: Path, runtimes: tuple[str, ...], timeout: float, *, inherit_bytecode: bool
) -> Bench:
    """Write the containers.conf, point ocimux at it, build the rootfs (and podman's copy)."""
    for key in list(os.environ):
        # a stray OCIMUX_NO_CACHE or OCIMUX_ENGINE__* would change what is measured
        if key.startswith("OCIMUX_") or key == "CONTAINERS_CONF_OVERRIDE":
            del os.environ[key]
    if not inherit_bytecode:
        # An installed ocimux has .pyc files (pip compiles them); an editable checkout run with
        # PYTHONDONTWRITEBYTECODE=1 compiles every module from source on every CLI call. Keep
        # bytecode, but in our temporary directory, never in the checkout.
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    conf = work / "containers.conf"
    conf.write_text(
        f'[engine]\nruntime = "{runtimes[0]}"\n\n'
        f'[ocimux]\nstate_dir = "{work / "state"}"\nrun_dir = "{work / "run"}"\n'
        f"command_timeout = {int(timeout)}\n"
    )
    os.environ["CONTAINERS_CONF"] = str(conf)
    os.environ["OCIMUX_CACHE_DIR"] = str(work / "cache")
    bench = Bench(work=work, rootfs=work / "rootfs", timeout=timeout)
    # The warm-path cache is one slot per user keyed by sys.path among others; this process's
    # sys.path differs from the CLI's, so the API gets a cache directory of its own or each
    # open_dispatcher() here would make the next CLI call cold.
    bench.api_environ = {**os.environ, "OCIMUX_CACHE_DIR": str(work / "cache-api")}
    from ocimux.oci import spec
    from ocimux.oci.rootfs import build_busybox_rootfs

    build_busybox_rootfs(bench.rootfs)
    doc = spec.default_spec(rootfs=bench.rootfs, args=("/bin/true",))
    bench.config = json.dumps(doc, indent=2).encode() + b"\n"
    bench.podman = shutil.which("podman")
    if bench.podman:
        shutil.copytree(bench.rootfs, bench.podman_rootfs, symlinks=True)
    return bench


def binary(name: str) -> str | None:
    path = os.environ.get("PATH", "") + ":/usr/local/sbin:/usr/sbin:/sbin"
    return shutil.which(name, path=path)


def run_cmd(argv: list[str], timeout: float, env: dict[str, str] | None = None) -> None:
    """Run `argv`, timed to its exit (see floor.run_exact); raise on a non-zero status."""
    code, err = run_exact(argv, timeout, env)
    if code != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"exit {code}: {' | '.join(tail)}")


# --- modes -----------------------------------------------------------------------------------


@dataclass
class Mode:
    """One way of running the lifecycle: `once()` returns ms (total, plus phases if it has them)."""

    key: str
    once: Callable[[], dict[str, float]]
    samples: list[dict[str, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: the mode that ran just before each attempt (JSON output only)
    after: list[str] = field(default_factory=list)
    skipped: str = ""

    @property
    def active(self) -> bool:
        return not self.skipped and len(self.errors) < MAX_FAILURES

    def attempt(self, previous: str = "") -> None:
        try:
            self.samples.append(self.once())
            self.after.append(previous)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - one mode's failure must not stop the others
            self.errors.append(f"{type(exc).__name__}: {exc}")
            log(f"  {self.key}: failed: {self.errors[-1]}")


def timed(fn: Callable[[], None]) -> Callable[[], dict[str, float]]:
    def once() -> dict[str, float]:
        t0 = time.perf_counter()
        fn()
        return {"total": (time.perf_counter() - t0) * 1e3}

    return once


def make_floor(bench: Bench, runtime: str, tag: str) -> Floor:
    path, conmon = binary(runtime), binary("conmon")
    if not path or not conmon:
        raise RuntimeError(f"{'conmon' if path else runtime} is not installed")
    floor = Floor(
        runtime=path,
        conmon=conmon,
        root=bench.work / "fr" / f"{runtime}-{tag}",
        work=bench.work / "fw" / f"{runtime}-{tag}",
        config=bench.config,
        timeout=bench.timeout,
    )
    bench.floors.append(floor)
    return floor


class ApiRunner:
    """Run one foreground `--rm` container through one Dispatcher per call (mode b)."""

    def __init__(self, bench: Bench, runtime: str) -> None:
        import ocimux

        self.dispatcher = ocimux.open_dispatcher(environ=bench.api_environ)
        self.out, self.err = io.BytesIO(), io.BytesIO()
        self.streams = ocimux.StdStreams(stdout=self.out, stderr=self.err)
        self.new = ocimux.NewContainer(
            rootfs=bench.rootfs, args=("/bin/true",), runtime=runtime, auto_remove=True
        )

    def __call__(self) -> None:
        for buf in (self.out, self.err):
            buf.seek(0)
            buf.truncate()
        _, code = self.dispatcher.run(self.new, self.streams)
        if code != 0:
            raise RuntimeError(f"exit {code}: {self.err.getvalue()[-300:]!r}")


def cli_argv(bench: Bench, runtime: str) -> list[str]:
    return [*ocimux_cli(), "run", "--rm", "--runtime", runtime, "--rootfs", str(bench.rootfs),
            "--", "/bin/true"]  # fmt: skip


def podman_env() -> dict[str, str]:
    """podman reads containers.conf too: give it the system's, not ours."""
    return {k: v for k, v in os.environ.items() if k not in ("CONTAINERS_CONF",)}


def build_modes(bench: Bench, runtime: str, wanted: tuple[str, ...]) -> list[Mode]:
    """The wanted modes in ORDER; one whose setup fails is kept, skipped, with the reason."""
    factories: dict[str, Callable[[], Callable[[], dict[str, float]]]] = {
        "floor": lambda: make_floor(bench, runtime, "seq").lifecycle,
        "api": lambda: timed(ApiRunner(bench, runtime)),
        "cli": lambda: timed(lambda: run_cmd(cli_argv(bench, runtime), bench.timeout)),
        "podman": lambda: podman_once(bench, runtime),
        "ref": lambda: timed(lambda: run_cmd([sys.executable, "-c", "pass"], bench.timeout)),
    }
    modes: list[Mode] = []
    for key in ORDER:
        if key not in wanted:
            continue
        if key == "podman" and not bench.podman:
            modes.append(Mode(key, _never, skipped="podman: not installed"))
            continue
        try:
            modes.append(Mode(key, factories[key]()))
        except Exception as exc:  # noqa: BLE001
            modes.append(Mode(key, _never, skipped=f"setup failed: {type(exc).__name__}: {exc}"))
    return modes


def podman_once(bench: Bench, runtime: str) -> Callable[[], dict[str, float]]:
    argv = bench.podman_argv(
        runtime, "run", "--rm", "--runtime", runtime, *PODMAN_FLAGS,
        "--rootfs", str(bench.podman_rootfs), "/bin/true",
    )  # fmt: skip
    env = podman_env()
    return timed(lambda: run_cmd(argv, bench.timeout, env))


def _never() -> dict[str, float]:
    raise RuntimeError("skipped")


def bench_runtime(
    bench: Bench,
    runtime: str,
    n: int,
    wanted: tuple[str, ...],
    order: str,
    seed: int,
    settle: float = 0.0,
) -> list[Mode]:
    """Warm every mode up once, then run `n` rounds, each running every mode once.

    `order` "shuffled" runs each round in a fresh random order (seeded): on this VM a lifecycle
    right after a pause or after other work is several ms slower than one right after another
    lifecycle, so a fixed order would favour whichever mode follows a similar one. "fixed" is
    plain round-robin (a, b, c, d, a, b, c, d, ...).
    """
    modes = build_modes(bench, runtime, wanted)
    for m in modes:
        if m.skipped:
            log(f"  {m.skipped}" if m.skipped.startswith(m.key) else f"  {m.key}: {m.skipped}")
    log(f"[{runtime}] warm-up")
    for m in modes:
        if m.active:
            m.attempt()
            m.samples.clear()
            m.after.clear()
    rng = random.Random(f"{seed}-{runtime}")
    previous = ""
    for i in range(n):
        round_ = [m for m in modes if m.active]
        if order == "shuffled":
            rng.shuffle(round_)
        for m in round_:
            if settle:
                time.sleep(settle)
            m.attempt(previous)
            previous = m.key
        if (i + 1) % 5 == 0 or i + 1 == n:
            log(f"[{runtime}] round {i + 1}/{n}")
    return modes


# --- statistics and output -------------------------------------------------------------------


def summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    s = sorted(values)
    if len(s) >= 2:
        q = statistics.quantiles(s, n=10, method="inclusive")
        p10, p90 = q[0], q[8]
    else:
        p10 = p90 = s[0]
    return {
        "n": len(s),
        "median": statistics.median(s),
        "p10": p10,
        "p90": p90,
        "min": s[0],
        "max": s[-1],
        "mean": statistics.fmean(s),
    }


def mode_report(m: Mode) -> dict[str, Any]:
    out: dict[str, Any] = {"label": LABELS[m.key], **summary([x["total"] for x in m.samples])}
    phases = [k for k in (m.samples[0] if m.samples else {}) if k != "total"]
    if phases:
        out["phases_median"] = {k: statistics.median(x[k] for x in m.samples) for k in phases}
    out["failures"] = len(m.errors)
    if m.errors:
        out["first_error"] = m.errors[0]
    if m.skipped:
        out["skipped"] = m.skipped
    out["samples_ms"] = [round(x["total"], 3) for x in m.samples]
    out["preceded_by"] = m.after
    return out


def ratios(report: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for name, (num, den, target) in TARGETS.items():
        a, b = report.get(num, {}).get("median"), report.get(den, {}).get("median")
        value = a / b if a and b else None
        ok = None if value is None or target is None else value <= target
        out[name] = {"value": value, "target": target, "met": ok, "of": f"{num}/{den}"}
    return out


def print_runtime(runtime: str, report: dict[str, dict[str, Any]], rat: dict[str, Any]) -> None:
    print(f"\n== {runtime}: /bin/true create → start → exit → delete, ms ==")
    print(f"{'mode':34} {'median':>8} {'p10–p90':>15} {'min–max':>15} {'n':>4}  notes")
    for key in ORDER:
        r = report.get(key)
        if r is None:
            continue
        if not r["n"]:
            note = r.get("skipped") or r.get("first_error", "no samples")
            print(f"{r['label']:34} {'—':>8} {'':>15} {'':>15} {0:>4}  {note}")
            continue
        notes = []
        if r.get("phases_median"):
            notes.append(" ".join(f"{k} {v:.1f}" for k, v in r["phases_median"].items()))
        if r["failures"]:
            notes.append(f"{r['failures']} failed: {r['first_error'][:80]}")
        print(
            f"{r['label']:34} {r['median']:8.1f} {r['p10']:7.1f}–{r['p90']:<7.1f} "
            f"{r['min']:7.1f}–{r['max']:<7.1f} {r['n']:>4}  {'; '.join(notes)}"
        )
    for name, x in rat.items():
        if x["value"] is None:
            print(f"  {name:4} {x['of']:12} —      (a mode has no samples)")
            continue
        if x["target"] is None:
            verdict = "(no target)"
        else:
            verdict = f"target ≤ {x['target']:.2f}  {'met' if x['met'] else 'MISSED'}"
        print(f"  {name:4} {x['of']:12} {x['value']:6.2f}  {verdict}")


# --- concurrent throughput -------------------------------------------------------------------


def throughput(
    count: int, workers: int, setup: Callable[[], Callable[[], object]]
) -> dict[str, Any]:
    """Run `count` lifecycles on `workers` threads; each thread builds its runner first.

    The clock starts once every thread has its runner (so `open_dispatcher()` is not timed)
    and stops when the last lifecycle is done. Ctrl-C lets running lifecycles finish.
    """
    jobs = itertools.count()
    ready = threading.Barrier(workers + 1)
    stop = threading.Event()
    errors: list[str] = []

    def worker() -> None:
        run: Callable[[], object] | None = None
        try:
            run = setup()
        except Exception as exc:  # noqa: BLE001
            errors.append(f"setup: {type(exc).__name__}: {exc}")
        try:
            ready.wait()
        except threading.BrokenBarrierError:
            return
        while not stop.is_set() and next(jobs) < count:
            if run is None:
                errors.append("no runner (setup failed)")
                continue
            try:
                run()
            except Exception as exc:  # noqa: BLE001 - count it and go on
                errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    try:
        ready.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
    except BaseException:
        stop.set()
        ready.abort()
        for t in threads:
            t.join()
        raise
    ok = count - len([e for e in errors if not e.startswith("setup:")])
    return {
        "containers": count,
        "workers": workers,
        "ok": ok,
        "failed": count - ok,
        "first_error": errors[0] if errors else None,
        "wall_s": wall,
        "per_s": ok / wall if wall else None,
    }


def bench_concurrent(bench: Bench, runtime: str, count: int, workers: int) -> dict[str, Any]:
    """`count` lifecycles on `workers` threads: the floor (one --root, as ocimux has), then the API."""
    log(f"[{runtime}] concurrent: {count} containers, {workers} workers")
    out: dict[str, Any] = {}
    setups: dict[str, Callable[[], Callable[[], object]]] = {}
    try:
        floor = make_floor(bench, runtime, "conc")
        setups["floor"] = lambda: floor.lifecycle
    except Exception as exc:  # noqa: BLE001
        out["floor"] = {"error": f"{type(exc).__name__}: {exc}"}
    setups["api"] = lambda: ApiRunner(bench, runtime)
    for key, setup in setups.items():
        try:
            out[key] = throughput(count, workers, setup)
        except Exception as exc:  # noqa: BLE001
            out[key] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


def print_concurrent(runtime: str, conc: dict[str, Any]) -> None:
    print(f"\n== {runtime}: concurrent throughput ==")
    for key, label in (("floor", LABELS["floor"]), ("api", LABELS["api"] + ", 1 per thread")):
        r = conc.get(key, {})
        if "error" in r:
            print(f"{label:44} error: {r['error']}")
            continue
        fail = f"  ({r['failed']} failed: {r['first_error'][:80]})" if r["failed"] else ""
        print(
            f"{label:44} {r['ok']}/{r['containers']} on {r['workers']} threads: "
            f"{r['wall_s']:6.2f} s wall, {r['per_s']:6.1f} containers/s{fail}"
        )
    f, a = conc.get("floor", {}), conc.get("api", {})
    if f.get("per_s") and a.get("per_s"):
        print(f"  api/floor throughput {a['per_s'] / f['per_s']:.2f}")


# --- cleanup ---------------------------------------------------------------------------------


def cleanup(bench: Bench | None, work: Path, keep: bool) -> None:
    """Remove every container, conmon, mount and file this run made (best effort, bounded)."""
    if bench is not None:
        for floor in bench.floors:
            floor.cleanup()
        try:
            import ocimux

            d = ocimux.open_dispatcher(environ=bench.api_environ)
            for rec in d.store.list_containers():
                try:
                    d.delete(rec.id, force=True, timeout=0)
                except Exception as exc:  # noqa: BLE001
                    log(f"cleanup: ocimux rm -f {rec.id[:12]}: {exc}")
        except Exception as exc:  # noqa: BLE001
            log(f"cleanup: ocimux: {exc}")
        for rt in RUNTIMES:
            path = binary(rt)
            if path:
                sweep_root(path, work / "run" / "runtimes" / rt, bench.timeout)
        if bench.podman and (work / "p").exists():
            try:
                run_cmd(bench.podman_argv("", "rm", "-af"), bench.timeout, podman_env())
            except Exception as exc:  # noqa: BLE001
                log(f"cleanup: podman rm -af: {exc}")
    for pid in conmons_under(work):
        kill_if_conmon(pid)
    for mount in mounts_under(work):
        subprocess.run(["umount", "-l", mount], timeout=30, check=False)  # noqa: S603, S607
    if keep:
        log(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


def conmons_under(work: Path) -> list[int]:
    """Pids of conmon processes whose command line names a path in `work` (ours)."""
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
        if cmd.split(b"\0", 1)[0].endswith(b"conmon") and marker in cmd:
            out.append(int(entry))
    return out


def mounts_under(work: Path) -> list[str]:
    """Mount points inside `work`, deepest first."""
    out = []
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as fh:
            for line in fh:
                point = line.split()[4].replace("\\040", " ")
                if point == str(work) or point.startswith(f"{work}/"):
                    out.append(point)
    except OSError:
        pass
    return sorted(out, key=len, reverse=True)


# --- main ------------------------------------------------------------------------------------


def versions(bench: Bench) -> dict[str, str]:
    out = {"python": platform.python_version(), "kernel": platform.release()}
    try:
        import ocimux

        out["ocimux"] = ocimux.__version__
    except Exception:  # noqa: BLE001
        pass
    for name in ("runc", "crun", "conmon", "podman"):
        path = binary(name)
        if not path:
            continue
        try:
            text = subprocess.run(  # noqa: S603 - argv list
                [path, "--version"], capture_output=True, timeout=10, check=False
            ).stdout.decode(errors="replace")
            out[name] = (text.strip().splitlines() or ["?"])[0]
        except (OSError, subprocess.TimeoutExpired):
            pass
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=20, help="lifecycles per mode (default 20)")
    p.add_argument("--runtime", default="crun", choices=(*RUNTIMES, "all"))
    p.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    p.add_argument("--skip-concurrent", action="store_true", help="skip the throughput run")
    p.add_argument("--concurrent", type=int, default=50, help="containers in the throughput run")
    p.add_argument("--workers", type=int, default=4, help="threads in the throughput run")
    p.add_argument(
        "--modes",
        default=",".join(ORDER),
        help=f"comma-separated subset of {','.join(ORDER)} (default: all)",
    )
    p.add_argument(
        "--profile", action="store_true", help="also profile (b) with cProfile and (c) imports"
    )
    p.add_argument(
        "--order",
        choices=("shuffled", "fixed"),
        default="shuffled",
        help="order of the modes within each round (default: shuffled, see README)",
    )
    p.add_argument("--seed", type=int, default=1, help="seed for --order shuffled")
    p.add_argument(
        "--settle",
        type=float,
        default=0.0,
        metavar="MS",
        help="pause before every measured lifecycle, so each starts from an idle machine",
    )
    p.add_argument("--timeout", type=float, default=60.0, help="seconds any one command may take")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument(
        "--inherit-bytecode",
        action="store_true",
        help="leave PYTHONDONTWRITEBYTECODE as it is (default: CLI calls get a private .pyc cache)",
    )
    args = p.parse_args(argv)
    if args.n < 1 or args.concurrent < 1 or args.workers < 1:
        p.error("--n, --concurrent and --workers must be at least 1")
    args.modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    unknown = set(args.modes) - set(ORDER)
    if unknown:
        p.error(f"unknown mode(s) {', '.join(sorted(unknown))}; choose from {', '.join(ORDER)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        log("lifecycle.py: runc/crun under conmon need root")
        return 2
    runtimes = RUNTIMES if args.runtime == "all" else (args.runtime,)

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    work = Path(tempfile.mkdtemp(prefix="omb-", dir="/tmp"))
    bench: Bench | None = None
    result: dict[str, Any] = {
        "n": args.n,
        "order": args.order if args.order == "fixed" else f"shuffled, seed {args.seed}",
        "runtimes": {},
        "targets": TARGETS,
    }
    status = 0
    try:
        bench = prepare(work, runtimes, args.timeout, inherit_bytecode=args.inherit_bytecode)
        result["bytecode"] = (
            "as inherited (PYTHONDONTWRITEBYTECODE="
            f"{os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r})"
            if args.inherit_bytecode
            else "cached in the temporary directory (as an installed ocimux)"
        )
        result["versions"] = versions(bench)
        result["nproc"] = os.cpu_count()
        result["loadavg_start"] = os.getloadavg()
        for rt in runtimes:
            modes = bench_runtime(
                bench, rt, args.n, args.modes, args.order, args.seed, args.settle / 1e3
            )
            report = {m.key: mode_report(m) for m in modes}
            entry: dict[str, Any] = {"modes": report, "ratios": ratios(report)}
            if not args.skip_concurrent:
                entry["concurrent"] = bench_concurrent(bench, rt, args.concurrent, args.workers)
            if args.profile:
                entry["profile"] = run_profiles(bench, rt, args.n)
            result["runtimes"][rt] = entry
        result["loadavg_end"] = os.getloadavg()
    except KeyboardInterrupt:
        log("interrupted: cleaning up")
        status = 130
    finally:
        cleanup(bench, work, args.keep)
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        print_result(result)
    return status


def run_profiles(bench: Bench, runtime: str, n: int) -> dict[str, Any]:
    """The --profile part: (b) split by phase and under cProfile, (c) imports and cProfile."""
    log(f"[{runtime}] profiling")
    cli = ocimux_cli()
    argv = cli_argv(bench, runtime)
    target = ["-m", "ocimux.cli"] if cli[0] == sys.executable else [cli[0]]
    out: dict[str, Any] = {}
    api: ApiRunner | None = None
    jobs: list[tuple[str, Callable[[], str]]] = [
        ("api_phases", lambda: profiling.api_phases(api.dispatcher, runtime, api, n)),
        ("api_cprofile", lambda: profiling.api_cprofile(runtime, api, n)),
        (
            "cli_phases",
            lambda: profiling.cli_phases(
                sys.executable, argv[len(cli) :], runtime, bench.work, bench.timeout, n
            ),
        ),
        ("cli_importtime", lambda: profiling.cli_importtime(argv, runtime, bench.timeout)),
        (
            "cli_cprofile",
            lambda: profiling.cli_cprofile(
                sys.executable, target, argv[len(cli) :], runtime, bench.work, bench.timeout
            ),
        ),
    ]
    for key, job in jobs:
        try:
            if api is None and key.startswith("api"):
                api = ApiRunner(bench, runtime)
                api()  # warm: plugin import, probes, directories
            out[key] = job()
        except Exception as exc:  # noqa: BLE001
            out[key] = f"{key} failed: {type(exc).__name__}: {exc}\n"
    return out


def print_result(result: dict[str, Any]) -> None:
    v = result.get("versions", {})
    print("versions: " + ", ".join(f"{k} {val}" for k, val in v.items()))
    start, end = result.get("loadavg_start"), result.get("loadavg_end")
    if start:
        la = f"loadavg {start[0]:.2f} at start" + (f", {end[0]:.2f} at end" if end else "")
        print(
            f"N={result['n']} rounds ({result.get('order')} order), "
            f"{result.get('nproc')} CPUs, {la}"
        )
    if result.get("bytecode"):
        print(f"python bytecode for subprocesses: {result['bytecode']}")
    for rt, entry in result["runtimes"].items():
        print_runtime(rt, entry["modes"], entry["ratios"])
        if "concurrent" in entry:
            print_concurrent(rt, entry["concurrent"])
        for text in entry.get("profile", {}).values():
            print()
            print(text, end="")


if __name__ == "__main__":
    sys.exit(main())
