#!/usr/bin/env python3
"""Run docker-py's own integration tests against `ocimux serve` and count them per file (issue 17).

docker-py's code is never committed here (CI cannot reach it): this tool takes a checkout of it
(`--checkout DIR`, e.g. `git clone --branch 7.2.0 https://github.com/docker/docker-py DIR`), and
for one runtime:

- makes a private state (containers.conf with `[engine] runtime`, state and run directories, the
  cache) in a temporary directory, with OCIMUX_*/CONTAINERS_CONF* scrubbed from the environment;
- builds the busybox rootfs and registers it as the images the files use (`alpine:3.10`, docker-py's
  TEST_IMG, and `alpine`), default command `sh`;
- starts `ocimux serve --socket` on a short path, runs each file with pytest from the checkout
  (`DOCKER_HOST` the socket, `DOCKER_TEST_API_VERSION=1.43`), a JUnit XML per file;
- prints passed/failed/skipped per file and each failure's first line, writes `--json OUT`, then
  removes every container and stops the server.

Usage: run.py --checkout DIR [--runtime crun] [--json OUT] [--timeout 900] [FILE ...]
       (FILE: names under tests/integration/, default the five of issue 17)
Needs root (real containers), the `docker` package of the same version in this interpreter, and
`paramiko` (docker-py's test helpers import it: `pip install paramiko`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess  # noqa: TID251 - a test tool outside the package drives processes itself
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

FILES = (
    "api_container_test.py",
    "api_exec_test.py",
    "models_containers_test.py",
    "api_client_test.py",
    "api_healthcheck_test.py",
)
#: docker-py's TEST_IMG, and the name models_containers_test uses
IMAGES = ("alpine:3.10", "alpine")
SERVING = "ocimux serving the Docker API on unix://"
CONF = """\
[engine]
runtime = "{runtime}"
[ocimux]
state_dir = "{base}/lib"
run_dir = "{base}/run"
"""


def scrubbed_env(base: Path, runtime: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.upper().startswith(("OCIMUX_", "CONTAINERS_CONF", "DOCKER_"))}  # fmt: skip
    conf = base / "containers.conf"
    conf.write_text(CONF.format(runtime=runtime, base=base))
    env.update(CONTAINERS_CONF=str(conf), OCIMUX_CACHE_DIR=str(base / "cache"))
    return env


def ocimux(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ocimux.cli", *args], capture_output=True,
                          text=True, env=env, timeout=300, check=False)  # fmt: skip


def start_server(env: dict[str, str], base: Path) -> tuple[subprocess.Popen[bytes], Path, Path]:
    sock = base / "s"
    log = base / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "ocimux.cli", "serve", "--socket", str(sock)],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                env=env)  # fmt: skip
    deadline = time.monotonic() + 30
    while SERVING not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"ocimux serve did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.1)
    return proc, sock, log


def count(junit: Path) -> dict[str, object]:
    """passed/failed/skipped and each failure's name and first line, from one JUnit XML."""
    out: dict[str, object] = {"passed": 0, "failed": 0, "skipped": 0, "failures": {}}
    failures: dict[str, str] = {}
    try:
        root = ET.parse(junit).getroot()
    except (OSError, ET.ParseError) as exc:
        return {**out, "error": f"no JUnit report: {exc}"}
    for case in root.iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        if bad is not None:
            out["failed"] = int(out["failed"]) + 1  # type: ignore[call-overload]
            text = (bad.get("message") or bad.text or "").strip().splitlines()
            failures[name] = text[0][:200] if text else ""
        elif case.find("skipped") is not None:
            out["skipped"] = int(out["skipped"]) + 1  # type: ignore[call-overload]
        else:
            out["passed"] = int(out["passed"]) + 1  # type: ignore[call-overload]
    out["failures"] = failures
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkout", required=True, type=Path, help="a docker-py checkout")
    parser.add_argument("--runtime", default="crun")
    parser.add_argument("--json", type=Path, help="write the counts here")
    parser.add_argument("--timeout", type=float, default=900.0, help="per file, seconds")
    parser.add_argument("files", nargs="*", default=list(FILES))
    args = parser.parse_args()
    checkout = args.checkout.resolve()
    if not (checkout / "tests" / "integration").is_dir():
        raise SystemExit(f"{checkout} is not a docker-py checkout (no tests/integration)")

    # lazy: ocimux from this interpreter, to build the rootfs the images are made of
    from ocimux.oci.rootfs import build_busybox_rootfs

    base = Path(tempfile.mkdtemp(prefix="odp", dir="/tmp"))  # short: the socket path
    env = scrubbed_env(base, args.runtime)
    rootfs = build_busybox_rootfs(base / "rootfs")
    for image in IMAGES:
        done = ocimux(env, "image", "add", image, str(rootfs), "--cmd", "sh")
        if done.returncode != 0:
            raise SystemExit(f"ocimux image add {image}: {done.stderr.strip()}")
    proc, sock, log = start_server(env, base)
    results: dict[str, object] = {}
    try:
        test_env = {**env, "DOCKER_HOST": f"unix://{sock}", "DOCKER_TEST_API_VERSION": "1.43"}
        for name in args.files:
            junit = base / f"{name}.xml"
            started = time.monotonic()
            try:
                subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                                f"--junitxml={junit}",
                                f"tests/integration/{name}"], cwd=checkout, env=test_env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               timeout=args.timeout, check=False)  # fmt: skip
                result = count(junit)
            except subprocess.TimeoutExpired:
                result = {"error": f"timed out after {args.timeout:g} s"}
            result["seconds"] = round(time.monotonic() - started, 1)
            results[name] = result
            failures = result.get("failures") or {}
            print(f"{name}: {result.get('passed', 0)} passed, {result.get('failed', 0)} failed, "
                  f"{result.get('skipped', 0)} skipped in {result['seconds']} s"
                  f"{' — ' + str(result['error']) if 'error' in result else ''}", flush=True)  # fmt: skip
            for test, line in sorted(failures.items()):  # type: ignore[union-attr]
                print(f"    {test}: {line}")
    finally:
        ocimux(env, "rm", "--all", "--force")
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        if args.json:
            args.json.write_text(json.dumps({"runtime": args.runtime, "files": results}, indent=1))
        server_errors = [line for line in log.read_text(errors="replace").splitlines()
                         if " 500 " in line]  # fmt: skip
        if server_errors:
            print(f"server answered 500 {len(server_errors)} times, e.g. {server_errors[0]}")
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
