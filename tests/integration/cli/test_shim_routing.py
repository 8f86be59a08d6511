"""Which plugin drives a configured runtime: a containerd shim v2 binary goes to the shim backend."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Runner


def _reports(ocimux: Runner, ocimux_env: dict[str, str], text: str) -> dict[str, dict]:
    conf = Path(ocimux_env["CONTAINERS_CONF"])
    conf.write_text(conf.read_text() + text)
    done = ocimux("runtimes", "--format", "json", check=True)
    return {r["name"]: r for r in json.loads(done.stdout)}


def test_a_shim_v2_binary_is_driven_by_the_shim_plugin_and_a_cli_by_runc(
    ocimux: Runner, ocimux_env: dict[str, str], tmp_path: Path
) -> None:
    shim = tmp_path / "containerd-shim-foo-v2"
    shim.write_text("#!/bin/sh\nexit 1\n")
    shim.chmod(0o755)
    cli = tmp_path / "mycli"
    cli.write_text("#!/bin/sh\nexit 1\n")
    cli.chmod(0o755)
    reports = _reports(
        ocimux, ocimux_env, f'[engine.runtimes]\nfoo = ["{shim}"]\nmycli = ["{cli}"]\n'
    )
    assert reports["foo"]["plugin"] == "runc-shim"
    assert reports["foo"]["path"] == str(shim)
    assert reports["mycli"]["plugin"] == "runc"


def test_default_shim_plugin_chooses_the_driver(
    ocimux: Runner, ocimux_env: dict[str, str], tmp_path: Path
) -> None:
    shim = tmp_path / "containerd-shim-foo-v2"
    shim.write_text("#!/bin/sh\n")
    shim.chmod(0o755)
    conf = Path(ocimux_env["CONTAINERS_CONF"])
    conf.write_text(
        conf.read_text().replace("[ocimux]\n", '[ocimux]\ndefault_shim_plugin = "mock"\n', 1)
    )
    reports = _reports(ocimux, ocimux_env, f'[engine.runtimes]\nfoo = ["{shim}"]\n')
    assert reports["foo"]["plugin"] == "mock"


def test_kata_skips_kata_runtime_paths_and_says_what_it_looked_for(
    ocimux: Runner, ocimux_env: dict[str, str], tmp_path: Path
) -> None:
    fake_cli = tmp_path / "kata-runtime"  # Kata 2+ ships this, but it has no lifecycle verbs
    fake_cli.write_text("#!/bin/sh\necho 'kata-runtime  : 3.2.0'\n")
    fake_cli.chmod(0o755)
    reports = _reports(ocimux, ocimux_env, f'[engine.runtimes]\nkata = ["{fake_cli}"]\n')
    kata = reports["kata"]
    assert kata["plugin"] == "kata" and kata["path"] is None
    assert kata["status"] == "not installed"
    assert "containerd-shim-kata-v2 not found in /usr/bin/containerd-shim-kata-v2" in kata["error"]
    assert "/opt/kata/bin/containerd-shim-kata-v2" in kata["error"]
    assert kata["capabilities"]["kvm"]["value"] is True
    assert kata["capabilities"]["checkpoint"]["value"] is False


def test_kata_runtime_info_reads_kata_runtime_version(
    ocimux: Runner, ocimux_env: dict[str, str], tmp_path: Path
) -> None:
    shim = tmp_path / "bin" / "containerd-shim-kata-v2"
    shim.parent.mkdir()
    shim.write_text("#!/bin/sh\nprintf 'containerd-shim-kata-v2:\\n  Version:  3.2.0\\n'\n")
    shim.chmod(0o755)
    tool = tmp_path / "bin" / "kata-runtime"
    tool.write_text(
        "#!/bin/sh\n"
        'case "$1" in --version) printf "kata-runtime  : 3.2.1\\n   commit   : abc\\n   OCI specs: 1.1.0\\n";;\n'
        '  check) echo "System is capable of running Kata Containers";; esac\n'
    )
    tool.chmod(0o755)
    reports = _reports(
        ocimux,
        ocimux_env,
        f'[engine.runtimes]\nkata = ["{shim}"]\n'
        f'[ocimux.plugins.kata]\nkata_runtime = "{tool}"\ncheck = true\n',
    )
    kata = reports["kata"]
    assert kata["status"] == "ok" and kata["path"] == str(shim)
    assert kata["version"] == "3.2.1"


def test_a_path_that_is_not_a_shim_is_refused_by_the_shim_plugin(
    ocimux: Runner, ocimux_env: dict[str, str], tmp_path: Path
) -> None:
    conf = Path(ocimux_env["CONTAINERS_CONF"])
    conf.write_text(
        conf.read_text()
        + '[ocimux.runtime_plugins]\nodd = "runc-shim"\n[engine.runtimes]\nodd = ["/bin/true"]\n'
    )
    done = ocimux("runtimes", "--format", "json", check=True)
    odd = {r["name"]: r for r in json.loads(done.stdout)}["odd"]
    assert odd["status"] == "not installed"
    assert "/bin/true is not a shim v2 binary" in odd["error"]
