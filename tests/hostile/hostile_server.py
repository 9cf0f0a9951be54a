"""A hostile HTTP server on 127.0.0.1: a healthy Chatwoot (and AI agent, and an empty PostgREST)
by default, and any path can be given an answer from the audit instead, streamed where it matters
(endless bodies, a byte a second, gzip bombs).

Raw sockets, one request per connection: every byte on the wire is the test's choice.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import re
import socket
import socketserver
import struct
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.servers.background import InBackground

ACCOUNT = 1
TOKEN = "hostile-test-token-0123456789"
MAX_STREAM_SECONDS = 60.0  # an endless answer stops on its own eventually, whatever the client


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


Answer = Callable[["Connection", Request], None]


class Connection:
    """What an answer writes to: the raw socket, and the server's stop flag."""

    def __init__(self, sock: socket.socket, stopping: threading.Event) -> None:
        self.sock = sock
        self.stopping = stopping

    def send(self, data: bytes) -> bool:
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True


def _head(status: int, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in headers]
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def body(
    payload: bytes,
    status: int = 200,
    content_type: str = "application/json",
    encoding: str | None = None,
    extra: list[tuple[str, str]] | None = None,
) -> Answer:
    """A whole answer with a Content-Length."""

    def answer(conn: Connection, _request: Request) -> None:
        headers = [("Content-Type", content_type), ("Content-Length", str(len(payload)))]
        if encoding:
            headers.append(("Content-Encoding", encoding))
        conn.send(_head(status, headers + (extra or [])) + payload)

    return answer


def json_body(value: Any, status: int = 200) -> Answer:
    return body(json.dumps(value).encode(), status)


def endless(piece: bytes = b"[" + b"0," * 32_767, content_type: str = "application/json") -> Answer:
    """A 200 whose body never ends (no length: it ends when the connection does)."""

    def answer(conn: Connection, _request: Request) -> None:
        if not conn.send(_head(200, [("Content-Type", content_type)])):
            return
        started = time.monotonic()
        while not conn.stopping.is_set() and time.monotonic() - started < MAX_STREAM_SECONDS:
            if not conn.send(piece):
                return

    return answer


def trickle(payload: bytes = b"[" + b" " * 1_000_000 + b"]", headers_too: bool = False) -> Answer:
    """A byte a second: of the body, or (``headers_too``) already of the status line."""

    def answer(conn: Connection, _request: Request) -> None:
        head = _head(
            200, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
        )
        data = head + payload
        if not headers_too:
            if not conn.send(head):
                return
            data = payload
        started = time.monotonic()
        for index in range(len(data)):
            if conn.stopping.is_set() or time.monotonic() - started > MAX_STREAM_SECONDS:
                return
            if not conn.send(data[index : index + 1]):
                return
            conn.stopping.wait(1.0)

    return answer


def gzip_bomb(decoded_bytes: int) -> bytes:
    """``decoded_bytes`` (whole MBs) of zeros in one gzip member, ~1 KB per MB.

    One megabyte is compressed once and ends with a full flush, so its deflate blocks refer to
    nothing before them and can be repeated: a gigabyte costs a second, not a minute.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    zeros = bytes(1024 * 1024)
    segment = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    count = decoded_bytes // len(zeros)
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"
    trailer = struct.pack("<II", crc, (count * len(zeros)) & 0xFFFFFFFF)
    return header + segment * count + compressor.flush() + trailer


def gzipped(payload: bytes) -> bytes:
    return gzip.compress(payload)


def _healthy_chatwoot(inboxes: int) -> dict[str, Answer]:
    prefix = f"/api/v1/accounts/{ACCOUNT}"
    payload = [
        {"id": i, "name": f"Inbox {i}", "channel_type": "Channel::Email"}
        for i in range(1, inboxes + 1)
    ]
    return {
        "/rails/health": body(b"ok", content_type="text/plain"),
        "/api": json_body({"version": "4.15.0", "data_services": "ok", "queue_services": "ok"}),
        "/api/v1/profile": json_body(
            {
                "id": 1,
                "name": "Alex",
                "accounts": [
                    {"id": ACCOUNT, "role": "administrator", "availability_status": "online"}
                ],
            }
        ),
        f"{prefix}/conversations/meta": json_body({"meta": {"all_count": 3}}),
        f"{prefix}/inboxes": json_body({"payload": payload}),
        f"{prefix}/agents": json_body(
            [{"name": "Alex", "role": "administrator", "availability_status": "online"}]
        ),
        f"/api/v2/accounts/{ACCOUNT}/reports": json_body([]),
        "/agent/health": json_body({"status": "ok"}),
        # An empty PostgREST: every table read is one empty page; counts are zero.
        "/rest/v1/decision_log": json_body([]),
        "/rest/v1/approvals_history": body(b"[]", extra=[("Content-Range", "*/0")]),
        "/rest/v1/notifications": json_body([]),
    }


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(10)
        data = b""
        try:
            while b"\r\n\r\n" not in data and len(data) < 65536:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _version = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            while len(rest) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                rest += chunk
        except (OSError, ValueError):
            return
        path, _, query = target.partition("?")
        request = Request(method, path, query, headers, rest)
        owner = self.server.owner
        answer = owner.answer_for(request)
        answer(Connection(sock, owner.stopping), request)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: HostileServer

    def handle_error(self, request: Any, client_address: Any) -> None:  # pragma: no cover
        pass  # a client hanging up mid-answer is the normal end of an endless answer


class HostileServer(InBackground):
    """Start with ``with HostileServer() as server``; ``server.answer(path, answer)`` makes one
    path hostile. ``server.hits`` counts requests by path."""

    def __init__(self, inboxes: int = 1) -> None:
        self.routes = _healthy_chatwoot(inboxes)
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.owner = self
        super().__init__(server)

    def answer(self, path: str, answer: Answer) -> None:
        self.routes[path] = answer

    def answer_for(self, request: Request) -> Answer:
        with self._lock:
            self.hits[request.path] += 1
        return self.routes.get(request.path, body(b'{"error":"not found"}', status=404))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


_AFTER_ID = re.compile(r"(?:^|&)id=gt\.(\d+)")


def pages_forever(rows_per_page: int = 1000) -> Answer:
    """A PostgREST that always has another full page after the last id asked for."""

    def answer(conn: Connection, request: Request) -> None:
        match = _AFTER_ID.search(request.query)
        first = int(match.group(1)) + 1 if match else 1
        rows = [
            {
                "id": i,
                "conversation_id": i,
                "message_received_at": "2026-11-27T19:00:00Z",
                "requested_at": "2026-11-27T19:00:00Z",
            }
            for i in range(first, first + rows_per_page)
        ]
        json_body(rows)(conn, request)

    return answer
