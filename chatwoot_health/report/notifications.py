"""``report --notify``: the report's alerts through the notification engine that ``check`` uses
(same state database, same channels, same pushed set), and, with Supabase configured, the
``notifications`` table kept as the shared record of what the engine decided.

The engine (:func:`chatwoot_health.notify.notify`) is the only decision-maker and the only sender.
The table is a mirror of its episodes: each open pushed episode of this instance has one open row
(``dedup_key`` = alert name and instance; the partial unique index on open keys makes an insert by
an overlapping run a no-op), and an open row whose episode has ended gets ``resolved_at``. The
mirror follows the engine's state, not this run's alerts, so it also records what ``check``
started or resolved since the previous ``report --notify``, and it never sends anything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from chatwoot_health.models.alert import Alert
from chatwoot_health.models.rows import NewNotification, NotificationRow
from chatwoot_health.notify import Channel, notify
from chatwoot_health.notify.state import EpisodeRecord, NotifyStore, StateUnavailable

#: The episodes asked of the state database run from the oldest open row to here (open ones).
_FOREVER = datetime(9999, 1, 1, tzinfo=UTC)


class NotificationLog(Protocol):
    """The rows of the notifications table
    (:class:`~chatwoot_health.sources.supabase.SupabaseSource`)."""

    def open_notifications(self) -> list[NotificationRow]: ...

    def insert_notification(self, row: NewNotification) -> bool: ...

    def resolve_notification(self, row_id: int, resolved_at: datetime) -> bool: ...


@dataclass(frozen=True)
class MirrorResult:
    """What one mirror pass wrote (alert names): rows inserted, rows given ``resolved_at``."""

    inserted: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)


def dedup_key(alert: str, instance: str) -> str:
    return f"{alert}:{instance}"


def notify_alerts(
    alerts: Sequence[Alert],
    now: datetime,
    instance: str,
    *,
    state_path: Path,
    channels: Sequence[Channel],
    pushed: frozenset[str],
    previous_alerts: Callable[[], Sequence[Alert]] | None = None,
) -> list[str]:
    """Decide and deliver through the engine; its outcome as diagnostic lines (stderr)."""
    outcome = notify(
        state_path,
        alerts,
        now,
        instance,
        channels,
        pushed,
        previous_alerts=previous_alerts,
    )
    lines: list[str] = []
    if outcome.started:
        lines.append("notified: " + ", ".join(outcome.started))
    if outcome.resolved:
        lines.append("resolved: " + ", ".join(outcome.resolved))
    return lines + outcome.failures + outcome.notices


def mirror_episodes(
    log: NotificationLog,
    state_path: Path,
    instance: str,
    now: datetime,
    pushed: frozenset[str],
) -> MirrorResult:
    """Make the open rows of ``instance`` match the engine's open pushed episodes.

    Raises :class:`StateUnavailable` (the engine's database cannot be read) or the source's
    error; nothing is sent either way.
    """
    mine = {
        row.kind: row
        for row in log.open_notifications()
        if row.dedup_key == dedup_key(row.kind, instance)
    }
    open_rows = dict(mine)
    since = min([row.created_at for row in mine.values()] + [now]) - timedelta(seconds=1)
    with NotifyStore(state_path) as store:
        records = store.episodes(since, _FOREVER, instance)
    open_now: dict[str, EpisodeRecord] = {}
    ended_at: dict[str, datetime] = {}
    for record in records:  # oldest first: the latest of each name wins
        if record.alert not in pushed:
            continue
        if record.ended_at is None:
            open_now[record.alert] = record
        else:
            ended_at[record.alert] = record.ended_at
    result = MirrorResult()
    for name, row in mine.items():
        ended = ended_at.get(name)
        if name in open_now and (ended is None or ended <= row.created_at):
            continue  # the row of the episode still open
        # Its episode ended (maybe followed by another while no mirror ran): close the row.
        resolved = ended if ended is not None else now
        if log.resolve_notification(row.id, max(resolved, row.created_at)):
            result.resolved.append(name)
        del open_rows[name]
    for name, record in open_now.items():
        if name in open_rows:
            continue
        inserted = log.insert_notification(
            NewNotification(
                kind=name,
                severity=record.severity.value,
                title=record.title,
                message=record.message,
                dedup_key=dedup_key(name, instance),
                created_at=record.started_at,
            )
        )
        if inserted:  # else an overlapping run inserted it first
            result.inserted.append(name)
    return result


def mirror_lines(
    log: NotificationLog | None,
    error: str | None,
    state_path: Path,
    instance: str,
    now: datetime,
    pushed: frozenset[str],
) -> list[str]:
    """:func:`mirror_episodes` for ``report``: its outcome, or why not, as diagnostic lines."""
    from chatwoot_health.sources.supabase import SupabaseError

    if log is None:
        return [f"notifications not recorded in Supabase: {error or 'Supabase unavailable'}"]
    try:
        result = mirror_episodes(log, state_path, instance, now, pushed)
    except StateUnavailable as exc:
        return [f"notifications not recorded in Supabase: notification state: {exc}"]
    except SupabaseError as exc:
        return [f"notifications not recorded in Supabase: {exc}"]
    lines = []
    if result.inserted:
        lines.append("recorded in Supabase: " + ", ".join(result.inserted))
    if result.resolved:
        lines.append("resolved in Supabase: " + ", ".join(result.resolved))
    return lines
