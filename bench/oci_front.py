#!/usr/bin/env python3
"""Per verb, how much `ocimux-oci` (crun backend) adds to `crun` itself (issue 16).

Each round runs one container's life on crun directly and through `ocimux-oci --backend crun`,
timing each call as a fresh process: create, start, state, exec (`/bin/true`), ps, pause,
resume, kill, delete. Prints the median per verb over --runs rounds, the difference, and
whether it meets the target (front ≤ crun + 25 ms). With --podman, also `podman run --rm`
with `--runtime ocimux-oci` against `--runtime crun`.

`ocimux-oci` is taken from --front, else from a fresh venv with `pip install .` of this tree
(--install, what a user gets; an editable install adds a path hook's imports), else the
console script next to `sys.executable`. The configuration is the built-in one plus crun as
the default runtime, in a temporary CONTAINERS_CONF; the cache is warmed first.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess  # noqa: TID251 - a benchmark outside the package drives processes itself
import sys
import tempfile
import time
from pathlib import Path

TARGET_MS = 25.0
VERBS = ("create", "start", "state", "exec", "ps", "pause", "resume", "kill", "delete")
REPO = Path(__file__).resolve().parents[1]


def timed(argv: list[str], env: dict[str, str]) -> float:
    """Milliseconds for one call; stdio to files (create hands its stdio to the container)."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err, env=env)  # fmt: skip
        # a blocking wait: wait(timeout=) polls with sleeps growing to 50 ms
        code = proc.wait()
        elapsed = (time.perf_counter() - start) * 1000
        if code != 0:
            err.seek(0)
            raise SystemExit(f"failed: {' '.join(argv)}: {err.read().decode(errors='replace')}")
    return elapsed


def wait_stopped(crun_root: str, cid: str) -> None:
    for _ in range(200):
        done = subprocess.run(["crun", "--root", crun_root, "state", cid], capture_output=True,
                              text=True, timeout=30, check=False)  # fmt: skip
        if done.returncode != 0 or json.loads(done.stdout)["status"] == "stopped":
            return
        time.sleep(0.02)


def one_life(
    prefix: list[str], crun_root: str, bundle: Path, cid: str, env: dict[str, str]
) -> dict[str, float]:
    out: dict[str, float] = {}
    out["create"] = timed([*prefix, "create", "--bundle", str(bundle), cid], env)
    out["start"] = timed([*prefix, "start", cid], env)
    out["state"] = timed([*prefix, "state", cid], env)
    out["exec"] = timed([*prefix, "exec", cid, "/bin/true"], env)
    out["ps"] = timed([*prefix, "ps", "--format", "json", cid], env)
    out["pause"] = timed([*prefix, "pause", cid], env)
    out["resume"] = timed([*prefix, "resume", cid], env)
    out["kill"] = timed([*prefix, "kill", cid, "KILL"], env)
    wait_stopped(crun_root, cid)
    out["delete"] = timed([*prefix, "delete", cid], env)
    return out


def install_front(tmp: Path) -> str:
    """`pip install .` of this tree into a fresh venv; return its ocimux-oci."""
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(REPO)], check=True, timeout=900)
    return str(venv / "bin" / "ocimux-oci")


def make_bundle(tmp: Path) -> Path:
    from ocimux.oci.rootfs import build_busybox_rootfs

    rootfs = build_busybox_rootfs(tmp / "rootfs")
    bundle = tmp / "bundle"
    bundle.mkdir()
    subprocess.run(["crun", "spec", "--bundle", str(bundle)], check=True, timeout=30)
    spec = json.loads((bundle / "config.json").read_text())
    spec["process"].update(terminal=False, args=["/bin/sleep", "100"])
    spec["root"] = {"path": str(rootfs), "readonly": True}
    (bundle / "config.json").write_text(json.dumps(spec))
    return bundle


