"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it accepts."""

from __future__ import annotations

import email
import socket
import threading
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self._server.refuse:
            return "554 5.7.1 refused by the test"
        with self._server.lock:
            self._server.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


class SmtpServer:
    def __init__(self, *, refuse: bool = False) -> None:
        self.refuse = refuse
        self.messages: list[Message] = []
        self.lock = threading.Lock()
        self.port = free_port()
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def mailto(self, **extra: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in extra.items())
        return (
            f"mailto://127.0.0.1:{self.port}?from=monitor@example.com&to=ops@example.com"
            f"&mode=insecure{'&' + query if query else ''}"
        )

    def __enter__(self) -> SmtpServer:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
