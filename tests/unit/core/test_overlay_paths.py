"""The pure parts of copy-on-write layers: mountinfo parsing, option strings, refusals.

Nothing here mounts: every call fails (or is asked to fail) before mount(2). The real mounts
are in tests/integration/test_overlay.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ocimux.base.errors import InvalidArgumentError, OcimuxError
from ocimux.oci import overlay

MOUNTINFO = (
    b"22 27 0:21 / /proc rw,relatime - proc proc rw\n"
    b"27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
    b"90 27 0:50 / /tmp/with\\040space/merged rw,relatime shared:5 - overlay overlay rw,"
    b"lowerdir=/a,upperdir=/b,workdir=/c\n"
    b"91 27 0:51 / /tmp/tab\\011nl\\012back\\134slash rw - tmpfs tmpfs rw\n"
    b"92 27 0:52 / /tmp/caf\\303\\251 rw - tmpfs tmpfs rw\n"
    b"93 27 0:53 / /tmp/not\\08escape rw - tmpfs tmpfs rw\n"
)


def test_mount_points_are_the_fifth_field_with_octal_escapes_undone() -> None:
    assert overlay.parse_mount_points(MOUNTINFO) == [
        "/proc",
        "/",
        "/tmp/with space/merged",
        "/tmp/tab\tnl\nback\\slash",
        "/tmp/café",
        "/tmp/not\\08escape",  # \08 is not three octal digits: left as it is
    ]


def test_mount_points_of_an_empty_or_short_text() -> None:
    assert overlay.parse_mount_points(b"") == []
    assert overlay.parse_mount_points(b"garbage\n\n1 2 3\n") == []


def test_a_mount_point_that_is_not_utf8_keeps_its_bytes() -> None:
    (point,) = overlay.parse_mount_points(b"1 2 0:1 / /tmp/\\377x rw - tmpfs t rw\n")
    assert point.encode("utf-8", "surrogateescape") == b"/tmp/\xffx"


def test_options_name_lower_upper_and_work() -> None:
    assert overlay.mount_options("/img/rootfs", "/s/layer/upper", "/s/layer/work") == (
        b"lowerdir=/img/rootfs,upperdir=/s/layer/upper,workdir=/s/layer/work"
    )


def test_spaces_and_equals_signs_need_no_escaping() -> None:
    data = overlay.mount_options("/img/my rootfs=1", "/s/u", "/s/w")
    assert data == b"lowerdir=/img/my rootfs=1,upperdir=/s/u,workdir=/s/w"


@pytest.mark.parametrize("bad", [",", ":", "\\"])
@pytest.mark.parametrize("where", ["lower", "upper", "work"])
def test_separators_and_backslash_are_refused_naming_the_path(bad: str, where: str) -> None:
    paths = {"lower": "/img/rootfs", "upper": "/s/upper", "work": "/s/work"}
    paths[where] = f"/odd{bad}dir"
    with pytest.raises(InvalidArgumentError) as info:
        overlay.mount_options(paths["lower"], paths["upper"], paths["work"])
    line = str(info.value)
    assert "\n" not in line and repr(f"/odd{bad}dir") in line and "contains" in line


def test_relative_paths_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="not absolute"):
        overlay.mount_options("rootfs", "/s/u", "/s/w")


def test_options_longer_than_a_page_are_refused() -> None:
    long = "/" + "d" * 4100
    with pytest.raises(InvalidArgumentError, match="at most 4095"):
        overlay.mount_options(long, "/s/u", "/s/w")
    fits = "/" + "d" * (4095 - len("lowerdir=/,upperdir=/s/u,workdir=/s/w"))
    assert len(overlay.mount_options(fits, "/s/u", "/s/w")) == 4095


@pytest.mark.parametrize(
    ("capeff", "expected"),
    [
        ("000001ffffffffff", True),  # root
        ("0000000000200000", True),  # CAP_SYS_ADMIN alone (bit 21)
        ("00000000a80425fb", False),  # podman's default set: no CAP_SYS_ADMIN
        ("0000000000000000", False),
    ],
)
def test_privilege_is_cap_sys_admin_in_the_effective_set(capeff: str, expected: bool) -> None:
    status = (
        f"Name:\tpython\nCapInh:\t0000000000000000\nCapEff:\t{capeff}\nCapBnd:\t000001ffffffffff\n"
    )
    assert overlay.has_privilege(status) is expected


def test_no_capeff_line_means_no_privilege() -> None:
    assert overlay.has_privilege("Name:\tpython\n") is False


@pytest.fixture
def unprivileged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(overlay, "has_privilege", lambda status: False)


def test_without_privilege_the_layer_is_a_private_copy(tmp_path: Path, unprivileged: None) -> None:
    lower = tmp_path / "rootfs"
    (lower / "etc").mkdir(parents=True)
    (lower / "etc" / "passwd").write_text("root:x:0:0::/:/bin/sh\n")
    (lower / "sh").symlink_to("busybox")
    layer = tmp_path / "c" / "layer"
    merged = overlay.mount_layer(lower, layer)
    assert merged == layer / overlay.MERGED and (merged / "etc" / "passwd").read_text()
    assert os.readlink(merged / "sh") == "busybox"
    (merged / "etc" / "passwd").write_text("changed\n")
    (merged / "new").write_text("x")
    assert (lower / "etc" / "passwd").read_text() == "root:x:0:0::/:/bin/sh\n"
    assert not (lower / "new").exists()
    kept = tmp_path / "kept"
    overlay.unmount_layer(layer, keep_upper=kept)
    assert not layer.exists() and (kept / "new").exists()
    merged = overlay.mount_layer(lower, layer, upper_from=kept)
    assert (merged / "new").read_text() == "x" and not kept.exists()
    overlay.unmount_layer(layer)
    assert not layer.exists() and (lower / "etc" / "passwd").exists()


def test_a_copy_that_fails_leaves_nothing_and_says_why(
    tmp_path: Path, unprivileged: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    lower = tmp_path / "rootfs"
    lower.mkdir()

    def fail(src: str, dst: Path, **kw: object) -> None:
        Path(dst).mkdir()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(overlay.shutil, "copytree", fail)
    layer = tmp_path / "c" / "layer"
    with pytest.raises(OcimuxError) as info:
        overlay.mount_layer(lower, layer)
    line = str(info.value)
    assert "\n" not in line and "copy" in line and "No space left" in line, line
    assert not layer.exists()


def test_lower_must_be_an_existing_directory(tmp_path: Path, unprivileged: None) -> None:
    (tmp_path / "file").write_text("x")
    for lower in (tmp_path / "missing", tmp_path / "file"):
        with pytest.raises(InvalidArgumentError, match="is not a directory"):
            overlay.mount_layer(lower, tmp_path / "layer")
    assert not (tmp_path / "layer").exists()


def test_a_layer_inside_the_lower_or_around_it_is_refused(
    tmp_path: Path, unprivileged: None
) -> None:
    lower = tmp_path / "rootfs"
    lower.mkdir()
    for layer in (lower / "var" / "layer", tmp_path):
        with pytest.raises(InvalidArgumentError, match="one is inside the other"):
            overlay.mount_layer(lower, layer)


def test_a_lower_path_with_a_colon_is_refused_before_anything_is_made(
    tmp_path: Path, unprivileged: None
) -> None:
    lower = tmp_path / "img:latest"
    lower.mkdir()
    with pytest.raises(InvalidArgumentError, match="contains ':'"):
        overlay.mount_layer(lower, tmp_path / "c" / "layer")
    assert not (tmp_path / "c").exists()


def test_unmounting_a_missing_layer_does_nothing(tmp_path: Path) -> None:
    overlay.unmount_layer(tmp_path / "nothing-here")  # reads no mountinfo, mounts nothing
