"""ocimux.base.sockets: a socket nobody listens on is removed; a live one, or a non-socket, stays."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from ocimux.base.sockets import listening, remove_if_stale


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[socket.socket, Path]]:
    path = tmp_path / "s.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.listen(1)
    yield sock, path
    sock.close()


def test_a_live_socket_is_listening_and_kept(server: tuple[socket.socket, Path]):
    _, path = server
    assert listening(path)
    remove_if_stale(path)
    assert path.exists()


def test_a_socket_whose_server_closed_is_stale_and_removed(server: tuple[socket.socket, Path]):
    sock, path = server
    sock.close()
    assert not listening(path)
    remove_if_stale(path)
    assert not path.exists()


def test_a_missing_path_is_fine(tmp_path: Path):
    assert not listening(tmp_path / "none")
    remove_if_stale(tmp_path / "none")


def test_a_regular_file_is_not_a_socket_and_is_left_alone(tmp_path: Path):
    path = tmp_path / "data"
    path.write_text("keep me")
    assert not listening(path)
    remove_if_stale(path)
    assert path.read_text() == "keep me"
