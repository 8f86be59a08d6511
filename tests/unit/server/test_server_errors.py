"""Docker-shaped errors: the right status code and a JSON body with a string `message`."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from tests.unit.server.apiclient import ApiClient, Server, assert_error


@pytest.fixture(scope="module")
def created(module_server: Server) -> Iterator[str]:
    """A container that is created and never started (no process: cheap to share)."""
    cid = module_server.create(["/bin/true"], name="ocx-created")
    yield cid


def test_unknown_container_is_404_naming_it(api: ApiClient) -> None:
    for method, url in [
        ("GET", "/containers/ocx-nope/json"),
        ("POST", "/containers/ocx-nope/start"),
        ("POST", "/containers/ocx-nope/stop"),
        ("POST", "/containers/ocx-nope/kill"),
        ("POST", "/containers/ocx-nope/wait"),
        ("GET", "/containers/ocx-nope/logs?stdout=1"),
        ("DELETE", "/containers/ocx-nope?force=1"),
    ]:
        assert_error(api.request(method, url), 404, "ocx-nope")


def test_unknown_exec_and_image_are_404(api: ApiClient) -> None:
    assert_error(api.get("/exec/ocx-nope/json"), 404, "No such exec instance", "ocx-nope")
    assert_error(api.post("/exec/ocx-nope/start", {}), 404, "No such exec instance")
    assert_error(api.post("/exec/ocx-nope/resize?h=1&w=1"), 404, "No such exec instance")
    assert_error(api.get("/images/ocx-nope/json"), 404, "No such image", "ocx-nope")


@pytest.mark.parametrize(
    "body",
    [b"{bad", b"{", b'{"Image": "img",}', b"\xff\xfe", b"nul\x00l"],
    ids=["brace", "open", "trailing-comma", "not-utf8", "nul"],
)
def test_create_bad_json_is_400(api: ApiClient, body: bytes) -> None:
    reply = api.post("/containers/create", body, headers={"Content-Type": "application/json"})
    assert_error(reply, 400, "invalid JSON body")


@pytest.mark.parametrize("body", [b"[1, 2]", b'"img"', b"3", b"null", b"true"])
def test_create_json_that_is_not_an_object_is_400(api: ApiClient, body: bytes) -> None:
    reply = api.post("/containers/create", body, headers={"Content-Type": "application/json"})
    assert_error(reply, 400)


@pytest.mark.parametrize(
    "body",
    [{}, {"Cmd": ["/bin/true"]}, {"Image": ""}, {"Image": 7}, {"Image": None}, {"Image": ["img"]}],
    ids=["empty", "cmd-only", "empty-string", "number", "null", "list"],
)
def test_create_without_image_is_400(api: ApiClient, body: dict) -> None:
    assert_error(api.post("/containers/create", body), 400, "Image")


def test_create_with_empty_body_is_400(api: ApiClient) -> None:
    assert_error(api.post("/containers/create", b""), 400, "Image")


def test_create_unknown_image_is_404(api: ApiClient) -> None:
    reply = api.post("/containers/create", {"Image": "ocx-unknown:1.0", "Cmd": ["/bin/true"]})
    assert_error(reply, 404, "No such image", "ocx-unknown:1.0")


def test_create_unknown_runtime_is_400_naming_it(api: ApiClient) -> None:
    body = {"Image": "img", "Cmd": ["/bin/true"], "HostConfig": {"Runtime": "ocx-no-runtime"}}
    assert_error(api.post("/containers/create", body), 400, "ocx-no-runtime")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"Image": "img", "Cmd": [1, 2]}, "Cmd"),
        ({"Image": "img", "Cmd": {"a": 1}}, "Cmd"),
        ({"Image": "img", "Entrypoint": 5}, "Entrypoint"),
        ({"Image": "img", "Cmd": ["/bin/true"], "Env": [1]}, "Env"),
        ({"Image": "img", "Cmd": ["/bin/true"], "HostConfig": [1]}, "HostConfig"),
        ({"Image": "img", "Cmd": ["/bin/true"], "HostConfig": {"Runtime": 3}}, "Runtime"),
        ({"Image": "img", "Cmd": ["/bin/true"], "Labels": ["a"]}, "Labels"),
        ({"Image": "img", "Cmd": ["/bin/true"], "StopTimeout": "10"}, "StopTimeout"),
        ({"Image": "img", "Cmd": ["/bin/true"], "WorkingDir": 3}, "WorkingDir"),
        ({"Image": "img", "Cmd": ["/bin/true"], "User": 0}, "User"),
        ({"Image": "img"}, "command"),  # the image has no default command either
    ],
)
def test_create_bad_fields_are_400(api: ApiClient, body: dict, fragment: str) -> None:
    assert_error(api.post("/containers/create", body), 400, fragment)


def test_create_invalid_name_is_400(api: ApiClient) -> None:
    reply = api.post("/containers/create?name=-bad%20name", {"Image": "img", "Cmd": ["/bin/true"]})
    assert_error(reply, 400, "name")


def test_create_taken_name_is_409(api: ApiClient, created: str) -> None:
    reply = api.post("/containers/create?name=ocx-created", {"Image": "img", "Cmd": ["/bin/true"]})
    assert_error(reply, 409)


@pytest.mark.parametrize(
    "query",
    [
        "all=maybe",
        "all=2",
        "limit=-5",
        "limit=abc",
        "limit=1.5",
        f"limit={2**31}",
        "filters=notjson",
        "filters=%5B1%5D",  # [1]
        "filters=%7B%22status%22%3A3%7D",  # {"status": 3}
    ],
)
def test_list_bad_query_is_400(api: ApiClient, query: str) -> None:
    assert_error(api.get(f"/containers/json?{query}"), 400)


def test_list_good_queries(api: ApiClient, created: str) -> None:
    for query in ["all=1", "all=true", "all=0&limit=0", "limit=-1", "filters=", "filters=%7B%7D"]:
        reply = api.get(f"/containers/json?{query}")
        assert reply.status == 200, (query, reply)
        assert isinstance(reply.json(), list)


def test_huge_content_length_is_413(api: ApiClient) -> None:
    from tests.unit.server.apiclient import UnixHTTPConnection

    conn = UnixHTTPConnection(api.path)
    try:
        conn.putrequest("POST", "/containers/create")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(10**12))
        conn.endheaders()
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    assert resp.status == 413
    assert resp.headers["Content-Type"] == "application/json"
    assert "larger than" in json.loads(body)["message"]


def test_non_numeric_content_length_is_400(api: ApiClient) -> None:
    data = api.raw(
        b"POST /containers/create HTTP/1.1\r\nHost: docker\r\nContent-Length: abc\r\n"
        b"Connection: close\r\n\r\n"
    )
    assert data.startswith(b"HTTP/1.1 400"), data
    assert b'"message": "invalid Content-Length' in data


def test_chunked_body_is_read(api: ApiClient, module_server: Server) -> None:
    body = b'{"Image": "img", "Cmd": ["/bin/true"], "Labels": {"ocx": "chunked"}}'
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + 10]), body[i : i + 10]) for i in range(0, len(body), 10)
    )
    data = api.raw(
        b"POST /containers/create HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunks + b"0\r\n\r\n"
    )
    assert data.startswith(b"HTTP/1.1 201"), data


def test_bad_chunked_encoding_is_400(api: ApiClient) -> None:
    data = api.raw(
        b"POST /containers/create HTTP/1.1\r\nHost: docker\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"
    )
    assert data.startswith(b"HTTP/1.1 400"), data
    assert b"chunked" in data


@pytest.mark.parametrize("signal", ["NOPE", "0", "65", "-1", "SIGNOPE", "9999999999999999999999"])
def test_kill_bad_signal_on_existing_container_is_400(
    api: ApiClient, created: str, signal: str
) -> None:
    assert_error(api.post(f"/containers/{created}/kill?signal={signal}"), 400, "signal")


def test_kill_a_container_that_is_not_running_is_409(api: ApiClient, created: str) -> None:
    assert_error(api.post(f"/containers/{created}/kill"), 409, "not running")


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [
        ("POST", "/containers/{id}/wait?condition=bogus", 400),
        ("POST", "/containers/{id}/stop?t=abc", 400),
        ("POST", "/containers/{id}/stop?t=-1", 400),
        ("POST", "/containers/{id}/restart?t=x", 400),
        ("POST", "/containers/{id}/resize?h=abc", 400),
        ("POST", "/containers/{id}/resize?h=10&w=10", 409),  # no TTY
        ("GET", "/containers/{id}/logs", 400),  # no stream chosen
        ("GET", "/containers/{id}/logs?stdout=0&stderr=0", 400),
        ("GET", "/containers/{id}/logs?stdout=maybe", 400),
        ("DELETE", "/containers/{id}?force=perhaps", 400),
        ("POST", "/containers/{id}/pause", 409),
    ],
)
def test_bad_requests_on_an_existing_container(
    api: ApiClient, created: str, method: str, url: str, status: int
) -> None:
    assert_error(api.request(method, url.format(id=created)), status)


def test_exec_on_a_container_that_is_not_running_is_409(api: ApiClient, created: str) -> None:
    assert_error(api.post(f"/containers/{created}/exec", {"Cmd": ["/bin/true"]}), 409)


@pytest.mark.parametrize("body", [{}, {"Cmd": []}, {"Cmd": [1]}, {"Cmd": None}])
def test_exec_without_a_command_is_400(api: ApiClient, created: str, body: dict) -> None:
    assert_error(api.post(f"/containers/{created}/exec", body), 400)


@pytest.mark.parametrize(
    "url",
    ["/containers/{id}/logs?stdout=1&tail=abc", "/containers/{id}/attach?logs=1&stdout=1&tail=abc"],
    ids=["logs", "attach"],
)
def test_invalid_tail_is_400_before_the_stream_starts(
    api: ApiClient, created: str, url: str
) -> None:
    method = "POST" if "attach" in url else "GET"
    reply = api.request(method, url.format(id=created))
    assert_error(reply, 400, "tail")


def test_every_error_of_a_burst_is_json(api: ApiClient, created: str) -> None:
    """Errors on one keep-alive connection do not desynchronise it."""
    from tests.unit.server.apiclient import UnixHTTPConnection

    conn = UnixHTTPConnection(api.path)
    try:
        for method, url in [
            ("GET", "/nothing"),
            ("PUT", "/_ping"),
            ("GET", "/containers/json?all=maybe"),
            ("POST", f"/containers/{created}/kill?signal=NOPE"),
            ("GET", "/containers/ocx-nope/json"),
            ("GET", "/_ping"),
        ]:
            conn.request(method, url)
            resp = conn.getresponse()
            body = resp.read()
            if url == "/_ping" and method == "GET":
                assert resp.status == 200 and body == b"OK"
            else:
                assert resp.status >= 400
                assert isinstance(json.loads(body)["message"], str)
    finally:
        conn.close()


def test_client_that_disconnects_early_does_not_kill_the_server(api: ApiClient) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(api.path)
    sock.sendall(b"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: 100\r\n\r\n{")
    sock.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(api.path)
    sock.sendall(b"GARBAGE\r\n\r\n")
    sock.close()
    assert api.get("/_ping").status == 200
