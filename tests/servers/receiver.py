"""A real HTTP receiver on 127.0.0.1 that records every POST (a Slack-compatible or JSON webhook).

``mode`` decides the answer: ``ok`` (200), ``500``, ``redirect`` (302 to itself), ``hang`` (never
answers until stopped), ``trickle`` (a 200 whose body arrives one byte per 0.2 s, forever).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from tests.servers.background import InBackground

Mode = Literal["ok", "500", "redirect", "hang", "trickle"]


@dataclass(frozen=True)
class Received:
    path: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    app: Receiver

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up on a trickle or a hang is the point of those modes


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, 1_000_000))
        app = self.server.app
        mode = app.mode
        if mode == "hang":
            app.stopping.wait(30)
            return
        with app.lock:
            if mode == "ok" or mode == "trickle":
                app.received.append(Received(self.path, body))
        if mode == "500":
            self._answer(500, b"boom")
        elif mode == "redirect":
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{app.port}/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif mode == "trickle":
            self.send_response(200)
            self.send_header("Content-Length", "1000000")
            self.end_headers()
            while not app.stopping.wait(0.2):
                self.wfile.write(b"x")
                self.wfile.flush()
        else:
            self._answer(200, b"ok")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Receiver(InBackground):
    def __init__(self, mode: Mode = "ok") -> None:
        self.mode: Mode = mode
        self.received: list[Received] = []
        self.lock = threading.Lock()
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.app = self
        super().__init__(httpd)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"
