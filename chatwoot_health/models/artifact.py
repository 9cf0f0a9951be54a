"""The artifact's schema of record: one JSON file per ``check`` run, schema version 1.

``schema/artifact-v1.json`` is generated from these models (:func:`json_schema`). They validate
what is written and, with precise messages, what a report could not read fast
(:mod:`chatwoot_health.artifacts.fast` mirrors them; :mod:`chatwoot_health.artifacts.store`
reads and writes the files).
"""

from __future__ import annotations

import functools
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
)

# Shared with the fast reader and the report's models (their one home: models.base).
from chatwoot_health.models.base import (
    FailureSpan,
    Liveness,
    UtcDatetime,
    failure_span_of,
    find_check,
    latencies_of,
    liveness_of,
)
from chatwoot_health.redact import redact_url

SCHEMA_VERSION = 1


def _is_none(value: object) -> bool:
    return value is None


#: A probe's error text: it may quote a URL (credentials redacted before it reaches the file).
ErrorText = Annotated[str, AfterValidator(redact_url)]


class _Frozen(BaseModel):
    # NaN and infinities are not measurements: a file holding one is skipped, like any bad file.
    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)


class RunStatus(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"
    UNKNOWN = "unknown"


class CheckResult(_Frozen):
    """One probe's measurement. ``ok`` is null when the probe was skipped (it then counts as
    neither up nor down)."""

    name: str
    ok: bool | None
    status_code: int | None = None
    duration_ms: float | None = None
    error: ErrorText | None = None
    # The fields below are left out of the file when empty: eight checks a run, 8,640 runs a
    # month, and every report parses them all.
    skipped: bool = Field(default=False, exclude_if=lambda value: value is False)
    skip_reason: str | None = Field(default=None, exclude_if=_is_none)
    path: str | None = Field(default=None, description="The path that answered (liveness probe).")
    state: str | None = Field(
        default=None,
        exclude_if=_is_none,
        description="agent_sdk: online | slow | offline | not_configured; "
        "api_services: ok | failing; rails_health: up | down | no_path.",
    )
    detail: dict[str, str | int | float | bool | None] | None = Field(
        default=None,
        exclude_if=_is_none,
        description="Small, secret-free facts (e.g. data_services, version).",
    )


class ConversationCounts(_Frozen):
    open: int
    pending: int
    resolved: int
    snoozed: int


class Inbox(_Frozen):
    id: int
    name: str
    channel_type: str


class AgentSummary(_Frozen):
    name: str
    role: str | None = None
    availability: str


class Agents(_Frozen):
    online: int
    busy: int
    offline: int
    members: list[AgentSummary] = Field(default_factory=list)


class Profile(_Frozen):
    """Who the token belongs to. Deliberately no tokens, e-mail or raw response."""

    user_id: int
    name: str
    role: str | None = None
    availability: str | None = None


class InboxHour(_Frozen):
    """One inbox's hourly bucket from the v2 reports time series.

    ``report`` merges buckets across runs by (inbox_id, hour), the latest run winning.
    """

    inbox_id: int
    channel_type: str
    hour: UtcDatetime
    incoming_messages: int
    avg_first_response_seconds: float | None = None
    first_response_count: int = 0


class Reprobe(_Frozen):
    """One liveness probe of a run whose first liveness probe failed (``Artifact.reprobes``)."""

    at: UtcDatetime = Field(description="When the probe started.")
    ok: bool | None = Field(description="Up, down, or null when it could not be judged.")
    status_code: int | None = None
    duration_ms: float | None = None
    error: ErrorText | None = Field(default=None, exclude_if=_is_none)


# The schema of record: writing, the JSON Schema, validation with precise messages.
class Artifact(_Frozen):
    """One run of ``check``: schema version 1."""

    schema_version: Literal[1] = 1
    checked_at: UtcDatetime
    status: RunStatus
    instance: str
    account_id: int | None = None
    duration_ms: float | None = None
    checks: list[CheckResult]
    conversations: ConversationCounts | None = None
    agents: Agents | None = None
    tool_version: str

    def check(self, name: str) -> CheckResult | None:
        return find_check(self.checks, name)

    @functools.cached_property
    def latencies(self) -> tuple[tuple[str, float], ...]:
        """(check name, duration) of the checks that succeeded: the response-time samples."""
        return latencies_of(self.checks)

    @functools.cached_property
    def liveness(self) -> Liveness:
        """The liveness verdict of this run; ``unknown`` (skipped, no path) counts as neither."""
        return liveness_of(self.check("rails_health"))

    profile: Profile | None = None
    inboxes: list[Inbox] | None = None
    inbox_activity: list[InboxHour] | None = None
    reprobes: list[Reprobe] | None = Field(
        default=None,
        exclude_if=_is_none,
        description="Optional (absent from older artifacts and from every run whose first "
        "liveness probe answered): when liveness failed, every liveness probe of the run in "
        "order — the first failure, then each re-probe every CHATWOOT_HEALTH_RETRY_INTERVAL "
        "until it answered or the failure had lasted CHATWOOT_HEALTH_DOWN_AFTER. The run's "
        "rails_health check is the last of them (its final verdict).",
    )

    location: str | None = Field(
        default=None,
        exclude_if=_is_none,
        description="Optional (absent from older artifacts): the probe host that ran the check "
        "(CHATWOOT_HEALTH_LOCATION, default the host name). A run without it counts as the "
        "reader's own location.",
    )

    @functools.cached_property
    def failure_span(self) -> FailureSpan | None:
        return failure_span_of(self.checked_at, self.liveness, self.reprobes)

    def to_json(self) -> str:
        # Compact: cron writes 8,640 of these a month and every report parses them.
        return self.model_dump_json() + "\n"


def json_schema() -> dict[str, object]:
    schema: dict[str, object] = Artifact.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "chatwoot-health artifact, schema version 1"
    return schema
