"""Security headers on every response, sessions whose cookie is ``Secure`` over https, the CSRF
check and the sign-in rate limit. The crypto is itsdangerous' (through Starlette's
``SessionMiddleware``); nothing here signs or encrypts by hand.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict, deque

from starlette.datastructures import MutableHeaders
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE = "chatwoot_health_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
NONCE_KEY = "csp_nonce"


def nonce_of(request: Request) -> str:
    return str(request.scope["state"][NONCE_KEY])


def content_security_policy(nonce: str) -> str:
    """Nothing from anywhere but this origin; scripts and styles only with this response's nonce
    (no ``'unsafe-inline'``, no style attributes), no framing, forms post only here."""
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src 'nonce-{nonce}'",
            f"style-src 'nonce-{nonce}'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        )
    )


class SecurityHeaders:
    """A fresh nonce per request (``request.state.csp_nonce``) and the headers on every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(18)
        scope.setdefault("state", {})[NONCE_KEY] = nonce

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = content_security_policy(nonce)
                headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "no-referrer"
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Cross-Origin-Opener-Policy"] = "same-origin"
                headers["Cross-Origin-Resource-Policy"] = "same-origin"
                if "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, with_headers)


class Sessions:
    """Starlette's signed-cookie sessions, ``HttpOnly`` and ``SameSite=Strict``, with ``Secure``
    whenever the request came over https — directly, or through a proxy whose
    ``X-Forwarded-Proto`` uvicorn trusts (``--forwarded-allow-ips``)."""

    def __init__(self, app: ASGIApp, secret_key: str, max_age: int) -> None:
        common = {"session_cookie": SESSION_COOKIE, "max_age": max_age, "same_site": "strict"}
        self.plain = SessionMiddleware(app, secret_key, https_only=False, **common)  # type: ignore[arg-type]
        self.secure = SessionMiddleware(app, secret_key, https_only=True, **common)  # type: ignore[arg-type]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        secure = scope.get("scheme") in ("https", "wss")
        await (self.secure if secure else self.plain)(scope, receive, send)


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use (also for the sign-in form)."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or len(token) < 20:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def csrf_valid(request: Request, submitted: str | None) -> bool:
    expected = request.session.get("csrf")
    if not isinstance(expected, str) or not submitted:
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode())


class RateLimit:
    """At most ``limit`` attempts per ``period`` seconds per client address (a sliding window),
    remembering at most ``max_clients`` addresses (the least recently seen are forgotten)."""

    def __init__(self, limit: int, period: float = 60.0, max_clients: int = 10_000) -> None:
        self.limit = limit
        self.period = period
        self.max_clients = max_clients
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()

    def attempt(self, client: str, now: float | None = None) -> float | None:
        """Record an attempt; None if allowed, else seconds until the next one is."""
        moment = time.monotonic() if now is None else now
        times = self._seen.pop(client, None) or deque()
        while times and moment - times[0] >= self.period:
            times.popleft()
        self._seen[client] = times
        while len(self._seen) > self.max_clients:
            self._seen.popitem(last=False)
        if len(times) >= self.limit:
            return max(0.0, self.period - (moment - times[0]))
        times.append(moment)
        return None
