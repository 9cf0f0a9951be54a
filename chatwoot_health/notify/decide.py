"""What starts and what resolves: a pure function of (open episodes, current alerts, now).

An *episode* is one stretch of time during which an alert of one name stays active for one
instance, across any number of runs. It starts when the alert first appears and ends once when it
clears. Transitions follow the alert set alone, never the clock: a clock that went backwards only
clamps the recorded times (no negative duration), it never starts or resolves anything by itself.

Every alert's episode is tracked (the incident log needs them), but only the names in ``pushed``
produce messages; a resolution is pushed only when its start was.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from chatwoot_health.alerts import ESCALATES_TO
from chatwoot_health.models.alert import Alert, Severity


class EndReason(StrEnum):
    RESOLVED = "resolved"
    #: The warning became its critical successor (``alerts.ESCALATES_TO``): closed quietly.
    ESCALATED = "escalated"


@dataclass(frozen=True)
class OpenEpisode:
    """An episode that was open after the previous run (as the state store recorded it)."""

    name: str
    severity: Severity
    title: str
    message: str
    started_at: datetime
    pushed: bool


@dataclass(frozen=True)
class Start:
    alert: Alert
    started_at: datetime
    push: bool


@dataclass(frozen=True)
class End:
    episode: OpenEpisode
    ended_at: datetime
    reason: EndReason

    @property
    def push(self) -> bool:
        return self.episode.pushed and self.reason is EndReason.RESOLVED


@dataclass(frozen=True)
class Decisions:
    starts: tuple[Start, ...]
    ends: tuple[End, ...]
    #: Names whose episode simply goes on (no message).
    continuing: tuple[str, ...]
    #: The instant this run is recorded at: ``now``, or the previous run's if the clock went back.
    effective_now: datetime
    #: How far the clock went back since the previous run (None when it did not).
    clock_went_back_by: float | None = None


def decide(
    open_episodes: Iterable[OpenEpisode],
    current_alerts: Sequence[Alert],
    now: datetime,
    pushed: frozenset[str],
    *,
    last_run: datetime | None = None,
    judged: frozenset[str] | None = None,
) -> Decisions:
    """The starts and ends of one run.

    * an alert active now with no open episode starts one, at ``alert.since`` (when the data
      shows the condition began) or at the run's time, whichever is earlier;
    * an open episode whose alert is no longer active ends: quietly (``ESCALATED``) when it
      became its critical successor, else ``RESOLVED``;
    * ``last_run`` is the previous run's recorded time; ``now`` earlier than it (a clock that
      went backwards) is clamped to it, and no end is ever earlier than its start;
    * ``judged`` (None: every name) are the alert names this run's rules judged: an open episode
      of another name goes on untouched (``check`` does not judge what only ``report`` sees, such
      as the SLA, and must not resolve it).
    """
    effective = now
    went_back: float | None = None
    if last_run is not None and now < last_run:
        effective = last_run
        went_back = (last_run - now).total_seconds()

    active = {alert.name: alert for alert in current_alerts}
    episodes = {episode.name: episode for episode in open_episodes}

    starts = tuple(
        Start(
            alert=alert,
            started_at=min(alert.since, effective) if alert.since is not None else effective,
            push=name in pushed,
        )
        for name, alert in active.items()
        if name not in episodes
    )
    ends = tuple(
        End(
            episode=episode,
            ended_at=max(effective, episode.started_at),
            reason=EndReason.ESCALATED if ESCALATES_TO.get(name) in active else EndReason.RESOLVED,
        )
        for name, episode in episodes.items()
        if name not in active and (judged is None or name in judged)
    )
    ended = {end.episode.name for end in ends}
    continuing = tuple(name for name in episodes if name not in ended)
    return Decisions(starts, ends, continuing, effective, went_back)
