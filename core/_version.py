"""The version, kept cheap to import (`ocimux --version` must not load importlib.metadata)."""

VERSION = "0.1.0"
