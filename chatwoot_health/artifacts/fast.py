"""The fast read of an artifact: msgspec structs mirroring the schema's models.

A 30-day report reads 8,640 artifacts, and building pydantic models costs ~70 µs a file. A report
decodes them instead into these msgspec structs (~10 µs): the fields the report sections use, with
the same names, types and constraints (schema version, instants with a time zone); the per-inbox
buckets only for runs inside the channel horizon. Anything they reject is parsed again with
:class:`~chatwoot_health.models.artifact.Artifact`, for the precise message
(:func:`chatwoot_health.artifacts.store.parse_record`). tests/test_artifacts.py keeps the two in
step.

Types and decoders only: no file is opened here, so metrics may depend on :data:`ArtifactCore`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal, TypeAlias

import msgspec

from chatwoot_health.models.base import (
    FailureSpan,
    Liveness,
    failure_span_of,
    find_check,
    latencies_of,
    liveness_of,
)
from chatwoot_health.timeutil import in_range

if TYPE_CHECKING:  # the pydantic model is built only when a file needs it (start-up: ~20 ms)
    from chatwoot_health.models.artifact import Artifact, InboxHour

AwareInstant = Annotated[datetime, msgspec.Meta(tz=True)]
#: A finite number (the model's ``allow_inf_nan=False``): NaN fails every bound, ±inf these.
Finite = Annotated[float, msgspec.Meta(ge=-1e300, le=1e300)]


class CheckRecord(msgspec.Struct, frozen=True):
    name: str
    ok: bool | None
    status_code: int | None = None
    duration_ms: Finite | None = None
    error: str | None = None
    skipped: bool = False
    skip_reason: str | None = None
    state: str | None = None


class ConversationRecord(msgspec.Struct, frozen=True):
    open: int
    pending: int
    resolved: int
    snoozed: int


class AgentRecord(msgspec.Struct, frozen=True):
    name: str
    availability: str
    role: str | None = None


class AgentsRecord(msgspec.Struct, frozen=True):
    online: int
    busy: int
    offline: int
    members: list[AgentRecord] = msgspec.field(default_factory=list)


class ReprobeRecord(msgspec.Struct, frozen=True):
    """:class:`~chatwoot_health.models.artifact.Reprobe`, decoded fast."""

    at: AwareInstant
    ok: bool | None
    status_code: int | None = None
    duration_ms: Finite | None = None
    error: str | None = None


class RunRecord(msgspec.Struct, frozen=True, dict=True):
    """A run, as the report sections see it (without its per-inbox data).

    These classes take their instants as given: a row of the run index was checked when it was
    added. A file is decoded into the checked subclasses below (:data:`RECORD_DECODER`).
    """

    schema_version: Literal[1]
    checked_at: AwareInstant
    status: Literal["ok", "degraded", "down", "unknown"]
    instance: str
    checks: list[CheckRecord]
    tool_version: str
    account_id: int | None = None
    duration_ms: Finite | None = None
    conversations: ConversationRecord | None = None
    agents: AgentsRecord | None = None
    reprobes: list[ReprobeRecord] | None = None
    location: str | None = None

    def check(self, name: str) -> CheckRecord | None:
        return find_check(self.checks, name)

    @functools.cached_property
    def latencies(self) -> tuple[tuple[str, float], ...]:
        return latencies_of(self.checks)

    @functools.cached_property
    def liveness(self) -> Liveness:
        return liveness_of(self.check("rails_health"))

    @functools.cached_property
    def failure_span(self) -> FailureSpan | None:
        return failure_span_of(self.checked_at, self.liveness, self.reprobes)


def _set_utc(record: msgspec.Struct, name: str, moment: datetime) -> None:
    """The fast reading's twin of ``AfterValidator(in_range)``: UTC, 1970–9000, or a
    ValueError (msgspec reports it as a validation error; the model then says precisely why)."""
    msgspec.structs.force_setattr(record, name, in_range(moment))


class InboxHourRecord(msgspec.Struct, frozen=True):
    """:class:`~chatwoot_health.models.artifact.InboxHour`, decoded fast."""

    inbox_id: int
    channel_type: str
    hour: AwareInstant
    incoming_messages: int
    avg_first_response_seconds: Finite | None = None
    first_response_count: int = 0


class DetailedRunRecord(RunRecord, frozen=True, dict=True):
    """A run inside the channel horizon: the record and its per-inbox buckets.

    Every such run is decoded with its buckets, so that for each (inbox, hour) the latest run
    that *has* the bucket wins, even when a later run lacks that inbox.
    """

    inbox_activity: list[InboxHourRecord] | None = None


class _CheckedRun(RunRecord, frozen=True, dict=True):
    """A run read from its file: every instant checked as it is decoded (~60,000 of them in a
    30-day report, so a run from the index, checked once when it was added, skips this)."""

    def __post_init__(self) -> None:
        _check_run(self)


class _CheckedDetailedRun(DetailedRunRecord, frozen=True, dict=True):
    def __post_init__(self) -> None:
        _check_run(self)
        for bucket in self.inbox_activity or ():
            _set_utc(bucket, "hour", bucket.hour)


def _check_run(run: RunRecord) -> None:
    _set_utc(run, "checked_at", run.checked_at)
    for reprobe in run.reprobes or ():
        _set_utc(reprobe, "at", reprobe.at)


class RunHead(msgspec.Struct, frozen=True, array_like=True):
    """What every section reads of *every* run of a window, kept in its own column of the run
    index (:mod:`chatwoot_health.artifacts.index`): a report takes the runs outside the channel
    horizon from it (:class:`IndexedRun`) without inflating and decoding their whole record."""

    checked_at: AwareInstant
    status: Literal["ok", "degraded", "down", "unknown"]
    instance: str
    location: str | None
    liveness: Liveness
    latencies: tuple[tuple[str, float], ...]

    @classmethod
    def of(cls, run: RunRecord) -> RunHead:
        return cls(
            run.checked_at, run.status, run.instance, run.location, run.liveness, run.latencies
        )


class IndexedRun:
    """A run from the index's columns (:class:`RunHead`): what the sections read of every run
    is at hand; everything else (its checks, counts, agents, re-probes: what the latest runs
    and the alert texts need) is inflated from the row's record on first use."""

    __slots__ = (
        "_blob",
        "_inflate",
        "_record",
        "checked_at",
        "instance",
        "latencies",
        "liveness",
        "location",
        "status",
    )

    def __init__(self, head: RunHead, blob: bytes, inflate: Callable[[bytes], RunRecord]) -> None:
        self.checked_at = head.checked_at
        self.status = head.status
        self.instance = head.instance
        self.location = head.location
        self.liveness: Liveness = head.liveness
        self.latencies = head.latencies
        self._blob = blob
        self._inflate = inflate
        self._record: RunRecord | None = None

    @property
    def record(self) -> RunRecord:
        """The whole run (inflated once)."""
        if self._record is None:
            self._record = self._inflate(self._blob)
        return self._record

    @property
    def schema_version(self) -> Literal[1]:
        return self.record.schema_version

    @property
    def checks(self) -> list[CheckRecord]:
        return self.record.checks

    @property
    def tool_version(self) -> str:
        return self.record.tool_version

    @property
    def account_id(self) -> int | None:
        return self.record.account_id

    @property
    def duration_ms(self) -> float | None:
        return self.record.duration_ms

    @property
    def conversations(self) -> ConversationRecord | None:
        return self.record.conversations

    @property
    def agents(self) -> AgentsRecord | None:
        return self.record.agents

    @property
    def reprobes(self) -> list[ReprobeRecord] | None:
        return self.record.reprobes

    def check(self, name: str) -> CheckRecord | None:
        return self.record.check(name)

    @property
    def failure_span(self) -> FailureSpan | None:
        return None if self.liveness != "down" else self.record.failure_span


#: What a report reads: a full artifact, the record of a run, or a run from the index's columns.
ArtifactCore: TypeAlias = "Artifact | RunRecord | IndexedRun"
#: One inbox's hourly bucket, from either reading.
Bucket: TypeAlias = "InboxHour | InboxHourRecord"

#: A file's run, its instants checked (what the model's validators check).
RECORD_DECODER = msgspec.json.Decoder(_CheckedRun)
DETAILED_DECODER = msgspec.json.Decoder(_CheckedDetailedRun)


def buckets_of(artifact: ArtifactCore) -> Sequence[Bucket] | None:
    """The run's per-inbox buckets; None when it has none or was read without them."""
    # Artifact and DetailedRunRecord have them; RunRecord and IndexedRun do not
    buckets: Sequence[Bucket] | None = getattr(artifact, "inbox_activity", None)
    return buckets
