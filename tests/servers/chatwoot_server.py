"""A Chatwoot 4.15 stand-in on 127.0.0.1: real sockets, bodies from ``tests/data/chatwoot``.

It answers the way a stock instance does (``/rails/health`` and ``/up`` are 404 HTML, ``/health``
is ``{"status":"woot"}``, errors are Chatwoot's own bodies) and has knobs for everything that goes
wrong in production: slow answers, 429 ``Retry later`` without Retry-After, a proxy's HTML 502, a
login page instead of JSON, an oversized body, a connection closed without an answer, ``/api``
reporting ``failing``. Every request is recorded (path, query, headers, arrival and answer times).

Each request runs in its own thread, so a delayed answer never holds up the others; delays wait on
an event that :meth:`ChatwootServer.stop` sets, so stopping never waits for a sleeping handler.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

EXAMPLES = Path(__file__).resolve().parent.parent / "data" / "chatwoot"

AGENT_PATH = "/agent/health"
#: Accounts this server knows: 1 = the token's user is a member, 2 = exists but the user is not a
#: member, 3 = suspended. Any other id does not exist (404).
MEMBER_ACCOUNT, STRANGER_ACCOUNT, SUSPENDED_ACCOUNT = 1, 2, 3
DEFAULT_COUNTS = {"open": 12, "pending": 3, "resolved": 47, "snoozed": 5}
OVERSIZED_BYTES = 6 * 1024 * 1024
AVERAGE_METRICS = ("avg_first_response_time", "avg_resolution_time", "reply_time")

FaultKind = Literal["429", "502", "500", "not_json", "oversized", "hang_up", "404", "403"]

NOT_FOUND_HTML = (
    b"<!DOCTYPE html>\n<html>\n<head>\n  <title>The page you were looking for doesn't exist "
    b"(404)</title>\n</head>\n<body>\n  <h1>The page you were looking for doesn't exist.</h1>\n"
    b"</body>\n</html>\n"
)
BAD_GATEWAY_HTML = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad "
    b"Gateway</h1></center>\r\n<hr><center>nginx/1.27.4</center>\r\n</body>\r\n</html>\r\n"
)
SERVER_ERROR_HTML = (  # Rails' public/500.html, what Chatwoot shows when Redis or Postgres is gone
    b"<!DOCTYPE html>\n<html>\n<head>\n  <title>We're sorry, but something went wrong (500)"
    b"</title>\n</head>\n<body>\n  <h1>We're sorry, but something went wrong.</h1>\n</body>\n"
    b"</html>\n"
)
LOGIN_PAGE_HTML = (
    b'<!DOCTYPE html><html><head><title>Sign in</title></head><body><form action="/login">'
    b'<input name="password" type="password"></form></body></html>'
)


def examples_dir() -> Path:
    if not EXAMPLES.is_dir():
        raise FileNotFoundError(
            f"Chatwoot example bodies not found at {EXAMPLES}: they ship with the repository "
            "(tests/data/chatwoot)"
        )
    return EXAMPLES


def example_bytes(name: str) -> bytes:
    return (examples_dir() / name).read_bytes()


def example(name: str) -> Any:
    return json.loads(example_bytes(name))


def incoming_messages(inbox_id: int, hour: int) -> int:
    """The deterministic ``incoming_messages_count`` of an inbox in the hour from ``hour``."""
    return inbox_id * 3 + (hour // 3600) % 5


def first_response(inbox_id: int, hour: int) -> tuple[float, int]:
    """(average seconds, event count); Chatwoot answers value 0 and count 0 for an empty hour."""
    count = (inbox_id + hour // 3600) % 3
    return (90.0 * inbox_id + 7.5 * count if count else 0, count)


def secret_values() -> list[str]:
    """Every secret the example bodies carry: none of them may ever leave the tool."""
    profile = example("profile.json")
    values = [profile["access_token"], profile["pubsub_token"]]
    for inbox in example("inboxes.json")["payload"]:
        for key in ("hmac_token", "website_token", "secret", "inbox_identifier"):
            if inbox.get(key):
                values.append(inbox[key])
    return values


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    arrived: float  # time.perf_counter()
    answered: float | None = None  # when the answer started (after any delay)
    status: int | None = None


@dataclass
class Fault:
    kind: FaultKind
    remaining: int | None  # None: every request


@dataclass
class Behaviour:
    """The knobs. Change them on a running server; each request reads them when it arrives."""

    health: bool = True  # /health exists (Chatwoot ≥ 4.11); False: an older instance
    rails_health: bool = False  # a deployment that routes /rails/health itself
    everything_404: bool = False  # not a Chatwoot at all
    api: Literal["ok", "degraded", "500"] = "ok"
    role: Literal["administrator", "agent"] = "administrator"
    counts: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_COUNTS))
    delay: float = 0.0  # seconds before every answer
    path_delays: dict[str, float] = field(default_factory=dict)  # replaces ``delay`` for a path
    agent_status: int = 200
    faults: dict[str, Fault] = field(default_factory=dict)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins the handler threads: nothing outlives a test
    block_on_close = True
    request_queue_size = 256  # 50 concurrent runs open hundreds of connections at once
    app: ChatwootServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        error = sys.exc_info()[1]
        if isinstance(error, OSError):  # the client went away (timeouts, hang-ups): expected
            return
        self.app.errors.append(repr(error))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    timeout = 30  # a keep-alive connection nobody uses any more must not hold a thread forever
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stall

    def setup(self) -> None:
        super().setup()
        self.server.app._opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.app._closed(self.connection)

    def do_GET(self) -> None:
        self.server.app._handle(self)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class ChatwootServer:
    """``with ChatwootServer(token) as server:`` → ``server.url`` answers like Chatwoot 4.15."""

    def __init__(self, token: str, behaviour: Behaviour | None = None) -> None:
        self.token = token
        self.behaviour = behaviour or Behaviour()
        self.requests: list[Recorded] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._bodies = {
            name: example_bytes(name)
            for name in (
                "health.json", "api_index.json", "api_index_degraded.json", "profile.json",
                "inboxes.json", "agents.json", "error_401_no_token.json",
                "error_401_invalid_token.json", "error_401_wrong_account.json",
                "error_401_account_suspended.json", "error_401_not_authorized_action.json",
                "error_404_not_found.json",
            )
        }  # fmt: skip

    # ------------------------------------------------------------------ lifecycle

    def start(self, port: int = 0) -> ChatwootServer:
        """Listen (``port``: again on the port of a stopped run, to bring "Chatwoot" back)."""
        self._stopping.clear()
        httpd = _HTTPServer(("127.0.0.1", port), _Handler)
        httpd.app = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd = self._httpd
        if httpd is None:
            return
        self._stopping.set()  # wakes every delayed handler
        httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:  # unblocks handlers waiting for a keep-alive request
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        httpd.server_close()  # joins the handler threads
        if self._thread is not None:
            self._thread.join()
        self._httpd = None

    def __enter__(self) -> ChatwootServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "the server is not running"
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def agent_url(self) -> str:
        return self.url + AGENT_PATH

    # ------------------------------------------------------------------ knobs and records

    def fault(self, path: str, kind: FaultKind, times: int | None = None) -> None:
        """Answer the next ``times`` requests of ``path`` (all of them if None) with a fault."""
        with self._lock:
            self.behaviour.faults[path] = Fault(kind, times)

    def requests_to(self, path: str) -> list[Recorded]:
        with self._lock:
            return [request for request in self.requests if request.path == path]

    def paths(self) -> list[str]:
        with self._lock:
            return [request.path for request in self.requests]

    def max_in_flight(self) -> int:
        """The largest number of requests that were waiting for their answer at the same time."""
        with self._lock:
            events = []
            for request in self.requests:
                events.append((request.arrived, 1))
                events.append((request.answered or float("inf"), -1))
        events.sort()
        current = peak = 0
        for _, step in events:
            current += step
            peak = max(peak, current)
        return peak

    # ------------------------------------------------------------------ plumbing

    def _opened(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def _closed(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)

    def _take_fault(self, path: str) -> FaultKind | None:
        with self._lock:
            fault = self.behaviour.faults.get(path)
            if fault is None:
                return None
            if fault.remaining is not None:
                if fault.remaining <= 0:
                    return None
                fault.remaining -= 1
            return fault.kind

    def _handle(self, handler: _Handler) -> None:
        parts = urlsplit(handler.path)
        record = Recorded(
            method=handler.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={name.lower(): value for name, value in handler.headers.items()},
            arrived=time.perf_counter(),
        )
        with self._lock:
            self.requests.append(record)
            delay = self.behaviour.path_delays.get(record.path, self.behaviour.delay)
        if delay > 0 and self._stopping.wait(delay):
            handler.close_connection = True  # the test is over: leave without an answer
            return
        record.answered = time.perf_counter()
        fault = self._take_fault(record.path)
        if fault is not None:
            self._fault(handler, record, fault)
            return
        status, body, content_type = self._route(record)
        self._send(handler, record, status, body, content_type)

    def _send(
        self,
        handler: _Handler,
        record: Recorded,
        status: int,
        body: bytes,
        content_type: str = "application/json; charset=utf-8",
    ) -> None:
        record.status = status
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _fault(self, handler: _Handler, record: Recorded, kind: FaultKind) -> None:
        if kind == "hang_up":
            handler.close_connection = True
            return
        if kind == "429":  # rack-attack's default responder: no Retry-After
            self._send(handler, record, 429, b"Retry later\n", "text/plain")
        elif kind == "502":
            self._send(handler, record, 502, BAD_GATEWAY_HTML, "text/html")
        elif kind == "500":
            body = b'{"status":500,"error":"Internal Server Error"}'
            self._send(handler, record, 500, body)
        elif kind == "404":
            self._send(handler, record, 404, NOT_FOUND_HTML, "text/html; charset=UTF-8")
        elif kind == "403":  # an authenticating proxy in front of the instance
            self._send(handler, record, 403, b"<html><body>Forbidden</body></html>", "text/html")
        elif kind == "not_json":
            self._send(handler, record, 200, LOGIN_PAGE_HTML, "text/html; charset=utf-8")
        elif kind == "oversized":
            record.status = 200
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json; charset=utf-8")
            handler.send_header("Content-Length", str(OVERSIZED_BYTES))
            handler.end_headers()
            chunk = b" " * 65536
            try:
                for _ in range(OVERSIZED_BYTES // len(chunk)):
                    handler.wfile.write(chunk)
            except OSError:
                handler.close_connection = True

    def _json(self, name: str) -> tuple[int, bytes, str]:
        status = 404 if "404" in name else 401 if "401" in name else 200
        return status, self._bodies[name], "application/json; charset=utf-8"

    def _route(self, record: Recorded) -> tuple[int, bytes, str]:
        path = record.path
        knobs = self.behaviour
        html_404 = (404, NOT_FOUND_HTML, "text/html; charset=UTF-8")
        if knobs.everything_404:
            return html_404
        if path == AGENT_PATH:
            body = b'{"status":"ok"}' if knobs.agent_status < 400 else b'{"status":"error"}'
            return knobs.agent_status, body, "application/json"
        if path in ("/rails/health", "/up"):
            if knobs.rails_health and path == "/rails/health":
                page = b'<html><body style="background-color: green"></body></html>'
                return 200, page, "text/html; charset=utf-8"
            return html_404
        if path == "/health":
            return self._json("health.json") if knobs.health else html_404
        if path == "/api":
            if knobs.api == "500":
                return 500, SERVER_ERROR_HTML, "text/html; charset=UTF-8"
            return self._json("api_index.json" if knobs.api == "ok" else "api_index_degraded.json")
        if not path.startswith(("/api/v1/", "/api/v2/")):
            return html_404
        auth = self._authenticate(record)
        if auth is not None:
            return auth
        if path == "/api/v1/profile":
            return 200, self._profile(), "application/json; charset=utf-8"
        segments = path.split("/")  # ['', 'api', 'v1', 'accounts', '1', ...]
        if len(segments) < 6 or segments[3] != "accounts":
            return html_404
        try:
            account_id = int(segments[4])
        except ValueError:
            return self._json("error_404_not_found.json")
        if account_id not in (MEMBER_ACCOUNT, STRANGER_ACCOUNT, SUSPENDED_ACCOUNT):
            return self._json("error_404_not_found.json")
        if account_id == STRANGER_ACCOUNT:
            return self._json("error_401_wrong_account.json")
        if account_id == SUSPENDED_ACCOUNT:
            return self._json("error_401_account_suspended.json")
        rest = "/".join(segments[:3] + segments[5:])
        if rest == "/api/v1/conversations/meta":
            status = record.query.get("status", "open")
            counts = knobs.counts
            all_count = sum(counts.values()) if status == "all" else counts.get(status, 0)
            meta = {"mine_count": 0, "assigned_count": all_count, "unassigned_count": 0,
                    "all_count": all_count}  # fmt: skip
            return 200, json.dumps({"meta": meta}).encode(), "application/json; charset=utf-8"
        if rest == "/api/v1/inboxes":
            return self._json("inboxes.json")
        if rest == "/api/v1/agents":
            return self._json("agents.json")
        if rest == "/api/v2/reports":
            if knobs.role != "administrator":
                return self._json("error_401_not_authorized_action.json")
            return self._reports(record.query)
        return html_404

    def _authenticate(self, record: Recorded) -> tuple[int, bytes, str] | None:
        token = record.headers.get("api_access_token") or record.headers.get("api-access-token")
        if not token:
            return self._json("error_401_no_token.json")
        if token != self.token:
            return self._json("error_401_invalid_token.json")
        return None

    def _profile(self) -> bytes:
        profile = example("profile.json")
        profile["role"] = self.behaviour.role
        for account in profile["accounts"]:
            if account["id"] == MEMBER_ACCOUNT:
                account["role"] = self.behaviour.role
                account["permissions"] = [self.behaviour.role]
        return json.dumps(profile).encode()

    def _reports(self, query: dict[str, str]) -> tuple[int, bytes, str]:
        if "type" not in query:  # Chatwoot's ReportBuilder raises without it
            return 500, b'{"status":500,"error":"Internal Server Error"}', "application/json"
        metric = query.get("metric", "")
        try:
            inbox_id = int(query["id"])
            since, until = int(query["since"]), int(query["until"])
        except (KeyError, ValueError):
            return 200, b"[]", "application/json; charset=utf-8"  # missing range: zeros
        points: list[dict[str, Any]] = []
        start = since - since % 3600
        for hour in range(start, until, 3600)[:1000]:
            if metric in AVERAGE_METRICS:
                value, count = first_response(inbox_id, hour)
                points.append({"value": value, "timestamp": hour, "count": count})
            else:
                points.append({"value": incoming_messages(inbox_id, hour), "timestamp": hour})
        return 200, json.dumps(points).encode(), "application/json; charset=utf-8"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
