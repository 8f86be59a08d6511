"""Who may reach `ocimux serve` over TCP: loopback, TLS with client certificates, or --insecure."""

from __future__ import annotations

import pytest
from ocimux.base.errors import InvalidArgumentError
from ocimux.server.tls import TlsFiles, check_exposure, is_loopback, server_context

FILES = TlsFiles("/nonexistent/ca.pem", "/nonexistent/cert.pem", "/nonexistent/key.pem")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "localhost"])
def test_loopback_addresses(host: str) -> None:
    assert is_loopback(host)
    assert check_exposure((host, 2375), None, insecure=False) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "192.0.2.1"])
def test_other_addresses_need_tls_or_insecure(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(InvalidArgumentError) as info:
        check_exposure((host, 2375), None, insecure=False)
    text = str(info.value)
    assert "\n" not in text and host in text
    assert "--tlsverify" in text and "--insecure" in text
    assert check_exposure((host, 2375), FILES, insecure=False) is None
    warning = check_exposure((host, 2375), None, insecure=True)
    assert warning is not None and "WARNING" in warning and host in warning


def test_tls_on_a_unix_socket_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="--tcp only"):
        check_exposure(None, FILES, insecure=False)


def test_unreadable_tls_files_are_one_line_naming_the_flag() -> None:
    with pytest.raises(InvalidArgumentError, match="--tlscert /nonexistent/cert.pem"):
        server_context(FILES)
