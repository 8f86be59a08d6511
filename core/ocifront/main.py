"""`ocimux-oci`: dispatch one runc command line to the container's backend.

Most verbs read the container's record and `os.execv` the backend (no Python left running,
the backend's fds, output, errors and exit status are the caller's). `create`/`restore`
route, record and wait for the backend; `delete` removes the record after the backend's delete;
`list` merges the backends; `features` annotates the backend's.
"""

from __future__ import annotations

import _signal  # the C module: signal.py's enums cost ~5 ms
import os
import sys

from ocimux._version import VERSION

from . import records
from .argv import Call, UsageError, parse, verb_argv
from .crash import crash_point
from .records import Record
from .report import FrontError, report

__all__ = ["DEFAULT_ROOT", "entry", "main"]

#: runc's is /run/runc; ours must not be any backend's
DEFAULT_ROOT = "/run/ocimux-oci"
#: the root when no `--root` is given: podman 4.3.1 reads no `[engine.runtimes_flags]` and
#: drops `--runtime-flag` in its cleanup process, but the environment reaches every call
ROOT_VARIABLE = "OCIMUX_OCI_ROOT"
VERSION_TEXT = "ocimux-oci version {version}\ncommit: none\nspec: 1.0.2-dev\n"
#: a backend's create/delete/list may take this long before the front gives up on it
BACKEND_TIMEOUT = 240.0
#: words in a backend's error meaning "no such container" (runc, crun, runsc)
_GONE = ("does not exist", "No such file or directory")


def entry() -> None:
    """The console script."""
    sys.exit(main(sys.argv[1:]))


def main(argv: list[str]) -> int:
    log = log_format = None
    try:
        call = parse(argv)
        log, log_format = call.global_str("log"), call.global_str("log-format")
        return dispatch(call)
    except UsageError as exc:
        report(str(exc), log, log_format)
        return 1
    except FrontError as exc:
        report(exc.msg, log, log_format)
        return exc.status
    except ValueError as exc:  # an id runc would refuse
        report(str(exc), log, log_format)
        return 1
    except OSError as exc:
        report(f"ocimux-oci: {exc}", log, log_format)
        return 1


def dispatch(call: Call) -> int:
    if call.globals.get("version") or (call.verb is None and not call.globals.get("help")):
        if not call.globals.get("version"):
            sys.stdout.write(
                "usage: ocimux-oci [global flags] VERB [flags] [ID] (the OCI runtime command line)\n"
            )
            return 0
        sys.stdout.write(VERSION_TEXT.format(version=VERSION))
        return 0
    if call.verb is None:
        sys.stdout.write(
            "usage: ocimux-oci [global flags] VERB [flags] [ID] (the OCI runtime command line)\n"
        )
        return 0
    root = os.path.abspath(call.global_str("root") or os.environ.get(ROOT_VARIABLE) or DEFAULT_ROOT)
    verb = call.verb
    if verb in ("create", "restore", "run"):
        return create(call, root)
    if verb == "delete":
        return delete(call, root)
    if verb == "list":
        return list_containers(call, root)
    if verb in ("features", "spec"):
        return about_backend(call)
    assert call.container is not None
    record = known(call, root, call.container)
    if verb in record.refuse:
        raise FrontError(f"{record.backend} cannot {verb}: {record.refuse[verb]}")
    if record.kind == "shim":
        from .shimfront import run_verb  # lazy: ttrpc, for shim v2 backends only

        return run_verb(call, root, record)
    exec_backend(call, record)
    return 1  # not reached


# --- building the backend's command line ----------------------------------------------------


def backend_globals(call: Call, root: str | None, flags: list[str] | tuple[str, ...]) -> list[str]:
    """The caller's global flags for this call, then the backend's root and its own flags."""
    out: list[str] = []
    for name, value in call.globals.items():
        if name in ("root", "backend", "version", "help"):
            continue
        out.append(f"--{name}" if value is True else f"--{name}={value}")
    out += call.extra_globals
    if root is not None:
        out += ["--root", root]
    return out + list(flags)


def backend_argv(call: Call, record: Record) -> list[str]:
    return [record.binary, *backend_globals(call, record.root, record.flags), *verb_argv(call)]


def exec_backend(call: Call, record: Record) -> None:
    """Become the backend (never returns)."""
    argv = backend_argv(call, record)
    sys.stdout.flush()
    sys.stderr.flush()
    # Python ignores SIGPIPE and SIGXFSZ, and an ignored signal stays ignored across exec
    for signum in (_signal.SIGPIPE, _signal.SIGXFSZ):
        _signal.signal(signum, _signal.SIG_DFL)
    os.execv(argv[0], argv)


