"""A socket server served on a thread of its own for a ``with`` block: the lifecycle the test
servers share (the webhook receiver, the hostile Chatwoot, the race test's gate)."""

from __future__ import annotations

import socketserver
import threading
from typing import Self


class InBackground:
    """Serves ``server`` from ``with`` to its end. On exit :attr:`stopping` is set first (so a
    handler that hangs or streams on purpose ends), then the server is shut down, closed and its
    thread joined."""

    def __init__(self, server: socketserver.BaseServer) -> None:
        self.stopping = threading.Event()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])  # type: ignore[index]

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
