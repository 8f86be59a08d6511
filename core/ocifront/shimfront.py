"""`ocimux-oci` verbs for a shim v2 backend (runc-shim, kata): the shim over ttrpc, plus a relay.

`create` starts the backend's shim in the container's directory `<root>/ocimux/shim/<id>`
(its working directory: the shim writes `address`, `shim.pid` and `log` there, never into
the engine's bundle), forks the relay (relay.py: the process the engine waits on), and sends
`Create` with the engine's bundle and the relay's FIFOs. `exec` does the same per process
(`Exec` + `Start`). `start`, `state`, `kill`, `pause`, `resume`, `ps`, `update` and `delete`
are one ttrpc call each to the shim at the recorded address.

The shim's own state (the runc shim's runc `--root`) and the sockets that seed its address and
take its events live under the front's root, `<root>/ocimux/shim/`, apart from ocimux's and
containerd's.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import termios
import time
import tty
from pathlib import Path
from typing import Any

from ocimux.base.files import write_atomic
from ocimux.base.monitorfiles import named_process_alive, process_alive
from ocimux.plugins.shimv2 import messages as m
from ocimux.plugins.shimv2.events import ensure_sink
from ocimux.plugins.shimv2.launch import ShimCommand
from ocimux.plugins.shimv2.task import TaskClient
from ocimux.plugins.shimv2.ttrpc import TtrpcConnectionError, TtrpcError

from . import records
from .argv import Call
from .crash import crash_point
from .records import Record
from .relay import FORWARDED, Relay, become_relay, send_console
from .report import FrontError

__all__ = ["create", "delete", "exec_process", "run_verb", "settle", "state_of"]

#: grpc status NotFound: the shim does not know the container or process
NOT_FOUND = 5
#: how long a deleted container's shim and relay may take to exit before they are killed
REAP_GRACE = 3.0
#: runc's state names by the shim's status
STATUS = m.STATUS_NAMES


def shim_home(root: str) -> str:
    """Where the front keeps what every shim of this root shares."""
    return os.path.join(root, "ocimux", "shim")


def container_dir(root: str, cid: str) -> str:
    return os.path.join(shim_home(root), records.check_id(cid))


def _command(record: Record, root: str) -> ShimCommand:
    env = {k[4:]: v for k, v in record.extra.items() if k.startswith("env:")}
    return ShimCommand(
        binary=record.binary, namespace=record.extra["namespace"],
        address=os.path.join(shim_home(root), "containerd.sock"),
        events=os.path.join(shim_home(root), "events.sock"), runtime=record.backend,
        timeout=float(record.extra.get("timeout") or 60), debug=record.extra.get("debug") == "1",
        env=env or None,
    )  # fmt: skip


def _client(record: Record) -> TaskClient:
    address = record.extra.get("address")
    if not address:
        raise TtrpcConnectionError(2, "the container's shim never started (no address)")
    return TaskClient(address, namespace=record.extra["namespace"],
                      timeout=float(record.extra.get("timeout") or 60))  # fmt: skip


def _fail(record: Record, cid: str, verb: str, exc: Exception) -> FrontError:
    if isinstance(exc, TtrpcConnectionError):
        return FrontError(
            f"{record.backend}: cannot reach the shim of container {cid} ({exc}): "
            f"the shim is gone; remove the container with `delete --force {cid}`"
        )
    message = getattr(exc, "message", str(exc))
    return FrontError(f"{record.backend} {verb} {cid}: {message}")


def _rpc(record: Record, cid: str, verb: str, call: Any) -> Any:
    try:
        with _client(record) as task:
            return call(task)
    except (TtrpcError, TtrpcConnectionError) as exc:
        raise _fail(record, cid, verb, exc) from exc


def _create_options(backend_shim: dict[str, Any], root: str) -> dict[str, Any] | None:
    """The backend's create options, the runc shim's runc root moved under the front's root."""
    kind, value = backend_shim.get("options_type") or "", backend_shim.get("options") or ""
    if not kind:
        return None
    raw = bytes.fromhex(str(value))
    if kind == m.RUNC_OPTIONS_TYPE:
        options = m.RUNC_OPTIONS.decode(raw)
        options["root"] = os.path.join(shim_home(root), "state")
        raw = m.RUNC_OPTIONS.encode(options)
    return {"type_url": kind, "value": raw}


