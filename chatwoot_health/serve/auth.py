"""Who may sign in: the break-glass credential, or an administrator of the configured account
as Chatwoot's ``/api/v1/profile`` tells it. The token is used for that one request and then
forgotten: the session holds who, the role, the expiry and a CSRF token, never the token.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

import httpx

from chatwoot_health.httpbody import ACCEPT_ENCODING
from chatwoot_health.probes.chatwoot import TOKEN_HEADER
from chatwoot_health.probes.http import get
from chatwoot_health.redact import printable
from chatwoot_health.serve.settings import ServeSettings

log = logging.getLogger("chatwoot_health.serve")

#: A Chatwoot access token is 24 characters; anything much longer is not one.
MAX_TOKEN_CHARS = 512
BREAK_GLASS = "break-glass"


class Verdict(Enum):
    ADMITTED = 303
    WRONG = 401
    NOT_ADMIN = 403
    UNREACHABLE = 503


@dataclass(frozen=True)
class SignIn:
    verdict: Verdict
    #: Shown to the person: one sentence.
    message: str
    who: str = ""
    via: str = ""


def _plausible(token: str) -> bool:
    # It would travel in an HTTP header: printable ASCII, no spaces.
    return (
        0 < len(token) <= MAX_TOKEN_CHARS
        and token.isascii()
        and token.isprintable()
        and (" " not in token)
    )


def break_glass_matches(settings: ServeSettings, token: str) -> bool:
    if settings.admin_token is None:
        return False
    expected = settings.admin_token.get_secret_value().encode()
    return hmac.compare_digest(expected, token.encode("utf-8", "replace"))


async def sign_in(
    settings: ServeSettings, token: str, transport: httpx.AsyncBaseTransport | None = None
) -> SignIn:
    """Decide one sign-in attempt. Never raises for Chatwoot's answers."""
    token = token.strip()
    if break_glass_matches(settings, token):
        return SignIn(Verdict.ADMITTED, "signed in with the break-glass credential", BREAK_GLASS,
                      BREAK_GLASS)  # fmt: skip
    wrong = SignIn(
        Verdict.WRONG,
        "That token was not accepted: it is neither a Chatwoot access token of this instance nor "
        "the break-glass credential.",
    )
    if not _plausible(token):
        return wrong
    if not settings.chatwoot_sign_in:
        return SignIn(
            Verdict.WRONG,
            "That token was not accepted: signing in with a Chatwoot token needs "
            "CHATWOOT_BASE_URL and CHATWOOT_ACCOUNT_ID, so only the break-glass credential works "
            "here.",
        )
    assert settings.chatwoot_url is not None and settings.account_id is not None
    headers = {
        "User-Agent": "chatwoot-health",
        "Accept": "application/json",
        "Accept-Encoding": ACCEPT_ENCODING,
    }
    async with httpx.AsyncClient(
        base_url=settings.chatwoot_url,
        headers=headers,
        transport=transport,
        follow_redirects=False,
        trust_env=False,
    ) as client:
        fetched = await get(
            client,
            "/api/v1/profile",
            timeout=settings.timeout,
            headers={TOKEN_HEADER: token},
            retry_429_after=0.5,
        )
    unreachable = (
        "Chatwoot could not confirm this token ({why}): only the break-glass credential "
        "(CHATWOOT_HEALTH_ADMIN_TOKEN) works until it answers again."
    )
    if fetched.error is not None or fetched.status_code is None:
        return SignIn(Verdict.UNREACHABLE, unreachable.format(why=fetched.error or "no answer"))
    if fetched.status_code == 401:
        return wrong
    if fetched.status_code != 200 or not isinstance(fetched.body, dict):
        why = f"its profile endpoint answered {fetched.status_code}"
        if fetched.status_code == 200:
            why = "its profile answer was not the expected JSON"
        return SignIn(Verdict.UNREACHABLE, unreachable.format(why=why))
    return judge_profile(fetched.body, settings.account_id)


def judge_profile(profile: Mapping[str, Any], account_id: int) -> SignIn:
    """Admit an administrator of ``account_id``. The profile's top-level ``role`` is the role in
    the user's default account, which need not be this one: ``accounts[]`` decides."""
    name = printable(str(profile.get("name") or "this user"))[:100]
    accounts = profile.get("accounts")
    entry = None
    if isinstance(accounts, list):
        entry = next(
            (item for item in accounts if isinstance(item, dict) and item.get("id") == account_id),
            None,
        )
    if entry is None:
        return SignIn(
            Verdict.NOT_ADMIN,
            f"{name} is not a member of account {account_id}: only administrators of that "
            "account may open this dashboard.",
        )
    role = entry.get("role")
    if role != "administrator":
        shown = printable(str(role))[:40] if isinstance(role, str) else "not an administrator"
        return SignIn(
            Verdict.NOT_ADMIN,
            f"{name} is {_article(shown)} {shown} of account {account_id}, not an administrator: "
            "only administrators may open this dashboard.",
        )
    return SignIn(Verdict.ADMITTED, f"signed in as {name}", name, "chatwoot")


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


# ------------------------------------------------------------------------------- the session


def start_session(session: dict[str, Any], outcome: SignIn, now: datetime, lifetime: float) -> None:
    """A new session (a fresh CSRF token: nothing from before sign-in survives it)."""
    session.clear()
    session.update(
        who=outcome.who,
        via=outcome.via,
        role="administrator",
        exp=int(now.timestamp() + lifetime),
        csrf=secrets.token_urlsafe(32),
    )


def signed_in(session: dict[str, Any], now: datetime) -> bool:
    """True for an unexpired administrator session; an expired or malformed one is cleared."""
    who, exp, role = session.get("who"), session.get("exp"), session.get("role")
    if (
        isinstance(who, str)
        and isinstance(exp, int)
        and role == "administrator"
        and now.timestamp() < exp
    ):
        return True
    if who is not None or exp is not None:
        session.clear()
    return False
