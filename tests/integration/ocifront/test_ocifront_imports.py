"""The warm path of `ocimux-oci` in a fresh interpreter: no pydantic, stevedore or pluggy.

`state ID` (and every verb after create) reads one record and execs the backend: it must not
even load the configuration. A warm `create` loads it from the cache, without the heavy
libraries. os.execv and the backend's create are stubbed so the interpreter can report.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from ocimux.ocifront import records

HEAVY = ("pydantic", "pydantic_settings", "pydantic_core", "stevedore", "pluggy", "tomli")

PROBE = """
import json, os, sys
heavy = {heavy!r}
def report(*argv):
    print(json.dumps({{"argv": list(argv[1]) if len(argv) > 1 else None,
                      "heavy": [m for m in heavy if m in sys.modules],
                      "config": "ocimux.config" in sys.modules}}))
    sys.stdout.flush()
    os._exit(0)
os.execv = report
import ocimux.ocifront.main as front
front._create_child = lambda argv, call: report(None, argv) or 0
code = front.main({args!r})
report()
"""


def probe(args: list[str], env: dict[str, str]) -> dict[str, object]:
    code = textwrap.dedent(PROBE.format(heavy=HEAVY, args=args))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_state_imports_no_config_at_all(tmp_path: Path, front_env: dict[str, str]) -> None:
    root = tmp_path / "root"
    records.save(str(root), "c1", records.Record("crun", "/usr/bin/crun", "/r", [], "created"))
    seen = probe(["--root", str(root), "state", "c1"], front_env)
    assert seen["argv"] == ["/usr/bin/crun", "--root", "/r", "state", "c1"]
    assert seen["heavy"] == [] and seen["config"] is False


def test_warm_create_imports_nothing_heavy(
    tmp_path: Path, front_env: dict[str, str], busybox_rootfs: Path
) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps({"annotations": {"io.ocimux.runtime": "runc"}}))
    args = ["--root", str(tmp_path / "root"), "create", "--bundle", str(bundle)]
    cold = probe([*args, "c1"], front_env)  # fills the cache
    assert "pydantic" in cold["heavy"]  # so that the warm check below means something
    warm = probe([*args, "c2"], front_env)
    assert warm["heavy"] == [], warm
    assert warm["argv"][0].endswith("/runc") and warm["argv"][-1] == "c2"  # type: ignore[index]
