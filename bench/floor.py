"""The floor: one container lifecycle driven through conmon by the least code that works.

This is the "via conmon" mode of host.md §4/§8, and what ocimux is measured against: no
store, no locks, no spec building, no plugins. One lifecycle is

1. write `config.json` into a fresh bundle directory (conmon writes `attach`/`ctl`/`winsz`
   there, so each container needs its own);
2. start conmon with `_OCI_SYNCPIPE`/`_OCI_STARTPIPE`, write the start byte, wait for its first
   process (it forks the monitor and exits), read `{"data": <pid>}` from the sync pipe;
3. `<runtime> --root ROOT start ID`;
4. poll `<exit-dir>/ID` every millisecond until conmon has written the exit code;
5. `<runtime> --root ROOT delete ID` and remove the bundle.

`Floor.lifecycle` returns the time of each step in milliseconds. Every command has a timeout;
`Floor.cleanup` removes whatever an interrupted run left behind.
"""

from __future__ import annotations

import itertools
import json
import os
import select
import shutil
import subprocess  # noqa: TID251 - a benchmark outside the package drives processes itself
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Floor", "FloorError", "kill_if_conmon", "run_exact", "sweep_root"]

_ids = itertools.count()


class FloorError(Exception):
    """One step of the floor's lifecycle failed; the message names the step."""


@dataclass
class Floor:
    """Run `/bin/true`-style lifecycles of one spec on one runtime binary under conmon."""

    #: the runtime binary (absolute)
    runtime: str
    #: conmon binary (absolute)
    conmon: str
    #: the runtime's --root (absolute) and the directory for bundles, exit files and sockets
    root: Path
    work: Path
    #: config.json as written for every container
    config: bytes
    timeout: float = 60.0
    #: ids created and not yet deleted, for cleanup after an interruption
    live: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        for sub in (self.root, self.work / "b", self.work / "x", self.work / "s"):
            sub.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _rt(self, *args: str) -> list[str]:
        return [self.runtime, "--root", str(self.root), *args]

    def _run(self, argv: list[str], step: str) -> None:
        try:
            code, err = run_exact(argv, self.timeout)
        except TimeoutError as exc:
            raise FloorError(f"{step}: {exc}") from exc
        if code != 0:
            raise FloorError(f"{step}: exit {code}: {err.decode(errors='replace').strip()}")

    def lifecycle(self, args: tuple[str, ...] = ("/bin/true",)) -> dict[str, float]:
        """Create, start, wait for the exit, delete; return ms per step plus `total`."""
        cid = f"fl{os.getpid()}x{next(_ids)}"
        bundle = self.work / "b" / cid
        exit_file = self.work / "x" / cid
        t0 = time.perf_counter()
        bundle.mkdir(mode=0o700)
        (bundle / "config.json").write_bytes(self.config)
        self._create(cid, bundle)
        t1 = time.perf_counter()
        self._run(self._rt("start", cid), "start")
        t2 = time.perf_counter()
        code = self._wait_exit(exit_file)
        t3 = time.perf_counter()
        self._run(self._rt("delete", cid), "delete")
        self.live.discard(cid)
        shutil.rmtree(bundle, ignore_errors=True)
        _unlink(exit_file)
        _unlink(self.work / "s" / cid)
        t4 = time.perf_counter()
        if code != 0:
            raise FloorError(f"container exited {code}")
        return {
            "create": (t1 - t0) * 1e3,
            "start": (t2 - t1) * 1e3,
            "wait": (t3 - t2) * 1e3,
            "delete": (t4 - t3) * 1e3,
            "total": (t4 - t0) * 1e3,
        }

    def _create(self, cid: str, bundle: Path) -> None:
        sync_r, sync_w = os.pipe()
        start_r, start_w = os.pipe()
        argv = [
            self.conmon, "--api-version", "1", "-c", cid, "-u", cid, "-r", self.runtime,
            "-b", str(bundle), "-p", str(bundle / "pidfile"), "-n", cid,
            "--exit-dir", str(self.work / "x"), "--persist-dir", str(bundle),
            "--socket-dir-path", str(self.work / "s"), "-l", f"k8s-file:{bundle / 'ctr.log'}",
            "--log-level", "error", "--conmon-pidfile", str(bundle / "conmon.pid"), "--syslog",
            "--runtime-arg", "--root", "--runtime-arg", str(self.root),
        ]  # fmt: skip
        env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "_OCI_SYNCPIPE": str(sync_w),
            "_OCI_STARTPIPE": str(start_r),
        }
        try:
            proc = subprocess.Popen(  # noqa: S603 - argv list
                argv,
                env=env,
                pass_fds=(sync_w, start_r),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=bundle,
                start_new_session=True,
            )
            self.live.add(cid)
            os.close(sync_w)
            os.close(start_r)
            sync_w = start_r = -1
            os.write(start_w, b"0")
            # conmon's first process forks the monitor and exits; a pidfd says when, exactly
            pid_fd = os.pidfd_open(proc.pid)
            try:
                ready, _, _ = select.select([pid_fd], [], [], self.timeout)
            finally:
                os.close(pid_fd)
            if not ready:
                _kill_group(proc)
                raise FloorError(f"create: conmon did not fork within {self.timeout:g}s")
            rc = proc.wait()
            if rc != 0:
                raise FloorError(f"create: conmon exited {rc}")
            line = self._read_line(sync_r)
        finally:
            for fd in (sync_r, sync_w, start_r, start_w):
                if fd >= 0:
                    os.close(fd)
        try:
            msg = json.loads(line)
        except ValueError as exc:
            raise FloorError(f"create: unreadable sync message {line[:200]!r}") from exc
        if int(msg.get("data", -1)) < 0:
            raise FloorError(f"create: {str(msg.get('message', '')).strip()}")

    def _read_line(self, fd: int) -> bytes:
        deadline = time.monotonic() + self.timeout
        buf = b""
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise FloorError(f"create: conmon said nothing for {self.timeout:g}s")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                buf += chunk
        if not buf.strip():
            raise FloorError("create: conmon exited without a sync message")
        return buf.split(b"\n", 1)[0]

    def _wait_exit(self, path: Path) -> int:
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                text = path.read_text().strip()
            except OSError:
                text = ""
            if text:
                return int(text)
            if time.monotonic() > deadline:
                raise FloorError(f"wait: no exit file after {self.timeout:g}s")
            time.sleep(0.001)

    def cleanup(self) -> None:
        """Force-delete every container left in this floor's --root and kill its conmons."""
        sweep_root(self.runtime, self.root, self.timeout, also=self.live)
        for cid in list(self.live):
            try:
                kill_if_conmon(int((self.work / "b" / cid / "conmon.pid").read_text().strip()))
            except (OSError, ValueError):
                pass
            self.live.discard(cid)


