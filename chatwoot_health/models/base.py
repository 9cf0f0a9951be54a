"""What the artifact model, its fast mirror (:mod:`chatwoot_health.artifacts.fast`) and the
report's models share, without defining a pydantic model: a report that takes its runs from the
fast reader or the run index never builds the artifact's models (~20 ms of start-up).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol, TypeVar

from pydantic import AwareDatetime, GetCoreSchemaHandler
from pydantic_core import core_schema

from chatwoot_health.timeutil import in_range, iso


class _Utc:
    """After the aware-datetime check, :func:`in_range` (UTC, 1970–9000: no overflow after the
    offset is applied); in JSON, :func:`iso`. The schema ``AfterValidator(in_range)`` and
    ``PlainSerializer(iso, return_type=str, when_used="json")`` make, built directly: those
    inspect both functions' signatures for every field that uses them (~30 fields in a report,
    ~3 ms of each run)."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        schema = core_schema.no_info_after_validator_function(in_range, handler(source))
        schema["serialization"] = core_schema.plain_serializer_function_ser_schema(
            iso, info_arg=False, return_schema=core_schema.str_schema(), when_used="json"
        )
        return schema


#: An instant: a time zone is required (a naive time in a file is rejected, not guessed).
UtcDatetime = Annotated[AwareDatetime, _Utc()]


# --------------------------------------------------------------------------- verdicts
# Shared by the model and its fast mirror (artifacts/fast.py), over checks of either kind.

Liveness = Literal["up", "down", "unknown"]


class CheckLike(Protocol):
    """What a verdict reads of a check: :class:`CheckResult` or its fast mirror."""

    @property
    def name(self) -> str: ...
    @property
    def ok(self) -> bool | None: ...
    @property
    def skipped(self) -> bool: ...
    @property
    def duration_ms(self) -> float | None: ...


_Check = TypeVar("_Check", bound=CheckLike)


def find_check(checks: Sequence[_Check], name: str) -> _Check | None:
    for result in checks:
        if result.name == name:
            return result
    return None


def latencies_of(checks: Sequence[CheckLike]) -> tuple[tuple[str, float], ...]:
    return tuple(
        (check.name, check.duration_ms)
        for check in checks
        if check.ok is True and not check.skipped and check.duration_ms is not None
    )


class ProbeLike(Protocol):
    """What a failure span reads of a re-probe: :class:`Reprobe` or its fast mirror."""

    @property
    def at(self) -> datetime: ...
    @property
    def ok(self) -> bool | None: ...


@dataclass(frozen=True)
class FailureSpan:
    """The failed liveness probes of one run: the first and the last, and how many."""

    first: datetime
    last: datetime
    probes: int


def failure_span_of(
    checked_at: datetime, liveness: Liveness, reprobes: Sequence[ProbeLike] | None
) -> FailureSpan | None:
    """The run's failed liveness probes up to its final verdict, when that verdict is down; a run
    without re-probes is one probe at ``checked_at``."""
    if liveness != "down":
        return None
    failed = [probe.at for probe in reprobes or () if probe.ok is False]
    if not failed:
        return FailureSpan(checked_at, checked_at, 1)
    return FailureSpan(min(failed[0], checked_at), failed[-1], len(failed))


def liveness_of(check: CheckLike | None) -> Liveness:
    if check is None or check.skipped or check.ok is None:
        return "unknown"
    return "up" if check.ok else "down"
