"""``report --notify``: record each alert's start and resolution in the Supabase
``notifications`` table and post them once to ``ALERT_WEBHOOK_URL``.

Which alerts start and which resolve is :func:`chatwoot_health.notify.decide.decide` (pure), the
rows are the Supabase source's (insert, resolve, list the open ones), delivery is the webhook
sink's. Safe against overlapping runs without any lock: the partial unique index on open
``dedup_key`` lets only one insert win (the loser stays quiet), and a resolution only counts for
the run whose ``resolved_at is null`` update touched the row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from chatwoot_health.alerts import alert_text
from chatwoot_health.models.alert import Alert, Severity
from chatwoot_health.models.rows import NewNotification, NotificationRow
from chatwoot_health.notify.decide import EndReason, OpenEpisode, decide
from chatwoot_health.notify.webhook import WebhookSink
from chatwoot_health.timeutil import humanize_age


class NotificationLog(Protocol):
    """The rows of the notifications table
    (:class:`~chatwoot_health.sources.supabase.SupabaseSource`)."""

    def open_notifications(self) -> list[NotificationRow]: ...

    def insert_notification(self, row: NewNotification) -> bool: ...

    def resolve_notification(self, row_id: int, resolved_at: datetime) -> bool: ...


@dataclass(frozen=True)
class NotifyResult:
    """What one ``report --notify`` run did (alert names); webhook failures never raise."""

    started: list[str]
    resolved: list[str]
    already_open: list[str]
    webhook_errors: list[str]


def resolved_text(row: NotificationRow, now: datetime) -> str:
    """A resolution names the alert, what it was, and how long it lasted."""
    lasted = humanize_age(now - row.created_at).removesuffix(" ago")
    return f"✅ Resolved: {row.title}\nWas: {row.message}\nActive for {lasted}"


def _episode(row: NotificationRow) -> OpenEpisode:
    severity = Severity.CRITICAL if row.severity == Severity.CRITICAL else Severity.WARNING
    return OpenEpisode(row.kind, severity, row.title, row.message, row.created_at, pushed=True)


def sync_notifications(
    log: NotificationLog,
    alerts: Sequence[Alert],
    instance: str,
    now: datetime,
    sink: WebhookSink | None = None,
) -> NotifyResult:
    """Record starts and resolutions of ``alerts`` for ``instance``; post each one once."""
    mine = {
        row.kind: row
        for row in log.open_notifications()
        if row.dedup_key == f"{row.kind}:{instance}"
    }
    decisions = decide([_episode(row) for row in mine.values()], alerts, now, frozenset())
    starting = {start.alert.name for start in decisions.starts}
    started: list[str] = []
    already_open: list[str] = []
    posts: list[tuple[str, str]] = []
    for alert in {alert.name: alert for alert in alerts}.values():
        recorded = alert.name in starting and log.insert_notification(
            NewNotification(
                kind=alert.name,
                severity=alert.severity.value,
                title=alert.title,
                message=alert.message,
                dedup_key=f"{alert.name}:{instance}",
                created_at=now,
            )
        )
        if recorded:
            started.append(alert.name)
            posts.append((alert.name, alert_text(alert, now)))
        else:
            already_open.append(alert.name)
    resolved: list[str] = []
    for end in decisions.ends:
        row = mine[end.episode.name]
        if not log.resolve_notification(row.id, now):
            continue  # another run resolved it first
        resolved.append(row.kind)
        if end.reason is EndReason.RESOLVED:
            # A warning that became its critical successor (health_check_failed →
            # service_down) did not "resolve": only the escalation is news.
            posts.append((row.kind, resolved_text(row, now)))
    errors = sink.post(posts) if sink is not None else []
    return NotifyResult(started, resolved, already_open, errors)
