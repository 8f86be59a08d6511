"""An in-memory runtime for unit tests of the engine and the server: no process, no monitor.

Like httpx's MockTransport: the Dispatcher and the Docker API run for real over a `Runtime`
whose containers are records in a JSON file in its own state directory
(`<run_dir>/runtimes/<name>/fake.json`), so a second Dispatcher (or Registry) of the same
configuration sees them, as it would a real runtime's. It is written against the Runtime
interface v1 (`create/start/kill/delete/state`, `exec_id` for exec processes).

What a container does is read from its command (`process.args` of its config.json):

- `true` / `false` / `exit N`: exits 0 / 1 / N as soon as it is started;
- `ignore SIG [SIG...]` (names without `SIG`, e.g. `ignore TERM`): runs, and those signals
  do nothing (a stop then needs SIGKILL);
- anything else: runs until a signal other than 0, CHLD, CONT, URG or WINCH ends it
  (exit code 128 + signal). Exec processes follow the same rules.

Faults: the annotation `FAIL` (`ocimux.fake.fail`), a comma list of verbs (`create`,
`start`, `kill`, `delete`, `pause`, `exec`), makes those verbs raise RuntimeCommandError.

Never a real pid: pids start above Linux's PID_MAX_LIMIT (4194304), so nothing the engine
does with one (`os.kill`, `/proc/<pid>`) can reach a live process. The exit code is written
to `io.exit_file` as a monitor would; `io.exit_command` is recorded (`record(cid)`), never run.
Every verb is appended to `calls()` as `[verb, cid, exec_id or None, detail]`.

`fake_entry(name)` is a plugin entry point for `Registry(config, [*entries, fake_entry()])`:
no installed distribution needed; `with_fake_runtime(dispatcher)` gives a Dispatcher that
registry (the installed plugins plus `fake`).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal as _signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ocimux.base.errors import RuntimeCommandError, StateError
from ocimux.engine._entries import PluginEntry
from ocimux.interface.capabilities import Capabilities, Capability
from ocimux.interface.options import CreateResult, RuntimeInfo, RuntimeState
from ocimux.interface.runtime import Runtime

if TYPE_CHECKING:
    from ocimux.engine.dispatcher import Dispatcher
    from ocimux.interface.options import (
        CheckpointOptions,
        CreateRequest,
        ExecOptions,
        ProcessIO,
        Resources,
        RestoreOptions,
    )

__all__ = ["FAIL", "FakeRuntime", "fake_entry", "with_fake_runtime"]

FAIL = "ocimux.fake.fail"

#: above PID_MAX_LIMIT (4194304 = 2**22): never the pid of a process on Linux
FIRST_PID = 2**22 + 1

#: signals whose default action does not end a process
_HARMLESS = {0, _signal.SIGCHLD, _signal.SIGCONT, _signal.SIGURG, _signal.SIGWINCH}

_LOCK = threading.Lock()  # flock is per open file: threads of one process need their own lock


def _yes(reason: str) -> Capability:
    return Capability(True, "declared", reason)


def _no(reason: str) -> Capability:
    return Capability(False, "declared", reason)


def fake_entry(name: str = "fake") -> PluginEntry:
    """An entry point for a Registry: runtime `name` driven by FakeRuntime."""
    return PluginEntry(name, "tests.unit.fake_runtime:FakeRuntime", "ocimux-tests")


def with_fake_runtime(dispatcher: Dispatcher, *names: str) -> Dispatcher:
    """`dispatcher`, its registry now the installed plugins plus FakeRuntimes named `names`
    (default: one, `fake`)."""
    from ocimux.engine.registry import Registry
    from ocimux.engine.session import load_environment

    _, entries, _ = load_environment()
    fakes = [fake_entry(name) for name in names or ("fake",)]
    dispatcher.registry = Registry(dispatcher.config, [*entries, *fakes])
    return dispatcher


class FakeRuntime(Runtime):
    """Containers as JSON records; a state machine and nothing else."""

    capabilities: ClassVar[Capabilities] = Capabilities(
        exec=_yes("exec processes are records too"),
        pause=_yes("a paused record holds fatal signals until resumed"),
        terminal=_yes("resizes are recorded"),
        update_resources=_yes("resources are recorded"),
        checkpoint=_yes("the record is the checkpoint"),
        no_cgroups=_yes("the fake uses no cgroups"),
        isolation=_no("the fake runs nothing to isolate"),
        resource_limits=_no("the fake has no cgroups to limit"),
        devices=_no("the fake has no devices"),
        privileged=_no("the fake confines nothing, so it cannot grant privileges"),
        seccomp=_no("the fake loads no seccomp filter"),
        host_network=_no("the fake has no network namespace"),
        umask=_no("the fake runs no process"),
        domainname=_no("the fake has no UTS namespace"),
        kvm=_no("the fake starts no virtual machine"),
        json_errors=_no("no runtime binary writes an error log"),
    )

    # --- the JSON file ----------------------------------------------------------------------

    @property
    def _file(self) -> Path:
        return self.context.state_dir / "fake.json"

    @contextmanager
    def _data(self) -> Iterator[dict[str, Any]]:
        """The file's content, locked; written back when the block ends without an error."""
        self.context.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with _LOCK, open(self.context.state_dir / "fake.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                data = json.loads(self._file.read_text())
            except FileNotFoundError:
                data = {"next_pid": FIRST_PID, "containers": {}, "calls": []}
            yield data
            tmp = self._file.with_suffix(".tmp")
            tmp.write_text(json.dumps(data))
            os.replace(tmp, self._file)

    def calls(self) -> list[list[Any]]:
        """Every verb this runtime name was asked, in order: [verb, cid, exec_id, detail]."""
        with self._data() as data:
            return data["calls"]

    def record(self, cid: str) -> dict[str, Any] | None:
        """The container's record (status, pid, exit_code, args, io, execs, ...), or None."""
        with self._data() as data:
            return data["containers"].get(cid)

    def _call(
        self, data: dict[str, Any], verb: str, cid: str, eid: str | None, detail: Any = None
    ) -> None:
        data["calls"].append([verb, cid, eid, detail])
        rec = data["containers"].get(cid)
        if rec is not None and verb in rec.get("fail", ()):
            raise RuntimeCommandError(
                f"injected failure of {verb}", container=cid, runtime=self.name, verb=verb
            )

    def _proc(self, data: dict[str, Any], cid: str, eid: str | None, verb: str) -> dict[str, Any]:
        rec = data["containers"].get(cid)
        proc = rec if rec is None or eid is None else rec["execs"].get(eid)
        if proc is None:
            what = f"exec {eid} of container {cid}" if eid else f"container {cid}"
            raise RuntimeCommandError(
                f"{what} does not exist", container=cid, runtime=self.name, verb=verb
            )
        return proc

    @staticmethod
    def _new_pid(data: dict[str, Any]) -> int:
        pid = data["next_pid"]
        data["next_pid"] = pid + 1
        return int(pid)

    # --- behaviour --------------------------------------------------------------------------

    @staticmethod
    def _ignored(args: list[str]) -> set[int]:
        if args[:1] != ["ignore"]:
            return set()
        return {int(_signal.Signals["SIG" + name.upper().removeprefix("SIG")]) for name in args[1:]}

    @staticmethod
    def _exits_at_start(args: list[str]) -> int | None:
        if args[:1] == ["true"]:
            return 0
        if args[:1] == ["false"]:
            return 1
        if args[:1] == ["exit"]:
            return int(args[1]) if len(args) > 1 else 0
        return None

    def _end(self, proc: dict[str, Any], code: int) -> None:
        proc.update(status="stopped", exit_code=code, pending=[])
        exit_file = proc.get("exit_file")
        if exit_file and Path(exit_file).parent.is_dir():
            Path(exit_file).write_text(str(code))
        for other in proc.get("execs", {}).values():  # a container's end ends its execs
            if other["status"] != "stopped":
                self._end(other, 128 + _signal.SIGKILL)

    def _signal(self, proc: dict[str, Any], sig: int) -> None:
        if sig in _HARMLESS or sig in self._ignored(proc["args"]):
            return
        if proc["status"] == "paused" and sig != _signal.SIGKILL:
            proc["pending"].append(sig)  # a frozen process acts on it once thawed
            return
        self._end(proc, 128 + sig)

    # --- the verbs ----------------------------------------------------------------------------

    def create(self, request: CreateRequest) -> CreateResult:
        spec = json.loads((request.bundle / "config.json").read_text())
        args = list(spec.get("process", {}).get("args") or [])
        fail = [v for v in (request.annotations.get(FAIL) or "").split(",") if v]
        with self._data() as data:
            data["calls"].append(["create", request.cid, None, args])
            if "create" in fail:
                raise RuntimeCommandError(
                    "injected failure of create",
                    container=request.cid,
                    runtime=self.name,
                    verb="create",
                )
            if request.cid in data["containers"]:
                raise RuntimeCommandError(
                    f"container {request.cid} exists already",
                    container=request.cid,
                    runtime=self.name,
                )
            io = request.io
            for directory in {io.log.parent, io.exit_file.parent}:  # a monitor would make them
                directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            io.log.touch()
            pid = self._new_pid(data)
            data["containers"][request.cid] = {
                "status": "created", "pid": pid, "exit_code": None, "args": args, "pending": [],
                "fail": fail, "execs": {}, "exit_file": str(io.exit_file), "log": str(io.log),
                "stdin": io.stdin, "terminal": io.terminal, "exit_command": list(io.exit_command),
                "log_size_max": io.log_size_max, "resources": None, "size": None,
            }  # fmt: skip
        return CreateResult(pid=pid, monitor_pid=None)

    def start(self, cid: str, exec_id: str | None = None) -> None:
        with self._data() as data:
            self._call(data, "start", cid, exec_id)
            proc = self._proc(data, cid, exec_id, "start")
            if proc["status"] != "created":
                raise RuntimeCommandError(
                    f"cannot start a {proc['status']} process",
                    container=cid,
                    runtime=self.name,
                    verb="start",
                )
            proc["status"] = "running"
            code = self._exits_at_start(proc["args"])
            if code is not None:
                self._end(proc, code)

    def kill(
        self, cid: str, signal: int, *, all_procs: bool = False, exec_id: str | None = None
    ) -> None:
        with self._data() as data:
            self._call(data, "kill", cid, exec_id, [int(signal), all_procs])
            proc = self._proc(data, cid, exec_id, "kill")
            if proc["status"] == "stopped":
                raise RuntimeCommandError(
                    "container not running", container=cid, runtime=self.name, verb="kill"
                )
            self._signal(proc, int(signal))
            if all_procs and exec_id is None:
                for other in proc["execs"].values():
                    if other["status"] != "stopped":
                        self._signal(other, int(signal))

    def delete(self, cid: str, exec_id: str | None = None) -> None:
        with self._data() as data:
            self._call(data, "delete", cid, exec_id)
            rec = data["containers"].get(cid)
            if rec is None:
                return  # forgotten already: not an error
            if exec_id is None:
                del data["containers"][cid]
                persist = Path(rec["exit_file"]).parent  # on the run dir: the runtime's to remove
                if persist != self.layout.container_dir(cid):
                    shutil.rmtree(persist, ignore_errors=True)
            else:
                rec["execs"].pop(exec_id, None)

    def state(self, cid: str, exec_id: str | None = None) -> RuntimeState:
        with self._data() as data:
            rec = data["containers"].get(cid)
            proc = rec if rec is None or exec_id is None else rec["execs"].get(exec_id)
            if proc is None:
                return RuntimeState("unknown", reason="the fake runtime does not know it")
            return RuntimeState(proc["status"], proc["pid"], proc["exit_code"])

    def info(self) -> RuntimeInfo:
        return RuntimeInfo(name=self.name, path=None, version="fake 1", monitor=None)

    # --- optional verbs -----------------------------------------------------------------------

    def exec(self, cid: str, exec_id: str, process: ExecOptions, io: ProcessIO) -> None:
        with self._data() as data:
            self._call(data, "exec", cid, exec_id, list(process.args))
            rec = self._proc(data, cid, None, "exec")
            if rec["status"] != "running":
                raise StateError(
                    f"container {cid} is {rec['status']}", container=cid, runtime=self.name
                )
            rec["execs"][exec_id] = {
                "status": "created", "pid": self._new_pid(data), "exit_code": None, "pending": [],
                "args": list(process.args), "exit_file": str(io.exit_file), "terminal": io.terminal,
            }  # fmt: skip
            io.exit_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)

    def resize(self, cid: str, height: int, width: int, exec_id: str | None = None) -> None:
        with self._data() as data:
            self._call(data, "resize", cid, exec_id, [height, width])
            self._proc(data, cid, exec_id, "resize")["size"] = [height, width]

    def close_stdin(self, cid: str, exec_id: str | None = None) -> None:
        with self._data() as data:
            self._call(data, "close_stdin", cid, exec_id)

    def pause(self, cid: str) -> None:
        self._toggle(cid, "pause", "running", "paused")

    def resume(self, cid: str) -> None:
        self._toggle(cid, "resume", "paused", "running")
        with self._data() as data:  # what a frozen process was sent takes effect now
            proc = data["containers"][cid]
            for sig in proc.pop("pending", []):
                if proc["status"] != "stopped":
                    self._signal(proc, sig)
            proc["pending"] = []

    def _toggle(self, cid: str, verb: str, before: str, after: str) -> None:
        with self._data() as data:
            self._call(data, verb, cid, None)
            proc = self._proc(data, cid, None, verb)
            if proc["status"] != before:
                raise RuntimeCommandError(
                    f"container is {proc['status']}, not {before}",
                    container=cid,
                    runtime=self.name,
                    verb=verb,
                )
            proc["status"] = after

    def update(self, cid: str, resources: Resources) -> None:
        with self._data() as data:
            self._call(data, "update", cid, None, resources.as_linux_resources())
            self._proc(data, cid, None, "update")["resources"] = resources.as_linux_resources()

    def checkpoint(self, cid: str, options: CheckpointOptions) -> None:
        with self._data() as data:
            self._call(data, "checkpoint", cid, None, str(options.image_path))
            proc = self._proc(data, cid, None, "checkpoint")
            options.image_path.mkdir(parents=True, exist_ok=True)
            (options.image_path / "fake-checkpoint.json").write_text(json.dumps(proc["args"]))
            if not options.leave_running:
                self._end(proc, 128 + _signal.SIGKILL)

    def restore(self, request: CreateRequest, options: RestoreOptions) -> CreateResult:
        saved = json.loads((options.image_path / "fake-checkpoint.json").read_text())
        result = self.create(request)
        with self._data() as data:
            data["calls"].append(["restore", request.cid, None, saved])
            data["containers"][request.cid].update(status="running", args=saved)
        return result
