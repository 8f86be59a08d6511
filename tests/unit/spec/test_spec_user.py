"""parse_user: numbers and names, resolved through the rootfs's own passwd and group files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ocimux.base.errors import InvalidArgumentError
from ocimux.oci.spec import parse_user

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
# a comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
alice:x:1000:1000:Alice:/home/alice:/bin/sh
bob:x:1001:100::/home/bob:/bin/sh
+nis
broken line
"""
GROUP = """\
root:x:0:
users:x:100:alice
alice:x:1000:
wheel:x:10:alice,bob
audio:x:29:bob
"""


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text(PASSWD)
    (root / "etc" / "group").write_text(GROUP)
    return root


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", (0, 0, ())),
        ("root", (0, 0, ())),
        ("alice", (1000, 1000, (10, 100))),
        ("1000", (1000, 1000, (10, 100))),
        ("bob", (1001, 100, (10, 29))),
        ("bob:audio", (1001, 29, (10,))),
        ("alice:0", (1000, 0, (10, 100))),
        ("1000:wheel", (1000, 10, (100,))),
        ("4242", (4242, 0, ())),
        ("4242:4343", (4242, 4343, ())),
        ("daemon:users", (1, 100, ())),
    ],
)
def test_resolves(rootfs: Path, value: str, expected: tuple[int, int, tuple[int, ...]]) -> None:
    assert parse_user(value, rootfs) == expected


def test_numbers_without_rootfs() -> None:
    assert parse_user("1000", None) == (1000, 0, ())
    assert parse_user("1000:50", None) == (1000, 50, ())


@pytest.mark.parametrize("value", ["alice", "1000:wheel"])
def test_names_need_a_rootfs(value: str) -> None:
    with pytest.raises(InvalidArgumentError, match="without a rootfs"):
        parse_user(value, None)


def test_unknown_user_names_user_and_rootfs(rootfs: Path) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        parse_user("mallory", rootfs)
    assert "'mallory'" in str(info.value)
    assert str(rootfs) in str(info.value)


def test_unknown_group_names_group_and_rootfs(rootfs: Path) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        parse_user("alice:nogroup", rootfs)
    assert "'nogroup'" in str(info.value)
    assert str(rootfs) in str(info.value)


@pytest.mark.parametrize(
    "value", ["", ":", "alice:", ":users", "a:b:c", "4294967295", "0:4294967295"]
)
def test_malformed(rootfs: Path, value: str) -> None:
    with pytest.raises(InvalidArgumentError, match="user"):
        parse_user(value, rootfs)


def test_missing_passwd_means_numbers_only(tmp_path: Path) -> None:
    assert parse_user("5", tmp_path) == (5, 0, ())
    with pytest.raises(InvalidArgumentError, match="unknown user 'root'"):
        parse_user("root", tmp_path)


def test_never_reads_the_hosts_files(tmp_path: Path) -> None:
    """An absolute symlink in the image resolves inside the rootfs, not on the host."""
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "lib").mkdir()
    (root / "lib" / "passwd").write_text("app:x:77:77::/:/bin/sh\n")
    (root / "lib" / "group").write_text("app:x:77:\nstaff:x:50:app\n")
    os.symlink("/lib/passwd", root / "etc" / "passwd")
    os.symlink("../../../../../../lib/group", root / "etc" / "group")  # .. stops at the rootfs
    assert parse_user("app", root) == (77, 77, (50,))
    # The host surely has root in /etc/passwd; this rootfs must not see it.
    with pytest.raises(InvalidArgumentError, match="unknown user 'root'"):
        os.unlink(root / "lib" / "passwd")
        parse_user("root", root)


def test_passwd_that_is_not_a_file(tmp_path: Path) -> None:
    (tmp_path / "etc" / "passwd").mkdir(parents=True)
    with pytest.raises(InvalidArgumentError, match="not a regular file"):
        parse_user("root", tmp_path)