def sweep_root(runtime: str, root: Path, timeout: float, also: set[str] | None = None) -> None:
    """`<runtime> --root ROOT delete --force` every container it lists (and every id in `also`)."""
    if not root.is_dir():
        return
    ids = set(also or ())
    try:
        proc = subprocess.run(  # noqa: S603 - argv list
            [runtime, "--root", str(root), "list", "-q"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        ids.update(proc.stdout.decode(errors="replace").split())
    except (OSError, subprocess.TimeoutExpired):
        pass
    for cid in sorted(ids):
        try:
            run_exact([runtime, "--root", str(root), "delete", "--force", cid], timeout)
        except (OSError, TimeoutError):
            pass


def kill_if_conmon(pid: int) -> None:
    """SIGKILL `pid` if it is still a conmon (its comm is checked first, against pid reuse)."""
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8") as fh:
            if fh.read().strip() != "conmon":
                return
        os.kill(pid, 9)
    except (OSError, ValueError):
        pass


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def run_exact(
    argv: list[str], timeout: float, env: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """Run `argv` (stdout to /dev/null); return (exit status, stderr) the moment it exits.

    `subprocess.run(..., timeout=...)` is no stopwatch: with a timeout `Popen.wait` polls with
    sleeps doubling from 1 ms to 50 ms, so a 70 ms command reads as 113 ms. Here a pidfd
    (Linux >= 5.3) says when the child exits; stderr is read as it comes, and not to EOF (a
    daemon the command leaves behind may hold it). On timeout the process group is killed
    and TimeoutError raised.
    """
    proc = subprocess.Popen(  # noqa: S603 - argv list
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    assert proc.stderr is not None
    err_fd = proc.stderr.fileno()
    os.set_blocking(err_fd, False)
    pid_fd = os.pidfd_open(proc.pid)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        watch = [pid_fd, err_fd]
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                _kill_group(proc)
                raise TimeoutError(f"{os.path.basename(argv[0])}: timed out after {timeout:g}s")
            ready, _, _ = select.select(watch, [], [], left)
            if err_fd in ready and not _drain(err_fd, chunks):
                watch.remove(err_fd)
            if pid_fd in ready:
                break
        code = proc.wait()
        _drain(err_fd, chunks)
    except BaseException:
        # Ctrl-C: the child is in its own session and did not get the signal; stop it now,
        # or it could create a container after the cleanup has run
        _kill_group(proc)
        raise
    finally:
        os.close(pid_fd)
        proc.stderr.close()
    return code, b"".join(chunks)


def _drain(fd: int, chunks: list[bytes]) -> bool:
    """Read what `fd` holds now; False at EOF."""
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return True
        if not data:
            return False
        chunks.append(data)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, 9)
    except OSError:
        proc.kill()
    proc.wait()