def podman_runs(front: str, tmp: Path, env: dict[str, str], runs: int) -> tuple[float, float]:
    base = Path(tempfile.mkdtemp(prefix="oqb", dir="/tmp"))  # podman wants a short runroot
    try:
        shutil.copytree(tmp / "rootfs", base / "rootfs", symlinks=True)
        cmd = ["podman", "--root", str(base / "st"), "--runroot", str(base / "rr"),
               "--tmpdir", str(base / "tmp"), "--storage-driver", "vfs",
               "--cgroup-manager", "cgroupfs", "--events-backend", "file"]  # fmt: skip
        tail = ["--network", "none", "--ulimit", "nofile=20000:20000",
                "--ulimit", "nproc=32768:32768", "--rootfs", str(base / "rootfs"), "/bin/true"]  # fmt: skip
        medians = []
        for runtime in (["--runtime", front, "--annotation", "io.ocimux.runtime=crun"],
                        ["--runtime", "crun"]):  # fmt: skip
            timed([*cmd, "run", "--rm", *runtime, *tail], env)  # warm-up
            medians.append(statistics.median(
                timed([*cmd, "run", "--rm", *runtime, *tail], env) for _ in range(runs)))  # fmt: skip
        return medians[0], medians[1]
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--front", help="the ocimux-oci to time")
    parser.add_argument("--install", action="store_true", help="pip install . into a temp venv")
    parser.add_argument("--podman", action="store_true", help="also podman run --rm")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ocimux-bench-oci-") as name:
        tmp = Path(name)
        front = args.front or (install_front(tmp) if args.install else
                               str(Path(sys.executable).with_name("ocimux-oci")))  # fmt: skip
        conf = tmp / "containers.conf"
        conf.write_text('[engine]\nruntime = "crun"\n')
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("OCIMUX_", "CONTAINERS_CONF"))
        }
        env.update(CONTAINERS_CONF=str(conf), OCIMUX_CACHE_DIR=str(tmp / "cache"))
        bundle = make_bundle(tmp)
        front_root, crun_root = str(tmp / "front"), str(tmp / "crun")
        direct = ["crun", "--root", crun_root]
        via = [front, "--root", front_root, "--backend", "crun"]
        backend_root = f"{front_root}/ocimux/backends/crun"
        one_life(via, backend_root, bundle, "warm", env)  # cache, probes, page cache
        one_life(direct, crun_root, bundle, "warm", env)
        ref = statistics.median(
            timed([sys.executable, "-c", "pass"], env) for _ in range(args.runs)
        )
        times: dict[str, dict[str, list[float]]] = {"front": {}, "crun": {}}
        for i in range(args.runs):
            for key, prefix, root in (("front", via, backend_root), ("crun", direct, crun_root)):
                for verb, ms in one_life(prefix, root, bundle, f"c{i}", env).items():
                    times[key].setdefault(verb, []).append(ms)
        print(f"ocimux-oci: {front}   runs: {args.runs}   python -c pass: {ref:.1f} ms")
        print(
            f"{'verb':8} {'crun ms':>8} {'front ms':>9} {'added':>7}  target (crun + {TARGET_MS:.0f} ms)"
        )
        missed = 0
        for verb in VERBS:
            c = statistics.median(times["crun"][verb])
            f = statistics.median(times["front"][verb])
            ok = f <= c + TARGET_MS
            missed += not ok
            print(f"{verb:8} {c:8.1f} {f:9.1f} {f - c:7.1f}  {'met' if ok else 'MISSED'}")
        if args.podman and shutil.which("podman"):
            via_podman, crun_podman = podman_runs(front, tmp, env, args.runs)
            ok = via_podman <= crun_podman + TARGET_MS
            missed += not ok
            print(
                f"{'podman run --rm':16} crun {crun_podman:.0f} ms, ocimux-oci {via_podman:.0f} ms, "
                f"added {via_podman - crun_podman:.0f} ms  {'met' if ok else 'MISSED'}"
            )
        print(
            f"{len(VERBS) - missed if not args.podman else len(VERBS) + 1 - missed} met, {missed} missed"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
