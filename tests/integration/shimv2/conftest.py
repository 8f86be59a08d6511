"""Fixtures for the shim v2 tests that start processes: the unit tests' ttrpc peers."""

from __future__ import annotations

from tests.unit.shimv2.ttrpc_peers import sock_dir, ttrpc_server

__all__ = ["sock_dir", "ttrpc_server"]