# --- create -----------------------------------------------------------------------------------


def create(call: Call, root: str, cid: str, backend: Any, bundle: str) -> int:
    """Start the shim, fork the relay, `Create` the task; record the container at each step."""
    if int(str(call.flag("preserve-fds") or 0) or 0):
        raise FrontError(
            f"{backend.name} cannot preserve fds (--preserve-fds): a shim v2 task takes no "
            "extra file descriptors; choose a backend that is an OCI CLI"
        )
    spec = _bundle_spec(bundle)
    terminal = bool((spec.get("process") or {}).get("terminal"))
    console = call.flag("console-socket")
    if terminal and not console:
        raise FrontError("cannot allocate a terminal without --console-socket when detached")
    directory = container_dir(root, cid)
    shutil.rmtree(directory, ignore_errors=True)  # what a settled crash may have left
    os.makedirs(directory, mode=0o700)
    shim = backend.shim
    extra = {
        "namespace": str(shim["namespace"]), "bundle": bundle, "timeout": str(shim["timeout"]),
        "debug": "1" if shim.get("debug") else "0",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime()),
        **{f"env:{k}": str(v) for k, v in (shim.get("env") or {}).items()},
    }  # fmt: skip
    record = Record(backend.name, backend.binary, directory, [], refuse=dict(backend.refuse),
                    kind="shim", extra=extra)  # fmt: skip
    records.save(root, cid, record)
    crash_point("oci-create:recorded")
    try:
        command = _command(record, root)
        with open(os.path.join(directory, "log"), "ab"):
            pass  # the shim's own log: a regular file it appends to
        # the runc shim's `start` reads config.json in its working directory (shim grouping)
        os.symlink(os.path.join(bundle, "config.json"), os.path.join(directory, "config.json"))
        ensure_sink(Path(command.events), command.timeout)
        record.extra["address"] = command.start(cid, Path(directory))
        records.save(root, cid, record)
    except Exception as exc:
        teardown(root, cid, record)
        raise FrontError(f"{backend.name} create {cid}: {exc}") from exc
    relay = _relay(record, cid, "", directory, terminal, console)
    pid, go = _spawn(relay, console=bool(console), raw=False,
                     abandon=lambda: teardown(root, cid, record))  # fmt: skip
    record.extra["relay"] = str(pid)
    records.save(root, cid, record)
    try:
        with _client(record) as task:
            task.create(id=cid, bundle=bundle, terminal=terminal,
                        options=_create_options(shim, root), **relay.io_paths())  # fmt: skip
            record.extra["shim_pid"] = str(task.connect(cid)["shim_pid"])
    except (TtrpcError, TtrpcConnectionError, OSError) as exc:
        os.close(go)  # the relay undoes the container
        _reap(pid, "")
        teardown(root, cid, record)
        raise FrontError(f"{backend.name} create {cid}: {getattr(exc, 'message', exc)}") from exc
    crash_point("oci-create:backend")
    _write_pid_file(call, pid)
    os.write(go, b"go")
    os.close(go)
    record.phase = "created"
    records.save(root, cid, record)
    return 0


def _json_object(read: Any, what: str) -> dict[str, Any]:
    """The JSON object `read()` returns the text of; FrontError naming `what` otherwise."""
    try:
        value = json.loads(read())
    except (OSError, ValueError) as exc:
        raise FrontError(f"cannot read {what}: {exc}") from exc
    if not isinstance(value, dict):
        raise FrontError(f"{what} is not a JSON object")
    return value


def _bundle_spec(bundle: str) -> dict[str, Any]:
    return _json_object(Path(bundle, "config.json").read_bytes, f"{bundle}/config.json")


