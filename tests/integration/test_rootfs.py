"""build_busybox_rootfs with the host's real busybox; its shell runs directly on the host."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
from ocimux.base import process
from ocimux.base.errors import InvalidArgumentError
from ocimux.oci.rootfs import MARKER, build_busybox_rootfs, find_busybox


def _static_busybox() -> str | None:
    try:
        return str(find_busybox())
    except InvalidArgumentError:
        return None


BUSYBOX = _static_busybox()
pytestmark = pytest.mark.skipif(
    BUSYBOX is None, reason="no statically linked busybox (apt install busybox-static)"
)


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    return build_busybox_rootfs(tmp_path / "rootfs")


def test_shell_runs(rootfs: Path) -> None:
    done = process.run([str(rootfs / "bin" / "sh"), "-c", "echo ok"], timeout=10)
    assert (done.returncode, done.stdout) == (0, b"ok\n")


def test_layout(rootfs: Path) -> None:
    assert os.readlink(rootfs / "bin" / "sh") == "busybox"
    for applet in ("echo", "sleep", "cat", "true", "ls"):
        assert os.readlink(rootfs / "bin" / applet) == "busybox"
    assert not (rootfs / "bin" / "busybox").is_symlink()
    assert stat.S_IMODE((rootfs / "bin" / "busybox").stat().st_mode) == 0o755
    assert stat.S_IMODE((rootfs / "tmp").stat().st_mode) == 0o1777
    for d in ("dev", "proc", "sys", "etc", "root", "run", "var", "usr/bin"):
        assert (rootfs / d).is_dir(), d
    assert (rootfs / "etc" / "passwd").read_text().startswith("root:x:0:0:root:/root:/bin/sh\n")
    assert ":65534:" in (rootfs / "etc" / "passwd").read_text()
    assert "root:x:0:" in (rootfs / "etc" / "group").read_text()
    assert "127.0.0.1\tlocalhost" in (rootfs / "etc" / "hosts").read_text()
    env = process.run(
        [str(rootfs / "usr" / "bin" / "env"), "A=1", "sh", "-c", "echo $A"], timeout=10
    )
    assert env.stdout == b"1\n"


def test_returns_absolute_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert build_busybox_rootfs(Path("rel")) == tmp_path / "rel"


def test_empty_existing_dir_is_fine(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    assert (build_busybox_rootfs(tmp_path / "r") / "bin" / "sh").is_symlink()


def test_idempotent_rebuild_keeps_user_edits(rootfs: Path) -> None:
    before = sorted(p.relative_to(rootfs) for p in rootfs.rglob("*"))
    passwd = rootfs / "etc" / "passwd"
    passwd.write_text(passwd.read_text() + "app:x:1000:1000::/:/bin/sh\n")
    (rootfs / "bin" / "echo").unlink()
    assert build_busybox_rootfs(rootfs) == rootfs
    assert sorted(p.relative_to(rootfs) for p in rootfs.rglob("*")) == before
    assert "app:x:1000" in passwd.read_text()
    assert os.readlink(rootfs / "bin" / "echo") == "busybox"
    done = process.run([str(rootfs / "bin" / "sh"), "-c", "echo ok"], timeout=10)
    assert done.stdout == b"ok\n"


def test_interrupted_build_is_finished_next_time(rootfs: Path) -> None:
    shutil.rmtree(rootfs / "bin")
    assert (rootfs / MARKER).exists()
    build_busybox_rootfs(rootfs)
    assert os.readlink(rootfs / "bin" / "sh") == "busybox"


def test_refuses_a_foreign_non_empty_dir(tmp_path: Path) -> None:
    mine = tmp_path / "home"
    mine.mkdir()
    (mine / "notes.txt").write_text("precious")
    with pytest.raises(InvalidArgumentError, match="not empty and was not built by ocimux"):
        build_busybox_rootfs(mine)
    assert os.listdir(mine) == ["notes.txt"]


def test_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(InvalidArgumentError, match="not a directory"):
        build_busybox_rootfs(tmp_path / "f")


def test_refuses_a_dynamic_binary(tmp_path: Path) -> None:
    ls = shutil.which("ls") or "/bin/ls"
    with pytest.raises(InvalidArgumentError, match="is dynamically linked; install busybox-static"):
        build_busybox_rootfs(tmp_path / "r", busybox=ls)
    assert not (tmp_path / "r").exists()


def test_refuses_a_non_elf(tmp_path: Path) -> None:
    script = tmp_path / "busybox"
    script.write_text("#!/bin/sh\necho sh\n")
    script.chmod(0o755)
    with pytest.raises(InvalidArgumentError, match="not an ELF executable"):
        build_busybox_rootfs(tmp_path / "r", busybox=str(script))


def test_missing_busybox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InvalidArgumentError, match="busybox not found"):
        build_busybox_rootfs(tmp_path / "r", busybox=str(tmp_path / "nope"))
    import ocimux.oci.rootfs as rootfs_module

    monkeypatch.setattr(rootfs_module, "BUSYBOX_CANDIDATES", (str(tmp_path / "none"),))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(
        InvalidArgumentError, match=r"busybox not found \(looked in .*install busybox-static"
    ):
        find_busybox()


def test_static_binary_that_is_not_busybox(tmp_path: Path) -> None:
    """A static ELF without a `sh` applet is refused before dest is touched."""
    assert BUSYBOX is not None
    fake = tmp_path / "fake"
    shutil.copy(BUSYBOX, fake)  # named "fake", busybox runs its `fake` applet: there is none
    with pytest.raises(InvalidArgumentError):
        build_busybox_rootfs(tmp_path / "r", busybox=str(fake))
    assert not (tmp_path / "r").exists()
