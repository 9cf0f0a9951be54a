"""The time window a report section looks at."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from chatwoot_health.artifacts.fast import ArtifactCore
from chatwoot_health.models.report import WindowOut
from chatwoot_health.timeutil import format_duration

A = TypeVar("A", bound=ArtifactCore)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @classmethod
    def ending(cls, end: datetime, length: timedelta) -> Window:
        return cls(end - length, end)

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    @property
    def label(self) -> str:
        return format_duration(self.length)

    def out(self) -> WindowOut:
        return WindowOut(label=self.label, start=self.start, end=self.end)

    def contains(self, moment: datetime) -> bool:
        """Windows are half-open, (start, end]: a run exactly at the start belongs to the window
        before, so that consecutive windows never count a run twice and a 24 h window on the
        5-minute grid holds 288 runs, as many as expected."""
        return self.start < moment <= self.end

    def select(self, artifacts: Sequence[A]) -> Sequence[A]:
        """The artifacts checked inside the window (``artifacts`` must be oldest first)."""
        low = bisect_right(artifacts, self.start, key=_checked_at)
        high = bisect_right(artifacts, self.end, key=_checked_at)
        return artifacts[low:high]


def _checked_at(artifact: ArtifactCore) -> datetime:
    return artifact.checked_at
