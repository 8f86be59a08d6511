"""The OCI runtime command line, spoken once for every runc-like runtime.

`OciCli` knows the OCI CLI contract (runtime-tools' five verbs plus the extensions runc
established: pause, resume, ps, update, features, checkpoint), not any one runtime: one short
method per verb builds `[path, *global flags, verb, *options, id, *positional]` and runs it.
Per-verb choices are frozen option types with `argv()`, each ending in `extra_args`, so a
plugin adds a flag without rewriting the verb. A plugin for a runtime that differs overrides
an option type or one method; `OciCliRuntime` (`ocimux.oci.runtime`) turns the verbs into a
`Runtime` monitored by conmon, and `ocimux.oci.probes` holds the probes they share.

Errors: with JSON errors (`--log FILE --log-format=json`), the message is the `msg` of the
last record the command appended to FILE; otherwise the command's stderr, with runc's
`time=... level=error msg="..."` wrapping removed.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ocimux.base import process
from ocimux.base.errors import (
    CommandNotFoundError,
    CommandNotInvocableError,
    OcimuxError,
    RuntimeCommandError,
)

__all__ = [
    "CheckpointOpts",
    "DeleteOpts",
    "KillOpts",
    "OciCli",
    "UpdateOpts",
    "classify",
    "parse_version",
]


@dataclass(frozen=True, slots=True)
class KillOpts:
    """`kill [--all] ID SIGNUM` (runtime-tools: the signal is positional)."""

    all_procs: bool = False
    extra_args: tuple[str, ...] = ()

    def argv(self) -> list[str]:
        return [*(["--all"] if self.all_procs else []), *self.extra_args]


@dataclass(frozen=True, slots=True)
class DeleteOpts:
    """`delete [--force] ID`."""

    force: bool = True
    extra_args: tuple[str, ...] = ()

    def argv(self) -> list[str]:
        return [*(["--force"] if self.force else []), *self.extra_args]


@dataclass(frozen=True, slots=True)
class UpdateOpts:
    """`update --resources FILE ID`: limits as runtime-spec `linux.resources` JSON."""

    resources_file: Path
    extra_args: tuple[str, ...] = ()

    def argv(self) -> list[str]:
        return ["--resources", str(self.resources_file), *self.extra_args]


@dataclass(frozen=True, slots=True)
class ExecOpts:
    """`exec [--detach --pid-file P] [--cwd] [--env]... [--user] [--tty] ID ARGS...`."""

    cwd: str | None = None
    env: tuple[str, ...] = ()
    user: str | None = None
    tty: bool = False
    detach: bool = False
    pid_file: Path | None = None
    extra_args: tuple[str, ...] = ()

    def argv(self) -> list[str]:
        out: list[str] = []
        if self.detach:
            out.append("--detach")
        if self.pid_file is not None:
            out += ["--pid-file", str(self.pid_file)]
        if self.cwd:
            out += ["--cwd", self.cwd]
        for item in self.env:
            out += ["--env", item]
        if self.user:
            out += ["--user", self.user]
        if self.tty:
            out.append("--tty")
        return [*out, *self.extra_args]


@dataclass(frozen=True, slots=True)
class CheckpointOpts:
    """`checkpoint --image-path P --work-path W [--leave-running] [--tcp-established] [--file-locks]`."""

    image_path: Path
    work_path: Path
    leave_running: bool = False
    tcp_established: bool = False
    file_locks: bool = False
    extra_args: tuple[str, ...] = ()

    def argv(self) -> list[str]:
        out = ["--image-path", str(self.image_path), "--work-path", str(self.work_path)]
        out += ["--leave-running"] if self.leave_running else []
        out += ["--tcp-established"] if self.tcp_established else []
        out += ["--file-locks"] if self.file_locks else []
        return [*out, *self.extra_args]


@dataclass(frozen=True, slots=True)
class OciCli:
    """One runtime binary with its global flags. Keeps no state between calls.

    `root` is the absolute state directory (`--root`; crun resolves a relative one against
    the bundle). `flags` are `[engine.runtimes_flags]`. `json_log` enables JSON errors.
    `systemd_cgroup` puts `--systemd-cgroup` first (`[engine] cgroup_manager = "systemd"`;
    go-runc's SystemdCgroup: every verb, harmless to a cgroupfs container on runc 1.1, crun 1.8).
    """

    path: str
    root: Path
    name: str
    flags: tuple[str, ...] = ()
    json_log: bool = False
    timeout: float = 60.0
    extra_global: tuple[str, ...] = field(default=())
    systemd_cgroup: bool = False

    def global_args(self, log: Path | None = None) -> list[str]:
        """Flags before the verb (also handed to conmon as `--runtime-arg`s)."""
        out = ["--systemd-cgroup"] if self.systemd_cgroup else []
        out += ["--root", str(self.root), *self.flags, *self.extra_global]
        if self.json_log and log is not None:
            out += ["--log", str(log), "--log-format=json"]
        return out

    def argv(self, verb: str, *rest: str, log: Path | None = None) -> list[str]:
        return [self.path, *self.global_args(log), verb, *rest]

    def run(
        self,
        verb: str,
        *rest: str,
        cid: str | None = None,
        log: Path | None = None,
        input: bytes | None = None,
        ok_status: Sequence[int] = (0,),
    ) -> process.Completed:
        """Run one verb; raise RuntimeCommandError with the runtime's own message on failure."""
        argv = self.argv(verb, *rest, log=log)
        offset = log_offset(log)
        try:
            done = process.run(argv, timeout=self.timeout, input=input)
        except OcimuxError as exc:
            raise exc.add_context(container=cid, runtime=self.name, verb=verb) from None
        except OSError as exc:
            raise RuntimeCommandError(
                f"cannot run {self.path}: {exc.strerror}",
                argv=argv,
                container=cid,
                runtime=self.name,
                verb=verb,
            ) from exc
        if done.returncode not in ok_status:
            message = error_message(done.stderr, log, offset) or f"exited {done.returncode}"
            raise classify(
                message,
                argv=argv,
                exit_status=done.returncode,
                container=cid,
                runtime=self.name,
                verb=verb,
            )
        return done

    # --- one method per verb ------------------------------------------------------------------

    def start(self, cid: str, log: Path | None = None) -> None:
        self.run("start", cid, cid=cid, log=log)

    def kill(
        self, cid: str, signum: int, opts: KillOpts = KillOpts(), log: Path | None = None
    ) -> None:
        self.run("kill", *opts.argv(), cid, str(signum), cid=cid, log=log)

    def delete(self, cid: str, opts: DeleteOpts = DeleteOpts(), log: Path | None = None) -> None:
        self.run("delete", *opts.argv(), cid, cid=cid, log=log)

    def pause(self, cid: str, log: Path | None = None) -> None:
        self.run("pause", cid, cid=cid, log=log)

    def resume(self, cid: str, log: Path | None = None) -> None:
        self.run("resume", cid, cid=cid, log=log)

    def state(self, cid: str) -> dict[str, Any]:
        """runtime-spec state JSON: status, pid, bundle, ... (raises if the runtime forgot `cid`)."""
        done = self.run("state", cid, cid=cid)
        return _json(done.stdout, self, "state")

    def ps(self, cid: str) -> list[int]:
        """Host pids of the container's processes (`ps --format json`)."""
        done = self.run("ps", "--format", "json", cid, cid=cid)
        return [int(p) for p in (_json(done.stdout, self, "ps") or [])]

    def list(self) -> list[dict[str, Any]]:
        """Every container the runtime knows (runc prints `null` for none, crun `[]`)."""
        done = self.run("list", "--format", "json")
        return _json(done.stdout, self, "list") or []

    def update(self, cid: str, opts: UpdateOpts, log: Path | None = None) -> None:
        self.run("update", *opts.argv(), cid, cid=cid, log=log)

    def checkpoint(self, cid: str, opts: CheckpointOpts, log: Path | None = None) -> None:
        """Save the container's state to `opts.image_path` (runc with CRIU; runsc natively)."""
        self.run("checkpoint", *opts.argv(), cid, cid=cid, log=log)

    def version(self) -> str:
        """The full `--version` text."""
        return self.run("--version").stdout.decode(errors="replace").strip()

    def features(self) -> dict[str, Any] | None:
        """The runtime-spec Features document, or None when the runtime has no `features` verb.

        runc ≥ 1.1.0 (stable in 1.2.0), crun ≥ 1.8.6; older crun answers "unknown command".
        """
        try:
            done = self.run("features")
        except RuntimeCommandError:
            return None
        try:
            return json.loads(done.stdout)
        except ValueError:
            return None


def log_offset(path: Path | None) -> int:
    """The size of a log file now (0 if absent): where a command's new records will start."""
    if path is None:
        return 0
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _json(data: bytes, cli: OciCli, verb: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise RuntimeCommandError(
            f"printed output that is not JSON: {data[:200]!r}", runtime=cli.name, verb=verb
        ) from exc


_RUNC_TEXT = re.compile(r'level=\w+ msg="((?:[^"\\]|\\.)*)"')


def error_message(stderr: bytes, log: Path | None = None, offset: int = 0) -> str:
    """The runtime's own message: the last JSON log record written since `offset`, else stderr."""
    if log is not None:
        try:
            with open(log, "rb") as fh:
                fh.seek(offset)
                appended = fh.read()
        except OSError:
            appended = b""
        last = None
        for line in appended.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("msg"):
                last = str(record["msg"])
        if last:
            return last
    text = stderr.decode(errors="replace").strip()
    matches = _RUNC_TEXT.findall(text)
    if matches:
        return matches[-1].encode().decode("unicode_escape", errors="replace")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


# podman's classification (libpod/oci_util.go getOCIRuntimeError), narrowed to the process
# being executed: "no such file or directory" alone also comes from cgroup files (podman#8105).
_NOT_FOUND = re.compile(
    r"executable file .* not found|exec: \"[^\"]*\": (?:stat [^:]*: )?no such file or directory"
    r"|exec: \"[^\"]*\": executable file not found|starting container process caused.*no such file"
    r"|failed to load [^:]*: no such file or directory",  # runsc
    re.IGNORECASE,
)
_NOT_INVOCABLE = re.compile(
    r"exec: \"[^\"]*\": permission denied|open executable: permission denied|exec format error"
    r"|executable .* permission denied"
    r"|failed to load [^:]*: (?:permission denied|is a directory)",  # runsc
    re.IGNORECASE,
)


def classify(message: str, **fields: Any) -> OcimuxError:
    """Turn a runtime failure into the most specific error: 127 not found, 126 not invocable."""
    if _NOT_FOUND.search(message):
        return CommandNotFoundError(
            message,
            container=fields.get("container"),
            runtime=fields.get("runtime"),
            verb=fields.get("verb"),
            hint="check the command and the rootfs's PATH",
        )
    if _NOT_INVOCABLE.search(message):
        return CommandNotInvocableError(
            message,
            container=fields.get("container"),
            runtime=fields.get("runtime"),
            verb=fields.get("verb"),
            hint="check the file's mode and format",
        )
    return RuntimeCommandError(message, **fields)


def parse_version(text: str) -> str:
    """`runc version 1.1.5+ds1\\ncommit: ...` → `1.1.5+ds1`; otherwise the first line."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    match = re.search(r"\bversion\s+(\S+)", first)
    return match.group(1) if match else first
