"""ocimux.base.command: argv[0] is found in a fake rootfs as runc and a shell would find it, and a
miss is 127 or 126 with runc's words. No process runs: the rootfs is a tree of plain files."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from ocimux.base.command import DEFAULT_PATH, ResolvedCommand, exec_error, resolve_command
from ocimux.base.errors import CommandNotFoundError, CommandNotInvocableError, InvalidArgumentError


def _file(path: Path, mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"#!/bin/sh\n")
    path.chmod(mode)
    return path


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    """bin/busybox, bin/sh -> busybox, usr/bin/tool, etc/passwd (0644), home/app/run.sh."""
    root = tmp_path / "rootfs"
    _file(root / "bin" / "busybox")
    (root / "bin" / "sh").symlink_to("busybox")
    _file(root / "usr" / "bin" / "tool")
    _file(root / "etc" / "passwd", 0o644)
    _file(root / "home" / "app" / "run.sh")
    return root


def test_a_name_is_found_in_the_spec_path(rootfs: Path):
    found = resolve_command(rootfs, ["tool", "-v"], ["PATH=/bin:/usr/bin"])
    assert found == ResolvedCommand(
        "/usr/bin/tool", rootfs / "usr" / "bin" / "tool", ("tool", "-v")
    )


def test_the_first_path_entry_that_has_it_wins(rootfs: Path):
    _file(rootfs / "usr" / "local" / "bin" / "tool")
    found = resolve_command(rootfs, ["tool"], ["PATH=/usr/local/bin:/usr/bin"])
    assert found.path == "/usr/local/bin/tool"


def test_a_symlink_is_kept_in_path_and_resolved_in_host_path(rootfs: Path):
    found = resolve_command(rootfs, ["sh", "-c", "true"], {"PATH": "/bin"})
    assert found.path == "/bin/sh"
    assert found.host_path == rootfs / "bin" / "busybox"
    assert found.args == ("sh", "-c", "true")


def test_a_missing_name_is_127_with_runcs_words(rootfs: Path):
    with pytest.raises(CommandNotFoundError) as info:
        resolve_command(rootfs, ["nope"], ["PATH=/bin:/usr/bin"])
    assert info.value.detail == 'exec: "nope": executable file not found in $PATH'
    assert info.value.exit_code == 127
    assert isinstance(info.value.__cause__, OSError)
    assert info.value.__cause__.errno == errno.ENOENT


def test_a_missing_path_is_127_naming_the_stat(rootfs: Path):
    with pytest.raises(CommandNotFoundError) as info:
        resolve_command(rootfs, ["/bin/nope"])
    assert info.value.detail == 'exec: "/bin/nope": stat /bin/nope: no such file or directory'


def test_a_file_without_execute_bit_is_126_permission_denied(rootfs: Path):
    with pytest.raises(CommandNotInvocableError) as info:
        resolve_command(rootfs, ["/etc/passwd"])
    assert info.value.detail == 'exec: "/etc/passwd": permission denied'
    assert info.value.exit_code == 126
    assert info.value.__cause__.errno == errno.EACCES  # type: ignore[union-attr]


def test_a_non_executable_match_in_path_is_126_unless_a_later_entry_has_it(rootfs: Path):
    with pytest.raises(CommandNotInvocableError, match="permission denied"):
        resolve_command(rootfs, ["passwd"], ["PATH=/etc"])
    _file(rootfs / "usr" / "bin" / "passwd")
    assert resolve_command(rootfs, ["passwd"], ["PATH=/etc:/usr/bin"]).path == "/usr/bin/passwd"


def test_a_directory_path_is_126_is_a_directory(rootfs: Path):
    with pytest.raises(CommandNotInvocableError) as info:
        resolve_command(rootfs, ["/etc"])
    assert info.value.detail == 'exec: "/etc": is a directory'


def test_a_directory_in_path_is_skipped_not_denied(rootfs: Path):
    (rootfs / "bin" / "work").mkdir()
    with pytest.raises(CommandNotFoundError):
        resolve_command(rootfs, ["work"], ["PATH=/bin"])
    _file(rootfs / "usr" / "bin" / "work")
    assert resolve_command(rootfs, ["work"], ["PATH=/bin:/usr/bin"]).path == "/usr/bin/work"


def test_an_absolute_symlink_target_stays_inside_the_rootfs(rootfs: Path, tmp_path: Path):
    host_tool = _file(tmp_path / "host" / "tool")  # on the host only
    (rootfs / "bin" / "escape").symlink_to(host_tool)
    with pytest.raises(CommandNotFoundError):
        resolve_command(rootfs, ["/bin/escape"])
    _file(rootfs / str(host_tool).lstrip("/"))  # the same path inside the rootfs
    found = resolve_command(rootfs, ["/bin/escape"])
    assert found.host_path == rootfs / str(host_tool).lstrip("/")


def test_dotdot_in_a_symlink_stops_at_the_rootfs(rootfs: Path, tmp_path: Path):
    _file(tmp_path / "outside")  # rootfs/../outside exists on the host
    (rootfs / "bin" / "up").symlink_to("../../../../../outside")
    with pytest.raises(CommandNotFoundError):
        resolve_command(rootfs, ["up"], ["PATH=/bin"])
    _file(rootfs / "outside")
    assert resolve_command(rootfs, ["up"], ["PATH=/bin"]).host_path == rootfs / "outside"


def test_dotdot_in_the_command_stops_at_the_rootfs(rootfs: Path, tmp_path: Path):
    _file(tmp_path / "tool")
    with pytest.raises(CommandNotFoundError):
        resolve_command(rootfs, ["../../tool"], cwd="/home")


def test_a_symlinked_directory_in_the_middle_is_followed_inside(rootfs: Path):
    (rootfs / "opt").symlink_to("/usr")  # absolute: /usr of the rootfs, not of the host
    found = resolve_command(rootfs, ["/opt/bin/tool"])
    assert found.path == "/opt/bin/tool"
    assert found.host_path == rootfs / "usr" / "bin" / "tool"


def test_a_symlink_loop_is_127(rootfs: Path):
    (rootfs / "bin" / "a").symlink_to("b")
    (rootfs / "bin" / "b").symlink_to("a")
    with pytest.raises(CommandNotFoundError):
        resolve_command(rootfs, ["/bin/a"])


def test_a_file_used_as_a_directory_is_127(rootfs: Path):
    with pytest.raises(CommandNotFoundError):
        resolve_command(rootfs, ["/etc/passwd/x"])


def test_without_path_in_env_the_default_path_is_searched(rootfs: Path):
    assert DEFAULT_PATH.split(":")[:4] == [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
    ]
    assert resolve_command(rootfs, ["tool"], ["HOME=/root"]).path == "/usr/bin/tool"
    assert resolve_command(rootfs, ["tool"]).path == "/usr/bin/tool"


def test_the_last_path_in_env_wins(rootfs: Path):
    with pytest.raises(CommandNotFoundError):
        resolve_command(rootfs, ["tool"], ["PATH=/usr/bin", "PATH=/bin"])


def test_a_relative_path_with_a_slash_is_relative_to_cwd(rootfs: Path):
    found = resolve_command(rootfs, ["./run.sh"], cwd="/home/app")
    assert found.path == "/home/app/run.sh"
    assert found.host_path == rootfs / "home" / "app" / "run.sh"
    with pytest.raises(CommandNotFoundError, match=r"stat \./run\.sh: no such file"):
        resolve_command(rootfs, ["./run.sh"], cwd="/")
    assert resolve_command(rootfs, ["app/run.sh"], cwd="/home").path == "/home/app/run.sh"


def test_a_relative_or_empty_path_entry_is_relative_to_cwd(rootfs: Path):
    assert resolve_command(rootfs, ["run.sh"], ["PATH=/bin:"], cwd="/home/app").path == (
        "/home/app/run.sh"
    )
    assert resolve_command(rootfs, ["run.sh"], ["PATH=app"], cwd="/home").path == "/home/app/run.sh"
    with pytest.raises(CommandNotFoundError):
        resolve_command(rootfs, ["run.sh"], ["PATH=/bin"], cwd="/home/app")


def test_a_symlinked_cwd_is_followed_inside_the_rootfs(rootfs: Path):
    (rootfs / "w").symlink_to("/home/app")
    assert resolve_command(rootfs, ["./run.sh"], cwd="/w").host_path == (
        rootfs / "home" / "app" / "run.sh"
    )


def test_a_rootfs_given_as_str_and_a_missing_rootfs(rootfs: Path, tmp_path: Path):
    assert resolve_command(str(rootfs), ["tool"]).host_path == rootfs / "usr" / "bin" / "tool"
    with pytest.raises(CommandNotFoundError):
        resolve_command(tmp_path / "no-rootfs", ["/bin/sh"])


def test_empty_args_or_an_empty_command(rootfs: Path):
    with pytest.raises(InvalidArgumentError, match="process.args is empty"):
        resolve_command(rootfs, [])
    with pytest.raises(CommandNotFoundError, match='exec: "": executable file not found'):
        resolve_command(rootfs, [""])


@pytest.mark.parametrize(
    ("command", "number", "kind", "detail"),
    [
        ("x", errno.ENOENT, CommandNotFoundError, 'exec: "x": executable file not found in $PATH'),
        (
            "/x",
            errno.ENOTDIR,
            CommandNotFoundError,
            'exec: "/x": stat /x: no such file or directory',
        ),
        ("/x", errno.ENOEXEC, CommandNotInvocableError, 'exec: "/x": exec format error'),
        ("/x", errno.EACCES, CommandNotInvocableError, 'exec: "/x": permission denied'),
    ],
)
def test_exec_error_maps_a_failed_exec(command: str, number: int, kind: type, detail: str):
    cause = OSError(number, os.strerror(number))
    error = exec_error(command, cause)
    assert type(error) is kind
    assert error.detail == detail
    assert error.__cause__ is cause
