"""Business time: how much of a span fell inside opening hours, in the business's own time zone.

Each business day's opening interval is built from its *local* date with zoneinfo and only then
converted to UTC, so DST is the time-zone database's job: 09:00–17:00 America/New_York is
14:00–22:00 UTC before 2026-03-08 and 13:00–21:00 UTC after. The intervals are cached per calendar
as integer microseconds with a running total, so a span of any length costs two binary searches:
business time between a and b is F(b) − F(a), where F counts the business microseconds since the
start of the cached range. Integers keep that subtraction exact (additive over any split point).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from chatwoot_health.thresholds import (
    DEFAULT_BUSINESS_DAYS,
    DEFAULT_CLOSES_MINUTE,
    DEFAULT_OPENS_MINUTE,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_US_PER_SECOND = 1_000_000
_MIN_PAD_DAYS = 62
# Keep every local-to-UTC conversion inside datetime's range (a day of slack on either side).
_FIRST_ORDINAL = date(1, 1, 3).toordinal()
_LAST_ORDINAL = date(9999, 12, 29).toordinal()
_LAST_US = (datetime(9999, 12, 29, tzinfo=UTC) - _EPOCH) // _ONE_US


def _us(moment: datetime) -> int:
    """Microseconds since the epoch; integers because float timestamps lose ~0.2 µs in 2026."""
    try:
        return (moment - _EPOCH) // _ONE_US
    except TypeError:
        raise ValueError(f"{moment!r} is naive: business time needs aware datetimes") from None


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _local_instant_us(day: date, minute: int, tz: ZoneInfo) -> int:
    """``minute`` of the local ``day`` as an instant; 1440 is the next day's midnight.

    A local time that does not exist or exists twice (DST) resolves like zoneinfo's fold=0: the
    offset in force before the change.
    """
    if minute >= 1440:
        day, minute = day + timedelta(days=1), minute - 1440
    hour, minute = divmod(minute, 60)
    return _us(datetime.combine(day, time(hour, minute), tzinfo=tz))


@dataclass(frozen=True)
class _Table:
    """Opening intervals of the business days among the local dates ``first``..``last``."""

    first: int  # date ordinals
    last: int
    lo_us: int  # local midnight that starts ``first``
    hi_us: int  # local midnight that ends ``last``: instants in [lo_us, hi_us) are covered
    opens: list[int]
    closes: list[int]
    before: list[int]  # before[i]: business µs of the intervals preceding i; len(opens) + 1 items

    def elapsed(self, t: int) -> int:
        """F(t): business µs from ``lo_us`` to ``t``."""
        i = bisect_right(self.opens, t) - 1
        if i < 0:
            return 0
        return self.before[i] + min(t, self.closes[i]) - self.opens[i]


@dataclass(frozen=True)
class BusinessCalendar:
    """Opening hours ``opens``..``closes`` (minutes of the local day) on ``days`` (0 = Monday).

    Intervals are half-open: at 09:00:00 the business is open, at 17:00:00 it is closed.
    """

    tz: ZoneInfo
    opens: int = DEFAULT_OPENS_MINUTE
    closes: int = DEFAULT_CLOSES_MINUTE
    days: frozenset[int] = DEFAULT_BUSINESS_DAYS
    holidays: frozenset[date] = frozenset()
    # A cache of derived data, not part of the value: replaced whole, so readers never see it torn.
    _table: _Table | None = field(default=None, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not 0 <= self.opens < self.closes <= 1440:
            raise ValueError(
                f"opening hours {self.opens}..{self.closes} must satisfy 0 ≤ opens < closes ≤ 1440"
            )
        if not self.days or not self.days <= frozenset(range(7)):
            raise ValueError(f"business days {sorted(self.days)} must be a non-empty set of 0..6")

    # -- public API ---------------------------------------------------------------------------

    def business_seconds(self, start: datetime, end: datetime) -> float:
        """Seconds of opening hours within [start, end); 0 when end ≤ start.

        Hot (once per decision_log row), hence F(t) inlined rather than via :meth:`_Table.elapsed`.
        """
        try:
            s = (start - _EPOCH) // _ONE_US
            e = (end - _EPOCH) // _ONE_US
        except TypeError:
            raise ValueError("business time needs aware datetimes, not naive ones") from None
        if e <= s:
            return 0.0
        table = self._table
        if table is None or s < table.lo_us or e >= table.hi_us:
            table = self._covering(s, e)
        opens, closes, before = table.opens, table.closes, table.before
        i = bisect_right(opens, e) - 1
        if i < 0:
            return 0.0
        opened, close = opens[i], closes[i]
        if s >= opened:  # the common short wait: both ends after the same opening
            return ((e if e < close else close) - s) / _US_PER_SECOND if s < close else 0.0
        elapsed = before[i] + (e if e < close else close) - opened
        i = bisect_right(opens, s, 0, i) - 1
        if i >= 0:
            close = closes[i]
            elapsed -= before[i] + (s if s < close else close) - opens[i]
        return elapsed / _US_PER_SECOND

    def is_open(self, moment: datetime) -> bool:
        t = _us(moment)
        table = self._covering(t, t)
        i = bisect_right(table.opens, t) - 1
        return i >= 0 and t < table.closes[i]

    def add_business_seconds(self, start: datetime, seconds: float) -> datetime:
        """The earliest instant (UTC) by which ``seconds`` of business time have passed since
        ``start``, e.g. when a wait reaches its target; ``start`` itself for 0 seconds."""
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"business seconds to add must be finite and ≥ 0, not {seconds}")
        s = _us(start)
        amount = round(seconds * _US_PER_SECOND)
        if amount == 0:
            return _from_us(s)
        table = self._covering(s, s)
        while True:
            target = table.elapsed(s) + amount
            if table.before[-1] >= target:
                break
            if table.last >= _LAST_ORDINAL:
                raise ValueError("no business time left before the end of the calendar")
            # Grow forwards (doubling); the baseline of F moves, hence recomputing the target.
            table = self._covering(s, min(_LAST_US, table.hi_us + (table.hi_us - table.lo_us)))
        i = bisect_left(table.before, target, 1) - 1
        return _from_us(table.opens[i] + target - table.before[i])

    def open_intervals(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The business-time intervals (UTC, half-open) within [start, end), in order."""
        s, e = _us(start), _us(end)
        if e <= s:
            return
        table = self._covering(s, e)
        i = bisect_right(table.closes, s)
        while i < len(table.opens) and table.opens[i] < e:
            yield _from_us(max(s, table.opens[i])), _from_us(min(e, table.closes[i]))
            i += 1

    # -- cache --------------------------------------------------------------------------------

    def _covering(self, a: int, b: int) -> _Table:
        """A table whose range covers the instants a ≤ b, growing the cache (at least doubling,
        so a long history costs O(days) once, then O(log days) per call)."""
        table = self._table
        if table is not None and table.lo_us <= a and b < table.hi_us:
            return table
        # A day of slack on either side absorbs local midnights that DST moves or repeats.
        need_first = _from_us(a).astimezone(self.tz).toordinal() - 1
        need_last = _from_us(b).astimezone(self.tz).toordinal() + 1
        if table is None:
            first, last = need_first - _MIN_PAD_DAYS, need_last + _MIN_PAD_DAYS
        else:
            pad = max(_MIN_PAD_DAYS, table.last - table.first + 1)
            first = table.first if need_first >= table.first else need_first - pad
            last = table.last if need_last <= table.last else need_last + pad
        first, last = max(_FIRST_ORDINAL, first), min(_LAST_ORDINAL, last)
        table = self._build(first, last)
        object.__setattr__(self, "_table", table)
        return table

    def _build(self, first: int, last: int) -> _Table:
        opens: list[int] = []
        closes: list[int] = []
        before = [0]
        for ordinal in range(first, last + 1):
            day = date.fromordinal(ordinal)
            if day.weekday() not in self.days or day in self.holidays:
                continue
            o = _local_instant_us(day, self.opens, self.tz)
            c = _local_instant_us(day, self.closes, self.tz)
            if closes:
                o = max(o, closes[-1])  # defensive: intervals must not overlap for bisect
            if c <= o:
                continue
            opens.append(o)
            closes.append(c)
            before.append(before[-1] + c - o)
        lo = _local_instant_us(date.fromordinal(first), 0, self.tz)
        hi = _local_instant_us(date.fromordinal(last), 1440, self.tz)
        return _Table(first, last, lo, hi, opens, closes, before)
