"""From outside, the server answers exactly the documented (method, path) pairs."""

from __future__ import annotations

import re
from typing import Any

import pytest
from ocimux.server.docker_api import API_VERSION, ENDPOINTS
from ocimux.server.openapi import openapi

from tests.unit.server.apiclient import ApiClient, Reply, assert_error

DUMMY = "ocxdummy0123"
DOC = openapi()
TEMPLATES = [(e.method, e.path) for e in ENDPOINTS]


def concrete(path: str) -> str:
    return re.sub(r"\{\w+\}", DUMMY, path)


def allowed_methods(url: str) -> set[str]:
    """The methods the description lists for every template that `url` matches."""
    out = set()
    for method, template in TEMPLATES:
        # an image name may contain slashes (Docker routes /images/{name:.*}/json)
        regex = re.escape(template).replace(r"\{name\}", ".+")
        regex = re.sub(r"\\\{\w+\\\}", "[^/]+", regex)
        if re.fullmatch(regex, url):
            out.add(method)
    if "GET" in out:
        out.add("HEAD")
    return out


def documented(method: str, template: str) -> dict[str, Any]:
    return DOC["paths"][template][method.lower()]["responses"]


def call(api: ApiClient, method: str, url: str, body: bool) -> Reply:
    return api.request(method, url, body={} if body else None)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[f"{e.method} {e.path}" for e in ENDPOINTS])
def test_every_documented_route_is_served(api: ApiClient, endpoint: Any) -> None:
    url = concrete(endpoint.path)
    reply = call(api, endpoint.method, url, endpoint.body)
    responses = documented(endpoint.method, endpoint.path)
    assert str(reply.status) in responses, reply
    assert reply.status != 405, reply
    if reply.status == 404:
        assert assert_error(reply, 404) != "page not found", reply
    if "{" in endpoint.path:
        assert_error(reply, 404)  # an unknown id or name, before any stream starts
        assert DUMMY in reply.json()["message"]
    else:
        assert reply.status in (200, 400), reply
    media = responses[str(reply.status)].get("content")
    if media is not None:
        assert reply.content_type.split(";")[0] in media, (reply, list(media))
    # the same answer under a version prefix, as Docker clients send
    prefixed = call(api, endpoint.method, f"/v{API_VERSION}{url}", endpoint.body)
    assert prefixed.status == reply.status, (prefixed, reply)


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/nothing",
        "/containers",
        "/containers/",
        f"/containers/{DUMMY}/json/extra",
        f"/containers/{DUMMY}/topx",
        "/containers//json",
        "/images/x/history",
        "/exec",
        "/volumes",
        f"/v{API_VERSION}",
        f"/v{API_VERSION}/",
        f"/v{API_VERSION}/nothing",
        "/V1.43/_ping",
        "/_ping/extra",
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE", "PUT"])
def test_undocumented_path_is_404_page_not_found(api: ApiClient, url: str, method: str) -> None:
    assert not allowed_methods(url)
    reply = api.request(method, url, body={} if method in ("POST", "PUT") else None)
    assert assert_error(reply, 404) == "page not found"


def wrong_methods() -> list[tuple[str, str]]:
    out = []
    for url in sorted({concrete(path) for _, path in TEMPLATES}):
        for method in ("GET", "POST", "DELETE", "PUT"):
            if method not in allowed_methods(url):
                out.append((method, url))
    return out


@pytest.mark.parametrize(("method", "url"), wrong_methods())
def test_wrong_method_on_known_path_is_405(api: ApiClient, method: str, url: str) -> None:
    reply = api.request(method, url, body={} if method in ("POST", "PUT") else None)
    message = assert_error(reply, 405)
    assert method in message


@pytest.mark.parametrize("method", ["PATCH", "OPTIONS", "TRACE"])
def test_other_standard_methods_are_405_json(api: ApiClient, method: str) -> None:
    reply = api.request(method, "/containers/json")
    assert_error(reply, 405, method)


def test_ping_with_and_without_version_prefix(api: ApiClient) -> None:
    plain = api.get("/_ping")
    prefixed = api.get(f"/v{API_VERSION}/_ping")
    old = api.get("/v1.24/_ping")
    for reply in (plain, prefixed, old):
        assert reply.status == 200, reply
        assert reply.body == b"OK"
        assert reply.content_type.startswith("text/plain")
        assert reply.headers["API-Version"] == API_VERSION
        assert reply.headers["OSType"] == "linux"


def test_head_ping_has_headers_and_no_body(api: ApiClient) -> None:
    data = api.raw(b"HEAD /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
    head, sep, rest = data.partition(b"\r\n\r\n")
    assert sep, data
    lines = head.decode().split("\r\n")
    assert lines[0].startswith("HTTP/1.1 200"), lines[0]
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    assert headers["api-version"] == API_VERSION
    assert rest == b"", rest


def test_head_ping_through_http_client(api: ApiClient) -> None:
    reply = api.request("HEAD", f"/v{API_VERSION}/_ping")
    assert reply.status == 200
    assert reply.headers["API-Version"] == API_VERSION
    assert reply.body == b""


def test_keep_alive_serves_several_requests_on_one_connection(api: ApiClient) -> None:
    from tests.unit.server.apiclient import UnixHTTPConnection

    conn = UnixHTTPConnection(api.path)
    try:
        for url in ("/_ping", "/version", "/nothing", "/containers/json"):
            conn.request("GET", url)
            resp = conn.getresponse()
            resp.read()
            assert resp.status in (200, 404)
    finally:
        conn.close()


def test_version_and_info_shapes(api: ApiClient) -> None:
    version = api.get("/version")
    assert version.status == 200 and version.content_type == "application/json"
    doc = version.json()
    assert doc["ApiVersion"] == API_VERSION
    assert doc["MinAPIVersion"] == "1.24"
    assert doc["Os"] == "linux"
    assert isinstance(doc["Version"], str) and doc["Version"]
    info = api.get("/info").json()
    assert {"mock", "fake"} <= set(info["Runtimes"])
    assert info["DefaultRuntime"] == "fake"  # the module server's configuration says so
    assert isinstance(info["Containers"], int)
    assert info["Images"] == 1  # the fixture's `img`
