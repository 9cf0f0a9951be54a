"""Durations and instants: parsed at the edge, stored and computed in UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$", re.IGNORECASE)
_ASCII_DIGITS = re.compile(r"[0-9]{14}").fullmatch
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_DURATION = timedelta(days=3660)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(
    9000, 1, 1, tzinfo=UTC
)  # ten years: more is a typo, and datetime arithmetic overflows


def parse_duration(text: str) -> timedelta:
    """``"5m"``, ``"24h"``, ``"30d"``, ``"1.5h"`` → timedelta; ValueError saying why otherwise."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(
            f"{text!r} is not a duration: use a number and a unit, e.g. 90s, 5m, 24h, 7d or 2w"
        )
    value = float(match.group(1))
    seconds = value * _UNIT_SECONDS[match.group(2).lower()]
    if seconds < 1:
        raise ValueError(f"{text!r} is too short: a duration is at least one second")
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"{text!r} is too long: at most {MAX_DURATION.days} days")
    return timedelta(seconds=round(seconds))


def format_duration(delta: timedelta) -> str:
    """The shortest exact label: 30 days → ``30d``, 90 minutes → ``90m``."""
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0 and seconds >= 2 * 86400:
        return f"{seconds // 86400}d"
    for unit in ("h", "m"):
        size = _UNIT_SECONDS[unit]
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant (``Z``, an offset, or naive = UTC) → an aware UTC datetime."""
    candidate = text.strip()
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        compact = re.fullmatch(r"(\d{8}T\d{6})Z?", text.strip())
        if not compact:
            raise ValueError(
                f"{text!r} is not a timestamp: use ISO 8601, e.g. 2026-11-27T09:00:00Z"
            ) from None
        return parse_stamp(compact.group(1) + "Z")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return in_range(parsed, text)


def in_range(moment: datetime, text: str | None = None) -> datetime:
    """An aware instant → UTC, if it lies between :data:`EARLIEST` and :data:`LATEST`.

    The one range check for every instant that comes from outside (flags, file names, artifact
    contents): windows and histories reach back up to MAX_DURATION, and that arithmetic, like the
    conversion of year 1 at +01:00 or year 9999 at -01:00 to UTC, must never overflow.
    """
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc <= LATEST:
        shown = text if text is not None else moment.isoformat()
        raise ValueError(f"{shown!r} is out of range: use an instant between 1970 and 9000")
    return utc


def parse_stamp(stamp: str) -> datetime:
    """``20261127T004500Z`` (an artifact file name's start) → the UTC instant it names.

    The one place a name becomes an instant: an impossible date (month 00, hour 99, year 0) or
    one outside 1970–9000 is a ValueError saying so, never an overflow later.
    """
    digits = stamp[0:8] + stamp[9:15]
    if len(stamp) != 16 or stamp[8] != "T" or stamp[15] != "Z" or not _ASCII_DIGITS(digits):
        raise ValueError(f"{stamp!r} is not a time stamp like 20261127T004500Z")
    try:
        # Slicing beats strptime by 20× here, and a year of names is 105,000 calls.
        moment = datetime(
            int(stamp[0:4]),
            int(stamp[4:6]),
            int(stamp[6:8]),
            int(stamp[9:11]),
            int(stamp[11:13]),
            int(stamp[13:15]),
            tzinfo=UTC,
        )
    except ValueError:
        raise ValueError(f"{stamp!r} is not a possible date and time") from None
    if not EARLIEST <= moment <= LATEST:
        raise ValueError(f"{stamp!r} is out of range: use an instant between 1970 and 9000")
    return moment


def iso(moment: datetime) -> str:
    """UTC with millisecond precision and a ``Z``: ``2026-11-27T00:45:00.123Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sortable_text(moment: datetime) -> str:
    """UTC to the microsecond, ``2026-11-27T00:45:00.000000+00:00``: every instant the same
    width, so the SQLite columns that hold it (the notification state, ``check``'s channel
    digest) compare and order instants as text."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def compact_stamp(moment: datetime) -> str:
    """The sortable form used in artifact file names: ``20261127T004500Z``."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def utc_now() -> datetime:
    """The one clock read of a run; everything else receives ``now`` as an argument."""
    return datetime.now(UTC)


def humanize_age(delta: timedelta) -> str:
    """``2 minutes ago``-style text for a non-negative age."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds} seconds ago" if seconds != 1 else "1 second ago"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} minutes ago" if minutes != 1 else "1 minute ago"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} hours ago"
    return f"{hours // 24} days ago"


def as_written(moment: datetime) -> datetime:
    """The instant as an artifact's JSON says it (to the millisecond, truncated): what the files'
    readers and the store's columns see of a run's ``checked_at``."""
    return moment.replace(microsecond=moment.microsecond - moment.microsecond % 1000)