def _run(argv: list[str], *, capture: bool) -> tuple[int, bytes, bytes]:
    """Run the backend and wait for it to exit.

    `capture`: its stdout and stderr through pipes (list, features: output to parse). Else
    (delete, state) stdout is dropped and stderr goes to an unnamed file read after the exit:
    a pipe would also wait for whatever the backend left holding it (crun delete: ~40 ms);
    and `process.run_fds` spawns without importing subprocess.
    """
    # lazy: only for the verbs that wait for the backend
    from ocimux.base import process

    if capture:
        done = process.run(argv, timeout=BACKEND_TIMEOUT, stdin=None)
        return done.returncode, done.stdout, done.stderr
    fd = os.open(os.environ.get("TMPDIR") or "/tmp", os.O_TMPFILE | os.O_RDWR, 0o600)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        code = process.run_fds(argv, timeout=BACKEND_TIMEOUT, stdin=0, stdout=devnull, stderr=fd)
        os.lseek(fd, 0, os.SEEK_SET)
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
        os.close(devnull)
    return code, b"", b"".join(chunks)


def _gone(stderr: bytes) -> bool:
    text = stderr.decode(errors="replace")
    return any(words in text for words in _GONE)


# --- records that may be stale ----------------------------------------------------------------


def known(call: Call, root: str, cid: str) -> Record:
    """The container's record; a record a crash may have left behind is settled first.

    "creating": the front died after or before the backend's create; "deleting": before or
    after the backend's delete. The backend's `state` says which: the record becomes
    "created" or goes.
    """
    record = records.load(root, cid)
    if record is None:
        raise FrontError("container does not exist")
    if record.phase == "created":
        return record
    if record.kind == "shim":
        from .shimfront import settle  # lazy: ttrpc, for shim v2 backends only

        return settle(root, cid, record)
    state = [record.binary, *backend_globals(call, record.root, record.flags), "state", cid]
    code, _out, err = _run(state, capture=False)
    if code == 0:
        if record.phase == "creating":
            record.phase = "created"
            records.save(root, cid, record)
        return record
    if _gone(err):
        records.remove(root, cid)
        raise FrontError("container does not exist")
    raise FrontError(f"{record.backend} state {cid}: {err.decode(errors='replace').strip()}")


# --- create / restore -------------------------------------------------------------------------


def create(call: Call, root: str) -> int:
    """Route, record ("creating"), run the backend's create, then record "created".

    The record is written first, so no backend container ever exists without one; a crash
    after it leaves a "creating" record that the next call settles (`known`).
    """
    # lazy: the configuration and Registry, for create only
    from .routing import bundle_annotation, resolve

    cid = records.check_id(call.container or "")
    if call.verb == "run":
        raise FrontError("ocimux-oci does not implement run: use create, then start")
    if records.load(root, cid) is not None:
        try:
            known(call, root, cid)
        except FrontError:
            pass  # a stale record, now gone
        else:
            raise FrontError(f"container with id exists: {cid}")
    bundle = str(call.flag("bundle") or os.getcwd())
    backend = resolve(bundle_annotation(bundle), call.global_str("backend"))
    if call.verb == "restore" and "checkpoint" in backend.refuse:
        raise FrontError(f"{backend.name} cannot restore: {backend.refuse['checkpoint']}")
    if backend.kind == "shim":
        if call.verb == "restore":
            raise FrontError(f"{backend.name} cannot restore: no shim v2 restore in ocimux-oci")
        from . import shimfront  # lazy: ttrpc, for shim v2 backends only

        return shimfront.create(call, root, cid, backend, os.path.abspath(bundle))
    record = Record(
        backend.name,
        backend.binary,
        records.backend_root(root, backend.name),
        list(backend.flags),
        refuse=dict(backend.refuse),
    )
    os.makedirs(record.root, mode=0o700, exist_ok=True)
    records.save(root, cid, record)
    crash_point("oci-create:recorded")
    code = _create_child(backend_argv(call, record), call)
    crash_point("oci-create:backend")
    if code != 0:
        records.remove(root, cid)  # the backend's own error is already on stderr / --log
        return code
    record.phase = "created"
    records.save(root, cid, record)
    return 0


def _create_child(argv: list[str], call: Call) -> int:
    """Run the backend's create with our stdio and the fds `--preserve-fds` hands on."""
    # lazy: for create only
    from ocimux.base import process

    extra = int(str(call.flag("preserve-fds") or 0) or 0)
    return process.run_fds(
        argv, timeout=BACKEND_TIMEOUT, stdin=0, stdout=1, stderr=2, pass_fds=range(3, 3 + extra)
    )


