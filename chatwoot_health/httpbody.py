"""Every HTTP answer read with bounds: decoded bytes capped while decoding, JSON shape checked
before it is built, and (for the sync clients) one total deadline per request.

One implementation for every client: the Chatwoot and agent probes (async, :func:`BoundedReader`
fed from ``aiter_raw`` under ``asyncio.timeout``) and the Supabase and webhook clients (sync httpx
inside supabase-py, bounded by :class:`BoundedTransport`). Every refusal is a :class:`BodyError`
(an ``httpx.DecodingError``, so code that handles httpx errors handles it) with a one-line message
that names no URL.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from itertools import accumulate
from typing import Any

import httpcore
import httpx

MAX_BODY_BYTES = 5 * 1024 * 1024  # decoded bytes of one answer
MAX_JSON_DEPTH = 64  # Chatwoot's deepest answer nests 4 levels, PostgREST's 2
MAX_JSON_VALUES = 200_000  # values and containers of one answer (a 1,000-inbox list: ~50,000)
MAX_INT_DIGITS = 40  # int64 has 19; Python refuses > 4,300 with a ValueError
MAX_ENCODINGS = 3  # Content-Encoding layers (gzip, gzip is legal; a thousand is an attack)
ACCEPT_ENCODING = "gzip, deflate"  # what the reader decodes; sent by every client
_PIECE = 64 * 1024  # the most one decompression step may produce


class BodyError(httpx.DecodingError):
    """An answer refused while it was read: too large, badly encoded, or hostile JSON."""


def too_large_message(limit: int = MAX_BODY_BYTES) -> str:
    if limit >= 1024 * 1024:
        return f"response larger than {limit // (1024 * 1024)} MB"
    return f"response larger than {limit // 1024} KB"


class _Inflate:
    """One Content-Encoding layer, decompressed in pieces of at most ``_PIECE`` bytes."""

    def __init__(self, name: str, limit: int) -> None:
        if name in ("gzip", "x-gzip"):
            wbits = zlib.MAX_WBITS | 16
        elif name == "deflate":
            wbits = zlib.MAX_WBITS  # zlib-wrapped; raw deflate is tried on a first error
        else:
            raise BodyError(
                f"response uses Content-Encoding {name[:40]!r}, which is not supported "
                "(gzip, deflate or none)"
            )
        self._name = name
        self._zlib = zlib.decompressobj(wbits)
        self._raw_fallback = name == "deflate"
        self._limit = limit
        self._produced = 0

    def feed(self, data: bytes) -> Iterator[bytes]:
        while not self._zlib.eof:  # after the end, trailing bytes are dropped, never buffered
            before = data
            try:
                out = self._zlib.decompress(data, _PIECE)
            except zlib.error:
                if self._raw_fallback and self._produced == 0:
                    self._raw_fallback = False
                    self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise BodyError(f"response has a broken {self._name} encoding") from None
            self._raw_fallback = False
            data = self._zlib.unconsumed_tail
            if out:
                self._produced += len(out)
                if self._produced > self._limit:  # intermediate layers are bounded too
                    raise BodyError(too_large_message(self._limit))
                yield out
            if (not data and len(out) < _PIECE) or (not out and data == before):
                return

    def finish(self) -> Iterator[bytes]:
        yield from self.feed(b"")


class BoundedReader:
    """Decode an answer's raw bytes incrementally, refusing it once the decoded size passes
    ``limit``; memory stays about ``limit`` whatever the compression ratio or nesting.

    ``feed`` and ``finish`` return the decoded pieces; a refusal raises :class:`BodyError`.
    """

    def __init__(self, content_encoding: str = "", limit: int = MAX_BODY_BYTES) -> None:
        names = [name.strip().lower() for name in content_encoding.split(",")]
        names = [name for name in names if name and name != "identity"]
        if len(names) > MAX_ENCODINGS:
            raise BodyError(f"response has {len(names)} layers of Content-Encoding")
        # Encodings are listed in the order they were applied: undo the last one first.
        self._stages = [_Inflate(name, limit) for name in reversed(names)]
        self._limit = limit
        self.size = 0

    def feed(self, raw: bytes) -> list[bytes]:
        return list(self._count(self._through(0, raw)))

    def finish(self) -> list[bytes]:
        return list(self._count(self._finish(0)))

    def _through(self, index: int, data: bytes) -> Iterator[bytes]:
        if index == len(self._stages):
            if data:
                yield data
            return
        for piece in self._stages[index].feed(data):
            yield from self._through(index + 1, piece)

    def _finish(self, index: int) -> Iterator[bytes]:
        if index == len(self._stages):
            return
        for piece in self._stages[index].finish():
            yield from self._through(index + 1, piece)
        yield from self._finish(index + 1)

    def _count(self, pieces: Iterator[bytes]) -> Iterator[bytes]:
        for piece in pieces:
            self.size += len(piece)
            if self.size > self._limit:
                raise BodyError(too_large_message(self._limit))
            yield piece


# -- JSON ---------------------------------------------------------------------------------------

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_BIG_INT = re.compile(rb"(?:^|[^.eE+\-\d])-?\d{%d,}" % (MAX_INT_DIGITS + 1))
_HUGE_EXPONENT = re.compile(rb"[eE]\+?0*[3-9]\d\d|[eE]\+?0*[1-9]\d{3,}")
_NON_FINITE = re.compile(rb"NaN|Infinity")
_JSON_START = frozenset(b'{["-0123456789tfn')
_DEPTH_STEP = [0] * 256
_DEPTH_STEP[ord("[")] = _DEPTH_STEP[ord("{")] = 1
_DEPTH_STEP[ord("]")] = _DEPTH_STEP[ord("}")] = -1
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))


def check_json(raw: bytes) -> None:
    """Refuse JSON that would cost far more to build than its size, or break the decoder.

    A pre-scan over the bytes with strings blanked out (C-speed regex and counts): nesting deeper
    than :data:`MAX_JSON_DEPTH`, more than :data:`MAX_JSON_VALUES` values, integers longer than
    :data:`MAX_INT_DIGITS` digits, ``NaN``/``Infinity`` and numbers that overflow to infinity.
    Raises :class:`BodyError`; bytes that are not JSON at all raise ``ValueError``.
    """
    text = raw.lstrip()
    if not text or text[0] not in _JSON_START:
        raise ValueError("not JSON")
    bare = _STRING.sub(b'""', text)
    values = 1 + bare.count(b",") + bare.count(b"[") + bare.count(b"{")
    if values > MAX_JSON_VALUES:
        raise BodyError(f"JSON answer refused: more than {MAX_JSON_VALUES:,} values")
    brackets = bare.translate(None, _NOT_BRACKETS)
    if max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0) > MAX_JSON_DEPTH:
        raise BodyError(f"JSON answer refused: nested deeper than {MAX_JSON_DEPTH} levels")
    if _NON_FINITE.search(bare):
        raise BodyError("JSON answer refused: NaN or Infinity is not a JSON number")
    if _BIG_INT.search(bare):
        raise BodyError(f"JSON answer refused: an integer longer than {MAX_INT_DIGITS} digits")
    if _HUGE_EXPONENT.search(bare):
        raise BodyError("JSON answer refused: a number out of range (exponent of 300 or more)")


def decode_json(raw: bytes) -> Any:
    """The one JSON decoding step of every answer: :func:`check_json`, then ``json.loads``."""
    check_json(raw)
    return json.loads(raw)


# -- sync clients: cap + total deadline ---------------------------------------------------------

_deadline = threading.local()  # the monotonic instant the current thread's request must end by


@contextmanager
def _within(deadline: float) -> Iterator[None]:
    previous = getattr(_deadline, "at", None)
    _deadline.at = deadline if previous is None else min(previous, deadline)
    try:
        yield
    finally:
        _deadline.at = previous


def _left(timeout: float | None, error: type[Exception]) -> float | None:
    """``timeout`` shortened to what is left of the request's deadline (raises past it)."""
    deadline: float | None = getattr(_deadline, "at", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("total deadline of the request exceeded")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """Every socket operation waits at most until the request's deadline: a server trickling
    its headers or body a byte at a time cannot stretch a request past its timeout."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(
            ssl_context, server_hostname, _left(timeout, httpcore.ConnectTimeout)
        )
        return _DeadlineStream(inner)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(
            host, port, _left(timeout, httpcore.ConnectTimeout), local_address, socket_options
        )
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_unix_socket(
            path, _left(timeout, httpcore.ConnectTimeout), socket_options
        )
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _BoundedStream(httpx.SyncByteStream):
    def __init__(
        self,
        inner: httpx.SyncByteStream,
        reader: BoundedReader,
        deadline: float,
        check: bool,
    ) -> None:
        self._inner = inner
        self._reader = reader
        self._deadline = deadline
        self._check = check  # a JSON answer: held whole and checked before anyone decodes it

    def __iter__(self) -> Iterator[bytes]:
        held: list[bytes] = []
        chunks = iter(self._inner)
        while True:
            with _within(self._deadline):
                raw = next(chunks, None)
            if raw is None:
                break
            if time.monotonic() > self._deadline:
                raise httpx.ReadTimeout("total deadline of the request exceeded")
            pieces = self._reader.feed(raw)
            if self._check:
                held.extend(pieces)
            else:
                yield from pieces
        pieces = self._reader.finish()
        if not self._check:
            yield from pieces
            return
        body = b"".join(held + pieces)
        held.clear()
        with suppress(ValueError):  # not JSON after all: whoever parses it reports that
            check_json(body)
        yield body

    def close(self) -> None:
        self._inner.close()


class BoundedTransport(httpx.BaseTransport):
    """An ``httpx.HTTPTransport`` whose every request ends by ``timeout`` seconds after it began
    (and by ``until``, a monotonic instant, if given), whose answers are decoded here with the
    :class:`BoundedReader` cap, and whose JSON answers pass :func:`check_json` before the caller
    (supabase-py, postgrest-py) decodes them (unless ``json_checked`` is off: answers that are
    read only to be discarded). Proxies from the environment are honoured as httpx would."""

    def __init__(
        self,
        *,
        timeout: float,
        limit: int = MAX_BODY_BYTES,
        until: float | None = None,
        json_checked: bool = True,
    ) -> None:
        self._timeout = timeout
        self._limit = limit
        self.until = until
        self._json_checked = json_checked
        self._direct = self._transport(None)
        self._proxied: dict[str, httpx.HTTPTransport] = {}

    @staticmethod
    def _transport(proxy: str | None) -> httpx.HTTPTransport:
        transport = httpx.HTTPTransport(proxy=proxy)
        pool = getattr(transport, "_pool", None)  # httpcore's pool owns the sockets
        backend = getattr(pool, "_network_backend", None)
        if backend is not None:
            pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]
        return transport

    def _route(self, url: httpx.URL) -> httpx.HTTPTransport:
        proxies = urllib.request.getproxies_environment()
        proxy = proxies.get(url.scheme) or proxies.get("all")
        if not proxy or urllib.request.proxy_bypass(url.host):
            return self._direct
        if proxy not in self._proxied:
            self._proxied[proxy] = self._transport(proxy)
        return self._proxied[proxy]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        deadline = time.monotonic() + self._timeout
        if self.until is not None:
            deadline = min(deadline, self.until)
        request.headers["Accept-Encoding"] = ACCEPT_ENCODING
        with _within(deadline):
            if time.monotonic() >= deadline:
                raise httpx.ReadTimeout("total deadline of the request exceeded", request=request)
            response = self._route(request.url).handle_request(request)
        try:
            reader = BoundedReader(response.headers.get("content-encoding", ""), self._limit)
        except BodyError:
            response.close()
            raise
        headers = [
            (name, value)
            for name, value in response.headers.raw
            if name.lower() not in (b"content-encoding", b"content-length")
        ]
        is_json = "json" in response.headers.get("content-type", "").lower()
        is_json = is_json and self._json_checked
        assert isinstance(response.stream, httpx.SyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=headers,
            stream=_BoundedStream(response.stream, reader, deadline, is_json),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._direct.close()
        for transport in self._proxied.values():
            transport.close()
