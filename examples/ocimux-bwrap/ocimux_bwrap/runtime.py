"""`BwrapRuntime`: containers in bubblewrap (Debian's bwrap 0.8, run as root), on ocimux's
`ProcessRuntime`. Every spec field is applied or refused at create (README: what maps to what)."""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING, ClassVar

from ocimux import Capabilities, Capability, InvalidArgumentError, RuntimeCommandError
from ocimux.base import process
from ocimux.oci.processruntime import Command, ProcessRuntime

if TYPE_CHECKING:
    from ocimux.interface.specview import Mount, SpecView

__all__ = ["BwrapRuntime"]

GATE_FD, INFO_FD = 3, 4  # bwrap --block-fd (the start gate), --info-fd (the container's pid)
NAMESPACES = {"pid": "--unshare-pid", "network": "--unshare-net", "ipc": "--unshare-ipc",
              "uts": "--unshare-uts", "cgroup": "--unshare-cgroup", "mount": ""}  # fmt: skip
#: runtime-spec default mounts bwrap makes its own way (flags: README)
OWN = {("/proc", "proc"): ["--proc", "/proc"], ("/dev", "tmpfs"): ["--dev", "/dev"],
       ("/dev/pts", "devpts"): [], ("/dev/mqueue", "mqueue"): ["--mqueue", "/dev/mqueue"],
       ("/sys", "sysfs"): ["--ro-bind", "/sys", "/sys"], ("/sys/fs/cgroup", "cgroup"): []}  # fmt: skip
COMMON = {"ro", "rw", "private", "rprivate", "nosuid", "nodev", "exec"}  # bwrap: nosuid, nodev
BIND_OPTIONS, TMPFS_OPTIONS = COMMON | {"bind", "rbind"}, COMMON | {"strictatime", "relatime"}
UNITS, SIZED = {"k": 10, "m": 20, "g": 30}, {"mode", "size"}
DENY_ALL = ({"allow": False, "access": "rwm"},)  # --bind is nodev; --dev makes the basic ones
KNOWN = {
    "": {"ociVersion", "process", "root", "hostname", "mounts", "linux", "annotations"},
    "process": {"terminal", "consoleSize", "user", "args", "env", "cwd", "capabilities",
                "rlimits", "noNewPrivileges"},
    "linux": {"namespaces", "resources", "maskedPaths", "readonlyPaths", "sysctl"},
}  # fmt: skip
#: sysctl prefix -> the namespace that makes it the container's own, nsenter's flag for it
SYSCTLS = (("net.", "network", "--net"), ("kernel.shm", "ipc", "--ipc"),
           ("kernel.msg", "ipc", "--ipc"), ("kernel.sem", "ipc", "--ipc"),
           ("fs.mqueue.", "ipc", "--ipc"))  # fmt: skip


def _yes(why: str, value: bool = True) -> Capability:
    return Capability(value, "declared", why)


def _no(why: str) -> Capability:
    return _yes(why, False)


