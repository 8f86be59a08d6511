"""Fixtures for the Docker API server's tests whose containers run (mock runtime, host processes)."""

from __future__ import annotations

from tests.unit.server.serving import server

__all__ = ["server"]
