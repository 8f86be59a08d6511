"""Tables never print a user's control characters raw; JSON keeps them exactly.

A container's command (and an image's command or rootfs path, an exec session's command)
comes from whoever created it, possibly a Docker API client. Printed raw, a newline makes a
fake row in `ocimux ps` and an escape sequence clears the screen. No process is started.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
from ocimux.cli._output import escape_cell, print_table
from ocimux.cli.containers import cmd_ps
from ocimux.cli.images import cmd_image
from ocimux.cli.run import _exec_sessions
from ocimux.engine.store import ContainerRecord, ExecRecord

#: a command that, printed raw, adds a convincing row and then clears the screen
HOSTILE = [
    "sh",
    "-c",
    "sleep 9 #\nfa4e11c0ffee   fake   runc   Up 1 second   now   evil\r\x1b[2J\x07",
]
SHOWN = "sh -c sleep 9 #\\nfa4e11c0ffee   fake   runc   Up 1 second   now   evil\\r\\x1b[2J\\x07"


def _record(command: list[str]) -> ContainerRecord:
    return ContainerRecord(
        id="f" * 64,
        name="web",
        runtime="crun",
        bundle="/nonexistent",
        status="running",
        started_at=1.0,
        created_at=1.0,
        config={"command": command},
    )


class _Dispatcher:
    """Just what `ps` and `exec --list` call."""

    def __init__(self, recs: list[ContainerRecord], sessions: list[ExecRecord] = ()) -> None:
        self.recs = recs
        self.sessions = list(sessions)

    def list(self) -> list[ContainerRecord]:
        return self.recs

    def exec_sessions(self, ref: str) -> list[ExecRecord]:
        return self.sessions


def _no_control_chars(text: str) -> None:
    assert not [c for c in text if ord(c) < 0x20 and c != "\n"], repr(text)
    assert "\x7f" not in text


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("a\nb", "a\\nb"),
        ("a\rb", "a\\rb"),
        ("\x1b[2J", "\\x1b[2J"),
        ("tab\there", "tab\\there"),
        ("bell\x07\x00\x7f", "bell\\x07\\x00\\x7f"),
        ("c1 \x85 \x9b", "c1 \\x85 \\x9b"),
        ("line\u2028sep", "line\\u2028sep"),
        ("bidi \u202eevil", "bidi \\u202eevil"),
        ("plain é ü 漢字 'quoted' \\n", "plain é ü 漢字 'quoted' \\n"),
    ],
)
def test_escape_cell_spells_out_what_a_terminal_would_act_on(raw: str, shown: str) -> None:
    assert escape_cell(raw) == shown


def test_ps_prints_one_row_per_container_with_the_command_escaped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    recs = [_record(HOSTILE), _record(["echo", "fine"])]
    args = argparse.Namespace(all=True, quiet=False, format="table")
    assert cmd_ps(_Dispatcher(recs), args) == 0  # type: ignore[arg-type]
    out = capsys.readouterr().out
    _no_control_chars(out)
    lines = out.splitlines()
    assert len(lines) == 3, out  # header + two containers: no fake row
    assert lines[1].startswith("ffffffffffff   web ")
    assert lines[1].endswith(SHOWN)
    assert lines[2].endswith("echo fine")
    assert not any(line.startswith("fa4e11c0ffee") for line in lines)


def test_ps_json_keeps_the_command_exact(capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(all=True, quiet=False, format="json")
    cmd_ps(_Dispatcher([_record(HOSTILE)]), args)  # type: ignore[arg-type]
    out = capsys.readouterr().out
    _no_control_chars(out)  # JSON escapes them itself
    assert json.loads(out)[0]["config"]["command"] == HOSTILE


def test_exec_sessions_table_escapes_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    session = ExecRecord(
        id="e" * 64,
        container_id="f" * 64,
        status="running",
        created_at=1.0,
        process={"args": HOSTILE},
        pid=42,
    )
    args = argparse.Namespace(list="web", format="table", inspect=None, stop=None)
    _exec_sessions(_Dispatcher([], [session]), args)  # type: ignore[arg-type]
    out = capsys.readouterr().out
    _no_control_chars(out)
    lines = out.splitlines()
    assert len(lines) == 2, out
    assert lines[1].endswith(SHOWN)


def test_image_table_escapes_command_and_rootfs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rootfs = tmp_path / "odd\ndir"
    rootfs.mkdir()
    d: Any = argparse.Namespace(config=argparse.Namespace(state_dir=tmp_path / "state"))
    (tmp_path / "state").mkdir()
    add = argparse.Namespace(
        image_cmd="add", name="evil", dir=str(rootfs), default_cmd=HOSTILE, env=[]
    )
    cmd_image(d, add)
    capsys.readouterr()
    cmd_image(d, argparse.Namespace(image_cmd="ls", format="table"))
    out = capsys.readouterr().out
    _no_control_chars(out)
    lines = out.splitlines()
    assert len(lines) == 2, out
    assert "odd\\ndir" in lines[1] and lines[1].endswith(SHOWN)


def test_print_table_aligns_on_the_escaped_text(capsys: pytest.CaptureFixture[str]) -> None:
    print_table(["A", "B"], [["x\ny", "1"], ["long-cell", "2"]])
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["A           B", "x\\ny        1", "long-cell   2"]


def test_error_messages_escape_terminal_control_characters() -> None:
    # an argument a user typed (or a runtime echoed) must not clear the screen in the error line
    from ocimux.base.errors import RuntimeCommandError

    exc = RuntimeCommandError(
        "executable file '\x1b[2J\x07evil' not found\r\nfake line", container="c", runtime="crun"
    )
    text = str(exc)
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text and "\n" not in text
    assert "\\x1b[2J\\x07evil" in text
    assert text.endswith("not found fake line")
