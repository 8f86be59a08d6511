"""Choosing a runtime, through the CLI (issue 15, items 5, 7 and the `MyRt` part of 8).

- A runc-compatible wrapper that refuses `--log-format` creates and runs containers when
  named in `[engine.runtimes]`: podman's built-in `runtime_supports_json` does not list it
  (before, it inherited runc's declared JSON errors and every create failed).
- `--runtime /path` and `[engine] runtime = "/path"` (podman: "name or absolute path"): crun's
  own binary is the crun runtime; a copy of it is a runtime of its own, recorded by path,
  that later verbs in other processes find, with its own state directory.
- An unknown default runtime fails the commands that need it and is a warning in `info`.
- `OCIMUX_ENGINE__RUNTIME=MyRt` finds the runtime `OCIMUX_ENGINE__RUNTIMES__MyRt` defined
  (variables' names are lower-cased: it is `myrt`).

The real-runtime tests run on runc (the wrapper execs it) or crun; the others on the mock.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Oci, one_line, runtime_params

WRAPPER = """#!/bin/sh
# a runc-compatible runtime that does not know --log-format (as many third-party ones)
for arg in "$@"; do
  case "$arg" in --log-format*) echo "myrt: unknown flag: $arg" >&2; exit 2;; esac
done
exec {runc} "$@"
"""


def _runtimes(oci: Oci) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in json.loads(oci.ok("runtimes", "--format", "json"))}


def _crun_list(binary: str, root: Path) -> list[str]:
    """The ids crun's state directory `root` holds (none if it does not exist)."""
    if not root.exists():
        return []
    done = subprocess.run(
        [binary, "--root", str(root), "list", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert done.returncode == 0, done.stderr
    return [c["id"] for c in json.loads(done.stdout) or []]


@pytest.mark.parametrize("runtime", runtime_params(("runc",)), indirect=True)
def test_a_wrapper_that_refuses_log_format_creates_and_runs(oci: Oci, tmp_path: Path) -> None:
    runc = shutil.which("runc")
    assert runc is not None
    wrapper = tmp_path / "bin" / "myrt"
    wrapper.parent.mkdir()
    wrapper.write_text(WRAPPER.format(runc=runc))
    wrapper.chmod(0o755)
    oci.edit_conf(lambda text: f'{text}[engine.runtimes]\nmyrt = ["{wrapper}"]\n')
    json_errors = _runtimes(oci)["myrt"]["capabilities"]["json_errors"]
    assert json_errors == {
        "value": False,
        "source": "configured",
        "reason": "runtime_supports_json is not set; "
        "podman's built-in runtime_supports_json does not list myrt",
    }
    target = ("--runtime", "myrt", "--rootfs", str(oci.rootfs))
    done = oci("run", "--rm", *target, "--", "echo", "hi")
    assert (done.returncode, done.stdout, done.stderr) == (0, "hi\n", "")
    oci.ok("run", "-d", "--name", "w", *target, "--", "sleep", "100")
    assert oci.record("w")["runtime"] == "myrt"
    assert oci.ok("exec", "w", "echo", "in") == "in\n"
    oci.ok("rm", "-f", "-t", "0", "w")
    # the list decides when given: naming myrt hands it --log-format, which it refuses
    oci.edit_conf(
        lambda text: text.replace(
            'runtime = "mock"', 'runtime = "mock"\nruntime_supports_json = ["myrt"]'
        )
    )
    done = oci("run", "--rm", *target, "--", "true")
    assert done.returncode == 125, done
    assert "myrt" in one_line(done.stderr)


CRUN = runtime_params(("crun",))


@pytest.mark.parametrize("runtime", CRUN, indirect=True)
def test_the_path_of_crun_itself_is_the_crun_runtime(oci: Oci) -> None:
    crun = shutil.which("crun")
    assert crun is not None
    cid = oci.ok("run", "-d", "--name", "p", "--runtime", crun, "--rootfs", str(oci.rootfs),
                 "--", "sleep", "100").strip()  # fmt: skip
    assert oci.record("p")["runtime"] == "crun"
    assert cid in _crun_list(crun, oci.runtime_root("crun"))
    oci.ok("rm", "-f", "-t", "0", "p")


@pytest.mark.parametrize("runtime", CRUN, indirect=True)
def test_a_copy_of_crun_is_a_runtime_of_its_own_that_later_verbs_find(
    oci: Oci, tmp_path: Path
) -> None:
    crun = shutil.which("crun")
    assert crun is not None
    copy = tmp_path / "other" / "crun"
    copy.parent.mkdir()
    shutil.copy2(crun, copy)
    cid = oci.ok("run", "-d", "--name", "c", "--runtime", str(copy), "--rootfs", str(oci.rootfs),
                 "--", "sleep", "100").strip()  # fmt: skip
    assert oci.record("c")["runtime"] == str(copy)
    # its runtime state is its own: not in the crun runtime's directory
    runtimes = oci.state / "run" / "runtimes"
    (root,) = (p for p in runtimes.glob("crun@*") if not p.name.endswith(".exits"))
    assert (runtimes / f"{root.name}.exits").is_dir()  # conmon's exit dir beside it
    assert _crun_list(str(copy), root) == [cid]
    assert cid not in _crun_list(crun, oci.runtime_root("crun"))
    # every later verb is another process that finds the runtime from the record
    assert oci.ok("exec", "c", "echo", "in") == "in\n"
    oci.ok("stop", "-t", "1", "c")
    assert oci.record("c")["status"] == "stopped"
    oci.ok("rm", "c")
    assert oci.ps() == [] and _crun_list(str(copy), root) == []
    # the same path as the default ([engine] runtime), and through the global --runtime
    oci.edit_conf(lambda text: text.replace('runtime = "mock"', f'runtime = "{copy}"'))
    info = json.loads(oci.ok("info", "--format", "json"))
    assert (info["default_runtime"], info["warnings"]) == (str(copy), [])
    done = oci("run", "--rm", "--rootfs", str(oci.rootfs), "--", "echo", "hi")
    assert (done.returncode, done.stdout) == (0, "hi\n"), done.stderr
    row = _runtimes(oci)[str(copy)]
    assert (row["default"], row["plugin"], row["path"]) == (True, "crun", str(copy))
    info = json.loads(oci.ok("--runtime", crun, "info", "--format", "json"))
    assert info["default_runtime"] == "crun"


@pytest.mark.parametrize(
    ("given", "needle"),
    [
        ("bin/crun", "runtime bin/crun: a relative path names no runtime"),
        ("/nonexistent/crun", "runtime /nonexistent/crun: not a runtime binary: No such file"),
    ],
)
def test_a_relative_or_missing_runtime_path_is_one_line(
    ocimux: Any, rootfs: Path, given: str, needle: str
) -> None:
    done = ocimux("run", "--rm", "--runtime", given, "--rootfs", str(rootfs), "--", "true")
    assert done.returncode == 125, done
    assert needle in one_line(done.stderr)
    done = ocimux("--runtime", given, "create", "--rootfs", str(rootfs), "--", "true")
    assert done.returncode == 125 and "default runtime ([engine] runtime)" in one_line(done.stderr)
    assert ocimux("ps", "-a", "-q").stdout == ""


def test_an_unknown_default_runtime_fails_what_needs_it_and_warns_in_info(
    ocimux: Any, ocimux_env: dict[str, str], rootfs: Path
) -> None:
    conf = Path(ocimux_env["CONTAINERS_CONF"])
    conf.write_text(conf.read_text().replace('runtime = "mock"', 'runtime = "nonexistent"'))
    said = "runtime nonexistent: unknown runtime, named as the default ([engine] runtime)"
    for verb in ("run", "create"):
        done = ocimux(verb, "--rootfs", str(rootfs), "--", "true")
        assert done.returncode == 125, done
        line = one_line(done.stderr)
        assert said in line and "known runtimes: " in line, line
    # commands that do not need the default still work
    assert ocimux("ps", "-a").returncode == 0
    done = ocimux("run", "--rm", "--runtime", "mock", "--rootfs", str(rootfs), "--", "true")
    assert done.returncode == 0, done.stderr
    assert ocimux("runtimes").returncode == 0
    text = ocimux("info")
    assert text.returncode == 0, text.stderr
    assert "default_runtime: -\n" in text.stdout
    (warning,) = [ln for ln in text.stdout.splitlines() if ln.startswith("warning: ")]
    assert warning.startswith(f"warning: no default runtime: {said}"), warning
    info = json.loads(ocimux("info", "--format", "json").stdout)
    assert info["default_runtime"] is None
    assert [w.split(";")[0] for w in info["warnings"]] == [f"no default runtime: {said}"]


def test_a_default_in_another_case_finds_the_runtime_variables_defined(
    ocimux: Any, rootfs: Path
) -> None:
    env = {
        "OCIMUX_ENGINE__RUNTIMES__MyRt": '["/nonexistent/myrt"]',
        "OCIMUX_OCIMUX__RUNTIME_PLUGINS": '{"myrt": "mock"}',
        "OCIMUX_ENGINE__RUNTIME": "MyRt",
    }
    info = json.loads(ocimux("info", "--format", "json", env=env).stdout)
    assert (info["default_runtime"], info["warnings"]) == ("myrt", [])
    assert "myrt" in info["runtimes"]
    done = ocimux("run", "--rm", "--rootfs", str(rootfs), "--", "echo", "hi", env=env)
    assert (done.returncode, done.stdout) == (0, "hi\n"), done.stderr
    done = ocimux("run", "-d", "--name", "m", "--rootfs", str(rootfs), "--", "sleep", "30", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(ocimux("inspect", "m", env=env).stdout)[0]["runtime"] == "myrt"
    assert ocimux("rm", "-f", "-t", "0", "m", env=env).returncode == 0
