"""The warm path stays light (fresh interpreters): `import ocimux.config` and `Config.from_dict`
import no pydantic; `load_config` does."""

from __future__ import annotations

import subprocess
import sys
import textwrap

HEAVY = ("pydantic", "pydantic_settings", "pydantic_core", "tomli", "tomllib")


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_import_and_from_dict_import_nothing_heavy() -> None:
    proc = run_python(
        f"""
        import ocimux.config, sys
        from ocimux.config import Config, config_sources, relevant_environ
        cfg = Config.from_dict({{"data": {{"engine": {{"runtime": "x"}}}}, "files": ["/f"]}})
        assert cfg.default_runtime == "x" and cfg.files == ("/f",)
        cfg.state_dir, cfg.run_dir, cfg.conmon_paths, cfg.supports_json
        config_sources(None, {{"CONTAINERS_CONF": "/nonexistent"}})
        relevant_environ({{"OCIMUX_X": "1"}})
        heavy = [m for m in {HEAVY!r} if m in sys.modules]
        assert not heavy, heavy
        print("ok")
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_load_config_is_the_cold_path() -> None:
    proc = run_python(
        """
        import sys
        from ocimux.config import load_config
        load_config("/dev/null", {})
        assert "pydantic_settings" in sys.modules and "tomli" in sys.modules
        """
    )
    assert proc.returncode == 0, proc.stderr
