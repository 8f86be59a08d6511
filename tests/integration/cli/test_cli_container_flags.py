"""Bad container flags through the CLI: exit 125, one stderr line naming the option, nothing made.

All of these fail while parsing or checking, before any runtime process starts, so they run
on the mock runtime. The mock declares no `isolation`: options it cannot honour are refused
naming option, runtime and capability (parse errors come first, so bad values are still
reported as bad values there).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Runner

Case = Callable[[Path], list[str]]


def _flags(*flags: str) -> Case:
    return lambda tmp: [f.replace("TMP", str(tmp)) for f in flags]


def _env_file(text: str) -> Case:
    def build(tmp: Path) -> list[str]:
        path = tmp / "bad.env"
        path.write_text(text)
        return ["--env-file", str(path)]

    return build


def _seccomp_file(text: str) -> Case:
    def build(tmp: Path) -> list[str]:
        path = tmp / "profile.json"
        path.write_text(text)
        return ["--security-opt", f"seccomp={path}"]

    return build


#: id -> (flags, text the one line must contain)
BAD: dict[str, tuple[Case, tuple[str, ...]]] = {
    "volume-source-missing": (_flags("-v", "TMP/nope:/data"), ("--volume", "TMP/nope")),
    "volume-relative-destination": (_flags("-v", "/tmp:rel"), ("--volume", "rel")),
    "volume-ro-and-rw": (_flags("-v", "/tmp:/x:ro,rw"), ("--volume", "ro")),
    "volume-unknown-option": (_flags("-v", "/tmp:/x:bogus"), ("--volume", "bogus")),
    "mount-unknown-type": (_flags("--mount", "type=volume,dst=/x"), ("--mount", "volume")),
    "tmpfs-relative": (_flags("--tmpfs", "run"), ("--tmpfs", "run")),
    "cap-add-unknown": (_flags("--cap-add", "NOT_A_CAP"), ("--cap-add", "NOT_A_CAP")),
    "cap-drop-unknown": (_flags("--cap-drop", "CAP_FLY"), ("--cap-drop", "CAP_FLY")),
    "memory-unit": (_flags("--memory", "12parsecs"), ("--memory", "12parsecs")),
    "memory-swap-unit": (_flags("--memory-swap", "lots"), ("--memory-swap", "lots")),
    "cpus-negative": (_flags("--cpus", "-1"), ("--cpus", "-1")),
    "cpus-word": (_flags("--cpus", "many"), ("--cpus", "many")),
    "pids-limit-word": (_flags("--pids-limit", "x"), ("--pids-limit",)),
    # the profile is read while the flags are parsed, before any capability check
    "seccomp-not-json": (
        _seccomp_file("this is { not json"),
        ("--security-opt seccomp=", "not valid JSON"),
    ),
    "seccomp-missing-file": (
        _flags("--security-opt", "seccomp=TMP/none.json"),
        ("seccomp", "none.json"),
    ),
    "security-opt-unknown": (_flags("--security-opt", "frobnicate"), ("--security-opt",)),
    "sysctl-not-namespaced": (_flags("--sysctl", "kernel.panic=1"), ("--sysctl", "kernel.panic")),
    "sysctl-no-value": (_flags("--sysctl", "net.ipv4.ip_forward"), ("--sysctl",)),
    "device-not-a-device": (_flags("--device", "/etc/passwd"), ("--device", "/etc/passwd")),
    "device-missing": (_flags("--device", "/dev/nope-nothing"), ("--device", "/dev/nope")),
    "ulimit-unknown": (_flags("--ulimit", "bogus=1:2"), ("--ulimit", "bogus")),
    "ulimit-soft-above-hard": (_flags("--ulimit", "nofile=200:100"), ("--ulimit",)),
    "network-bridge": (_flags("--network", "bridge"), ("--network", "bridge")),
    "stop-signal-unknown": (_flags("--stop-signal", "SIGNOPE"), ("NOPE",)),
    "env-file-bad-key": (_env_file("GOOD=1\nnot a key=x\n"), ("--env-file", "bad.env")),
    "env-file-missing": (_flags("--env-file", "TMP/none.env"), ("--env-file", "none.env")),
    "entrypoint-bad-json": (_flags("--entrypoint", '["sh", '), ("--entrypoint",)),
    "label-no-key": (_flags("-l", "=v"), ("label",)),
}


def _one_line(done, *needles: str) -> str:
    assert done.returncode == 125, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and done.stderr.endswith("\n"), done.stderr
    assert lines[0].startswith("Error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def _nothing_created(ocimux: Runner, env: dict[str, str]) -> None:
    assert json.loads(ocimux("ps", "-a", "--format", "json", check=True).stdout) == []
    state = Path(env["CONTAINERS_CONF"]).parent / "state" / "lib" / "containers"
    assert not state.exists() or list(state.iterdir()) == []


@pytest.mark.parametrize("case", list(BAD))
def test_bad_flag_value_is_one_line_and_creates_nothing(
    case: str,
    ocimux: Runner,
    ocimux_env: dict[str, str],
    rootfs: Path,
    tmp_path: Path,
) -> None:
    build, needles = BAD[case]
    flags = build(tmp_path)
    verb = "create" if case.startswith("volume") else "run"  # both verbs share the parser
    done = ocimux(verb, *flags, "--runtime", "mock", "--rootfs", str(rootfs), "--", "true")
    _one_line(done, *(n.replace("TMP", str(tmp_path)) for n in needles))
    _nothing_created(ocimux, ocimux_env)


#: options the mock cannot honour (it declares no isolation/resource_limits/devices/...)
REFUSED_ON_MOCK = [
    (["--read-only"], "--read-only", "isolation"),
    (["-v", "/tmp:/data"], "--volume", "isolation"),
    (["--cap-drop", "ALL"], "--cap-add/--cap-drop", "isolation"),
    (["-h", "box"], "--hostname", "isolation"),
    (["--memory", "64m"], "--memory", "resource_limits"),
    (["--device", "/dev/null"], "--device", "devices"),
    (["--network", "host"], "--network host", "isolation"),
    (["--privileged"], "--privileged", "isolation"),
]


@pytest.mark.parametrize(
    ("flags", "option", "capability"), REFUSED_ON_MOCK, ids=[r[1] for r in REFUSED_ON_MOCK]
)
def test_option_the_runtime_cannot_honour_is_refused_naming_it(
    flags: list[str],
    option: str,
    capability: str,
    ocimux: Runner,
    ocimux_env: dict[str, str],
    rootfs: Path,
) -> None:
    done = ocimux("run", *flags, "--runtime", "mock", "--rootfs", str(rootfs), "--", "true")
    _one_line(done, option, "mock", capability)
    _nothing_created(ocimux, ocimux_env)


def test_bad_value_is_reported_before_the_capability_check(
    ocimux: Runner, ocimux_env: dict[str, str], rootfs: Path
) -> None:
    done = ocimux(
        "run", "--memory", "12parsecs", "--runtime", "mock", "--rootfs", str(rootfs), "--", "true"
    )
    line = _one_line(done, "--memory", "12parsecs")
    assert "resource_limits" not in line, line
    _nothing_created(ocimux, ocimux_env)
