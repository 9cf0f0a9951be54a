"""An active alert as data: what the report lists, the notification engine records and the
renderers show. The catalogue and the rules that raise alerts live in
:mod:`chatwoot_health.alerts`."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from chatwoot_health.models.base import UtcDatetime
from chatwoot_health.state import State


class Severity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def state(self) -> State:
        return State.CRITICAL if self is Severity.CRITICAL else State.WARNING


class Criterion(BaseModel):
    """What an alert judged, for a gate's one-line verdict: the measured number, the threshold
    it crossed and the window (or span of runs) it was measured over, as display text."""

    model_config = ConfigDict(frozen=True)

    measured: str
    threshold: str
    window: str


class Alert(BaseModel):
    """One active alert. ``since`` is when the condition started (as far as the data shows)."""

    model_config = ConfigDict(frozen=True)

    name: str
    severity: Severity
    title: str
    message: str
    since: UtcDatetime | None = None
    action: str | None = None
    last_success: UtcDatetime | None = None
    #: What was measured against which threshold over which window (the gate's one-line
    #: criterion, ``report --fail-on``); None for an alert that measures nothing.
    criterion: Criterion | None = None
