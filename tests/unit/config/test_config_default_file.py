"""The packaged, commented containers.conf: it loads, documents every key, and its examples work."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import get_args

from ocimux.config import load_config
from ocimux.config.model import CAPABILITY_KEYS, CapabilityOverrides, OcimuxTable, _TypedEngine

DEFAULT_FILE = Path(str(resources.files("ocimux.config").joinpath("containers.conf")))
EXAMPLE = re.compile(r"^#(\[|[A-Za-z0-9_-]+ = )", re.MULTILINE)


def test_packaged_file_exists() -> None:
    assert DEFAULT_FILE.is_file()


def test_default_file_loads_and_sets_nothing(tmp_path: Path) -> None:
    config = load_config(DEFAULT_FILE, environ={"HOME": str(tmp_path)})
    data = config.to_dict()["data"]
    assert data["engine"] == {"runtimes": {}, "runtimes_flags": {}}
    assert set(data["ocimux"]) == {"runtime_plugins", "state_dir", "run_dir"}
    assert config.stop_timeout == 10


def test_every_key_ocimux_reads_is_documented() -> None:
    text = DEFAULT_FILE.read_text()
    for key in [*_TypedEngine.model_fields, *OcimuxTable.model_fields]:
        assert re.search(rf"^#{key} = |^#?\[(engine|ocimux)\.{key}[.\]]", text, re.MULTILINE), key
    for key in CAPABILITY_KEYS:
        assert key in text
    assert set(CAPABILITY_KEYS) == set(CapabilityOverrides.model_fields)


def test_uncommented_examples_are_valid(tmp_path: Path) -> None:
    text = EXAMPLE.sub(r"\1", DEFAULT_FILE.read_text())
    path = tmp_path / "examples.conf"
    path.write_text(text)
    config = load_config(path, environ={"HOME": str(tmp_path)})
    assert config.default_runtime == "crun"
    assert "crun" in config.runtime_names
    assert config.runtime_flags("runsc") == ("--platform=ptrace", "--network=host")
    assert config.supports_is_set("json") and config.supports_is_set("nocgroups")
    assert config.runtime_plugin("crun-next") == "crun"
    assert config.plugin_options("example") == {"option": "value"}
    assert config.capability_overrides("runsc") == {"checkpoint": False, "kvm": False}
    assert config.state_dir == Path("/var/lib/ocimux")
    assert config.command_timeout == 60.0
    assert config.runtime_preference[:6] == ("crun", "runc", "runj", "kata", "runsc", "ocijail")
    assert get_args(_TypedEngine.model_fields["cgroup_manager"].annotation)
