"""Issue 17 (part A): API version prefixes, /info's fields, image names as given, unknown
images, `containers/prune`, `{id}/rename` and `{id}/top`, on the in-memory runtime.

Real containers (top's processes, the docker CLI) are in tests/integration/test_api_housekeeping.py.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from ocimux.base.errors import InvalidArgumentError
from ocimux.engine.top import parse_ps
from ocimux.server.apiversion import API_VERSION, MIN_API_VERSION, split_version
from ocimux.server.container_admin_api import prune_selector, tree_size
from ocimux.server.httpd import ApiError

from tests.unit.server.apiclient import ApiClient, Server, assert_error

# --- /v1.xx prefixes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1.43/containers/json", ("1.43", "/containers/json")),
        ("/v1.24/_ping", ("1.24", "/_ping")),
        ("/v1.30/_ping", ("1.30", "/_ping")),
        ("/containers/json", (None, "/containers/json")),
        ("/v1.43", (None, "/v1.43")),  # no path after it: not a prefix (404 later)
    ],
)
def test_split_version_strips_a_supported_prefix(path: str, expected: tuple) -> None:
    assert split_version(path) == expected


def test_versions_claimed_are_the_ones_checked(api: ApiClient) -> None:
    doc = api.get("/version").json()
    assert (doc["MinAPIVersion"], doc["ApiVersion"]) == (MIN_API_VERSION, API_VERSION)


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("1.12", "client version 1.12 is too old. Minimum supported API version is 1.24, "
                 "please upgrade your client to a newer version"),
        ("1.23", "client version 1.23 is too old. Minimum supported API version is 1.24, "
                 "please upgrade your client to a newer version"),
        ("1", "client version 1 is too old. Minimum supported API version is 1.24, "
              "please upgrade your client to a newer version"),
        ("1.44", "client version 1.44 is too new. Maximum supported API version is 1.43"),
        ("1.99", "client version 1.99 is too new. Maximum supported API version is 1.43"),
        ("2.0", "client version 2.0 is too new. Maximum supported API version is 1.43"),
    ],
)  # fmt: skip
def test_unsupported_version_prefix_is_mobys_400(
    api: ApiClient, version: str, message: str
) -> None:
    for method, path in (("GET", "/_ping"), ("GET", "/containers/json"), ("POST", "/nothing")):
        reply = api.request(method, f"/v{version}{path}", body={} if method == "POST" else None)
        assert assert_error(reply, 400) == message


@pytest.mark.parametrize("version", ["1.24", "1.41", "1.43"])
def test_supported_version_prefix_is_served(api: ApiClient, version: str) -> None:
    assert api.get(f"/v{version}/_ping").status == 200


def test_a_body_after_a_refused_version_leaves_the_connection_usable(api: ApiClient) -> None:
    # the body is read before the 400, so the next request on the connection parses
    body = json.dumps({"x": "y" * 1000}).encode()
    request = (
        b"POST /v1.12/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    ping = b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = api.raw(request + ping)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert answer.count(b"HTTP/1.1 ") == 2 and b"HTTP/1.1 200 " in answer, answer


# --- /info ----------------------------------------------------------------------------------


def test_info_says_debug_swarm_and_logging_driver(api: ApiClient) -> None:
    doc = api.get("/info").json()
    assert doc["Debug"] is False
    assert doc["Swarm"]["LocalNodeState"] == "inactive"
    assert doc["Swarm"]["ControlAvailable"] is False and doc["Swarm"]["NodeID"] == ""
    assert doc["LoggingDriver"] == "json-file"


# --- image names ----------------------------------------------------------------------------


@pytest.mark.parametrize("given", ["img", "img:latest", "library/img", "docker.io/library/img"])
def test_image_is_shown_as_the_client_named_it(
    api: ApiClient, module_server: Server, given: str
) -> None:
    cid = module_server.create(["true"], Image=given)
    doc = api.get(f"/containers/{cid}/json").json()
    assert doc["Config"]["Image"] == given
    (summary,) = [c for c in api.get("/containers/json?all=1").json() if c["Id"] == cid]
    assert summary["Image"] == given
    # the id is the image's, whatever it was called
    image = api.get("/images/img/json").json()
    assert doc["Image"] == summary["ImageID"] == image["Id"]
    assert api.delete(f"/containers/{cid}").status == 204


def test_create_from_an_unknown_image_is_dockers_404(api: ApiClient) -> None:
    reply = api.post("/containers/create", {"Image": "ocx-nope", "Cmd": ["true"]})
    message = assert_error(reply, 404)
    assert message == "No such image: ocx-nope (ocimux image add / docker load)"


def test_pull_of_an_unknown_image_says_no_such_image(api: ApiClient) -> None:
    # the docker CLI pulls after create's 404: the pull's answer is what it prints
    reply = api.post("/images/create?fromImage=ocx-nope&tag=latest")
    assert assert_error(reply, 404) == (
        "No such image: ocx-nope:latest (ocimux image add / docker load)"
    )
    assert "page not found" not in reply.json()["message"]


def test_pull_of_a_registered_image_is_up_to_date(api: ApiClient) -> None:
    reply = api.post("/images/create?fromImage=img&tag=latest")
    assert reply.status == 200, reply
    assert reply.json()["status"] == "Image is up to date for img:latest"


def test_pull_without_an_image_is_400(api: ApiClient) -> None:
    assert_error(api.post("/images/create"), 400, "fromImage")


# --- containers/prune ------------------------------------------------------------------------


def _prune(api: ApiClient, filters: dict | None = None) -> dict:
    url = "/containers/prune"
    if filters is not None:
        url += "?filters=" + quote(json.dumps(filters))
    reply = api.post(url)
    assert reply.status == 200, reply
    return reply.json()


def test_prune_removes_what_is_not_running(api: ApiClient, module_server: Server) -> None:
    created = module_server.create(["true"])
    running = module_server.run(["sleep", "100"])
    stopped = module_server.run(["sleep", "100"])
    assert api.post(f"/containers/{stopped}/stop?t=0").status == 204
    doc = _prune(api)
    assert doc["SpaceReclaimed"] == 0
    assert created in doc["ContainersDeleted"] and stopped in doc["ContainersDeleted"]
    assert running not in doc["ContainersDeleted"]
    assert api.get(f"/containers/{created}/json").status == 404
    assert api.get(f"/containers/{stopped}/json").status == 404
    assert api.get(f"/containers/{running}/json").json()["State"]["Running"] is True
    # nothing left to prune: null, as dockerd (Go's empty list)
    assert _prune(api) == {"ContainersDeleted": None, "SpaceReclaimed": 0}
    assert api.delete(f"/containers/{running}?force=1").status == 204


def test_prune_filters_by_label(api: ApiClient, module_server: Server) -> None:
    keep = module_server.create(["true"], Labels={"ocx.tier": "keep"})
    drop = module_server.create(["true"], Labels={"ocx.tier": "drop"})
    doc = _prune(api, {"label": ["ocx.tier=drop"]})
    assert doc["ContainersDeleted"] == [drop]
    doc = _prune(api, {"label!": ["ocx.tier"]})
    assert keep not in (doc["ContainersDeleted"] or [])
    assert _prune(api, {"label": {"ocx.tier": True}})["ContainersDeleted"] == [keep]


def test_prune_until_keeps_newer_containers(api: ApiClient, module_server: Server) -> None:
    cid = module_server.create(["true"])
    past = str(int(time.time()) - 3600)
    assert cid not in (_prune(api, {"until": [past]})["ContainersDeleted"] or [])
    assert cid not in (_prune(api, {"until": ["1h"]})["ContainersDeleted"] or [])
    assert cid in _prune(api, {"until": ["0s"]})["ContainersDeleted"]


@pytest.mark.parametrize(
    ("filters", "fragment"),
    [
        ({"status": ["exited"]}, "invalid filter 'status'"),
        ({"until": ["yesterday"]}, "invalid filter 'until=yesterday'"),
    ],
)
def test_prune_refuses_what_it_cannot_filter(
    api: ApiClient, module_server: Server, filters: dict, fragment: str
) -> None:
    cid = module_server.create(["true"])
    reply = api.post("/containers/prune?filters=" + quote(json.dumps(filters)))
    assert_error(reply, 400, fragment)
    assert api.get(f"/containers/{cid}/json").status == 200  # nothing went
    assert api.delete(f"/containers/{cid}").status == 204


def test_prune_refuses_malformed_filters(api: ApiClient) -> None:
    assert_error(api.post("/containers/prune?filters=nojson"), 400, "invalid filters")


def test_prune_selector_until_forms() -> None:
    class Rec:
        created_at = 1000.0
        config: dict = {"annotations": {}}

    now = 2000.0
    assert prune_selector({"until": ["1001"]}, now)(Rec())  # type: ignore[arg-type]
    assert not prune_selector({"until": ["1000"]}, now)(Rec())  # type: ignore[arg-type]
    assert prune_selector({"until": ["16m"]}, now)(Rec())  # type: ignore[arg-type]
    assert not prune_selector({"until": ["1h"]}, now)(Rec())  # type: ignore[arg-type]
    assert prune_selector({"until": ["1970-01-01T00:16:41Z"]}, now)(Rec())  # type: ignore[arg-type]
    with pytest.raises(ApiError, match="until=1x"):
        prune_selector({"until": ["1x"]}, now)


# --- rename ---------------------------------------------------------------------------------


def test_rename_changes_the_name(api: ApiClient, module_server: Server) -> None:
    cid = module_server.create(["true"], name="ocx-old")
    reply = api.post("/containers/ocx-old/rename?name=ocx-new")
    assert reply.status == 204, reply
    assert api.get("/containers/ocx-new/json").json()["Id"] == cid
    assert api.get("/containers/ocx-new/json").json()["Name"] == "/ocx-new"
    assert_error(api.get("/containers/ocx-old/json"), 404)
    assert api.post("/containers/ocx-new/rename?name=/ocx-slash").status == 204  # as Docker
    assert api.delete("/containers/ocx-slash").status == 204


def test_rename_to_a_name_in_use_is_409(api: ApiClient, module_server: Server) -> None:
    one = module_server.create(["true"], name="ocx-one")
    two = module_server.create(["true"], name="ocx-two")
    assert_error(api.post("/containers/ocx-one/rename?name=ocx-two"), 409, "ocx-two")
    assert api.get("/containers/ocx-one/json").json()["Id"] == one
    assert api.get("/containers/ocx-two/json").json()["Id"] == two
    for cid in (one, two):
        assert api.delete(f"/containers/{cid}").status == 204


@pytest.mark.parametrize(
    ("query", "status", "fragment"),
    [
        ("", 400, "Neither old nor new names may be empty"),
        ("?name=", 400, "Neither old nor new names may be empty"),
        ("?name=ocx-same", 400, "same name as its current name"),
        ("?name=bad%20name", 400, "invalid container name"),
        ("?name=-dash", 400, "invalid container name"),
    ],
)
def test_rename_refuses_bad_names(
    api: ApiClient, module_server: Server, query: str, status: int, fragment: str
) -> None:
    cid = module_server.create(["true"], name="ocx-same")
    try:
        assert_error(api.post(f"/containers/ocx-same/rename{query}"), status, fragment)
        assert api.get("/containers/ocx-same/json").json()["Id"] == cid
    finally:
        api.delete(f"/containers/{cid}")


def test_rename_of_an_unknown_container_is_404(api: ApiClient) -> None:
    assert_error(api.post("/containers/ocx-ghost/rename?name=x"), 404, "ocx-ghost")


# --- top ------------------------------------------------------------------------------------


def test_top_of_a_container_not_running_is_409(api: ApiClient, module_server: Server) -> None:
    cid = module_server.create(["true"])
    assert_error(api.get(f"/containers/{cid}/top"), 409, "is not running")
    assert api.delete(f"/containers/{cid}").status == 204


def test_top_of_a_container_whose_processes_are_gone_is_409(
    api: ApiClient, module_server: Server
) -> None:
    # the fake runtime's pids are never a live process: nothing to show
    cid = module_server.run(["sleep", "100"])
    assert_error(api.get(f"/containers/{cid}/top"), 409, "not running")
    assert api.delete(f"/containers/{cid}?force=1").status == 204


def test_top_of_an_unknown_container_is_404(api: ApiClient) -> None:
    assert_error(api.get("/containers/ocx-ghost/top"), 404, "ocx-ghost")


def test_parse_ps_keeps_the_container_rows_and_merges_the_command() -> None:
    output = (
        "UID   PID  PPID  C STIME TTY  TIME     CMD\n"
        "root    1     0  0 10:00 ?    00:00:01 /sbin/init splash\n"
        "root   42     1  0 10:01 ?    00:00:00 sleep 100 now\n"
        "root   43    42  0 10:01 ?    00:00:00 sh\n"
    )
    titles, rows = parse_ps(output, {42, 43, 99})
    assert titles == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert rows == [
        ["root", "42", "1", "0", "10:01", "?", "00:00:00", "sleep 100 now"],
        ["root", "43", "42", "0", "10:01", "?", "00:00:00", "sh"],
    ]


def test_parse_ps_without_a_pid_column_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="Couldn't find PID field in ps output"):
        parse_ps("USER COMMAND\nroot sh\n", {1})


def test_top_with_a_nul_in_ps_args_is_400(api: ApiClient, module_server: Server) -> None:
    cid = module_server.run(["sleep", "100"])
    assert_error(api.get(f"/containers/{cid}/top?ps_args=-ef%00x"), 400, "NUL")
    assert api.delete(f"/containers/{cid}?force=1").status == 204


def test_tree_size_counts_each_file_once(tmp_path: Path) -> None:
    assert tree_size(tmp_path / "missing") == 0
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a").write_bytes(b"x" * 1000)
    os.link(tmp_path / "d" / "a", tmp_path / "b")  # a hard link is the same bytes
    (tmp_path / "c").write_bytes(b"y" * 10)
    os.symlink("c", tmp_path / "s")  # counted as the link, not its target
    assert tree_size(tmp_path) == 1000 + 10 + len("c")