def _relay(record: Record, cid: str, exec_id: str, directory: str, terminal: bool,
           console: object) -> Relay:  # fmt: skip
    slave = None
    if terminal and console:
        master, slave = os.openpty()
        # raw before the engine has the master: what it types early is neither echoed by our
        # pty nor flushed (the workload's own pty does the line discipline)
        tty.setraw(slave, termios.TCSANOW)
        try:
            send_console(str(console), master, os.ttyname(slave))
        except OSError as exc:
            os.close(slave)
            raise FrontError(
                f"cannot send the terminal to --console-socket {console}: {exc}"
            ) from exc
        finally:
            os.close(master)
    return Relay(
        address=record.extra["address"], namespace=record.extra["namespace"], cid=cid,
        exec_id=exec_id, directory=directory, terminal=terminal, tty=slave,
        timeout=float(record.extra.get("timeout") or 60),
    )  # fmt: skip


def _spawn(relay: Relay, *, console: bool, raw: bool, abandon: Any) -> tuple[int, int]:
    """Fork the relay; return its pid and the pipe to say "go" on, once it is ready."""
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        os.close(go_w)
        become_relay(relay, go=go_r, ready=ready_w, abandon=abandon, console=console, raw=raw)
    os.close(ready_w)
    os.close(go_r)
    if relay.tty is not None:
        os.close(relay.tty)  # the relay's now
    with os.fdopen(ready_r, "rb") as fh:
        answer = fh.read(4096).decode(errors="replace")
    if answer != "ok":
        os.close(go_w)
        os.waitpid(pid, 0)
        raise FrontError(answer or "the relay died while starting")
    return pid, go_w


def _write_pid_file(call: Call, pid: int) -> None:
    path = call.flag("pid-file")
    if not path:
        return
    write_atomic(os.path.abspath(str(path)), str(pid).encode())


# --- teardown and settling --------------------------------------------------------------------


def teardown(root: str, cid: str, record: Record) -> None:
    """Undo the container wholly: the task, the shim (or what a dead shim left), the relay,
    the directory and the record. Safe to run twice, and on a half-made container."""
    address = record.extra.get("address")
    reached = False
    if address:
        try:
            with _client(record) as task:
                with contextlib.suppress(TtrpcError):
                    task.kill(cid, signal.SIGKILL, all_procs=True)
                with contextlib.suppress(TtrpcError):
                    _await_stopped(task, cid)
                with contextlib.suppress(TtrpcError):
                    task.delete(cid)
                reached = True
                with contextlib.suppress(TtrpcError, OSError):
                    task.shutdown(cid, now=True)
        except (TtrpcConnectionError, OSError):
            pass
        if not reached:  # the shim is gone: its binary cleans up after it
            _command(record, root).delete(cid, Path(record.root))
    _reap(_int(record.extra.get("shim_pid")), "containerd-shim")
    _reap(_int(record.extra.get("relay")), "")
    shutil.rmtree(record.root, ignore_errors=True)
    records.remove(root, cid)


