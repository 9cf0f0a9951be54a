"""Monitoring states and the Nagios exit codes they map to.

Everything that judges something produces a :class:`State`; the overall state of a run is the worst
state of its parts (``worst``), and :meth:`State.exit_code` is the one place where states become
process exit codes.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable


class ExitCode(enum.IntEnum):
    """The Nagios plugin convention, used by cron wrappers and CI gates."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


class State(enum.StrEnum):
    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    UNKNOWN = "unknown"

    @property
    def exit_code(self) -> ExitCode:
        return _EXIT[self]

    @property
    def rank(self) -> int:
        # UNKNOWN ranks above OK and WARNING but below CRITICAL: a known outage is worse news than
        # not knowing, and "could not check" must never hide a real failure.
        return _RANK[self]

    @property
    def icon(self) -> str:
        return _ICON[self]

    @property
    def word(self) -> str:
        return _WORD[self]


_EXIT = {
    State.OK: ExitCode.OK,
    State.WARNING: ExitCode.WARNING,
    State.CRITICAL: ExitCode.CRITICAL,
    State.UNKNOWN: ExitCode.UNKNOWN,
}
_RANK = {State.OK: 0, State.WARNING: 1, State.UNKNOWN: 2, State.CRITICAL: 3}
_ICON = {State.OK: "✓", State.WARNING: "!", State.CRITICAL: "✗", State.UNKNOWN: "?"}
_WORD = {
    State.OK: "OK",
    State.WARNING: "WARNING",
    State.CRITICAL: "CRITICAL",
    State.UNKNOWN: "UNKNOWN",
}


#: A ``check`` run's status (``RunStatus``, a StrEnum) as a state, in State's order: ok is OK,
#: degraded WARNING, down CRITICAL, unknown (no liveness path) UNKNOWN.
RUN_STATES = dict(zip(("ok", "degraded", "down", "unknown"), State, strict=True))


def worst(states: Iterable[State], default: State = State.OK) -> State:
    """The worst of ``states`` (``default`` when there are none)."""
    result = default
    for state in states:
        if state.rank > result.rank:
            result = state
    return result


class Colour(enum.StrEnum):
    """The spec's traffic-light colours, always shown together with an icon and a word."""

    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"
    GREY = "grey"