# --- delete -----------------------------------------------------------------------------------


def delete(call: Call, root: str) -> int:
    """Mark "deleting", run the backend's delete, remove the record once the backend has none."""
    cid = records.check_id(call.container or "")
    record = records.load(root, cid)
    if record is None:
        if call.flag("force"):
            return 0  # runc: delete --force of an unknown container succeeds
        raise FrontError("container does not exist")
    if record.kind == "shim":
        from . import shimfront  # lazy: ttrpc, for shim v2 backends only

        return shimfront.delete(call, root, cid, record)
    if record.phase != "deleting":
        record.phase = "deleting"
        records.save(root, cid, record)
    crash_point("oci-delete:marked")
    code, _out, err = _run(backend_argv(call, record), capture=False)
    crash_point("oci-delete:backend")
    if code == 0 or _gone(err):
        records.remove(root, cid)
        if code != 0 and call.flag("force"):
            return 0
    else:
        record.phase = "created"  # the backend still has it, whole
        records.save(root, cid, record)
    sys.stderr.buffer.write(err)
    sys.stderr.flush()
    return code


# --- list, features, spec ---------------------------------------------------------------------


def list_containers(call: Call, root: str) -> int:
    """Every backend's `list --format json` for the roots our records name, merged."""
    import json  # lazy: json imports re (~3 ms), which state, start, kill... never need

    groups: dict[tuple[str, str, tuple[str, ...]], set[str]] = {}
    found: list[dict[str, object]] = []
    for cid, record in records.all_records(root).items():
        if record.kind == "shim":
            from .shimfront import state_of  # lazy: ttrpc, for shim v2 backends only

            try:
                found.append(state_of(record, cid))
            except FrontError:
                pass  # its shim is gone: `delete --force` removes it
            continue
        groups.setdefault((record.binary, record.root, tuple(record.flags)), set()).add(cid)
    for (binary, broot, flags), cids in sorted(groups.items()):
        argv = [binary, *backend_globals(call, broot, flags), "list", "--format", "json"]
        code, out, err = _run(argv, capture=True)
        if code != 0:
            raise FrontError(f"list on {binary}: {err.decode(errors='replace').strip()}")
        for item in json.loads(out or b"null") or []:
            if isinstance(item, dict) and item.get("id") in cids:
                found.append(item)
    found.sort(key=lambda item: str(item.get("id")))
    if call.flag("quiet"):
        sys.stdout.write("".join(f"{item['id']}\n" for item in found))
    elif call.flag("format") == "json":
        sys.stdout.write(json.dumps(found or None) + "\n")
    else:
        rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
        rows += [
            tuple(
                str(item.get(k, "")) for k in ("id", "pid", "status", "bundle", "created", "owner")
            )
            for item in found
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        for row in rows:
            sys.stdout.write(
                "   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n"
            )
    return 0


def about_backend(call: Call) -> int:
    """`features` (the backend's, naming it) and `spec` (the backend's) for `--backend`/default."""
    # lazy: json (imports re) and the configuration, which the container verbs never need
    import json

    from .routing import resolve

    backend = resolve(None, call.global_str("backend"))
    if backend.kind == "shim":
        what = (
            "report features (capability: features)" if call.verb == "features" else "write a spec"
        )
        raise FrontError(
            f"{backend.name} cannot {what}: a shim v2 backend has no {call.verb} command; "
            "ask a backend that is an OCI CLI (--backend NAME)"
        )
    if call.verb == "spec":
        argv = [backend.binary, *backend_globals(call, None, backend.flags), *verb_argv(call)]
        os.execv(argv[0], argv)
    argv = [backend.binary, *backend_globals(call, None, backend.flags), "features"]
    code, out, err = _run(argv, capture=True)
    try:
        features = json.loads(out) if code == 0 else None
    except ValueError:
        features = None
    if not isinstance(features, dict):
        first = (err or out).decode(errors="replace").strip().splitlines()[:1]
        raise FrontError(
            f"{backend.name} cannot report features (capability: features): "
            f"{first[0] if first else f'exit status {code}'}"
        )
    # everything the backend supports goes through the front unchanged; name the backend
    annotations = features.setdefault("annotations", {}) or {}
    annotations["io.ocimux.oci.backend"] = backend.name
    features["annotations"] = annotations
    sys.stdout.write(json.dumps(features, indent=4) + "\n")
    return 0