def _await_stopped(task: TaskClient, cid: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if STATUS.get(task.state(cid)["status"]) in ("stopped", "unknown"):
            return
        time.sleep(0.02)


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def _reap(pid: int | None, comm: str) -> None:
    """Wait a little for `pid` to exit, then kill it (`comm`: guard against pid reuse)."""
    if not pid or pid == os.getpid():
        return

    def alive() -> bool:
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return False
        return named_process_alive(pid, comm, prefix=True) if comm else process_alive(pid)

    deadline = time.monotonic() + REAP_GRACE
    while alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    if alive():
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def settle(root: str, cid: str, record: Record) -> Record:
    """A record a crash left in "creating" or "deleting": the container goes wholly.

    A shim container is of no use to its engine without the relay, which outlives only a
    completed create: "creating" is undone; "deleting" is finished.
    """
    teardown(root, cid, record)
    raise FrontError("container does not exist")


# --- the verbs over ttrpc ---------------------------------------------------------------------


def state_of(record: Record, cid: str) -> dict[str, Any]:
    """The runtime-spec state of the container, as runc prints it."""
    answer = _rpc(record, cid, "state", lambda task: task.state(cid))
    status = STATUS.get(answer["status"], "unknown")
    bundle = record.extra.get("bundle", "")
    spec: dict[str, Any] = {}
    with contextlib.suppress(FrontError):
        spec = _bundle_spec(bundle)
    rootfs = str((spec.get("root") or {}).get("path") or "")
    return {
        "ociVersion": str(spec.get("ociVersion") or "1.0.2"), "id": cid,
        "pid": 0 if status == "stopped" else int(answer.get("pid") or 0), "status": status,
        "bundle": bundle, "rootfs": os.path.join(bundle, rootfs) if rootfs else "",
        "created": record.extra.get("created", ""), "owner": "",
        **({"annotations": spec["annotations"]} if spec.get("annotations") else {}),
    }  # fmt: skip


def run_verb(call: Call, root: str, record: Record) -> int:
    """start, state, kill, pause, resume, ps, update, exec, events for a shim container."""
    cid = str(call.container)
    verb = call.verb
    if verb == "state":
        sys.stdout.write(json.dumps(state_of(record, cid), indent=2) + "\n")
    elif verb == "start":
        status = STATUS.get(_rpc(record, cid, verb, lambda t: t.state(cid))["status"])
        if status != "created":
            raise FrontError("cannot start a container that has stopped" if status == "stopped"
                             else "cannot start an already running container")  # fmt: skip
        _rpc(record, cid, verb, lambda t: t.start(cid))
    elif verb == "kill":
        from ocimux.base.signals import parse_signal  # lazy: kill only

        try:
            signum = parse_signal(call.rest[0] if call.rest else "SIGTERM")
        except Exception as exc:
            raise FrontError(f"{exc}") from exc
        status = STATUS.get(_rpc(record, cid, verb, lambda t: t.state(cid))["status"])
        if status == "stopped" and not call.flag("all"):
            raise FrontError("container not running")
        _rpc(record, cid, verb,
             lambda t: t.kill(cid, signum, all_procs=bool(call.flag("all"))))  # fmt: skip
    elif verb == "pause":
        _rpc(record, cid, verb, lambda t: t.pause(cid))
    elif verb == "resume":
        _rpc(record, cid, verb, lambda t: t.resume(cid))
    elif verb == "ps":
        pids = _rpc(record, cid, verb, lambda t: t.pids(cid))
        if call.flag("format") == "json":
            sys.stdout.write(json.dumps(pids) + "\n")
        else:
            sys.stdout.write("PID\n" + "".join(f"{pid}\n" for pid in pids))
    elif verb == "update":
        resources = _resources(call, record)
        _rpc(record, cid, verb, lambda t: t.update(cid, resources))
    elif verb == "exec":
        return exec_process(call, root, record)
    else:
        raise FrontError(f"{record.backend} cannot {verb}: a shim v2 backend has no {verb} "
                         "through ocimux-oci")  # fmt: skip
    return 0


def _resources(call: Call, record: Record) -> dict[str, Any]:
    singles = [name for name, _v in call.flags if name != "resources"]
    if singles or not call.flag("resources"):
        raise FrontError(
            f"{record.backend} update takes --resources FILE (runtime-spec LinuxResources JSON) "
            f"through ocimux-oci, not --{singles[0] if singles else 'resources'} alone"
        )
    source = str(call.flag("resources"))
    read = sys.stdin.read if source == "-" else Path(source).read_text
    return _json_object(read, f"--resources {source}")


# --- exec -------------------------------------------------------------------------------------


def exec_process(call: Call, root: str, record: Record) -> int:
    """`Exec` + `Start` a process in the container, with a relay of its own.

    `--detach`: the front exits once the process started (the relay is the process the
    engine waits on); else the front waits for the relay, forwards signals to it, and exits
    with the process's status, as runc exec does.
    """
    cid = str(call.container)
    if int(str(call.flag("preserve-fds") or 0) or 0):
        raise FrontError(f"{record.backend} cannot preserve fds (--preserve-fds) for exec")
    process = _exec_spec(call, record)
    terminal = bool(process.get("terminal"))
    console = call.flag("console-socket")
    detach = bool(call.flag("detach"))
    if terminal and detach and not console:
        raise FrontError("cannot allocate a terminal without --console-socket when detached")
    exec_id = f"oci-{os.urandom(6).hex()}"
    directory = os.path.join(record.root, "exec", exec_id)
    os.makedirs(directory, mode=0o700)
    relay = _relay(record, cid, exec_id, directory, terminal, console)
    try:
        pid, go = _spawn(relay, console=bool(console), raw=terminal and not console,
                         abandon=None)  # fmt: skip
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    try:
        with _client(record) as task:
            task.exec(cid, exec_id, process, terminal=terminal, **relay.io_paths())
            try:
                task.start(cid, exec_id)
            except TtrpcError:
                with contextlib.suppress(TtrpcError):
                    task.delete(cid, exec_id)
                raise
    except (TtrpcError, TtrpcConnectionError, OSError) as exc:
        os.close(go)
        _reap(pid, "")
        shutil.rmtree(directory, ignore_errors=True)
        error = _fail(record, cid, "exec", exc)
        error.status = 255 if isinstance(exc, TtrpcError) else 1
        raise error from exc
    _write_pid_file(call, pid)
    os.write(go, b"go")
    os.close(go)
    if detach:
        return 0
    return _wait_relay(pid, directory)


def _wait_relay(pid: int, directory: str) -> int:
    """Wait for the foreground relay, forwarding what the caller signals to it."""

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(OSError):
            os.kill(pid, signum)

    for signum in (*FORWARDED, signal.SIGWINCH):
        signal.signal(signum, forward)
    _pid, status = os.waitpid(pid, 0)
    shutil.rmtree(directory, ignore_errors=True)
    return os.waitstatus_to_exitcode(status) & 0xFF


def _exec_spec(call: Call, record: Record) -> dict[str, Any]:
    """The process to exec: `--process FILE`, else the container's process with the command
    and flags of the call (runc's exec without -p)."""
    source = call.flag("process")
    if source:
        return _json_object(Path(str(source)).read_text, f"--process {source}")
    if not call.rest:
        raise FrontError("exec: neither --process nor a command was given")
    base = dict(_bundle_spec(record.extra.get("bundle", "")).get("process") or {})
    base["args"] = list(call.rest)
    base["terminal"] = bool(call.flag("tty"))
    env = list(base.get("env") or [])
    for name, value in call.flags:
        if name == "env" and isinstance(value, str):
            env.append(value)
        elif name == "cwd" and isinstance(value, str):
            base["cwd"] = value
        elif name == "user" and isinstance(value, str):
            uid, _, gid = value.partition(":")
            base["user"] = {"uid": int(uid), "gid": int(gid or 0)}
        elif name == "cap" and isinstance(value, str):
            caps = base.setdefault("capabilities", {})
            for kind in ("bounding", "effective", "permitted"):
                caps.setdefault(kind, [])
                if value not in caps[kind]:
                    caps[kind].append(value)
        elif name == "no-new-privs" and value is True:
            base["noNewPrivileges"] = True
    base["env"] = env
    return base


# --- delete -----------------------------------------------------------------------------------


def delete(call: Call, root: str, cid: str, record: Record) -> int:
    """runc's delete: a running (or paused) container only with --force."""
    if record.phase != "deleting":
        try:
            status = STATUS.get(_rpc(record, cid, "delete", lambda t: t.state(cid))["status"])
        except FrontError:
            status = None  # the shim is gone: nothing runs, delete what is left
        if status in ("running", "paused") and not call.flag("force"):
            raise FrontError(f"cannot delete container {cid} that is not stopped: {status}")
        record.phase = "deleting"
        records.save(root, cid, record)
    crash_point("oci-delete:marked")
    if record.extra.get("address"):
        with (
            contextlib.suppress(TtrpcError, TtrpcConnectionError, OSError),
            _client(record) as task,
        ):
            task.kill(cid, signal.SIGKILL, all_procs=True)
            _await_stopped(task, cid)
            task.delete(cid)
    crash_point("oci-delete:backend")
    teardown(root, cid, record)
    return 0
