"""Quorum over probe locations (issue #14): pure functions of the runs of several hosts.

Each *known* location — one whose latest run lies within ``LOCATION_KNOWN_INTERVALS`` intervals
of ``now`` — votes with the verdict of its latest judged run (after its re-probes: the run's
final liveness). The instance is down only when more than half of the voters say down, so a host
that runs first in a round can never page alone, and one host behind a broken network is its own
problem. The same rule decides each time slot of the uptime history (:func:`slot_verdicts`).

A run without a ``location`` (older artifacts) belongs to the reader's own location.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from chatwoot_health.artifacts.fast import ArtifactCore
from chatwoot_health.models.base import Liveness
from chatwoot_health.thresholds import LOCATION_KNOWN_INTERVALS


def location_of(run: ArtifactCore, default: str) -> str:
    return run.location or default


def by_location(runs: Iterable[ArtifactCore], default: str) -> dict[str, list[ArtifactCore]]:
    """The runs of each location, oldest first (as given), locations sorted by name."""
    groups: dict[str, list[ArtifactCore]] = {}
    for run in runs:
        groups.setdefault(location_of(run, default), []).append(run)
    return dict(sorted(groups.items()))


@dataclass(frozen=True)
class Vote:
    location: str
    verdict: Liveness  # "up" or "down"
    #: When this location's current streak of failures began (its first failed probe).
    down_since: datetime | None
    last_run_at: datetime


@dataclass(frozen=True)
class Votes:
    voters: tuple[Vote, ...]
    #: Locations that reported once but not within the last intervals: (name, last run).
    silent: tuple[tuple[str, datetime], ...]

    @property
    def down(self) -> tuple[Vote, ...]:
        return tuple(vote for vote in self.voters if vote.verdict == "down")

    @property
    def majority_down(self) -> bool:
        return is_majority(len(self.down), len(self.voters))


def is_majority(down: int, voters: int) -> bool:
    """The quorum's one rule: more than half of the voting locations (a tie is no majority)."""
    return down * 2 > voters


def known_since(now: datetime, interval: timedelta) -> datetime:
    """Runs after this instant make a location known at ``now``."""
    return now - interval * LOCATION_KNOWN_INTERVALS


def votes(
    groups: Mapping[str, Sequence[ArtifactCore]],
    now: datetime,
    interval: timedelta,
    last_seen: Mapping[str, datetime] | None = None,
) -> Votes:
    """The votes at ``now`` of the locations in ``groups`` (runs up to ``now``, oldest first);
    ``last_seen`` adds locations (and later sightings) known from elsewhere, e.g. the store's
    latest run per location over a longer look-back than the runs given."""
    since = known_since(now, interval)
    seen = {name: runs[-1].checked_at for name, runs in groups.items() if runs}
    for name, moment in (last_seen or {}).items():
        if moment <= now and (name not in seen or moment > seen[name]):
            seen[name] = moment
    voters: list[Vote] = []
    silent: list[tuple[str, datetime]] = []
    for name, last in sorted(seen.items()):
        if last <= since:
            silent.append((name, last))
            continue
        runs = [run for run in groups.get(name, ()) if run.checked_at <= now]
        vote = _vote(name, runs, since, last)
        if vote is not None:
            voters.append(vote)
    return Votes(tuple(voters), tuple(silent))


def _vote(name: str, runs: Sequence[ArtifactCore], since: datetime, last: datetime) -> Vote | None:
    """The verdict of the latest judged run (within the known period), and its streak's start."""
    judged = [run for run in runs if run.liveness != "unknown" and run.checked_at > since]
    if not judged:
        return None
    verdict = judged[-1].liveness
    down_since: datetime | None = None
    if verdict == "down":
        for run in reversed([r for r in runs if r.liveness != "unknown"]):
            span = run.failure_span
            if span is None:
                break
            down_since = span.first
    return Vote(name, verdict, down_since, last)


def slot_verdicts(
    groups: Mapping[str, Sequence[ArtifactCore]], start: datetime, step: timedelta, count: int
) -> list[Liveness]:
    """The quorum's verdict of each slot ``(start + i·step, start + (i+1)·step]``: every
    location with a judged run in the slot votes with its latest one there; down when more than
    half say down, unknown when none voted (a missing slot: coverage, not downtime)."""
    latest: list[dict[str, Liveness]] = [{} for _ in range(count)]
    for name, runs in groups.items():
        for run in runs:
            if run.liveness == "unknown" or run.checked_at <= start:
                continue
            index = _slot(run.checked_at, start, step)
            if index < count:
                latest[index][name] = run.liveness  # oldest first: the latest wins
    verdicts: list[Liveness] = []
    for slot in latest:
        down = sum(1 for verdict in slot.values() if verdict == "down")
        if not slot:
            verdicts.append("unknown")
        else:
            verdicts.append("down" if is_majority(down, len(slot)) else "up")
    return verdicts


def _slot(moment: datetime, start: datetime, step: timedelta) -> int:
    """The slot of ``moment`` in (start, start + step], (start + step, start + 2·step], …"""
    span = moment - start
    index = int(span // step)
    return index - 1 if span % step == timedelta(0) else index


def slot_bars(
    verdicts: Sequence[Liveness], step: timedelta, bar: timedelta, count: int
) -> list[tuple[int, int]]:
    """The timeline's bars of ``count`` × ``bar`` from the same start as the slots of ``step``:
    (slots up, slots down) of each bar, a slot in the bar where it begins (the last bar takes
    any rest), so that several locations' bars count the quorum's slots, as uptime does."""
    bars = [[0, 0] for _ in range(count)]
    for index, verdict in enumerate(verdicts):
        if verdict == "unknown":
            continue
        where = min(count - 1, int(step * index // bar))
        bars[where][0 if verdict == "up" else 1] += 1
    return [(up, down) for up, down in bars]
