"""Delivery at the edge: Apprise URLs (``CHATWOOT_HEALTH_NOTIFY``) and the Slack-compatible
``ALERT_WEBHOOK_URL``.

Apprise is imported only when a channel is parsed or a message sent, so a ``check`` with nothing
to notify never pays for loading its plugins. Each send runs in a worker thread under a total
deadline (Apprise's and httpx's own timeouts are per operation: a receiver answering one byte per
second would keep them alive forever), and its outcome is one line with the reason. No text that
leaves this module contains a channel's URL: a channel is named by its label (``mailto #1``,
``ALERT_WEBHOOK_URL``), and every error is scrubbed of the URL, its userinfo and its path.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from chatwoot_health.notify.messages import Message
from chatwoot_health.redact import REDACTED, printable, redact_url

#: The total time one message may take on one channel, connection and answer included.
SEND_DEADLINE = 10.0
#: How much of a failing webhook's answer is read for its reason (a success's is never read).
ANSWER_CAP = 1024
WEBHOOK_LABEL = "ALERT_WEBHOOK_URL"
_SPLIT = re.compile(r"[\s,]+")
_JSON_SCHEMES = ("json", "jsons")


class ChannelError(ValueError):
    """A channel list that cannot be used; ``str(exc)`` is one line with no secret in it."""


@dataclass(frozen=True)
class Channel:
    """One destination. ``url`` is a secret: it is never shown (``repr`` hides it)."""

    kind: str  # "apprise" | "webhook"
    label: str
    url: str = field(repr=False)

    @property
    def key(self) -> str:
        """A stable name for the state database that does not store the URL itself."""
        digest = hashlib.sha256(f"{self.kind}\n{self.url}".encode()).hexdigest()[:16]
        return f"{self.kind}:{digest}"

    def scrub(self, text: str) -> str:
        """``text`` without this channel's URL or any part of it that could be a secret."""
        parts = urlsplit(self.url) if "://" in self.url else None
        secrets = [self.url]
        if parts is not None:
            secrets += [parts.password or "", parts.username or "", parts.path, parts.query]
            secrets += [piece for piece in parts.path.split("/") if len(piece) >= 4]
        for secret in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        return " ".join(redact_url(text).split())


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


@functools.cache
def _load_apprise() -> None:
    """Import Apprise and load its plugins once, in the calling (main) thread: some plugins
    import modules that Python 3.11 deprecates (``imghdr``), which is Apprise's business, not a
    warning for our users (nor an error under ``-W error``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import apprise

        apprise.Apprise.instantiate("json://localhost")


def _scheme(entry: str) -> str:
    scheme = entry.split("://", 1)[0] if "://" in entry else ""
    return scheme.lower() if re.fullmatch(r"[A-Za-z][A-Za-z0-9+.\-]{0,30}", scheme) else ""


def parse_channels(text: str | None) -> list[Channel]:
    """The Apprise URLs of ``CHATWOOT_HEALTH_NOTIFY`` (comma- or space-separated), validated by
    Apprise without sending anything. ``ChannelError`` names the entry by position and scheme
    only, never by its text (which holds passwords and tokens)."""
    entries = [entry for entry in _SPLIT.split(text or "") if entry]
    if not entries:
        return []
    _load_apprise()  # lazily: ~0.1 s of plugin loading
    import apprise

    channels: list[Channel] = []
    for number, entry in enumerate(entries, 1):
        scheme = _scheme(entry)
        if not scheme:
            raise ChannelError(
                f"entry {number} is not a URL (expected e.g. mailto://… or ntfy://…)"
            )
        if scheme in ("http", "https"):
            raise ChannelError(
                f"entry {number} ({scheme}://…) is a plain web address, not an Apprise URL: "
                "use json://… (or ALERT_WEBHOOK_URL for a Slack-compatible webhook)"
            )
        try:
            service = apprise.Apprise.instantiate(entry)
        except Exception:  # a plugin that raises on odd input is as good as a refusal
            service = None
        if service is None:
            raise ChannelError(
                f"entry {number} ({scheme}://…) is not a URL Apprise can use "
                "(unknown service, or a missing or invalid part)"
            )
        channels.append(Channel("apprise", f"{scheme} #{number}", entry))
    return channels


def webhook_channel(url: str | None) -> list[Channel]:
    """``ALERT_WEBHOOK_URL`` as a channel (none when unset); it posts ``{"text", "id"}``."""
    if not url:
        return []
    return [Channel("webhook", WEBHOOK_LABEL, url)]


# ------------------------------------------------------------------------------------ sending


def send(channel: Channel, message: Message, deadline: float = SEND_DEADLINE) -> str | None:
    """Deliver ``message`` on ``channel`` within ``deadline`` seconds: None, or why it failed
    (one line, scrubbed)."""
    sender: Callable[[Channel, Message, float], str | None] = (
        _send_webhook if channel.kind == "webhook" else _send_apprise
    )
    if channel.kind == "apprise":
        _load_apprise()
    outcome: list[str | None] = []

    def work() -> None:
        try:
            outcome.append(sender(channel, message, deadline))
        except Exception as exc:  # the worker must always report
            outcome.append(f"{type(exc).__name__}: {exc}")

    worker = threading.Thread(target=work, name=f"notify {channel.label}", daemon=True)
    worker.start()
    worker.join(deadline + 1.0)
    if not outcome:
        return f"no answer within {deadline:g} s"
    problem = outcome[0]
    return None if problem is None else _one_line(channel.scrub(problem))


def _send_webhook(channel: Channel, message: Message, deadline: float) -> str | None:
    import httpx  # here: building the channels (every `report` does) never loads it

    timeout = httpx.Timeout(deadline, connect=min(deadline, 5.0))
    payload = {"text": message.text, "id": message.id}
    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client,
            client.stream("POST", channel.url, json=payload) as response,
        ):
            if response.is_success:
                return None  # the status is the answer: an endless body is never read
            if response.is_redirect:
                return f"answered HTTP {response.status_code} (a redirect; not followed)"
            head = b""
            for chunk in response.iter_raw():
                head += chunk
                if len(head) >= ANSWER_CAP:
                    break
    except httpx.TimeoutException:
        return f"no answer within {deadline:g} s"
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        return f"unreachable ({_one_line(str(exc)) or type(exc).__name__})"
    reason = printable(head[:ANSWER_CAP].decode("utf-8", "replace")).strip()[:100]
    return f"answered HTTP {response.status_code}" + (f": {reason}" if reason else "")


def _send_apprise(channel: Channel, message: Message, deadline: float) -> str | None:
    import apprise

    url = channel.url
    if _scheme(url) in _JSON_SCHEMES:  # the id as a field of the JSON payload too
        url += ("&" if "?" in url else "?") + f":id={message.id}"
    notifier = apprise.Apprise()
    if not notifier.add(url):
        return "Apprise no longer accepts this URL"
    result = notifier.notify(
        body=message.body,
        title=message.title,
        timeout=deadline,
        log_level=logging.WARNING,
    )
    if result:
        return None
    reasons: list[str] = []
    for service in result:
        if not service:
            reasons += [entry.message for entry in service.logs()]
    reasons += [entry.message for entry in result.call_logs()]
    unique = list(dict.fromkeys(reason.strip() for reason in reasons if reason.strip()))
    status = getattr(result.status, "name", str(result.status)).lower()
    return "; ".join(unique[-2:]) or f"Apprise reported {status}"
