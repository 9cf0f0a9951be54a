"""One careful HTTP GET: monotonic timing, one retry on 429, a total deadline, the bounded reader
(:mod:`chatwoot_health.httpbody`: decoded-size cap, JSON shape limits), and actionable errors.

Nothing here raises for a network or protocol failure; everything becomes a :class:`Fetched` with an
``error`` string. Secrets never enter these strings: the token travels in a header, and the URL in
messages is only the path.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any

import httpx

from chatwoot_health.httpbody import BodyError, BoundedReader, decode_json
from chatwoot_health.redact import redact_url


@dataclass(frozen=True)
class Fetched:
    path: str
    status_code: int | None
    duration_ms: float
    body: Any = None  # parsed JSON when the answer was JSON
    text: str | None = None  # a short excerpt when it was not
    error: str | None = None  # transport or protocol failure (no HTTP answer, or an unusable one)
    content_type: str = ""

    @property
    def is_json(self) -> bool:
        return self.error is None and self.text is None

    def api_error(self) -> str | None:
        """Chatwoot's own error message from a JSON error body, if any."""
        if isinstance(self.body, dict):
            if isinstance(self.body.get("error"), str):
                return str(self.body["error"])
            errors = self.body.get("errors")
            if isinstance(errors, list) and errors and isinstance(errors[0], str):
                return str(errors[0])
            if isinstance(self.body.get("message"), str):
                return str(self.body["message"])
        return None


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from (httpx wraps httpcore wraps anyio wraps the
    OSError that says what really happened)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 16:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def describe_transport_error(exc: Exception, timeout: float) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out after {timeout:g} s"
    text = str(exc) or exc.__class__.__name__
    chain = _causes(exc)
    lowered = " | ".join(str(link) for link in chain).lower()
    if any(isinstance(link, ssl.SSLError) for link in chain) or (
        "ssl" in lowered or "certificate" in lowered
    ):
        return f"TLS error: {_first_line(text)}"
    if any(isinstance(link, socket.gaierror) for link in chain) or any(
        hint in lowered
        for hint in (
            "name or service not known",
            "nodename nor servname",
            "temporary failure in name resolution",
            "getaddrinfo",
        )
    ):
        return "cannot resolve the host name (DNS): check the URL"
    if (
        any(
            isinstance(link, ConnectionRefusedError)
            or (isinstance(link, OSError) and link.errno == errno.ECONNREFUSED)
            for link in chain
        )
        or "refused" in lowered
    ):
        return "connection refused: is the service running and the URL right?"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect: {_first_line(text)}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the server closed the connection or broke HTTP: {_first_line(text)}"
    if isinstance(exc, httpx.HTTPError):
        return f"HTTP error: {_first_line(text)}"
    return f"{exc.__class__.__name__}: {_first_line(text)}"


def _first_line(text: str) -> str:
    """The first line of an exception's text, with any URL's credentials redacted."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return redact_url(line)[:200]


async def get(
    client: httpx.AsyncClient,
    path: str,
    *,
    timeout: float,
    headers: dict[str, str] | None = None,
    params: dict[str, str | int] | None = None,
    retry_429_after: float = 1.0,
    url: str | None = None,
) -> Fetched:
    """GET ``path`` (relative to the client's base URL, or ``url``); retry once on 429."""
    for attempt in (1, 2):
        fetched = await _get_once(client, path, timeout, headers, params, url)
        if fetched.status_code != 429 or attempt == 2:
            return fetched
        # Chatwoot's rack-attack sends no Retry-After: back off a little, once.
        await asyncio.sleep(retry_429_after)
    raise AssertionError("unreachable")  # pragma: no cover


async def _get_once(
    client: httpx.AsyncClient,
    path: str,
    timeout: float,
    headers: dict[str, str] | None,
    params: dict[str, str | int] | None,
    url: str | None,
) -> Fetched:
    started = time.perf_counter()
    label = path

    def elapsed() -> float:
        return round((time.perf_counter() - started) * 1000, 1)

    try:
        async with asyncio.timeout(timeout):
            async with client.stream(
                "GET", url or path, headers=headers, params=params, timeout=timeout
            ) as response:
                status = response.status_code
                content_type = response.headers.get("content-type", "")
                try:
                    reader = BoundedReader(response.headers.get("content-encoding", ""))
                    chunks: list[bytes] = []
                    async for raw in response.aiter_raw():
                        chunks.extend(reader.feed(raw))
                    chunks.extend(reader.finish())
                except BodyError as exc:
                    return Fetched(label, status, elapsed(), error=str(exc))
    except TimeoutError:
        return Fetched(label, None, elapsed(), error=f"timed out after {timeout:g} s")
    except (httpx.HTTPError, OSError, ssl.SSLError) as exc:
        return Fetched(label, None, elapsed(), error=describe_transport_error(exc, timeout))
    duration = elapsed()
    raw_body = b"".join(chunks)
    chunks.clear()
    try:
        body = decode_json(raw_body)
    except BodyError as exc:
        return Fetched(label, status, duration, error=str(exc), content_type=content_type)
    except ValueError:  # not JSON (UnicodeDecodeError and JSONDecodeError are ValueErrors)
        excerpt = raw_body[:200].decode("utf-8", "replace").strip()
        return Fetched(label, status, duration, text=excerpt, content_type=content_type)
    return Fetched(label, status, duration, body=body, content_type=content_type)


def looks_like_html(fetched: Fetched) -> bool:
    return "html" in fetched.content_type or (fetched.text or "").lstrip().startswith("<")
