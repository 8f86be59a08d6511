"""Where ocimux spends its time beyond the runtime: the `--profile` part of lifecycle.py.

- `api_phases`: one `Dispatcher.run` split into what it waits for (conmon, each runtime verb,
  the container itself, sleeps) and what is left — ocimux's own Python — by wrapping a few
  functions of the loaded modules in this process only (nothing in the package changes).
- `api_cprofile`: the same runs under cProfile, top 25 by cumulative time.
- `cli_importtime`: one `ocimux run --rm` with `-X importtime`, top 15 imports by cumulative time.
- `cli_cprofile`: one warm `ocimux run --rm` under `python -m cProfile`, top 25 cumulative.
- `cli_phases`: `ocimux run --rm` through `cli_child.py`, timed stage by stage.
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from floor import run_exact

__all__ = ["api_cprofile", "api_phases", "cli_cprofile", "cli_importtime", "cli_phases"]

#: runtime verbs told apart in the phase split (anything else is named by its binary)
_VERBS = ("create", "start", "state", "delete", "kill", "list", "ps", "pause", "resume")


# --- (b): a phase split by wrapping ----------------------------------------------------------


class _Buckets:
    """Time per bucket; a call inside another bucket's call is not counted twice."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._inside = threading.local()

    def wrap(self, name: str | Callable[..., str], fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if getattr(self._inside, "on", False):
                return fn(*args, **kwargs)
            self._inside.on = True
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                key = name(*args, **kwargs) if callable(name) else name
                self.ms[key] += (time.perf_counter() - t0) * 1e3
                self.calls[key] += 1
                self._inside.on = False

        return wrapper


def _verb_of(argv: Any, *args: Any, **kwargs: Any) -> str:
    words = [os.fspath(a) for a in argv]
    verb = next((w for w in words[1:] if w in _VERBS), None)
    return f"runtime {verb}" if verb else f"run {os.path.basename(words[0])}"


@contextmanager
def _patched(targets: list[tuple[Any, str, Callable[..., Any]]]) -> Iterator[None]:
    saved = [(obj, attr, getattr(obj, attr)) for obj, attr, _ in targets]
    try:
        for obj, attr, new in targets:
            setattr(obj, attr, new)
        yield
    finally:
        for obj, attr, old in reversed(saved):
            setattr(obj, attr, old)


def api_phases(dispatcher: Any, runtime: str, run: Callable[[], None], n: int) -> str:
    """Run `run` (one `Dispatcher.run`) `n` times with the waits timed; return a table (ms/run)."""
    from ocimux.base import process
    from ocimux.io import attach
    from ocimux.oci import conmon

    b = _Buckets()
    rt = dispatcher.registry.get(runtime)
    store = dispatcher.store
    store_methods = [
        name
        for name in dir(type(store))
        if not name.startswith("_") and callable(getattr(store, name)) and name != "lock"
    ]
    wanted: list[tuple[Any, str, str | Callable[..., str]]] = [
        (conmon, "launch", "conmon: launch → sync pipe {data: pid}"),
        (process, "run", _verb_of),
        (attach, "_relay", "attach socket open until EOF"),
        (time, "sleep", lambda s: f"time.sleep({s:g})"),
        (rt, "_reap_conmon", "wait for conmon to exit"),
        *[(store, m, f"store (SQLite): {m}") for m in store_methods],
    ]
    # the package changes under us: wrap what exists, say what does not
    targets = [(obj, attr, b.wrap(name, getattr(obj, attr))) for obj, attr, name in wanted
               if hasattr(obj, attr)]  # fmt: skip
    missing = [attr for obj, attr, _ in wanted if not hasattr(obj, attr)]
    totals = []
    with _patched(targets):
        for _ in range(n):
            t0 = time.perf_counter()
            run()
            totals.append((time.perf_counter() - t0) * 1e3)
    total = statistics.fmean(totals)
    out = io.StringIO()
    out.write(
        f"(b) one `Dispatcher.run` on {runtime}, split by what it waits for; "
        f"mean of {n} runs, ms per run:\n"
    )
    if missing:
        out.write(f"  (not found, so not split out: {', '.join(missing)})\n")
    out.write(f"  {'total':52} {total:7.2f}\n")
    accounted = 0.0
    for key in sorted(b.ms, key=lambda k: -b.ms[k]):
        per = b.ms[key] / n
        accounted += per
        out.write(f"  {key:52} {per:7.2f}   {b.calls[key] / n:4.1f} calls\n")
    out.write(
        f"  {'rest: ocimux Python (dispatcher, spec, bundle, locks)':52} {total - accounted:7.2f}\n"
    )
    return out.getvalue()


# --- (b): cProfile ---------------------------------------------------------------------------


def api_cprofile(runtime: str, run: Callable[[], None], n: int) -> str:
    """Run `run` `n` times under cProfile; return the top 25 entries by cumulative time."""
    prof = cProfile.Profile()
    prof.enable()
    try:
        for _ in range(n):
            run()
    finally:
        prof.disable()
    buf = io.StringIO()
    buf.write(f"(b) ocimux API on {runtime}, {n} runs under cProfile, top 25 cumulative:\n")
    pstats.Stats(prof, stream=buf).strip_dirs().sort_stats("cumulative").print_stats(25)
    return _trim(buf.getvalue())


# --- (c): imports and cProfile of one CLI call -----------------------------------------------


def cli_importtime(argv: list[str], runtime: str, timeout: float) -> str:
    """Run `argv` once with -X importtime (after a warm-up); return the top 15 imports."""
    _run(argv, timeout, None)
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    t0 = time.perf_counter()
    text = _run(argv, timeout, env)
    wall = (time.perf_counter() - t0) * 1e3
    rows = []
    for line in text.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        # "import time: <self us> | <cumulative us> | <2 spaces per level><module>"
        self_us, cum_us, name = line.removeprefix("import time:").split("|", 2)
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        rows.append((name.strip(), int(self_us) / 1e3, int(cum_us) / 1e3, depth))
    top_level = sum(cum for _, _, cum, depth in rows if depth == 0)
    ocimux_top = sum(
        cum for name, _, cum, depth in rows if depth == 0 and name.split(".")[0] == "ocimux"
    )
    out = io.StringIO()
    out.write(
        f"(c) `ocimux run --rm` on {runtime} with -X importtime: {wall:.0f} ms wall; "
        f"{len(rows)} modules, {top_level:.1f} ms importing in all, "
        f"{ocimux_top:.1f} ms of it under top-level ocimux imports; top 15 by cumulative:\n"
    )
    out.write(f"  {'cumulative ms':>13} {'self ms':>8}  module\n")
    for name, self_ms, cum, depth in sorted(rows, key=lambda r: -r[2])[:15]:
        out.write(f"  {cum:13.1f} {self_ms:8.1f}  {'  ' * depth}{name}\n")
    return out.getvalue()


def cli_cprofile(python: str, target: list[str], rest: list[str], runtime: str, work: Path,
                 timeout: float) -> str:  # fmt: skip
    """Run `python -m cProfile TARGET REST` warm; return the top 25 entries by cumulative time."""
    prof_file = work / "cli.prof"
    argv = [python, "-m", "cProfile", "-o", str(prof_file), *target, *rest]
    # `-m cProfile` puts the script's directory on sys.path, which is part of the warm cache's
    # key: the first call refills the cache, the second is the warm one we want to see
    _run(argv, timeout, None)
    _run(argv, timeout, None)
    buf = io.StringIO()
    buf.write(f"(c) `ocimux run --rm` on {runtime}, warm, under cProfile, top 25 cumulative:\n")
    pstats.Stats(str(prof_file), stream=buf).strip_dirs().sort_stats("cumulative").print_stats(25)
    return _trim(buf.getvalue())


# --- (c): where one CLI call goes, by stamps from inside ------------------------------------

_SEGMENTS = (
    ("ready", "exec python, interpreter start-up, site and .pth files"),
    ("cli_imported", "import ocimux.cli (argparse, ocimux package)"),
    ("session_imported", "import ocimux.engine.session (dispatcher, store, registry, ...)"),
    ("open_start", "argparse, until open_dispatcher"),
    ("open_end", "open_dispatcher (warm cache: stat sys.path, read JSON, Store)"),
    ("run_start", "build NewContainer, until Dispatcher.run"),
    ("run_end", "Dispatcher.run (incl. lazy imports of spec, bundle, plugin)"),
    ("main_end", "after run: close the store, return"),
    ("exit", "interpreter shutdown until the parent sees the exit"),
)


def cli_phases(python: str, rest: list[str], runtime: str, work: Path, timeout: float,
               n: int) -> str:  # fmt: skip
    """Run the CLI `n` times through cli_child.py; return the median time of each stage."""
    child = Path(__file__).with_name("cli_child.py")
    stamps_file = work / "cli-stamps.json"
    argv = [python, str(child), str(stamps_file), *rest]
    _run(argv, timeout, None)  # its sys.path differs from the console script's: refill the cache
    rows: list[dict[str, float]] = []
    for _ in range(n):
        t0 = time.monotonic()
        _run(argv, timeout, None)
        t_exit = time.monotonic()
        stamps = json.loads(stamps_file.read_text())
        stamps["exit"] = t_exit
        row, last = {}, t0
        for key, _label in _SEGMENTS:
            row[key] = (stamps[key] - last) * 1e3
            last = stamps[key]
        row["total"] = (t_exit - t0) * 1e3
        rows.append(row)
    out = io.StringIO()
    out.write(
        f"(c) one `ocimux run --rm` on {runtime}, stage by stage (cli_child.py); "
        f"median of {n}, ms:\n"
    )
    for key, label in (*_SEGMENTS, ("total", "total (the stages' medians need not add up)")):
        out.write(f"  {label:66} {statistics.median(r[key] for r in rows):7.1f}\n")
    return out.getvalue()


def _run(argv: list[str], timeout: float, env: dict[str, str] | None) -> str:
    """Run to completion; return its stderr; raise on a non-zero status."""
    code, err = run_exact(argv, timeout, env)
    text = err.decode(errors="replace")
    if code != 0:
        raise RuntimeError(f"exit {code}: {text.strip()[-300:]}")
    return text


def _trim(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip() and "Ordered by" not in ln]
    return "\n".join(ln for ln in lines if not ln.startswith("   List reduced")) + "\n"
