"""One call per run: decide (pure), record atomically with the outbox, then deliver at the edge."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from chatwoot_health.alerts import PROACTIVE
from chatwoot_health.models.alert import Alert
from chatwoot_health.notify.channels import SEND_DEADLINE, Channel, send
from chatwoot_health.notify.decide import Decisions, EndReason, decide
from chatwoot_health.notify.messages import Message, resolve_message, start_message
from chatwoot_health.notify.state import (
    NotifyStore,
    Pending,
    StateCorrupt,
    StateUnavailable,
)
from chatwoot_health.sqlite import DB_NAME

if TYPE_CHECKING:
    from chatwoot_health.notify.state_pg import PgNotifyStore

PreviousAlerts = Callable[[], Sequence[Alert]]
#: Where the state lives: the local SQLite file, or the store's PostgreSQL shared by every host.
Backend: TypeAlias = "NotifyStore | PgNotifyStore"


@dataclass
class NotifyOutcome:
    """What one run did. ``failures`` and ``notices`` are one line each, ready for stderr."""

    started: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    #: Warnings closed quietly because they became their critical successor.
    escalated: list[str] = field(default_factory=list)
    #: ``<message id> → <channel label>`` for each delivery made by this run.
    delivered: list[str] = field(default_factory=list)
    #: (alert, kind) of each message this run delivered to at least one channel — this run's
    #: decisions and the outbox's earlier ones alike (what people were actually told).
    sent: list[tuple[str, str]] = field(default_factory=list)
    #: A channel that failed (retried next run), or a state database that could not be used.
    failures: list[str] = field(default_factory=list)
    #: Informational: a database moved aside, a clock that went back, a message given up on.
    notices: list[str] = field(default_factory=list)


def default_state_path(artifacts_dir: Path) -> Path:
    return artifacts_dir / DB_NAME


def compose(decisions: Decisions, instance: str) -> list[Message]:
    """The messages of a run's decisions: pushed starts and pushed resolutions."""
    now = decisions.effective_now
    messages = [start_message(s, instance, now) for s in decisions.starts if s.push]
    messages += [resolve_message(e, instance) for e in decisions.ends if e.push]
    return messages


def _record(
    store: Backend,
    alerts: Sequence[Alert],
    now: datetime,
    instance: str,
    channels: Sequence[Channel],
    pushed: frozenset[str],
    previous_alerts: PreviousAlerts | None,
    deadline: float,
    outcome: NotifyOutcome,
    judged: frozenset[str] | None = None,
) -> list[Pending]:
    with store.transaction() as tx:
        if tx.fresh and previous_alerts is not None:
            tx.bootstrap(instance, previous_alerts(), now, pushed)
        elif previous_alerts is not None:  # a later run's bootstrap seeded this run's starts
            tx.adopt(instance, alerts, now, previous_alerts)
        decisions = decide(
            tx.open_episodes(instance),
            alerts,
            now,
            pushed,
            last_run=tx.last_run(instance),
            judged=judged,
        )
        messages = compose(decisions, instance)
        tx.apply(instance, decisions, messages, [(c.key, c.label) for c in channels])
        tx.record_run(instance, decisions.effective_now)
        keys = [c.key for c in channels]
        outcome.notices += tx.expire(decisions.effective_now, keys)
        pending = tx.claim(decisions.effective_now, timedelta(seconds=deadline + 1.0), keys)
    outcome.started = [s.alert.name for s in decisions.starts]
    outcome.resolved = [e.episode.name for e in decisions.ends if e.reason is EndReason.RESOLVED]
    outcome.escalated = [e.episode.name for e in decisions.ends if e.reason is EndReason.ESCALATED]
    if decisions.clock_went_back_by is not None:
        outcome.notices.append(
            f"the clock went back {decisions.clock_went_back_by:g} s since the previous run; "
            "times are recorded as of the previous run"
        )
    return pending


def notify(
    state: Path | Backend,
    alerts: Sequence[Alert],
    now: datetime,
    instance: str,
    channels: Sequence[Channel] = (),
    pushed: frozenset[str] = PROACTIVE,
    *,
    previous_alerts: PreviousAlerts | None = None,
    deadline: float = SEND_DEADLINE,
    clock: Callable[[], datetime] | None = None,
    judged: frozenset[str] | None = None,
) -> NotifyOutcome:
    """Record this run's alert starts and resolutions for ``instance`` and deliver their messages
    (and any left undelivered by earlier runs) to ``channels``. Never raises for a state or
    channel problem: each becomes one line in ``failures`` or ``notices``.

    ``previous_alerts`` is asked only when the database is new (first run, or deleted, or moved
    aside as corrupt): the alerts active at the previous run are then recorded as open without
    sending them again. ``clock`` (default: ``now`` throughout) stamps the deliveries. ``judged``
    (None: all) are the names the caller's rules judged; other open episodes are left alone.
    ``state``: the SQLite file at that path, or a backend (the store's shared state, a
    :class:`NotifyStore` with another busy timeout); closed on return either way.
    """
    outcome = NotifyOutcome()
    stamp = clock or (lambda: now)
    chosen: Backend = NotifyStore(state) if isinstance(state, Path) else state
    with chosen as store:

        def record() -> list[Pending]:
            return _record(
                store,
                alerts,
                now,
                instance,
                channels,
                pushed,
                previous_alerts,
                deadline,
                outcome,
                judged,
            )

        try:
            try:
                pending = record()
            except StateCorrupt as exc:
                moved = store.quarantine(now)
                outcome.notices.append(f"{exc}: moved aside as {moved.name}; starting afresh")
                pending = record()
        except StateUnavailable as exc:  # moving a corrupt file aside failed too
            outcome.failures.append(f"notification state: {exc}")
            return outcome
        by_key = {channel.key: channel for channel in channels}
        failed: set[str] = set()  # a channel that failed once this run is not tried again
        for row in pending:
            channel = by_key[row.channel_key]
            try:
                if channel.key in failed:
                    store.release(row.row_id)
                    continue
                problem = send(channel, row.message, deadline)
                if problem is None:
                    store.mark_delivered(row.row_id, stamp())
                    outcome.delivered.append(f"{row.message.id} → {channel.label}")
                    if (row.message.alert, row.message.kind) not in outcome.sent:
                        outcome.sent.append((row.message.alert, row.message.kind))
                else:
                    failed.add(channel.key)
                    store.mark_failed(row.row_id, problem, stamp())
                    outcome.failures.append(
                        f"{channel.label}: {row.message.alert} {row.message.kind} not delivered "
                        f"({problem}); retried on the next run"
                    )
            except StateUnavailable as exc:
                outcome.failures.append(
                    f"notification state: {exc} (delivery of {row.message.id} not recorded; "
                    "it may be sent again once its lease ends)"
                )
    return outcome
