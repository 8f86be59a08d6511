#!/usr/bin/env python3
"""Soak ocimux: many CLI and HTTP clients for minutes, then count what went wrong and what leaked.

16 CLI workers (each an `ocimux` subprocess per step) and 16 HTTP workers (the Docker API of one
`ocimux serve` on a unix socket) loop over the runtimes given, each iteration one of:

  run      `run --rm ROOTFS sh -c 'exit N'` / create+start+wait+delete: the exit code must be N
  exec     a detached container, `exec` with a known exit code and output, then `rm -f`
  logs     a container that prints a token and exits; `logs` must show it
  kill     a detached `sleep`, `kill -s KILL` (exit 137 expected), then `rm -f`

Every failure is counted by kind: `lost-exit` (an exit code other than the one the container
chose), `lost-output`, `error` (a non-zero ocimux exit or HTTP status, with its first line).
At the start and at the end it records the server's RSS, fds and threads, and the processes
(conmon, shims, mock shims) and mounts that belong to the soak's state; after the clients stop
and every container is removed, anything still there is a leak.

Everything lives in one temporary directory, removed at the end (also after Ctrl-C). Use the
`python` that has ocimux installed as the README installs it (`pip install .`).

    python bench/soak.py                        # 10 minutes, crun, runc, runc-shim, mock
    python bench/soak.py --minutes 1 --runtimes crun,mock --cli 4 --http 4
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess  # noqa: TID251 - a benchmark outside the package drives processes itself
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

RUNTIMES = ("crun", "runc", "runc-shim", "mock")
STEP_TIMEOUT = 60.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def ocimux_cli() -> list[str]:
    """The `ocimux` console script next to this interpreter, else `python -m ocimux.cli`."""
    script = Path(sys.executable).with_name("ocimux")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "ocimux.cli"]


class World:
    """The soak's temporary state: config, rootfs, environment, server."""

    def __init__(self, work: Path, runtimes: list[str]) -> None:
        self.work = work
        self.state = work / "state"
        self.run_dir = work / "run"
        self.rootfs = work / "rootfs"
        self.runtimes = runtimes
        conf = work / "containers.conf"
        conf.write_text(
            f'[engine]\nruntime = "{runtimes[0]}"\n\n'
            f'[ocimux]\nstate_dir = "{self.state}"\nrun_dir = "{self.run_dir}"\n'
        )
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("OCIMUX_", "CONTAINERS_CONF"))
        }
        self.env.update(CONTAINERS_CONF=str(conf), OCIMUX_CACHE_DIR=str(work / "cache"))
        self.socket = Path(tempfile.mkdtemp(prefix="soak-", dir="/tmp")) / "s.sock"
        self.server: subprocess.Popen[bytes] | None = None

    def ocimux(self, *args: str, timeout: float = STEP_TIMEOUT) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*ocimux_cli(), *args], env=self.env, capture_output=True, text=True,
            timeout=timeout, stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip

    def prepare(self) -> None:
        from ocimux.oci.rootfs import build_busybox_rootfs

        build_busybox_rootfs(self.rootfs)
        done = self.ocimux("image", "add", "busybox", str(self.rootfs), "--cmd", "sh")
        if done.returncode != 0:
            raise SystemExit(f"image add failed: {done.stderr.strip()}")

    def start_server(self) -> None:
        self.server = subprocess.Popen(
            [*ocimux_cli(), "serve", "--socket", str(self.socket)], env=self.env,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(self.work / "serve.log", "wb"),  # noqa: SIM115 - lives as long as the server
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if http_call(self.socket, "GET", "/_ping")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit("ocimux serve did not answer /_ping in 20 s")

    def stop_server(self) -> int | None:
        if self.server is None:
            return None
        self.server.send_signal(signal.SIGTERM)
        try:
            return self.server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.server.kill()
            return self.server.wait()


# --- HTTP ------------------------------------------------------------------------------------


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = str(path)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def http_call(
    sock: Path, method: str, path: str, body: Any = None, timeout: float = STEP_TIMEOUT
) -> tuple[int, bytes]:
    conn = UnixConnection(sock, timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def demux(raw: bytes) -> bytes:
    """Docker's multiplexed stream (8-byte headers) to plain bytes."""
    out, i = bytearray(), 0
    while i + 8 <= len(raw):
        size = int.from_bytes(raw[i + 4 : i + 8], "big")
        out += raw[i + 8 : i + 8 + size]
        i += 8 + size
    return bytes(out)


# --- the workers -----------------------------------------------------------------------------


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = collections.Counter[str]()
        self.failures = collections.Counter[str]()
        self.examples: dict[str, str] = {}

    def ok(self, what: str) -> None:
        with self.lock:
            self.requests[what] += 1

    def fail(self, what: str, kind: str, detail: str) -> None:
        with self.lock:
            self.requests[what] += 1
            self.failures[kind] += 1
            self.examples.setdefault(kind, f"{what}: {detail[:200]}")


def cli_step(w: World, t: Tally, rng: random.Random, rt: str, n: int) -> None:
    name = f"c{n}"
    op = rng.choice(("run", "exec", "logs", "kill"))
    what = f"cli {op} {rt}"
    code = rng.randrange(0, 100)
    if op == "run":
        done = w.ocimux(
            "run", "--rm", "--runtime", rt, "--rootfs", str(w.rootfs), "sh", "-c", f"exit {code}"
        )
        if done.returncode != code:
            return t.fail(
                what, "lost-exit", f"expected {code}, got {done.returncode}: {done.stderr.strip()}"
            )
        return t.ok(what)
    if op == "logs":
        token = f"tok{n}"
        done = w.ocimux(
            "run", "--name", name, "--runtime", rt, "--rootfs", str(w.rootfs), "echo", token
        )
        logs = w.ocimux("logs", name)
        w.ocimux("rm", "-f", name)
        if done.returncode != 0:
            return t.fail(what, "error", done.stderr.strip())
        if token not in logs.stdout:
            return t.fail(what, "lost-output", f"logs: {logs.stdout!r} {logs.stderr.strip()}")
        return t.ok(what)
    done = w.ocimux(
        "run", "-d", "--name", name, "--runtime", rt, "--rootfs", str(w.rootfs), "sleep", "60"
    )
    if done.returncode != 0:
        return t.fail(what, "error", done.stderr.strip())
    try:
        if op == "exec":
            ex = w.ocimux("exec", name, "sh", "-c", f"echo out{n}; exit {code}")
            if ex.returncode != code:
                return t.fail(
                    what,
                    "lost-exit",
                    f"exec expected {code}, got {ex.returncode}: {ex.stderr.strip()}",
                )
            if f"out{n}" not in ex.stdout:
                return t.fail(what, "lost-output", f"exec stdout {ex.stdout!r}")
        else:
            k = w.ocimux("kill", "-s", "KILL", name)
            if k.returncode != 0:
                return t.fail(what, "error", k.stderr.strip())
            ps = w.ocimux("inspect", name)
            info = json.loads(ps.stdout)[0] if ps.returncode == 0 else {}
            if info.get("exit_code") != 137 and ps.returncode == 0:
                return t.fail(
                    what, "lost-exit", f"after kill: {info.get('status')} {info.get('exit_code')}"
                )
        t.ok(what)
    finally:
        rm = w.ocimux("rm", "-f", name)
        if rm.returncode != 0:
            t.fail(f"cli rm {rt}", "error", rm.stderr.strip())


def http_step(w: World, t: Tally, rng: random.Random, rt: str, n: int) -> None:
    op = rng.choice(("run", "exec", "logs", "kill"))
    what = f"http {op} {rt}"
    code = rng.randrange(0, 100)
    cmd = {
        "run": ["sh", "-c", f"exit {code}"],
        "logs": ["echo", f"tok{n}"],
    }.get(op, ["sleep", "60"])
    body = {"Image": "busybox", "Cmd": cmd, "HostConfig": {"Runtime": rt}}
    status, raw = http_call(w.socket, "POST", f"/containers/create?name=h{n}", body)
    if status != 201:
        return t.fail(what, "error", f"create {status}: {raw[:200]!r}")
    cid = json.loads(raw)["Id"]
    try:
        status, raw = http_call(w.socket, "POST", f"/containers/{cid}/start")
        if status != 204:
            return t.fail(what, "error", f"start {status}: {raw[:200]!r}")
        if op in ("run", "logs"):
            status, raw = http_call(w.socket, "POST", f"/containers/{cid}/wait")
            got = json.loads(raw).get("StatusCode") if status == 200 else None
            want = code if op == "run" else 0
            if got != want:
                return t.fail(what, "lost-exit", f"wait {status}: expected {want}, got {got}")
            if op == "logs":
                status, raw = http_call(
                    w.socket, "GET", f"/containers/{cid}/logs?stdout=1&stderr=1"
                )
                if f"tok{n}".encode() not in demux(raw):
                    return t.fail(what, "lost-output", f"logs {status}: {raw[:200]!r}")
        elif op == "exec":
            status, raw = http_call(
                w.socket, "POST", f"/containers/{cid}/exec",
                {"Cmd": ["sh", "-c", f"echo out{n}; exit {code}"], "AttachStdout": True},
            )  # fmt: skip
            if status != 201:
                return t.fail(what, "error", f"exec create {status}: {raw[:200]!r}")
            eid = json.loads(raw)["Id"]
            status, raw = http_call(w.socket, "POST", f"/exec/{eid}/start", {"Detach": False})
            if f"out{n}".encode() not in demux(raw):
                return t.fail(what, "lost-output", f"exec start {status}: {raw[:200]!r}")
            status, raw = http_call(w.socket, "GET", f"/exec/{eid}/json")
            got = json.loads(raw).get("ExitCode") if status == 200 else None
            if got != code:
                return t.fail(
                    what, "lost-exit", f"exec inspect {status}: expected {code}, got {got}"
                )
        else:
            status, raw = http_call(w.socket, "POST", f"/containers/{cid}/kill?signal=KILL")
            if status != 204:
                return t.fail(what, "error", f"kill {status}: {raw[:200]!r}")
            status, raw = http_call(w.socket, "POST", f"/containers/{cid}/wait")
            got = json.loads(raw).get("StatusCode") if status == 200 else None
            if got != 137:
                return t.fail(what, "lost-exit", f"wait after kill {status}: got {got}")
        t.ok(what)
    finally:
        status, raw = http_call(w.socket, "DELETE", f"/containers/{cid}?force=1")
        if status != 204:
            t.fail(f"http rm {rt}", "error", f"delete {status}: {raw[:200]!r}")


def worker(kind: str, index: int, w: World, t: Tally, until: float, seed: int) -> None:
    rng = random.Random(seed * 1000 + index)
    n = 0
    while time.monotonic() < until:
        rt = w.runtimes[n % len(w.runtimes)]
        n += 1
        step = cli_step if kind == "cli" else http_step
        try:
            step(w, t, rng, rt, index * 1_000_000 + n)
        except Exception as exc:  # noqa: BLE001 - one step's failure is counted, not fatal
            t.fail(f"{kind} {rt}", f"exception {type(exc).__name__}", str(exc))


# --- leaks -----------------------------------------------------------------------------------


#: processes that live as long as their runtime's state directory, one each, by design
RESIDENT = ("ocimux.plugins.shimv2.events",)


def own_processes(w: World, *, resident: bool = False) -> list[str]:
    """Processes whose command line names the soak's directories (monitors, shims, containers).

    With `resident`, only the one-per-runtime services (runc-shim's event sink) instead.
    """
    marks = (str(w.work), str(w.socket.parent))
    found = []
    server = w.server.pid if w.server else -1
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in (os.getpid(), server):
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(m in cmd for m in marks) and any(r in cmd for r in RESIDENT) == resident:
            found.append(f"{entry.name} {cmd[:120]}")
    return found


def own_mounts(w: World) -> list[str]:
    with open("/proc/self/mountinfo") as fh:
        return [line.split()[4] for line in fh if str(w.work) in line.split()[4]]


def server_stats(w: World) -> dict[str, int]:
    if w.server is None or w.server.poll() is not None:
        return {}
    proc = Path(f"/proc/{w.server.pid}")
    status = dict(
        line.split(":", 1) for line in (proc / "status").read_text().splitlines() if ":" in line
    )
    return {
        "rss_kb": int(status["VmRSS"].split()[0]),
        "threads": int(status["Threads"]),
        "fds": len(os.listdir(proc / "fd")),
    }


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--cli", type=int, default=16, help="CLI workers")
    ap.add_argument("--http", type=int, default=16, help="HTTP workers")
    ap.add_argument("--runtimes", default=",".join(RUNTIMES))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ocimux-soak-"))
    w = World(work, [r for r in args.runtimes.split(",") if r])
    t = Tally()
    try:
        w.prepare()
        w.start_server()
        before = server_stats(w)
        log(
            f"soak: {args.cli} CLI + {args.http} HTTP workers, {args.minutes} min, runtimes {w.runtimes}"
        )
        until = time.monotonic() + args.minutes * 60
        threads = [
            threading.Thread(target=worker, args=(kind, i, w, t, until, args.seed), daemon=True)
            for kind, count in (("cli", args.cli), ("http", args.http))
            for i in range(count)
        ]
        started = time.monotonic()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.monotonic() - started
        time.sleep(2)  # let the last monitors run their exit commands
        left = w.ocimux("ps", "-a", "--format", "json")  # every step removed its own containers
        records = json.loads(left.stdout or "[]") if left.returncode == 0 else ["?"]
        after = server_stats(w)
        procs, mounts = own_processes(w), own_mounts(w)
        resident = own_processes(w, resident=True)
        server_code = w.stop_server()
        result = {
            "minutes": round(elapsed / 60, 2),
            "requests": sum(t.requests.values()),
            "by_step": dict(t.requests),
            "failures": dict(t.failures),
            "failure_examples": t.examples,
            "records_left": len(records),
            "leaked_processes": procs,
            "resident_services": resident,
            "leaked_mounts": mounts,
            "server_before": before,
            "server_after": after,
            "server_exit": server_code,
        }
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            print(f"requests: {result['requests']} in {result['minutes']} min")
            for step, count in sorted(t.requests.items()):
                print(f"  {step:24} {count}")
            print(f"failures: {sum(t.failures.values())}")
            for kind, count in t.failures.most_common():
                print(f"  {kind:24} {count}   e.g. {t.examples[kind]}")
            print(f"records left after the clients stopped: {len(records)}")
            print(f"leaked processes: {len(procs)}  mounts: {len(mounts)}")
            print(f"resident services (one per runtime state dir, by design): {len(resident)}")
            for line in procs[:10] + mounts[:10]:
                print(f"  {line}")
            print(f"server: start {before}  end {after}  exit {server_code}")
        leaks = len(records) + len(procs) + len(mounts)
        return 0 if not t.failures and not leaks else 1
    except KeyboardInterrupt:
        return 130
    finally:
        w.stop_server()
        listed = w.ocimux("ps", "-a", "--format", "json")
        for rec in json.loads(listed.stdout or "[]") if listed.returncode == 0 else []:
            w.ocimux("rm", "-f", rec["id"])
        subprocess.run(
            [*ocimux_cli(), "system", "repair"], env=w.env, capture_output=True, check=False
        )
        for mount in reversed(own_mounts(w)):
            subprocess.run(["umount", "-l", mount], check=False, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(w.socket.parent, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
