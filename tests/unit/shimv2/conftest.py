"""Fixtures for the shim v2 backend's unit tests: ttrpc peers in this process (see ttrpc_peers)."""

from __future__ import annotations

from tests.unit.shimv2.ttrpc_peers import raw_server, sock_dir, ttrpc_server

__all__ = ["raw_server", "sock_dir", "ttrpc_server"]
