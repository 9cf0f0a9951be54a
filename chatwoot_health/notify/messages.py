"""Message texts: a start in the spec's alert format, a resolution with how long it lasted.

Every message carries a stable id, ``chatwoot-health/<host>/<alert>/<episode start>/start|resolve``,
in its body's footer (and as a field for JSON receivers): a redelivery after a crash, or a second
probe host, is recognisable by a receiver that de-duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from chatwoot_health.alerts import alert_text
from chatwoot_health.notify.decide import End, Start

Kind = Literal["start", "resolve"]


@dataclass(frozen=True)
class Message:
    id: str
    kind: Kind
    alert: str
    title: str
    body: str

    @property
    def text(self) -> str:
        """Title and body as one text (for a Slack-compatible ``{"text": …}`` webhook)."""
        return f"{self.title}\n{self.body}"


def instance_host(instance: str) -> str:
    """``https://chat.example.com/`` → ``chat.example.com`` (no userinfo, no path)."""
    rest = instance.split("://", 1)[-1]
    authority = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    return authority.rpartition("@")[2] or "unknown"


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def message_id(instance: str, alert: str, started_at: datetime, kind: Kind) -> str:
    return f"chatwoot-health/{instance_host(instance)}/{alert}/{_stamp(started_at)}/{kind}"


def _footer(identifier: str) -> str:
    return f"\n\n--\nid: {identifier}"


def humanize_span(delta: timedelta) -> str:
    """``7 minutes``, ``1 hour 5 minutes``, ``2 days 3 hours``; ``less than a minute``."""
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 1:
        return "less than a minute"
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    parts = [(days, "day"), (hours, "hour"), (minutes, "minute")]
    words = [f"{n} {unit}{'' if n == 1 else 's'}" for n, unit in parts if n]
    return " ".join(words[:2])


def _span(start: datetime, end: datetime) -> str:
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if start.date() == end.date():
        return f"{start:%H:%M}–{end:%H:%M} UTC"
    return f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC"


def start_message(start: Start, instance: str, now: datetime) -> Message:
    identifier = message_id(instance, start.alert.name, start.started_at, "start")
    title, _, body = alert_text(start.alert, now).partition("\n")
    return Message(identifier, "start", start.alert.name, title, body + _footer(identifier))


def resolve_message(end: End, instance: str) -> Message:
    episode = end.episode
    identifier = message_id(instance, episode.name, episode.started_at, "resolve")
    verb = "down" if episode.name == "service_down" else "active"
    lasted = humanize_span(end.ended_at - episode.started_at)
    span = _span(episode.started_at, end.ended_at)
    title = f"✅ RESOLVED Chatwoot Alert: {episode.title} — {verb} for {lasted} ({span})"
    body = f"Was: {episode.message}"
    return Message(identifier, "resolve", episode.name, title, body + _footer(identifier))
