"""``report`` over the shared store (issue #14): every location's runs of the window, aggregated
in SQL (:func:`chatwoot_health.store.runs.read_report`), the quorum's uptime and timeline per
slot, and the per-location figures of ``report --format json``.

The store counts the runs per location, the quorum's votes per slot and the timeline's bars,
computes the percentiles with ``percentile_cont`` (the README's definition) and merges the
channels' buckets; only the tail of runs the alert rules and the latest-state sections read is
decoded whole. With one location every figure is the one the files give (byte-identical JSON).

psycopg is imported only when a store is configured (``chatwoot_health.store`` imports it
lazily). A store that cannot be read is one warning line; the report then reads the local files.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from chatwoot_health.artifacts.fast import ArtifactCore
from chatwoot_health.artifacts.store import ArtifactSet
from chatwoot_health.metrics.business_hours import BusinessCalendar
from chatwoot_health.metrics.channels import channels_of
from chatwoot_health.metrics.latency import ResponseTime, percentiles_out
from chatwoot_health.metrics.timeline import bar_step, slot_count, timeline_of
from chatwoot_health.metrics.uptime import (
    compute_uptime,
    expected_runs,
    monitoring_start,
    uptime_colour,
)
from chatwoot_health.metrics.window import Window
from chatwoot_health.models.report import (
    ChannelOut,
    LocationOut,
    PercentilesOut,
    TimelineBucket,
    UptimeOut,
)
from chatwoot_health.quorum import by_location, is_majority, known_since, slot_bars, votes
from chatwoot_health.report.options import ReportOptions
from chatwoot_health.thresholds import LOCATION_KNOWN_INTERVALS, RESPONSE_TARGET_MINUTES
from chatwoot_health.timeutil import iso

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

    from chatwoot_health.store.runs import Connection, Percentiles, ReportRows

HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)
#: How long a report waits for a pooled connection before it connects on its own (which, with
#: the store down, fails at once with the reason ``report`` gives).
POOL_WAIT = 0.5


@dataclass
class StoredSet(ArtifactSet):
    """The runs decoded whole (the tail), counting every run the store aggregated as read."""

    total: int = 0

    @property
    def read(self) -> int:
        return self.total


@dataclass(frozen=True)
class StoredWindow:
    #: The store's first run (when monitoring began, as far as the store remembers).
    first_run_at: datetime | None
    #: The SQL aggregates; None when the reach holds no run.
    rows: ReportRows | None
    #: The window aggregated, in slots of ``interval``.
    window: Window
    interval: timedelta

    @property
    def runs(self) -> list[ArtifactCore]:
        """The runs decoded whole: the tail the alert rules and latest-state sections read."""
        return self.rows.tail if self.rows else []

    def found(self) -> ArtifactSet:
        total = sum(where.read for where in self.rows.locations) if self.rows else 0
        return StoredSet(self.runs, total=total)

    @property
    def several(self) -> bool:
        return self.rows is not None and len(self.rows.locations) > 1

    def slots(self) -> list[Literal["up", "down", "unknown"]]:
        """The quorum's verdict of each slot of one interval of the window (SQL's votes)."""
        count = slot_count(self.window, self.interval)
        found = self.rows.slots if self.rows else {}
        verdicts: list[Literal["up", "down", "unknown"]] = []
        for index in range(count):
            voters, down = found.get(index, (0, 0))
            verdicts.append(
                "unknown" if not voters else "down" if is_majority(down, voters) else "up"
            )
        return verdicts

    def uptime(self, computed: UptimeOut, default: str) -> UptimeOut:
        """``computed`` (over the tail) with the store's counts: the runs of one location, or
        with several the quorum's slots (:func:`quorum_uptime`); the last success the store's."""
        assert self.rows is not None
        last_up = max((w.last_up_at for w in self.rows.locations if w.last_up_at), default=None)
        computed = computed.model_copy(update={"last_success_at": last_up})
        if self.several:
            return quorum_uptime(computed, self, default)
        places = self.rows.locations
        return _counted(
            computed,
            sum(w.up for w in places),
            sum(w.down for w in places),
            sum(w.runs for w in places),
        )

    def response_time(self) -> ResponseTime:
        assert self.rows is not None
        return ResponseTime(
            overall=_percentiles(self.rows.overall),
            by_check={name: _percentiles(p) for name, p in sorted(self.rows.by_check.items())},
        )

    def bars(self) -> list[tuple[int, int]]:
        """(up, down) of each bar of the timeline: runs with one location, the quorum's slots
        with several."""
        assert self.rows is not None
        count = slot_count(self.window, bar_step(self.window))
        if self.several:
            return slot_bars(self.slots(), self.interval, bar_step(self.window), count)
        return [self.rows.bars.get(index, (0, 0)) for index in range(count)]

    def bar_percentiles(self) -> list[tuple[float | None, float | None]]:
        """(median, P90) of each bar's successful checks, every location's."""
        assert self.rows is not None
        count = slot_count(self.window, bar_step(self.window))
        found = self.rows.by_bar
        return [
            (p.median, p.p90) if (p := found.get(index)) else (None, None) for index in range(count)
        ]

    def timeline(self) -> list[TimelineBucket]:
        """The timeline of the window the store aggregated: its bars and their percentiles."""
        return timeline_of(self.window, self.interval, self.bars(), self.bar_percentiles())

    def channels(
        self,
        window: Window,
        now: datetime,
        calendar: BusinessCalendar,
        target_minutes: float = RESPONSE_TARGET_MINUTES,
    ) -> list[ChannelOut]:
        """The channels of the buckets merged in SQL (``merge_buckets``'s), observed until the
        latest run that had any (``compute_channels``' numbers)."""
        rows = self.rows
        if rows is None:
            return []
        seen = rows.buckets_seen or now
        return channels_of(rows.buckets, seen, window, now, calendar, target_minutes)

    def locations(self, default: str) -> list[LocationOut]:
        """Each location's runs in the window, up and down, its uptime, coverage and
        percentiles, its latest run and its status: its latest judged verdict (up, down),
        unknown without one, silent when its latest run is older than the known locations'
        limit (3 intervals)."""
        from chatwoot_health.store.runs import Percentiles

        assert self.rows is not None
        limit = known_since(self.window.end, self.interval)
        found: list[LocationOut] = []
        for where in self.rows.locations:
            status: Literal["up", "down", "unknown", "silent"] = "unknown"
            if where.judged in ("up", "down"):
                status = "up" if where.judged == "up" else "down"
            if where.last_run_at <= limit:
                status = "silent"
            expected = expected_runs(self.window, self.interval, where.first_run_at)
            judged = where.up + where.down
            percent = None if judged == 0 else where.up / judged * 100
            coverage = None if expected == 0 else min(100.0, where.runs / expected * 100)
            own = self.rows.by_location.get(where.name, Percentiles(0, None, None, None))
            found.append(
                LocationOut(
                    name=where.name or default,
                    runs=where.runs,
                    up=where.up,
                    down=where.down,
                    last_run_at=where.last_run_at,
                    status=status,
                    percent=None if percent is None else round(percent, 3),
                    expected_checks=expected,
                    coverage_percent=None if coverage is None else round(coverage, 1),
                    response_time=_percentiles(own),
                )
            )
        return found


@dataclass(frozen=True)
class StoreSource:
    """The store as the report's source (``report.build.Source``): the sections counted in SQL,
    the latest state from the tail of runs decoded whole."""

    stored: StoredWindow
    dsn: str
    #: This host's location: the name of the runs stored without one, and the alert rules'.
    location: str
    #: The tail, counting every run the store aggregated as read.
    found: ArtifactSet

    def no_data(self, window: Window) -> str:
        from chatwoot_health.store.db import describe

        return (
            f"no runs between {iso(window.start)} and {iso(window.end)} in the store "
            f"{describe(self.dsn)}: is cron running `chatwoot-health check` with "
            "CHATWOOT_HEALTH_STORE?"
        )

    def uptime(self, window: Window, interval: timedelta) -> UptimeOut:
        """The latest state from the tail, the counts the store's (:meth:`StoredWindow.uptime`)."""
        runs = self.found.artifacts
        since = monitoring_start(self.stored.first_run_at, runs)
        return self.stored.uptime(compute_uptime(runs, window, interval, since), self.location)

    def response_time(self, window: Window) -> ResponseTime:
        """``percentile_cont``'s, over the uptime window the store was read for (``window``)."""
        return self.stored.response_time()

    def channels(
        self, window: Window, now: datetime, calendar: BusinessCalendar, target_minutes: float
    ) -> list[ChannelOut]:
        return self.stored.channels(window, now, calendar, target_minutes)

    def timeline(self, window: Window, interval: timedelta) -> list[TimelineBucket]:
        """The bars counted in SQL over the uptime window the store was read for (``window``)."""
        return self.stored.timeline()

    def locations(self) -> list[LocationOut] | None:
        return self.stored.locations(self.location) if self.stored.several else None


def open_store(
    dsn: str, options: ReportOptions, window: Window, earliest: datetime, detail_since: datetime
) -> StoreSource:
    """The runs from ``earliest`` to the report's instant in the store ``dsn``, aggregated over
    the uptime ``window``; raises ``StoreError`` (one line, no password)."""
    # the files' window is [start - 1 s, end]; the store's (start, end]
    stored = read_store(
        dsn, earliest - SECOND, options.now, detail_since, window, options.interval,
        pool=options.store_pool,
    )  # fmt: skip
    return StoreSource(stored, dsn, options.location, stored.found())


def read_store(
    dsn: str,
    start: datetime,
    end: datetime,
    detail_since: datetime,
    window: Window,
    interval: timedelta,
    pool: ConnectionPool[Any] | None = None,
) -> StoredWindow:
    """Every location's runs with ``start < checked_at <= end`` of the instance of the latest
    run, aggregated over ``window`` in slots of ``interval``; raises ``StoreError`` (one line,
    no password). With ``pool`` (``serve``'s), the connection is borrowed from it and given
    back; else one is opened for this report."""
    from chatwoot_health.store.db import connect
    from chatwoot_health.store.runs import ReportQuery, first_run_at, read_report

    query = ReportQuery(
        start=start,
        end=end,
        window=window.start,
        slot=interval,
        bar=bar_step(window),
        bars=slot_count(window, bar_step(window)),
        detail_since=detail_since,
        # the alert rules' last hour, and the runs that make a location known (and one more)
        lookback=max(HOUR, interval * (LOCATION_KNOWN_INTERVALS + 1)),
    )

    def read(connection: Connection) -> StoredWindow:
        rows = read_report(connection, dsn, query)
        return StoredWindow(first_run_at(connection, dsn), rows, window, interval)

    if pool is not None:
        from psycopg_pool import PoolClosed, PoolTimeout

        try:
            with pool.connection(timeout=POOL_WAIT) as connection:
                return read(connection)
        except (PoolTimeout, PoolClosed):
            pass  # none to lend soon (the store down, or shut): connecting says why, as report
    connection = connect(dsn)
    try:
        return read(connection)
    finally:
        connection.close()


def quorum_uptime(uptime: UptimeOut, stored: StoredWindow, default: str) -> UptimeOut:
    """``uptime`` with its counts per slot of one interval decided by the quorum (the store's
    :meth:`StoredWindow.slots`, :func:`quorum.slot_verdicts` in SQL): a slot is one expected
    check, up or down by the majority of the locations that ran in it, missing when none did;
    the current state is the known locations' vote."""
    verdicts = stored.slots()
    counted = _counted(uptime, verdicts.count("up"), verdicts.count("down"), None)
    tally = votes(by_location(stored.runs, default), stored.window.end, stored.interval)
    if tally.voters:
        counted = counted.model_copy(update={"current": "down" if tally.majority_down else "up"})
    return counted


def _counted(uptime: UptimeOut, up: int, down: int, seen: int | None) -> UptimeOut:
    """``uptime`` with these counts (``seen`` None: the judged ones, as slots count)."""
    seen = up + down if seen is None else seen
    expected = uptime.expected_checks
    coverage = None if expected == 0 else min(100.0, seen / expected * 100)
    percent = None if up + down == 0 else up / (up + down) * 100
    return uptime.model_copy(
        update={
            "percent": None if percent is None else round(percent, 3),
            "checks_up": up,
            "checks_down": down,
            "runs_seen": seen,
            "coverage_percent": None if coverage is None else round(coverage, 1),
            "status": uptime_colour(percent),
            "percent_exact": percent,
            "coverage_exact": coverage,
        }
    )


def _percentiles(found: Percentiles) -> PercentilesOut:
    return percentiles_out(found.samples, found.median, found.p90, found.p99)
