"""seccomp: Docker-format profiles to `linux.seccomp`, equal to what podman 4.3.1 writes.

seccomp_podman.json records podman's output, measured on this project's Debian 12 host
(x86_64, kernel 6.18, podman 4.3.1) with, for each case,

    P="podman --root /tmp/sc/storage --runroot /tmp/sc/runroot --tmpdir /tmp/sc/tmp \\
       --cgroup-manager cgroupfs --events-backend file"
    $P create --name N --network none --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 \\
       [FLAGS] --rootfs /tmp/sc/rootfs /bin/sh && $P init N

and linux.seccomp plus process.capabilities.bounding read from .../userdata/config.json.
For the Debian profile it keeps a hash and a per-rule summary (podman's default capabilities gave
22 rules, SCMP_ACT_ERRNO with errno 38 by default, architectures X86_64, X86, X32; with
--cap-add ALL 19 rules); for a hand-made profile (`custom_profile`) it keeps podman's whole
output. `--privileged` gave no linux.seccomp at all, which is the caller's decision, not to_oci's.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import types
from pathlib import Path
from typing import Any

import pytest
from ocimux.base.errors import InvalidArgumentError
from ocimux.oci import seccomp
from ocimux.oci.seccomp import DEFAULT_PROFILE_PATH, load_profile, to_oci

PODMAN: dict[str, Any] = json.loads((Path(__file__).parent / "seccomp_podman.json").read_text())
DEBIAN = PODMAN["debian_profile"]
CUSTOM = PODMAN["custom_profile"]
PODMAN_DEFAULT_CAPS = (
    "CAP_CHOWN CAP_DAC_OVERRIDE CAP_FOWNER CAP_FSETID CAP_KILL CAP_NET_BIND_SERVICE "
    "CAP_SETFCAP CAP_SETGID CAP_SETPCAP CAP_SETUID CAP_SYS_CHROOT"
).split()
X86_64 = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]


def _canon(doc: object) -> str:
    return hashlib.sha256(
        json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def _debian_profile() -> dict[str, Any]:
    if not os.path.isfile(DEFAULT_PROFILE_PATH):
        pytest.skip(f"{DEFAULT_PROFILE_PATH} is absent (package golang-github-containers-common)")
    return load_profile(DEFAULT_PROFILE_PATH)


def _rule(names: list[str], action: str = "SCMP_ACT_ALLOW", **extra: Any) -> dict[str, Any]:
    return {"names": names, "action": action, **extra}


def _convert(rules: list[dict[str, Any]], caps: list[str] | None = None, **kw: Any) -> list[Any]:
    profile = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": rules}
    kw.setdefault("arch", "amd64")
    kw.setdefault("kernel", (6, 1))
    return to_oci(profile, capabilities=caps or [], **kw).get("syscalls", [])


# -- equal to podman ------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(DEBIAN["cases"]))
def test_debian_profile_equals_podman(case: str) -> None:
    profile = _debian_profile()
    digest = hashlib.sha256(Path(DEFAULT_PROFILE_PATH).read_bytes()).hexdigest()
    if digest != DEBIAN["sha256"]:
        pytest.skip(f"{DEFAULT_PROFILE_PATH} differs from the one podman was measured with")
    want = DEBIAN["cases"][case]
    got = to_oci(profile, capabilities=want["capabilities"], arch="amd64", kernel=(6, 18))
    assert got["defaultAction"] == want["defaultAction"] == "SCMP_ACT_ERRNO"
    assert got["defaultErrnoRet"] == want["defaultErrnoRet"] == 38
    assert got["architectures"] == want["architectures"] == X86_64
    summary = [
        [r["names"][0], len(r["names"]), r["action"], r.get("errnoRet"), len(r.get("args", []))]
        for r in got["syscalls"]
    ]
    assert summary == want["rules"]
    assert _canon(got) == want["sha256"]


def test_debian_rule_counts_as_podman_measured() -> None:
    counts = {name: len(case["rules"]) for name, case in DEBIAN["cases"].items()}
    assert counts == {"default": 22, "sysadmin": 22, "capall": 19, "dropall": 22, "ptrace": 19}
    assert DEBIAN["cases"]["default"]["capabilities"] == PODMAN_DEFAULT_CAPS


@pytest.mark.parametrize("case", sorted(CUSTOM["cases"]))
def test_custom_profile_equals_podman(case: str) -> None:
    want = CUSTOM["cases"][case]
    got = to_oci(CUSTOM["profile"], capabilities=want["capabilities"], arch="amd64")
    assert got == want["seccomp"]


# -- the real Debian profile ----------------------------------------------------------------


def _actions(result: dict[str, Any], name: str) -> list[tuple[str, int | None]]:
    return [(r["action"], r.get("errnoRet")) for r in result["syscalls"] if name in r["names"]]


def test_debian_profile_is_plausible() -> None:
    profile = _debian_profile()
    plain = to_oci(profile, capabilities=PODMAN_DEFAULT_CAPS, arch="amd64")
    admin = to_oci(profile, capabilities=[*PODMAN_DEFAULT_CAPS, "CAP_SYS_ADMIN"], arch="amd64")
    # podman's profile allows these outright (Docker's would need CAP_SYS_ADMIN for them).
    for name in ("ptrace", "mount", "unshare", "clone", "read"):
        assert _actions(plain, name) == [("SCMP_ACT_ALLOW", None)]
    # bpf sits in a pair of rules: allowed with CAP_SYS_ADMIN, EPERM without.
    assert _actions(plain, "bpf") == [("SCMP_ACT_ERRNO", 1)]
    assert _actions(admin, "bpf") == [("SCMP_ACT_ALLOW", None)]
    assert _actions(plain, "chroot") == [("SCMP_ACT_ALLOW", None)]  # CAP_SYS_CHROOT is default
    assert _actions(plain, "kexec_load") == [("SCMP_ACT_ERRNO", 1)]
    assert _actions(plain, "arch_prctl") == [("SCMP_ACT_ALLOW", None)]  # amd64 and x32 only
    assert (plain["defaultAction"], plain["defaultErrnoRet"]) == ("SCMP_ACT_ERRNO", 38)


def test_debian_profile_on_other_machines() -> None:
    profile = _debian_profile()
    arm = to_oci(profile, capabilities=[], arch="arm64")
    assert arm["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert _actions(arm, "arch_prctl") == []
    assert _actions(arm, "cacheflush") == [("SCMP_ACT_ALLOW", None)]
    # podman knows no native entry for ppc64le: no architectures, the runtime takes the native one
    assert "architectures" not in to_oci(profile, capabilities=[], arch="ppc64le")


# -- hand-made profiles ---------------------------------------------------------------------


def test_includes_caps_need_all_excludes_caps_any() -> None:
    rules = [
        _rule(["both"], includes={"caps": ["CAP_SYS_ADMIN", "CAP_CHOWN"]}),
        _rule(["neither"], excludes={"caps": ["CAP_SYS_ADMIN", "CAP_CHOWN"]}),
    ]
    assert [r["names"] for r in _convert(rules, ["CAP_CHOWN"])] == []
    assert [r["names"] for r in _convert(rules, [])] == [["neither"]]
    assert [r["names"] for r in _convert(rules, ["CAP_CHOWN", "CAP_SYS_ADMIN"])] == [["both"]]
    assert _convert(rules, ["SYS_ADMIN", "CAP_CHOWN"]) == []  # names compare exactly


def test_arches_are_libseccomp_names() -> None:
    rules = [
        _rule(["x86_only"], includes={"arches": ["x86"]}),
        _rule(["not_amd64"], excludes={"arches": ["amd64"]}),
        _rule(["amd64_or_arm64"], includes={"arches": ["amd64", "arm64"]}),
        _rule(["uname_name"], includes={"arches": ["x86_64"]}),
    ]
    assert [r["names"][0] for r in _convert(rules)] == ["amd64_or_arm64"]
    assert [r["names"][0] for r in _convert(rules, arch="x86")] == ["x86_only", "not_amd64"]


def test_min_kernel_as_docker_reads_it() -> None:
    rules = [
        _rule(["new"], includes={"minKernel": "4.8"}),
        _rule(["old"], excludes={"minKernel": "4.8"}),
    ]
    assert [r["names"] for r in _convert(rules, kernel=(4, 7))] == [["old"]]
    assert [r["names"] for r in _convert(rules, kernel=(4, 8))] == [["new"]]
    assert [r["names"] for r in _convert(rules, kernel=(5, 0))] == [["new"]]
    assert [r["names"] for r in _convert(rules, kernel=(3, 99))] == [["old"]]


def test_kernel_defaults_to_uname_read_only_when_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    release = types.SimpleNamespace(release="4.9.0-13-amd64")
    monkeypatch.setattr(seccomp.os, "uname", lambda: release)
    rules = [_rule(["new"], includes={"minKernel": "4.10"}), _rule(["any"])]
    assert [r["names"] for r in _convert(rules, kernel=None)] == [["any"]]
    release.release = "weird"
    assert _convert([_rule(["any"])], kernel=None) == [
        {"names": ["any"], "action": "SCMP_ACT_ALLOW"}
    ]
    with pytest.raises(InvalidArgumentError) as err:
        _convert(rules, kernel=None)
    assert (
        str(err.value) == "seccomp: kernel release 'weird' does not start with a version like 4.8"
    )


def test_errno_names_win_over_numbers() -> None:
    rules = [
        _rule(["a"], "SCMP_ACT_ERRNO", errno="EACCES", errnoRet=5),
        _rule(["b"], "SCMP_ACT_ERRNO", errno="13"),
        _rule(["c"], "SCMP_ACT_ERRNO", errnoRet=0),
        _rule(["d"], "SCMP_ACT_ERRNO", errno="", errnoRet=7),
        _rule(["e"], "SCMP_ACT_ERRNO"),
    ]
    assert [r.get("errnoRet") for r in _convert(rules)] == [13, 13, 0, 7, None]
    assert "errnoRet" not in _convert(rules)[-1]
    profile = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrno": "ENOSYS", "defaultErrnoRet": 1}
    assert to_oci(profile, capabilities=[], arch="amd64") == {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 38,
    }


def test_args_and_names() -> None:
    args = [
        {"index": 1, "value": 2, "valueTwo": 3, "op": "SCMP_CMP_MASKED_EQ"},
        {"value": 9, "valueTwo": 0, "op": "SCMP_CMP_NE"},
    ]
    rules = [
        _rule(["socket"], args=args),
        _rule(["x"], args=None, comment="ignored"),
        {"name": "getpid", "action": "SCMP_ACT_LOG", "args": []},
        _rule(["dup", "dup"]),
        _rule(["socket"], "SCMP_ACT_KILL"),
    ]
    assert _convert(rules) == [
        {
            "names": ["socket"],
            "action": "SCMP_ACT_ALLOW",
            "args": [
                {"index": 1, "value": 2, "valueTwo": 3, "op": "SCMP_CMP_MASKED_EQ"},
                {"index": 0, "value": 9, "op": "SCMP_CMP_NE"},
            ],
        },
        {"names": ["x"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["getpid"], "action": "SCMP_ACT_LOG"},
        {"names": ["dup", "dup"], "action": "SCMP_ACT_ALLOW"},  # never merged nor deduplicated
        {"names": ["socket"], "action": "SCMP_ACT_KILL"},
    ]


def test_arch_map_and_architectures() -> None:
    arch_map = [
        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
        {"architecture": "SCMP_ARCH_X86_64"},
        {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X32"]},
    ]
    mapped = {"defaultAction": "SCMP_ACT_ALLOW", "archMap": arch_map}
    assert to_oci(mapped, capabilities=[], arch="amd64")["architectures"] == ["SCMP_ARCH_X86_64"]
    assert to_oci(mapped, capabilities=[], arch="arm64")["architectures"] == [
        "SCMP_ARCH_AARCH64",
        "SCMP_ARCH_ARM",
    ]
    assert "architectures" not in to_oci(mapped, capabilities=[], arch="s390x")
    listed = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"]}
    assert to_oci(listed, capabilities=[], arch="arm64")["architectures"] == ["SCMP_ARCH_X86"]


def test_native_arch_from_uname(monkeypatch: pytest.MonkeyPatch) -> None:
    mapped = {"defaultAction": "SCMP_ACT_ALLOW", "archMap": [{"architecture": "SCMP_ARCH_AARCH64"}]}
    monkeypatch.setattr(seccomp.platform, "machine", lambda: "aarch64")
    assert to_oci(mapped, capabilities=[])["architectures"] == ["SCMP_ARCH_AARCH64"]
    monkeypatch.setattr(seccomp.platform, "machine", lambda: "x86_64")
    assert "architectures" not in to_oci(mapped, capabilities=[])


def test_top_level_pass_through_and_omissions() -> None:
    full = {
        "defaultAction": "SCMP_ACT_KILL_PROCESS",
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "listenerPath": "/run/agent.sock",
        "listenerMetadata": "m",
        "syscalls": [],
    }
    before = copy.deepcopy(full)
    assert to_oci(full, capabilities=[]) == {
        "defaultAction": "SCMP_ACT_KILL_PROCESS",
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "listenerPath": "/run/agent.sock",
        "listenerMetadata": "m",
    }
    assert full == before
    bare = {"defaultAction": "SCMP_ACT_ALLOW", "flags": [], "listenerPath": "", "syscalls": None}
    assert to_oci(bare, capabilities=[]) == {"defaultAction": "SCMP_ACT_ALLOW"}


def test_capabilities_must_not_be_a_string() -> None:
    with pytest.raises(TypeError):
        to_oci({"defaultAction": "SCMP_ACT_ALLOW"}, capabilities="CAP_SYS_ADMIN")


def test_to_oci_checks_the_profile_too() -> None:
    with pytest.raises(InvalidArgumentError) as err:
        to_oci({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"]}]}, capabilities=[])
    assert str(err.value).startswith("seccomp profile: syscalls[0].action is missing; use one of")


# -- load_profile: every bad input ----------------------------------------------------------

ACTIONS = (
    "SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_ACT_KILL, SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, "
    "SCMP_ACT_LOG, SCMP_ACT_NOTIFY, SCMP_ACT_TRACE, SCMP_ACT_TRAP"
)
OPS = (
    "SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_GT, SCMP_CMP_LE, SCMP_CMP_LT, SCMP_CMP_MASKED_EQ, "
    "SCMP_CMP_NE"
)
OK_RULE = {"names": ["read"], "action": "SCMP_ACT_ALLOW"}


def _with(**fields: Any) -> str:
    return json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [OK_RULE], **fields})


def _rules(*rules: object) -> str:
    return _with(syscalls=list(rules))


BAD_CONTENT = [
    (b"\xff{}", "is not UTF-8 text (byte 0)"),
    (
        b'{\n  "defaultAction": \n}',
        "is not valid JSON: Expecting value at line 3, column 1",
    ),
    (b"", "is not valid JSON: Expecting value at line 1, column 1"),
    (b"[]", "holds a JSON array, not an object"),
    (b"{}", " has no defaultAction; add one, e.g. SCMP_ACT_ERRNO"),
    (
        _with(defaultAction="SCMP_ACT_NOPE"),
        f': defaultAction "SCMP_ACT_NOPE" is unknown; use one of {ACTIONS}',
    ),
    (
        _with(defaultAction=["SCMP_ACT_ALLOW"]),
        f': defaultAction ["SCMP_ACT_ALLOW"] is unknown; use one of {ACTIONS}',
    ),
    (_with(syscalls=1.5), ": syscalls is a JSON number, not a list"),
    (_with(defaultErrno="EINTR"), ": defaultErrno 'EINTR' is not an errno; use e.g. EPERM or 1"),
    (_with(defaultErrnoRet=-1), ": defaultErrnoRet -1 is not an integer from 0 to 4294967295"),
    (
        _with(architectures=["SCMP_ARCH_X86"], archMap=[{"architecture": "SCMP_ARCH_X86_64"}]),
        " has both architectures and archMap; use one of them",
    ),
    (
        _with(architectures=["x86_64"]),
        ': architectures[0] "x86_64" is not an architecture; use e.g. SCMP_ARCH_X86_64',
    ),
    (_with(archMap={"a": 1}), ": archMap is a JSON object, not a list"),
    (_with(flags="SECCOMP_FILTER_FLAG_LOG"), ": flags is a JSON string, not a list"),
    (_with(syscalls={"names": ["read"]}), ": syscalls is a JSON object, not a list"),
    (_rules("read"), ": syscalls[0] is a JSON string, not an object"),
    (
        _rules({"action": "SCMP_ACT_ALLOW"}),
        ": syscalls[0] has no names; list the syscalls it applies to",
    ),
    (
        _rules(OK_RULE, {"names": [], "action": "SCMP_ACT_ALLOW"}),
        ": syscalls[1] has no names; list the syscalls it applies to",
    ),
    (_rules({**OK_RULE, "name": "write"}), ": syscalls[0] has both name and names; use names"),
    (
        _rules({**OK_RULE, "names": ["read", 3]}),
        ": syscalls[0].names[1] is a JSON number, not a string",
    ),
    (_rules({"names": ["read"]}), f": syscalls[0].action is missing; use one of {ACTIONS}"),
    (
        _rules({**OK_RULE, "action": "allow"}),
        f': syscalls[0].action "allow" is unknown; use one of {ACTIONS}',
    ),
    (
        _rules({**OK_RULE, "errno": "EWOULDBLOCK"}),
        ": syscalls[0].errno 'EWOULDBLOCK' is not an errno; use e.g. EPERM or 1",
    ),
    (
        _rules({**OK_RULE, "errnoRet": 1.5}),
        ": syscalls[0].errnoRet 1.5 is not an integer from 0 to 4294967295",
    ),
    (
        _rules({**OK_RULE, "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_XX"}]}),
        f': syscalls[0].args[0].op "SCMP_CMP_XX" is unknown; use one of {OPS}',
    ),
    (
        _rules({**OK_RULE, "args": [{"index": 0, "value": 1}]}),
        f": syscalls[0].args[0].op is missing; use one of {OPS}",
    ),
    (
        _rules({**OK_RULE, "args": [{"index": 6, "op": "SCMP_CMP_EQ"}]}),
        ": syscalls[0].args[0].index 6 is not an integer from 0 to 5",
    ),
    (
        _rules({**OK_RULE, "args": [{"value": -1, "op": "SCMP_CMP_EQ"}]}),
        ": syscalls[0].args[0].value -1 is not an integer from 0 to 18446744073709551615",
    ),
    (
        _rules({**OK_RULE, "args": [{"valueTwo": True, "op": "SCMP_CMP_EQ"}]}),
        ": syscalls[0].args[0].valueTwo true is not an integer from 0 to 18446744073709551615",
    ),
    (_rules({**OK_RULE, "args": [1]}), ": syscalls[0].args[0] is a JSON number, not an object"),
    (
        _rules({**OK_RULE, "includes": ["CAP_SYS_ADMIN"]}),
        ": syscalls[0].includes is a JSON array, not an object",
    ),
    (
        _rules({**OK_RULE, "excludes": {"caps": "CAP_SYS_ADMIN"}}),
        ": syscalls[0].excludes.caps is a JSON string, not a list",
    ),
    (
        _rules({**OK_RULE, "includes": {"arches": [None]}}),
        ": syscalls[0].includes.arches[0] is a JSON null, not a string",
    ),
    (
        _rules({**OK_RULE, "includes": {"minKernel": 4.8}}),
        ": syscalls[0].includes.minKernel 4.8 is not a version like 4.8",
    ),
    (
        _rules({**OK_RULE, "excludes": {"minKernel": "four"}}),
        ': syscalls[0].excludes.minKernel "four" is not a version like 4.8',
    ),
]


@pytest.mark.parametrize(("content", "message"), BAD_CONTENT)
def test_load_profile_rejects(tmp_path: Path, content: str | bytes, message: str) -> None:
    path = tmp_path / "p.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(InvalidArgumentError) as err:
        load_profile(path)
    sep = "" if message[0] in ": " else " "
    assert str(err.value) == f"seccomp profile {path}{sep}{message}"
    assert "\n" not in str(err.value)


def test_load_profile_missing_directory_fifo_huge(tmp_path: Path) -> None:
    def message(path: Path) -> str:
        with pytest.raises(InvalidArgumentError) as err:
            load_profile(path)
        return str(err.value)

    missing = tmp_path / "nope.json"
    assert message(missing) == (
        f"seccomp profile {missing} does not exist; give an existing file, or seccomp=unconfined"
    )
    assert (
        message(tmp_path) == f"seccomp profile {tmp_path} is not a regular file; give a JSON file"
    )
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert message(fifo) == f"seccomp profile {fifo} is not a regular file; give a JSON file"
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as f:
        f.truncate((4 << 20) + 1)  # sparse: nothing is written
    assert message(huge) == f"seccomp profile {huge} is 4194305 bytes; a profile is at most 4194304"


def test_load_profile_returns_the_document(tmp_path: Path) -> None:
    doc = {"defaultAction": "SCMP_ACT_ERRNO", "comment": "x", "syscalls": [OK_RULE], "extra": [1]}
    path = tmp_path / "ok.json"
    path.write_text(json.dumps(doc))
    assert load_profile(str(path)) == doc
