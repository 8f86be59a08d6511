"""The mock's monitor: its attach socket (conmon's SEQPACKET protocol) and its k8s-file log."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ocimux.io.logs import STDERR, STDOUT, format_log

if TYPE_CHECKING:
    from conftest import Harness

LOG_LINE = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}\+00:00 (stdout|stderr) (F|P) (.*)")


def log_records(mock: Harness, cid: str) -> list[tuple[bytes, bytes, bytes]]:
    records = []
    for line in (mock.containers / cid / "ctr.log").read_bytes().splitlines():
        match = LOG_LINE.fullmatch(line)
        assert match, line
        records.append((match[1], match[2], match[3]))
    return records


def test_output_is_relayed_by_stream(mock: Harness) -> None:
    mock.create("c1", ["sh", "-c", "echo out-line; echo err-line >&2; exit 4"])
    client = mock.attach("c1")  # connected before start: nothing is lost
    mock.runtime.start("c1")
    out, err = client.collect()
    assert (out, err) == (b"out-line\n", b"err-line\n")
    # when a client sees EOF, the exit code is recorded and the socket is gone
    assert mock.runtime.state("c1").exit_code == 4
    assert not (mock.containers / "c1" / "attach").exists()


def test_large_output_is_split_into_8192_byte_packets(mock: Harness) -> None:
    mock.create("c1", ["sh", "-c", "head -c 100000 /dev/zero; head -c 30000 /dev/zero >&2"])
    client = mock.attach("c1")
    mock.runtime.start("c1")
    out, err = client.collect()
    assert (len(out), len(err)) == (100000, 30000)
    assert max(len(p) for p in client.packets) <= 8193
    assert len(client.packets) >= 100000 // 8192 + 1


def test_every_client_gets_the_output(mock: Harness) -> None:
    mock.create("c1", ["echo", "to-all"])
    clients = [mock.attach("c1"), mock.attach("c1")]
    mock.runtime.start("c1")
    assert [c.collect() for c in clients] == [(b"to-all\n", b"")] * 2


def test_stdin_is_forwarded_and_eof_closes_it(mock: Harness) -> None:
    mock.create("c1", ["cat"], stdin=True)
    client = mock.attach("c1")
    mock.runtime.start("c1")
    client.send(b"hello\n")
    client.send(b"world")
    client.close_stdin()
    assert client.collect() == (b"hello\nworld", b"")
    assert mock.wait_state("c1", "stopped").exit_code == 0


def test_without_stdin_the_process_reads_dev_null(mock: Harness) -> None:
    # `cat` ends at once, unfed; the process then waits for `go`, so that its monitor is still
    # there to take (and drop) the client's input rather than the send failing with EPIPE.
    script = "cat; echo cat-ended; while [ ! -e go ]; do sleep 0.01; done; echo done"
    mock.create("c1", ["sh", "-c", script])
    client = mock.attach("c1")
    mock.runtime.start("c1")
    client.read_until(b"cat-ended")
    client.send(b"ignored\n")
    (mock.rootfs / "go").touch()
    assert client.collect() == (b"cat-ended\ndone\n", b"")
    assert mock.runtime.state("c1").exit_code == 0


def test_output_before_any_client_goes_only_to_the_log(mock: Harness) -> None:
    mock.create("c1", ["sh", "-c", "echo early; read x; echo late $x"], stdin=True)
    mock.runtime.start("c1")
    mock.wait_for(lambda: b"early" in (mock.containers / "c1" / "ctr.log").read_bytes())
    client = mock.attach("c1")
    client.send(b"go\n")
    assert client.collect() == (b"late go\n", b"")
    assert [r[2] for r in log_records(mock, "c1")] == [b"early", b"late go"]


def test_k8s_log_lines(mock: Harness) -> None:
    mock.create("c1", ["sh", "-c", "echo one; echo two >&2; printf partial"])
    client = mock.attach("c1")
    mock.runtime.start("c1")
    client.collect()
    records = log_records(mock, "c1")
    assert sorted(records) == sorted(
        [(b"stdout", b"F", b"one"), (b"stderr", b"F", b"two"), (b"stdout", b"P", b"partial")]
    )
    assert (mock.containers / "c1" / "ctr.log").stat().st_mode & 0o777 == 0o600


def test_format_log_flags_partial_lines() -> None:
    now = 1_795_935_234_142_372_511  # 2026-11-29T06:53:54.142372511Z
    assert format_log(STDOUT, b"out-line\n", now) == (
        b"2026-11-29T06:53:54.142372511+00:00 stdout F out-line\n"
    )
    assert format_log(STDERR, b"a\n\nb", now).splitlines() == [
        b"2026-11-29T06:53:54.142372511+00:00 stderr F a",
        b"2026-11-29T06:53:54.142372511+00:00 stderr F ",
        b"2026-11-29T06:53:54.142372511+00:00 stderr P b",
    ]


def test_a_client_that_leaves_does_not_disturb_the_others(mock: Harness) -> None:
    mock.create("c1", ["sh", "-c", "read x; echo after"], stdin=True)
    quitter = mock.attach("c1")
    stayer = mock.attach("c1")
    mock.runtime.start("c1")
    quitter.sock.close()  # its EOF closes the container's stdin: `read` fails, echo runs
    assert stayer.collect() == (b"after\n", b"")


def test_attach_socket_in_a_directory_deeper_than_sun_path(mock: Harness) -> None:
    cid = "c" * 120  # the socket's absolute path is far over the 108 bytes of sun_path
    mock.create(cid, ["echo", "deep"])
    assert len(str(mock.containers / cid / "attach")) > 108
    client = mock.attach(cid)
    mock.runtime.start(cid)
    assert client.collect() == (b"deep\n", b"")
