"""Image names (`normalize`), the ImageStore, `ocimux image`, and the images endpoints."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from ocimux.base.errors import InvalidArgumentError, NotFoundError, OcimuxError
from ocimux.engine.images import ImageStore, image_id, normalize

from tests.unit.server.apiclient import ApiClient, Server, assert_error


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("busybox", "busybox:latest"),
        ("busybox:latest", "busybox:latest"),
        ("busybox:1.36", "busybox:1.36"),
        ("library/busybox", "busybox:latest"),
        ("library/busybox:1.36", "busybox:1.36"),
        ("docker.io/library/busybox:latest", "busybox:latest"),
        ("docker.io/library/busybox", "busybox:latest"),
        ("index.docker.io/library/busybox", "busybox:latest"),
        ("docker.io/me/tool", "me/tool:latest"),
        ("me/tool:v2", "me/tool:v2"),
        ("registry:5000/x/y:tag", "registry:5000/x/y:tag"),
        ("registry:5000/x/y", "registry:5000/x/y:latest"),
        ("quay.io/x/y", "quay.io/x/y:latest"),
        ("  busybox  ", "busybox:latest"),
    ],
)
def test_normalize(name: str, expected: str) -> None:
    assert normalize(name) == expected
    assert normalize(expected) == expected  # idempotent


def test_image_id_is_stable_and_distinct() -> None:
    one = image_id("busybox:latest", "/a")
    assert one == image_id("busybox:latest", "/a")
    assert one.startswith("sha256:") and len(one) == len("sha256:") + 64
    assert one != image_id("busybox:latest", "/b") != image_id("other:latest", "/a")


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "state")


def test_store_add_get_list_remove(store: ImageStore, tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    assert store.list() == []
    entry = store.add("docker.io/library/busybox", rootfs, ["/bin/sh"], ["A=1"])
    assert entry["name"] == "busybox:latest"
    assert entry["rootfs"] == str(rootfs.resolve())
    assert entry["cmd"] == ["/bin/sh"] and entry["env"] == ["A=1"]
    assert isinstance(entry["created"], float)
    for spelling in ("busybox", "busybox:latest", "library/busybox", "docker.io/library/busybox"):
        assert store.get(spelling) == entry
    digest = image_id("busybox:latest", str(rootfs.resolve()))
    assert store.get(digest) == entry
    assert store.get(digest.removeprefix("sha256:")[:12]) == entry
    with pytest.raises(NotFoundError):
        store.get(digest.removeprefix("sha256:")[:11])  # too short a prefix to be an id
    store.add("me/tool:v2", rootfs)
    assert [i["name"] for i in store.list()] == ["busybox:latest", "me/tool:v2"]
    mode = stat.S_IMODE(store.path.stat().st_mode)
    assert mode == 0o600, oct(mode)
    store.add("busybox", tmp_path)  # re-adding a name replaces it
    assert store.get("busybox")["rootfs"] == str(tmp_path.resolve())
    store.remove("library/busybox:latest")
    assert [i["name"] for i in store.list()] == ["me/tool:v2"]
    with pytest.raises(NotFoundError):
        store.get("busybox")
    with pytest.raises(NotFoundError):
        store.remove("busybox")


def test_store_survives_a_new_instance(store: ImageStore, tmp_path: Path) -> None:
    store.add("persist", tmp_path)
    assert ImageStore(store.path.parent).get("persist:latest")["rootfs"] == str(tmp_path)


@pytest.mark.parametrize(
    "name", ["", "   ", "UPPER", "a b", "-x", "x-", "x::y", "x:", "/x", "x/", "x//y", "x:-tag", "é"]
)
def test_store_rejects_invalid_names(store: ImageStore, tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        store.add(name, tmp_path)
    assert isinstance(info.value, OcimuxError)
    assert store.list() == []


def test_store_rejects_a_missing_or_non_directory_rootfs(store: ImageStore, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="not a directory"):
        store.add("x", tmp_path / "missing")
    (tmp_path / "file").write_text("")
    with pytest.raises(InvalidArgumentError, match="not a directory"):
        store.add("x", tmp_path / "file")
    assert store.list() == []


def test_store_unknown_names_are_not_found(store: ImageStore) -> None:
    with pytest.raises(NotFoundError, match="No such image"):
        store.get("nothing")
    with pytest.raises(NotFoundError):
        store.remove("nothing")


def test_store_reports_a_corrupt_file(store: ImageStore) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_text("{not json")
    with pytest.raises(InvalidArgumentError, match="cannot read"):
        store.list()


def test_store_accepts_a_registry_with_a_port(store: ImageStore, tmp_path: Path) -> None:
    store.add("registry:5000/x/y:tag", tmp_path)
    assert store.get("registry:5000/x/y:tag")["name"] == "registry:5000/x/y:tag"


# --- the endpoints ----------------------------------------------------------------------------


def test_images_json(api: ApiClient, module_server: Server) -> None:
    reply = api.get("/images/json")
    assert reply.status == 200 and reply.content_type == "application/json"
    images = reply.json()
    assert len(images) == 1
    (image,) = images
    assert image["RepoTags"] == ["img:latest"]
    assert image["Id"] == image_id("img:latest", str(module_server.rootfs.resolve()))
    assert isinstance(image["Created"], int) and image["Created"] > 0
    for key in (
        "ParentId",
        "RepoDigests",
        "Size",
        "VirtualSize",
        "SharedSize",
        "Labels",
        "Containers",
    ):
        assert key in image
    assert api.get("/images/json?all=1").json() == images


@pytest.mark.parametrize("ref", ["img", "img:latest", "IMAGE-ID", "SHORT-ID"])
def test_image_inspect(api: ApiClient, module_server: Server, ref: str) -> None:
    summary = api.get("/images/json").json()[0]
    if ref == "IMAGE-ID":
        ref = summary["Id"]
    elif ref == "SHORT-ID":
        ref = summary["Id"].removeprefix("sha256:")[:12]
    reply = api.get(f"/images/{ref}/json")
    assert reply.status == 200, reply
    doc = reply.json()
    assert doc["Id"] == summary["Id"]
    assert doc["RepoTags"] == ["img:latest"]
    assert doc["Os"] == "linux" and doc["Architecture"]
    assert doc["Created"].endswith("Z")
    assert doc["Config"] == {"Cmd": None, "Env": [], "Labels": {}}
    assert doc["GraphDriver"]["Data"]["RootFS"] == str(module_server.rootfs.resolve())


def test_image_inspect_unknown_is_404(api: ApiClient) -> None:
    assert_error(api.get("/images/ocx-missing:1/json"), 404, "No such image", "ocx-missing:1")


@pytest.mark.parametrize("ref", ["library/img", "docker.io/library/img:latest", "library%2Fimg"])
def test_image_inspect_with_a_slash_in_the_name(api: ApiClient, ref: str) -> None:
    """Docker routes /images/{name:.*}/json: a name may contain slashes."""
    reply = api.get(f"/images/{ref}/json")
    assert reply.status == 200, reply
    assert reply.json()["RepoTags"] == ["img:latest"]
