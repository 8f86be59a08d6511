"""The runtime spec ocimux writes, compared with podman 4's for the same flags.

For each flag combination in CASES, `podman create` + `podman init` write podman's config.json
(podman's own --root/--runroot/--tmpdir under tmp_path; `init` may fail on this host, the file
is there before that) and `ocimux create` writes ours into the container's bundle. Both are
reduced to comparable sections (`sections`): capabilities, rlimits, noNewPrivileges, mounts by
destination, linux.resources, seccomp (defaultAction, rule count, architectures), the hostname
rule, masked and read-only paths, sysctls, namespaces, root.readonly and the user.

A difference is allowed only if INTENDED lists it with both values and the reason; any other
difference fails the test, naming section, podman's value and ours.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Runner

pytestmark = [pytest.mark.requires_root, pytest.mark.requires_runtime("crun")]

#: what podman needs on this host (docs: host.md §6): ulimits it can set, no network stack
PODMAN_HOST_FLAGS = ("--network", "none")
PODMAN_ULIMITS = {"nofile": "nofile=20000:20000", "nproc": "nproc=32768:32768"}

CASES: dict[str, list[str]] = {
    "default": [],
    "cap-add-drop": ["--cap-add", "SYS_ADMIN", "--cap-drop", "CHOWN"],
    "cap-drop-all": ["--cap-drop", "ALL"],
    "privileged": ["--privileged"],
    "read-only": ["--read-only"],
    "resources": [
        "--memory",
        "64m",
        "--memory-swap",
        "128m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "50",
        "--cpu-shares",
        "512",
    ],  # fmt: skip
    "ulimit": ["--ulimit", "nofile=100:200"],
    "sysctl": ["--sysctl", "net.ipv4.ip_forward=1"],
    "volume-tmpfs": ["-v", "DATA:/data:ro", "--tmpfs", "/run"],
    "no-new-privileges": ["--security-opt", "no-new-privileges"],
    "seccomp-unconfined": ["--security-opt", "seccomp=unconfined"],
    "hostname": ["--hostname", "box"],
    "mask-unmask": ["--security-opt", "mask=/etc/x", "--security-opt", "unmask=/proc/kcore"],
    "init": ["--init"],
}

#: sections not compared at all, with the reason
IGNORED_SECTIONS = {
    "annotations": "podman's own bookkeeping (io.podman.annotations.*, io.kubernetes.cri-o.*)",
    "linux.cgroupsPath": "each engine names its own cgroup (podman: /libpod_parent/libpod-ID)",
    "process.env": "podman adds container=podman and its image's env; checked elsewhere",
    "process.args": "podman's --init and our command line differ in wording only (see mounts)",
    "root.path": "podman and ocimux each use their own copy of the rootfs",
}


def _host_hard(name: str) -> int:
    """podman's 1048576 default clamped to this process's hard limit, as ocimux does here."""
    import resource

    hard = resource.getrlimit(getattr(resource, f"RLIMIT_{name.upper()}"))[1]
    return min(hard, 1048576) if hard != resource.RLIM_INFINITY else 1048576


ANY = "*"
_SYS_RW = ["nodev", "noexec", "nosuid", "rprivate", "rw"]
#: (case or ANY, section, podman's value, ocimux's value, why the difference is intended)
INTENDED: list[tuple[str, str, Any, Any, str]] = [
    (
        ANY, "mount /dev/shm",
        ["bind", "<generated>", ["bind", "nodev", "noexec", "nosuid", "rprivate"]],
        ["tmpfs", "shm", ["mode=1777", "nodev", "noexec", "nosuid", "size=65536k"]],
        "podman binds a per-container shm it manages (userdata/shm); ocimux mounts a tmpfs of the "
        "same size, which goes with the container",
    ),
    (
        ANY, "mount /run/.containerenv",
        ["bind", "<generated>", ["bind", "rprivate"]], None,
        "podman's marker file for tools inside the container; ocimux is not podman",
    ),
    (
        ANY, "mount /etc/resolv.conf",
        ["bind", "<generated>", ["bind", "rprivate"]], None,
        "with --network none ocimux leaves the image's resolv.conf (there is no resolver to "
        "reach); podman always generates one",
    ),
    (
        ANY, "rlimit RLIMIT_NPROC", [32768, 32768], [_host_hard("nproc")] * 2,
        "podman runs here only with an explicit --ulimit nproc=32768:32768 (it lowers its own "
        "nproc to that); ocimux clamps podman's 1048576 default to this host's hard limit",
    ),
    (
        "privileged", "linux.resources",
        {"devices": [{"allow": True, "access": "rwm"}], "pids": {"limit": 2048}},
        {"devices": [{"allow": False, "access": "rwm"}, {"allow": True, "access": "rwm"}],
         "pids": {"limit": 2048}},
        "same device cgroup: ocimux keeps the leading deny-all and appends allow-all",
    ),
    (
        "privileged", "mount /sys", ["sysfs", "sysfs", _SYS_RW], ["sysfs", "sysfs", _SYS_RW[:3]],
        "same mount: rw is the default, and a sysfs mount is not a bind (propagation moot)",
    ),
    (
        "privileged", "mount /sys/fs/cgroup",
        ["cgroup", "cgroup", ["nodev", "noexec", "nosuid", "relatime", "rprivate", "rw"]],
        ["cgroup", "cgroup", ["nodev", "noexec", "nosuid", "relatime"]],
        "same mount: rw is the default; propagation of a non-bind mount is moot",
    ),
    *(
        (
            case, f"mount {dest}",
            ["tmpfs", "tmpfs", ["nodev", "nosuid", "rprivate", "rw", "tmpcopyup"]],
            ["tmpfs", "tmpfs", opts],
            "tmpcopyup (copy the image's files into the tmpfs) is a runc/crun extension that runsc "
            "accepts and ignores, so ocimux never relies on it: its tmpfs starts empty, as "
            "Docker's does. podman 4.3.1 also leaves out noexec, against its own man page "
            "(--tmpfs default rw,noexec,nosuid,nodev), which ocimux follows",
        )
        for case, dest, opts in (
            ("read-only", "/run", ["nodev", "nosuid", "rprivate", "rw"]),
            ("read-only", "/tmp", ["nodev", "nosuid", "rprivate", "rw"]),
            ("read-only", "/var/tmp", ["nodev", "nosuid", "rprivate", "rw"]),
            ("volume-tmpfs", "/run", ["nodev", "noexec", "nosuid", "rprivate", "rw"]),
        )
    ),
    *(
        (
            case, "mount /sys/fs/cgroup",
            ["cgroup", "cgroup", ["nodev", "noexec", "nosuid", "relatime", "ro", "rprivate"]],
            ["cgroup", "cgroup", ["nodev", "noexec", "nosuid", "relatime", "ro"]],
            "runc's `spec` template has no rprivate on the cgroup mount; it is not a bind, so "
            "propagation is moot (podman adds rprivate to every mount it touches)",
        )
        for case in CASES if case != "privileged"
    ),
]  # fmt: skip
# /dev/ptmx and /dev/tty (in podman's --privileged device list) are left out of the compared
# section: ocimux leaves them to the runtime, which always creates both.

# --- reducing a config.json to comparable sections -----------------------------------------


def sections(spec: dict[str, Any], cid: str, generated: list[str]) -> dict[str, Any]:
    """The compared parts of `spec`, keyed by section name, with ids and generated paths hidden.

    `generated` are directory prefixes whose files an engine generated (a bind from there is
    shown with source "<generated>").
    """
    proc = spec.get("process", {})
    linux = spec.get("linux", {})
    out: dict[str, Any] = {}
    caps = proc.get("capabilities", {})
    for kind in ("bounding", "effective", "permitted", "inheritable", "ambient"):
        out[f"capabilities.{kind}"] = sorted(caps.get(kind) or [])
    for rl in proc.get("rlimits") or []:
        out[f"rlimit {rl['type']}"] = [rl["soft"], rl["hard"]]
    out["noNewPrivileges"] = bool(proc.get("noNewPrivileges"))
    user = proc.get("user", {})
    out["user"] = {
        "uid": user.get("uid", 0),
        "gid": user.get("gid", 0),
        "umask": user.get("umask"),
        "additionalGids": sorted(user.get("additionalGids") or []),
    }
    out["root.readonly"] = bool(spec.get("root", {}).get("readonly"))
    host = spec.get("hostname", "")
    out["hostname"] = "<id[:12]>" if host == cid[:12] else host
    for m in spec.get("mounts") or []:
        source = m.get("source", "")
        if m.get("type") == "bind" and any(source.startswith(g) for g in generated):
            source = "<generated>"
        elif m.get("type") == "bind":
            source = os.path.realpath(source)  # podman's catatonit path is a symlink
        out[f"mount {m['destination']}"] = [m.get("type"), source, sorted(m.get("options") or [])]
    out["linux.resources"] = linux.get("resources") or {}
    seccomp = linux.get("seccomp")
    out["seccomp"] = (
        None
        if seccomp is None
        else {
            "defaultAction": seccomp.get("defaultAction"),
            "defaultErrnoRet": seccomp.get("defaultErrnoRet"),
            "architectures": seccomp.get("architectures"),
            "syscall rules": len(seccomp.get("syscalls") or []),
            "syscall names": sum(len(s.get("names") or []) for s in seccomp.get("syscalls") or []),
        }
    )
    out["maskedPaths"] = linux.get("maskedPaths") or []
    out["readonlyPaths"] = linux.get("readonlyPaths") or []
    out["sysctl"] = linux.get("sysctl") or {}
    out["namespaces"] = sorted(n["type"] for n in linux.get("namespaces") or [])
    out["linux.devices"] = sorted(
        (d["path"], d["type"], d.get("major"), d.get("minor"))
        for d in linux.get("devices") or []
        if d["path"] not in ("/dev/ptmx", "/dev/tty")  # see INTENDED: added by every runtime
    )
    return out


def differences(
    case: str, podman: dict[str, Any], ours: dict[str, Any]
) -> tuple[list[str], list[str]]:
    """(unexpected, intended) differences, one readable line each."""
    unexpected, intended = [], []
    for key in sorted(set(podman) | set(ours)):
        p, o = podman.get(key), ours.get(key)
        if p == o:
            continue
        row = next(
            (
                r
                for r in INTENDED
                if r[0] in (ANY, case) and r[1] == key and r[2] == p and r[3] == o
            ),
            None,
        )
        line = f"{key}: podman {json.dumps(p)} | ocimux {json.dumps(o)}"
        (intended if row else unexpected).append(line + (f" ({row[4]})" if row else ""))
    return unexpected, intended


# --- running both -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def podman(tmp_path_factory: pytest.TempPathFactory, busybox_rootfs: Path):
    """A function running podman create+init for flags, returning (config.json, id, dirs)."""
    if shutil.which("podman") is None:
        pytest.skip("podman not on PATH (apt install podman)")
    # podman refuses a --runroot longer than 50 characters: a short directory of its own
    base = Path(tempfile.mkdtemp(prefix="pd", dir="/tmp"))
    rootfs = base / "rootfs"
    shutil.copytree(busybox_rootfs, rootfs, symlinks=True)  # podman writes into it
    dirs = [base / "storage", base / "runroot", base / "tmp"]
    cmd = [
        "podman", "--root", str(dirs[0]), "--runroot", str(dirs[1]), "--tmpdir", str(dirs[2]),
        "--cgroup-manager", "cgroupfs", "--events-backend", "file", "--runtime", "crun",
    ]  # fmt: skip

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*cmd, *args],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            env={k: v for k, v in os.environ.items() if not k.startswith("CONTAINERS_CONF")},
        )
        assert not check or done.returncode == 0, (args, done.stderr)
        return done

    def create(flags: list[str]) -> tuple[dict[str, Any], str, list[str]]:
        given = {f.split("=")[0] for f in flags if "=" in f and f.split("=")[0] in PODMAN_ULIMITS}
        ulimits = [a for k, v in PODMAN_ULIMITS.items() if k not in given for a in ("--ulimit", v)]
        # podman's --rootfs is a switch: the first positional is the rootfs, flags go before it
        cid = run(
            "create", *flags, *ulimits, *PODMAN_HOST_FLAGS, "--rootfs", str(rootfs), "/bin/sh"
        ).stdout.strip()
        try:
            run("init", cid, check=False)
            [path] = dirs[0].glob(f"*-containers/{cid}/userdata/config.json")
            return json.loads(path.read_text()), cid, [str(d) for d in dirs]
        finally:
            run("rm", "-f", cid, check=False)

    yield create
    # podman's overlay driver bind-mounts its storage/overlay onto itself: undo that first
    overlay = dirs[0] / "overlay"
    with open("/proc/self/mounts", encoding="utf-8") as fh:
        mounted = any(line.split()[1] == str(overlay) for line in fh)
    if mounted:
        subprocess.run(["umount", str(overlay)], check=False, timeout=30)
    shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("case", list(CASES))
def test_spec_matches_podman(
    case: str, podman: Any, ocimux: Runner, busybox_rootfs: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    flags = [f.replace("DATA", str(data)) for f in CASES[case]]
    p_spec, p_id, p_dirs = podman(flags)

    done = ocimux(
        "create", *flags, "--runtime", "crun", "--rootfs", str(busybox_rootfs), "--", "/bin/sh"
    )
    assert done.returncode == 0, done.stderr
    cid = done.stdout.strip()
    rec = json.loads(ocimux("inspect", cid, check=True).stdout)[0]
    bundle = Path(rec["bundle"])
    o_spec = json.loads((bundle / "config.json").read_text())
    ocimux("rm", "-f", cid, check=True)

    ours = sections(o_spec, cid, [str(bundle)])
    theirs = sections(p_spec, p_id, p_dirs)
    unexpected, intended = differences(case, theirs, ours)
    print(f"intended differences for {case}:", *intended, sep="\n  ")
    assert not unexpected, f"{case}: unexpected differences from podman:\n  " + "\n  ".join(
        unexpected
    )
