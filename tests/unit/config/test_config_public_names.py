"""What `ocimux.config` exports."""

from __future__ import annotations


def test_public_names() -> None:
    import ocimux.config as config

    assert set(config.__all__) == {
        "ENV_PREFIX",
        "Config",
        "config_sources",
        "load_config",
        "relevant_environ",
    }
