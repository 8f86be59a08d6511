"""Container options (`run`/`create` flags) proven from inside real containers.

Each test runs on runc and crun (under conmon) and on `runc-shim` (containerd-shim-runc-v2),
and reads what the kernel says, never ocimux's config.json: /proc/self/status, mountinfo,
a write that fails, `hostname`, `id`, `ulimit`, /proc/sys, and the container's cgroup files on
the host. Several options share one container where that is natural: the container's shell
prints `key=value` lines (`REPORT`), and each assertion names its key, so a failure still
says which option broke.

runsc declares no `devices`, `privileged`, `seccomp` or `host_network`: there, each such
option must be refused (exit 125, one line naming option, runtime and capability) before
anything is created; the options it does honour are checked on it too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.integration.conftest import (
    Oci,
    _clean,
    host_cgroup_file,
    one_line,
    wait_until,
)

SHIM = "containerd-shim-runc-v2"
_ROOT = pytest.mark.requires_root
RUNTIME_PARAMS = [
    pytest.param("runc", id="runc", marks=[_ROOT, pytest.mark.requires_runtime("runc")]),
    pytest.param("crun", id="crun", marks=[_ROOT, pytest.mark.requires_runtime("crun")]),
    pytest.param(
        "runc-shim",
        id="runc-shim",
        marks=[_ROOT, pytest.mark.requires_runtime(SHIM), pytest.mark.requires_runtime("runc")],
    ),
]

#: podman's 11 default capabilities as a CapEff mask
PODMAN_CAPEFF = 0x00000000800405FB
CAP_CHOWN = 0
CAP_NET_RAW = 13
CAP_SYS_ADMIN = 21


@pytest.fixture(params=RUNTIME_PARAMS)
def runtime(request: pytest.FixtureRequest) -> str:
    """runc, crun (both under conmon) and runc-shim."""
    if request.param != "runc-shim" and shutil.which("conmon") is None:
        pytest.skip("conmon not on PATH (apt install conmon)")
    return str(request.param)


@pytest.fixture
def box(oci: Oci) -> Iterator[Oci]:
    """The `oci` runner; for runc-shim, teardown also ends the shim's lingering event sink.

    (The sink outlives its last shim by design for up to 10 s; `oci`'s teardown would count it.)
    """
    yield oci
    if oci.runtime == "runc-shim":
        from tests.integration.test_shimv2 import sink_procs

        left = oci.run("ps", "-a", "-q").stdout.split()
        if left:
            oci.run("rm", "-f", "-t", "0", *left, timeout=120)
        for pid in sink_procs(oci.state):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


# --- helpers ------------------------------------------------------------------------------

#: prints `key=value` lines about the container's own view (sourced by `report`)
STATUS = (
    'for k in CapEff CapBnd CapPrm NoNewPrivs Seccomp; do echo "$k=$(grep "^$k:" '
    "/proc/self/status | tr -d '[:space:]' | cut -d: -f2)\"; done; "
)


def report(box: Oci, script: str, flags: list[str] | None = None) -> dict[str, str]:
    """`run --rm FLAGS -- sh -c STATUS+SCRIPT`; the `key=value` lines of its stdout as a dict.

    A key printed twice keeps its lines joined by newlines.
    """
    done = box(*box.new("run", "sh", "-c", STATUS + script, flags=["--rm", *(flags or [])]))
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
    out: dict[str, str] = {}
    for line in done.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key] = f"{out[key]}\n{value}" if key in out else value
    return out


def check(values: dict[str, str], expected: dict[str, str]) -> None:
    """Compare each expected key, reporting every mismatch by name at once."""
    wrong = {k: (values.get(k), v) for k, v in expected.items() if values.get(k) != v}
    assert not wrong, f"(got, expected) per key: {wrong}"


def mountinfo(box_out: str) -> dict[str, tuple[str, list[str], str]]:
    """Parse `cat /proc/self/mountinfo`: mount point -> (root, mount options, fstype)."""
    out = {}
    for line in box_out.splitlines():
        fields = line.split()
        sep = fields.index("-")
        out[fields[4]] = (fields[3], fields[5].split(","), fields[sep + 1])
    return out


def mounts_of(box: Oci, flags: list[str]) -> dict[str, tuple[str, list[str], str]]:
    done = box(*box.new("run", "cat", "/proc/self/mountinfo", flags=["--rm", *flags]))
    assert done.returncode == 0, done.stderr
    return mountinfo(done.stdout)


def detached(box: Oci, flags: list[str], *cmd: str) -> tuple[str, int]:
    """`run -d FLAGS -- CMD`; (id, host pid of the container's init)."""
    cid = box.ok(*box.new("run", *(cmd or ("sleep", "300")), flags=["-d", *flags])).strip()
    pid = box.record(cid)["pid"]
    assert isinstance(pid, int) and pid > 0, box.record(cid)
    return cid, pid


def cgroup(pid: int, controller: str, filename: str) -> str:
    return host_cgroup_file(pid, controller, filename).read_text().strip()


def refused(done: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit 125 and exactly one stderr line containing every needle."""
    assert done.returncode == 125, (done.returncode, done.stdout, done.stderr)
    line = one_line(done.stderr)
    for needle in needles:
        assert needle in line, (needle, line)
    return line


# --- the default container ----------------------------------------------------------------

DEFAULT_SCRIPT = (
    'echo "hostname=$(hostname)"; echo "uname_n=$(uname -n)"; '
    'echo "etc_hostname=$(cat /etc/hostname)"; '
    "grep -q '^127.0.0.1.*localhost' /etc/hosts && echo hosts_localhost=yes; "
    'echo "hosts_self=$(grep "$(hostname)" /etc/hosts | cut -f1)"; '
    'echo "timer_list_bytes=$(wc -c < /proc/timer_list)"; '
    'echo "keys_bytes=$(wc -c < /proc/keys)"; '
    'if [ -e /proc/kcore ]; then echo "kcore_bytes=$(wc -c < /proc/kcore)"; '
    "else echo kcore_bytes=0; fi; "
    "(echo x > /proc/sys/kernel/domainname) 2>/dev/null && echo proc_sys=writable "
    "|| echo proc_sys=readonly; "
    "(echo 1 > /proc/sysrq-trigger) 2>/dev/null && echo sysrq=writable || echo sysrq=readonly; "
    "(: > /sys/x) 2>/dev/null && echo sys=writable || echo sys=readonly; "
    "[ -e /dev/kmsg ] && echo kmsg=present || echo kmsg=absent; "
    'echo "umask=$(umask)"; echo "nofile=$(ulimit -n)"; '
    'echo "ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " | sort | tr "\\n" " ")"; '
    'echo "ids=$(id -u):$(id -g)"; echo "pid1=$(tr "\\0" " " < /proc/1/cmdline)"; '
    "(: > /probe) 2>/dev/null && echo root=writable || echo root=readonly; "
)


def test_default_container_is_podmans(box: Oci) -> None:
    values = report(box, DEFAULT_SCRIPT)
    hostname = values.get("hostname", "")
    assert re.fullmatch(r"[0-9a-f]{12}", hostname), values
    check(
        values,
        {
            "CapEff": f"{PODMAN_CAPEFF:016x}",
            "CapBnd": f"{PODMAN_CAPEFF:016x}",
            "CapPrm": f"{PODMAN_CAPEFF:016x}",
            "NoNewPrivs": "0",
            "Seccomp": "2",
            "uname_n": hostname,
            "etc_hostname": hostname,
            "hosts_localhost": "yes",
            "hosts_self": "127.0.1.1",
            # masked: bind of /dev/null (files) or an empty read-only tmpfs (directories)
            "timer_list_bytes": "0",
            "keys_bytes": "0",
            "kcore_bytes": "0",
            "proc_sys": "readonly",
            "sysrq": "readonly",
            "sys": "readonly",
            "kmsg": "absent",
            "umask": "0022",
            # podman's nofile default 1048576, clamped to this host's hard limit
            "nofile": str(min(1048576, _own_hard_nofile())),
            "ifaces": "lo ",
            "ids": "0:0",
            "pid1": f"sh -c {STATUS + DEFAULT_SCRIPT} ",
            "root": "writable",
        },
    )
    ps = box.ps()
    assert ps == [], ps


def _own_hard_nofile() -> int:
    import resource

    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def test_default_pids_limit_is_2048_and_the_id_names_the_hostname(box: Oci) -> None:
    cid, pid = detached(box, [])
    assert cgroup(pid, "pids", "pids.max") == "2048"
    assert box.ok("exec", cid, "hostname").strip() == cid[:12]


# --- cgroup limits ------------------------------------------------------------------------


def test_memory_cpu_and_pids_limits_reach_the_cgroup(box: Oci) -> None:
    flags = [
        "--memory", "64m", "--memory-swap", "128m", "--memory-reservation", "32m",
        "--cpus", "0.5", "--cpu-shares", "512", "--cpuset-cpus", "0", "--pids-limit", "99",
    ]  # fmt: skip
    _cid, pid = detached(box, flags)
    got = {
        "--memory": cgroup(pid, "memory", "memory.limit_in_bytes"),
        "--memory-reservation": cgroup(pid, "memory", "memory.soft_limit_in_bytes"),
        "--cpus quota": cgroup(pid, "cpu", "cpu.cfs_quota_us"),
        "--cpus period": cgroup(pid, "cpu", "cpu.cfs_period_us"),
        "--cpu-shares": cgroup(pid, "cpu", "cpu.shares"),
        "--cpuset-cpus": cgroup(pid, "cpuset", "cpuset.cpus"),
        "--pids-limit": cgroup(pid, "pids", "pids.max"),
    }
    want = {
        "--memory": str(64 << 20),
        "--memory-reservation": str(32 << 20),
        "--cpus quota": "50000",
        "--cpus period": "100000",
        "--cpu-shares": "512",
        "--cpuset-cpus": "0",
        "--pids-limit": "99",
    }
    swap = host_cgroup_file(pid, "memory", "memory.memsw.limit_in_bytes")
    if swap.exists():  # only with swap accounting (swapaccount=1)
        got["--memory-swap"] = swap.read_text().strip()
        want["--memory-swap"] = str(128 << 20)
    assert got == want


def test_pids_limit_minus_one_is_unlimited(box: Oci) -> None:
    _cid, pid = detached(box, ["--pids-limit", "-1"])
    assert cgroup(pid, "pids", "pids.max") == "max"


# --- capabilities, no-new-privileges, seccomp, masks --------------------------------------


def test_cap_drop_all_cap_add_one_and_no_new_privileges(box: Oci) -> None:
    values = report(
        box,
        "",
        ["--cap-drop", "ALL", "--cap-add", "NET_RAW", "--security-opt", "no-new-privileges"],
    )
    mask = f"{1 << CAP_NET_RAW:016x}"
    check(values, {"CapEff": mask, "CapBnd": mask, "CapPrm": mask, "NoNewPrivs": "1"})


def test_cap_add_and_cap_drop_adjust_the_default_set(box: Oci) -> None:
    values = report(box, "", ["--cap-add", "SYS_ADMIN", "--cap-drop", "CHOWN"])
    mask = f"{(PODMAN_CAPEFF | 1 << CAP_SYS_ADMIN) & ~1:016x}"
    check(values, {"CapEff": mask, "CapBnd": mask, "NoNewPrivs": "0"})


def test_seccomp_unconfined(box: Oci) -> None:
    check(report(box, "", ["--security-opt", "seccomp=unconfined"]), {"Seccomp": "0"})


def test_seccomp_profile_file_blocks_mkdir(box: Oci, tmp_path: Path) -> None:
    profile = tmp_path / "nomkdir.json"
    profile.write_text(
        json.dumps(
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}
                ],
            }
        )
    )
    values = report(
        box,
        'echo "mkdir=$(mkdir /tmp/x 2>&1 && echo made)"; [ -d /tmp/x ] || echo tmp_x=absent',
        ["--security-opt", f"seccomp={profile}"],
    )
    check(
        values,
        {"Seccomp": "2", "mkdir": "mkdir: can't create directory '/tmp/x': Operation not permitted",
         "tmp_x": "absent"},
    )  # fmt: skip


def test_mask_and_unmask(box: Oci) -> None:
    values = report(
        box,
        'echo "passwd_bytes=$(wc -c < /etc/passwd)"; '
        'echo "timer_list_nonempty=$([ "$(wc -c < /proc/timer_list)" -gt 0 ] && echo yes || echo no)"; '
        'echo "keys_bytes=$(wc -c < /proc/keys)"',
        ["--security-opt", "mask=/etc/passwd", "--security-opt", "unmask=/proc/timer_list"],
    )
    check(values, {"passwd_bytes": "0", "timer_list_nonempty": "yes", "keys_bytes": "0"})


def test_privileged_gets_the_full_bounding_set_no_seccomp_and_rw_sys(box: Oci) -> None:
    with open("/proc/self/status", encoding="ascii") as fh:
        host_bnd = next(ln.split()[1] for ln in fh if ln.startswith("CapBnd:"))
    values = report(
        box,
        "(: > /sys/kernel/uevent_helper) 2>/dev/null; "
        "grep -q ' /sys rw,' /proc/self/mountinfo && echo sys=rw || echo sys=ro; "
        "[ -c /dev/kmsg ] && echo kmsg=present || echo kmsg=absent; "
        'echo "timer_list_nonempty=$([ "$(wc -c < /proc/timer_list)" -gt 0 ] && echo yes || echo no)"',
        ["--privileged"],
    )
    check(
        values,
        {"CapEff": host_bnd, "CapBnd": host_bnd, "Seccomp": "0", "sys": "rw", "kmsg": "present",
         "timer_list_nonempty": "yes"},
    )  # fmt: skip


# --- mounts and the read-only root --------------------------------------------------------


def test_volumes_tmpfs_and_read_only_root(box: Oci, tmp_path: Path) -> None:
    ro_dir = tmp_path / "ro"
    rw_dir = tmp_path / "rw"
    ro_dir.mkdir()
    rw_dir.mkdir()
    (ro_dir / "hello").write_text("from-host\n")
    flags = [
        "--read-only", "-v", f"{ro_dir}:/data:ro", "-v", f"{rw_dir}:/out",
        "--mount", f"type=bind,source={ro_dir},destination=/m,ro=true", "--tmpfs", "/scratch",
    ]  # fmt: skip
    values = report(
        box,
        'echo "data=$(cat /data/hello)"; '
        "(: > /data/new) 2>/dev/null && echo data_write=ok || echo data_write=refused; "
        "(: > /m/new) 2>/dev/null && echo m_write=ok || echo m_write=refused; "
        "echo written > /out/file && echo out_write=ok; "
        "(: > /probe) 2>/dev/null && echo root_write=ok || echo root_write=refused; "
        "for d in /tmp /run /var/tmp /dev/shm /scratch; do "
        '(: > $d/probe) 2>/dev/null && echo "write_$d=ok" || echo "write_$d=refused"; done; '
        "cat /proc/self/mountinfo | sed 's/^/mi=/'",
        flags,
    )
    check(
        values,
        {
            "data": "from-host", "data_write": "refused", "m_write": "refused",
            "out_write": "ok", "root_write": "refused",
            **{f"write_{d}": "ok" for d in ("/tmp", "/run", "/var/tmp", "/dev/shm", "/scratch")},
        },
    )  # fmt: skip
    assert (rw_dir / "file").read_text() == "written\n"
    assert not (ro_dir / "new").exists()
    info = mountinfo(values["mi"])
    for dest, source in (("/data", ro_dir), ("/out", rw_dir), ("/m", ro_dir)):
        root, opts, _fstype = info[dest]
        assert root.endswith(str(source)), (dest, root)
        assert ("ro" in opts) == (dest != "/out"), (dest, opts)
    assert "ro" in info["/"][1], info["/"]
    for dest in ("/scratch", "/tmp", "/run", "/var/tmp"):
        assert info[dest][2] == "tmpfs", (dest, info[dest])
        assert "rw" in info[dest][1], (dest, info[dest])


def test_read_only_without_read_only_tmpfs_leaves_tmp_read_only(box: Oci) -> None:
    info = mounts_of(box, ["--read-only", "--read-only-tmpfs=false"])
    assert "ro" in info["/"][1]
    assert "/tmp" not in info and "/run" not in info, sorted(info)


# --- identity: hostname, domainname, groups, ulimits, sysctls, umask -----------------------


def test_hostname_domainname_groups_ulimit_sysctl_umask(box: Oci) -> None:
    flags = [
        "-h", "box", "--group-add", "1234",
        "--group-add", "nobody", "--ulimit", "nofile=100:200", "--sysctl",
        "net.ipv4.ip_forward=1", "--sysctl", "kernel.shmmax=123456789", "--umask", "0077",
    ]  # fmt: skip
    values = report(
        box,
        'echo "hostname=$(hostname)"; echo "uname_n=$(uname -n)"; '
        'echo "etc_hostname=$(cat /etc/hostname)"; echo "env_hostname=$HOSTNAME"; '
        'echo "groups=$(id -G)"; echo "soft=$(ulimit -n)"; echo "hard=$(ulimit -Hn)"; '
        'echo "ip_forward=$(cat /proc/sys/net/ipv4/ip_forward)"; '
        'echo "shmmax=$(cat /proc/sys/kernel/shmmax)"; echo "umask=$(umask)"; '
        ': > /tmp/f; echo "mode=$(stat -c %a /tmp/f)"',
        flags,
    )
    check(
        values,
        {
            "hostname": "box", "uname_n": "box",
            "etc_hostname": "box", "env_hostname": "box", "groups": "0 1234 65534",
            "soft": "100", "hard": "200", "ip_forward": "1", "shmmax": "123456789",
            "umask": "0077", "mode": "600",
        },
    )  # fmt: skip


def test_domainname(box: Oci) -> None:
    """runc 1.1 ignores the spec's domainname (opencontainers/runc#3600): the sysctl sets it."""
    values = report(
        box, 'echo "domainname=$(cat /proc/sys/kernel/domainname)"', ["--domainname", "example.org"]
    )
    check(values, {"domainname": "example.org"})


# --- devices ------------------------------------------------------------------------------


def test_device_is_usable_at_its_container_path(box: Oci) -> None:
    values = report(
        box,
        "echo x > /dev/mynull && echo write=ok; "
        'echo "read_bytes=$(head -c 10 /dev/mynull | wc -c)"; '
        'echo "type=$(stat -c %F:%t:%T /dev/mynull)"',
        ["--device", "/dev/null:/dev/mynull"],
    )
    check(values, {"write": "ok", "read_bytes": "0", "type": "character special file:1:3"})


# --- init, stop signal, network, pidfile --------------------------------------------------


def test_init_runs_catatonit_as_pid_1(box: Oci) -> None:
    values = report(
        box,
        'echo "pid1=$(tr "\\0" " " < /proc/1/cmdline)"; echo "self_ppid=$PPID"; '
        'echo "pid1_name=$(cat /proc/1/comm)"',
        ["--init"],
    )
    assert values.get("pid1", "").startswith("/run/podman-init -- sh -c "), values
    check(values, {"pid1_name": "podman-init", "self_ppid": "1"})


def test_stop_signal_is_what_stop_delivers(box: Oci) -> None:
    script = "trap 'echo got-usr1; exit 3' USR1; echo ready; while :; do sleep 0.1; done"
    cid, _pid = detached(box, ["--stop-signal", "USR1"], "sh", "-c", script)
    wait_until(lambda: "ready" in box.ok("logs", cid), 10, "the trap to be set")
    start = time.monotonic()
    done = box("stop", "-t", "10", cid)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - start < 5, "stop waited for its timeout: USR1 was not delivered"
    rec = box.wait_status(cid, "stopped")
    assert rec["exit_code"] == 3, rec
    assert "got-usr1" in box.ok("logs", cid)


def test_network_host_sees_the_hosts_interfaces(box: Oci) -> None:
    with open("/proc/net/dev", encoding="ascii") as fh:
        host = sorted(line.split(":")[0].strip() for line in fh.readlines()[2:])
    script = (
        'echo "ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " | sort | tr "\\n" " ")"'
    )
    values = report(box, script, ["--network", "host"])
    assert values.get("ifaces", "").split() == host
    assert report(box, script, ["--network", "none"]).get("ifaces", "").split() == ["lo"]


def test_pidfile_holds_the_init_pid_and_goes_with_rm(box: Oci, tmp_path: Path) -> None:
    pidfile = tmp_path / "ctr.pid"
    cid, pid = detached(box, ["--pidfile", str(pidfile)])
    assert pidfile.read_text().strip() == str(pid)
    with open(f"/proc/{pid}/cmdline", "rb") as fh:
        assert fh.read().split(b"\0")[0] == b"sleep"
    box.ok("rm", "-f", "-t", "0", cid)
    assert not pidfile.exists()


# --- entrypoint, env, labels --------------------------------------------------------------


def test_entrypoint_env_file_and_labels(box: Oci, tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nA=from-file\nB=from-file\n\nC=c-file\n")
    flags = [
        "--entrypoint", '["/bin/sh", "-c"]', "--env-file", str(env_file), "-e", "B=from-flag",
        "-l", "tier=web", "-l", "owner=me", "--name", "labelled",
    ]  # fmt: skip
    done = box(*box.new("run", 'echo "$0|$A|$B|$C"', flags=flags))
    assert (done.returncode, done.stdout) == (0, "/bin/sh|from-file|from-flag|c-file\n"), done
    labels = box.record("labelled")["config"]["container"]["labels"]
    if isinstance(labels, list):  # older records: [[key, value], ...]
        labels = dict(map(tuple, labels))
    assert labels == {
        "tier": "web",
        "owner": "me",
    }
    box.ok("rm", "labelled")


# --- runsc: what it cannot honour is refused before anything exists ------------------------


@pytest.fixture(scope="module")
def runsc_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The runsc plugin (examples/ocimux-runsc) pip-installed into a directory of its own."""
    if shutil.which("conmon") is None:
        pytest.skip("conmon not on PATH (apt install conmon)")
    from tests.plugin_dists import install_target

    return install_target(REPO / "examples" / "ocimux-runsc", tmp_path_factory.mktemp("gvdist"))


@pytest.fixture
def gvisor(runsc_site: Path, ocimux: Any, ocimux_env: dict[str, str], busybox_rootfs: Path):
    """The runner bound to runsc, its state in a short directory (see test_runsc_plugin.py).

    Only its processes get the plugin, on PYTHONPATH: the virtualenv is shared by parallel workers.
    """
    from tests.plugin_dists import with_site

    site_env = with_site(ocimux_env, runsc_site)

    def run(*args: str, env: dict[str, str] | None = None, **kwargs: Any) -> Any:
        return ocimux(*args, env={"PYTHONPATH": site_env["PYTHONPATH"], **(env or {})}, **kwargs)

    short = Path(tempfile.mkdtemp(prefix="gv", dir="/tmp"))
    conf = Path(ocimux_env["CONTAINERS_CONF"])
    text = conf.read_text()
    state = conf.parent / "state"
    conf.write_text(text.replace(f'"{state}/', f'"{short}/'))
    helper = Oci(
        run=run, runtime="runsc", rootfs=busybox_rootfs, conf=conf, state=short, env=site_env,
    )  # fmt: skip
    yield helper
    _clean(helper)
    conf.write_text(text)
    shutil.rmtree(short, ignore_errors=True)


RUNSC_REFUSED = [
    (["--device", "/dev/null:/dev/mynull"], "--device", "devices"),
    (["--privileged"], "--privileged", "privileged"),
    (["--security-opt", "seccomp=PROFILE"], "--security-opt seccomp", "seccomp"),
    (["--network", "host"], "--network host", "host_network"),
    # runsc 20221219 ignores process.user.umask (measured: the shell keeps 0022)
    (["--umask", "0077"], "--umask", "umask"),
    # gVisor 20221219 shows no /proc/sys/kernel/domainname: not verifiable, so not offered
    (["--domainname", "example.org"], "--domainname", "domainname"),
]


@pytest.mark.requires_root
@pytest.mark.requires_runtime("runsc")
@pytest.mark.parametrize(
    ("flags", "option", "capability"), RUNSC_REFUSED, ids=[r[2] for r in RUNSC_REFUSED]
)
def test_runsc_refuses_what_it_cannot_honour(
    gvisor: Oci, tmp_path: Path, flags: list[str], option: str, capability: str
) -> None:
    profile = tmp_path / "profile.json"
    profile.write_text('{"defaultAction": "SCMP_ACT_ALLOW"}')
    flags = [f.replace("PROFILE", str(profile)) for f in flags]
    for verb in ("run", "create"):
        done = gvisor(
            *gvisor.new(verb, "true", flags=[*flags, *(["--rm"] if verb == "run" else [])])
        )
        refused(done, option, "runsc", capability)
        assert gvisor.ps() == []
        assert not gvisor.containers_dir.exists() or list(gvisor.containers_dir.iterdir()) == []


@pytest.mark.requires_root
@pytest.mark.requires_runtime("runsc")
def test_runsc_honours_isolation_options(gvisor: Oci, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "hello").write_text("from-host\n")
    flags = [
        "--read-only", "-v", f"{data}:/data:ro", "--tmpfs", "/scratch", "-h", "gbox",
        "--cap-drop", "ALL", "--cap-add", "CHOWN", "--ulimit", "nofile=100:200",
        "--security-opt", "no-new-privileges",
    ]  # fmt: skip
    values = report(
        gvisor,
        'echo "hostname=$(hostname)"; echo "data=$(cat /data/hello)"; '
        "(: > /data/new) 2>/dev/null && echo data_write=ok || echo data_write=refused; "
        "(: > /probe) 2>/dev/null && echo root_write=ok || echo root_write=refused; "
        "(: > /scratch/x) 2>/dev/null && echo scratch_write=ok || echo scratch_write=refused; "
        'echo "soft=$(ulimit -n)"; echo "hard=$(ulimit -Hn)"',
        flags,
    )
    # gVisor's /proc/self/status has no NoNewPrivs line; runsc strips NET_RAW unless --net-raw
    mask = f"{1 << CAP_CHOWN:016x}"
    check(
        values,
        {
            "hostname": "gbox", "data": "from-host", "data_write": "refused",
            "root_write": "refused", "scratch_write": "ok", "soft": "100", "hard": "200",
            "CapEff": mask, "CapBnd": mask,
        },
    )  # fmt: skip
    assert not (data / "new").exists()
