"""A tiny Docker API client over a unix socket, for the server's tests (no docker-py needed).

`ApiClient` sends HTTP/1.1 with `http.client` over AF_UNIX (a new connection per request), raw
bytes for what `http.client` cannot express, and hijacked requests (`Connection: Upgrade`)
whose multiplexed stream `frames` parses.
"""

from __future__ import annotations

import http.client
import json
import socket
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TIMEOUT = 20.0


class UnixHTTPConnection(http.client.HTTPConnection):
    """`http.client` over a unix socket (the host name only fills the Host header)."""

    def __init__(self, path: str, timeout: float = TIMEOUT) -> None:
        super().__init__("docker", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.content_type!r}, {self.body[:300]!r})"


def assert_error(reply: Reply, status: int, *fragments: str) -> str:
    """A Docker-shaped error: `status`, a JSON object with a string `message` (returned)."""
    assert reply.status == status, reply
    assert reply.content_type == "application/json", reply
    doc = reply.json()
    assert isinstance(doc, dict) and isinstance(doc.get("message"), str), reply
    assert doc["message"], reply
    for fragment in fragments:
        assert fragment in doc["message"], (fragment, doc["message"])
    return doc["message"]


def frames(data: bytes) -> list[tuple[int, bytes]]:
    """Split Docker's multiplexed stream: [stream id, 0, 0, 0, big-endian u32 length] + payload."""
    out = []
    offset = 0
    while offset < len(data):
        header = data[offset : offset + 8]
        assert len(header) == 8, f"truncated frame header at {offset}: {data!r}"
        stream, length = header[0], struct.unpack(">I", header[4:])[0]
        assert header[1:4] == b"\0\0\0", f"bad frame header {header!r}"
        assert stream in (0, 1, 2), f"bad stream id {stream} in {data!r}"
        payload = data[offset + 8 : offset + 8 + length]
        assert len(payload) == length, f"truncated frame at {offset}: {data!r}"
        out.append((stream, payload))
        offset += 8 + length
    return out


def by_stream(data: bytes) -> dict[int, bytes]:
    """The multiplexed stream's payloads, concatenated per stream id."""
    out: dict[int, bytes] = {1: b"", 2: b""}
    for stream, payload in frames(data):
        out[stream] = out.get(stream, b"") + payload
    return out


class ApiClient:
    """Requests to one server socket; a new connection per request unless given one."""

    def __init__(self, path: str) -> None:
        self.path = path

    def request(
        self,
        method: str,
        url: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = TIMEOUT,
    ) -> Reply:
        conn = UnixHTTPConnection(self.path, timeout)
        try:
            hdrs = dict(headers or {})
            if body is not None and not isinstance(body, bytes | str):
                body = json.dumps(body)
                hdrs.setdefault("Content-Type", "application/json")
            conn.request(method, url, body=body, headers=hdrs)
            resp = conn.getresponse()
            return Reply(resp.status, resp.headers, resp.read())
        finally:
            conn.close()

    def get(self, url: str, **kwargs: Any) -> Reply:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, body: Any = None, **kwargs: Any) -> Reply:
        return self.request("POST", url, body, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> Reply:
        return self.request("DELETE", url, **kwargs)

    def raw(self, data: bytes, timeout: float = TIMEOUT) -> bytes:
        """Send `data` as is and read until the server closes the connection."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(self.path)
            sock.sendall(data)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            sock.close()

    def hijack(
        self, url: str, body: Any, *, upgrade: bool = True, timeout: float = TIMEOUT
    ) -> tuple[int, dict[str, str], bytes]:
        """POST `body` to a hijacking endpoint; return (status, headers, stream until EOF)."""
        payload = json.dumps(body).encode()
        lines = [
            f"POST {url} HTTP/1.1",
            "Host: docker",
            "Content-Type: application/json",
            f"Content-Length: {len(payload)}",
        ]
        if upgrade:
            lines += ["Connection: Upgrade", "Upgrade: tcp"]
        data = self.raw(("\r\n".join(lines) + "\r\n\r\n").encode() + payload, timeout=timeout)
        head, sep, rest = data.partition(b"\r\n\r\n")
        assert sep, f"no end of headers in {data!r}"
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split()[1])
        headers = {}
        for line in header_lines:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        return status, headers, rest


@dataclass
class Server:
    client: ApiClient
    dispatcher: Any
    socket_path: str
    state_dir: Path
    rootfs: Path

    def create(self, cmd: list[str], name: str | None = None, **extra: Any) -> str:
        """containers/create from image `img`; return the id."""
        url = "/containers/create" + (f"?name={name}" if name else "")
        reply = self.client.post(url, {"Image": "img", "Cmd": cmd, **extra})
        assert reply.status == 201, reply
        cid = reply.json()["Id"]
        assert isinstance(cid, str) and len(cid) == 64, reply
        return str(cid)

    def run(self, cmd: list[str], **extra: Any) -> str:
        cid = self.create(cmd, **extra)
        reply = self.client.post(f"/containers/{cid}/start")
        assert reply.status == 204, reply
        return cid