class BwrapRuntime(ProcessRuntime):
    """bwrap under ocimux's process monitor: `bwrap --block-fd` is the start gate, its
    `--info-fd` names the container's process, exec joins its namespaces (ProcessRuntime)."""

    api_version: ClassVar[int] = 1
    binary: ClassVar[str | None] = "bwrap"
    default_paths: ClassVar[tuple[str, ...]] = ("/usr/bin/bwrap",)
    capabilities = Capabilities(
        isolation=_yes("namespaces, its own root, /proc and /dev; the spec's capabilities"),
        exec=_yes("joins the container's namespaces and root"),
        terminal=_yes("a pty from ocimux's monitor"),
        pause=_yes("SIGSTOP/SIGCONT of its pid namespace (seen by its processes)"),
        no_cgroups=_yes("bwrap creates no cgroup"),
        host_network=_yes("the network namespace is not unshared"),
        umask=_yes("set before bwrap starts; bwrap keeps it"),
        resource_limits=_no("bwrap has no cgroups to limit"),
        update_resources=_no("bwrap has no cgroups to update"),
        devices=_no("bwrap's /dev has only null, zero, full, random, urandom and tty"),
        privileged=_no("bwrap cannot give the host's devices or a writable /sys"),
        seccomp=_no("bwrap loads compiled BPF only; ocimux does not compile OCI profiles"),
        domainname=_no("bwrap sets only the hostname"),
        checkpoint=_no("bwrap cannot save a process's state"),
        kvm=_no("bwrap starts no virtual machine"),
        json_errors=_no("bwrap writes its errors as text"),
    )

    def unavailable_reason(self) -> str | None:
        if os.geteuid() != 0:  # unprivileged bwrap needs a user namespace, which changes root
            return "the bwrap plugin runs bwrap as root: run ocimux as root"
        return super().unavailable_reason()

    def _refuse(self, field: str, why: str) -> InvalidArgumentError:
        return InvalidArgumentError(f"cannot honour {field}: {why}",
                                    runtime=self.name, verb="create")  # fmt: skip

    def command(self, spec: SpecView) -> Command:
        raw = spec.raw
        for where, allowed in KNOWN.items():
            extra = set(raw.get(where, {}) if where else raw) - allowed
            if extra:
                raise self._refuse(f"{where or 'the spec'}.{sorted(extra)[0]}", "not supported")
        user, caps = spec.user, spec.capabilities
        if (user.uid, user.gid, user.additional_gids) != (0, 0, ()):
            raise self._refuse("process.user", "bwrap without a user namespace runs as root")
        if caps.effective != caps.permitted or not set(caps.effective) <= set(caps.bounding):
            raise self._refuse("process.capabilities", "bwrap gives one effective=permitted set")
        linux = raw.get("linux", {})
        if linux.get("resources", {}) not in ({}, {"devices": DENY_ALL}):  # no cgroup, no device
            raise self._refuse("linux.resources", "bwrap has no cgroups")
        kinds = {ns.type for ns in spec.namespaces if ns.path is None}
        bad = [ns.type for ns in spec.namespaces if ns.path or ns.type not in NAMESPACES]
        if bad or "mount" not in kinds:
            raise self._refuse("linux.namespaces", f"it makes new ones of {', '.join(NAMESPACES)}")
        argv = [self.path or "bwrap", "--die-with-parent", "--block-fd", str(GATE_FD),
                "--info-fd", str(INFO_FD), "--bind", str(spec.root_path), "/"]  # fmt: skip
        argv += [NAMESPACES[kind] for kind in sorted(kinds) if NAMESPACES[kind]]
        argv += ["--as-pid-1"] if "pid" in kinds else []
        argv += [] if spec.terminal else ["--new-session"]  # no TIOCSTI into another session
        if spec.hostname:
            if "uts" not in kinds:
                raise self._refuse("hostname", "it needs a uts namespace")
            argv += ["--hostname", spec.hostname]
        for mount in spec.mounts:
            argv += self._mount(mount)
        for path in linux.get("maskedPaths", ()):
            if os.path.isdir(path):
                argv += ["--tmpfs", path, "--remount-ro", path]
            elif os.path.exists(path):
                argv += ["--ro-bind", "/dev/null", path]
        for path in linux.get("readonlyPaths", ()):
            argv += ["--ro-bind", path, path] if os.path.exists(path) else []
        argv += ["--remount-ro", "/"] if spec.root_readonly else []
        argv += ["--cap-drop", "ALL", *(a for c in caps.effective for a in ("--cap-add", c))]
        for key in linux.get("sysctl", {}):
            self._sysctl(key, kinds)
        argv += ["--chdir", spec.cwd, "--", *spec.args]
        return Command(tuple(argv), spec.env, umask=user.umask, rlimits=spec.rlimits,
                       gate_fd=GATE_FD, pid_fd=INFO_FD)  # fmt: skip

    def _mount(self, m: Mount) -> list[str]:
        where, opts = f"mounts {m.destination}", set(m.options)
        if (m.destination, m.type) in OWN:
            if m.type == "sysfs" and "ro" not in opts:
                raise self._refuse(where, "bwrap binds the host's /sys, read-only only")
            return OWN[(m.destination, m.type)]
        if m.type == "tmpfs":
            values = dict(o.split("=", 1) for o in opts if "=" in o)
            lax = {"noexec"} if m.destination == "/dev/shm" else set()  # README: as /dev
            if bad := {o for o in opts if "=" not in o} - TMPFS_OPTIONS - lax | set(values) - SIZED:
                raise self._refuse(where, f"bwrap's tmpfs cannot be {', '.join(sorted(bad))}")
            size = values.get("size", "")
            if size[-1:].lower() in UNITS:
                size = str(int(size[:-1]) << UNITS[size[-1].lower()])
            argv = ["--perms", values["mode"]] if "mode" in values else []
            argv += [*(["--size", size] if size else []), "--tmpfs", m.destination]
            return argv + (["--remount-ro", m.destination] if "ro" in opts else [])
        source = m.source or ""
        # noexec adds nothing on a file nobody may execute (a generated /etc/hosts)
        inert = os.path.isfile(source) and not os.stat(source).st_mode & 0o111
        if m.type != "bind":
            raise self._refuse(where, f"bwrap mounts no {m.type} (binds and tmpfs only)")
        if bad := opts - BIND_OPTIONS - ({"noexec"} if inert else set()):
            raise self._refuse(where, f"bwrap's binds cannot be {', '.join(sorted(bad))}")
        return ["--ro-bind" if "ro" in opts else "--bind", source, m.destination]

    def _sysctl(self, key: str, kinds: set[str]) -> str:
        """nsenter's flag for the namespace that makes `key` the container's own."""
        ns, flag = next(((n, f) for p, n, f in SYSCTLS if key.startswith(p)), ("", ""))
        if ns not in kinds or not shutil.which("nsenter"):
            why = "only namespaced net.*, kernel.shm/msg/sem and fs.mqueue.* (with nsenter)"
            raise self._refuse(f"linux.sysctl {key}", why)
        return flag

    def prepare(self, cid: str, pid: int, spec: SpecView) -> None:
        """Write the spec's sysctls inside the container's namespaces (nsenter, then tee)."""
        kinds = {ns.type for ns in spec.namespaces}
        for key, value in spec.raw.get("linux", {}).get("sysctl", {}).items():
            path = "/proc/sys/" + key.replace(".", "/")
            argv = ["nsenter", "--target", str(pid), self._sysctl(key, kinds), "tee", path]
            done = process.run(argv, input=value.encode(), timeout=self.context.command_timeout,
                               stdout=process.DEVNULL)  # fmt: skip
            if done.returncode != 0:
                raise RuntimeCommandError(f"cannot set sysctl {key}={value}: {done.stderr_text}",
                                          argv=argv, container=cid, runtime=self.name)  # fmt: skip
