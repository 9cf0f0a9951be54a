"""Typed rows of the three Supabase tables (extra columns in users' tables are ignored).

A model, below the metrics that read them and the Supabase source that fetches them, so that
pure metrics use the types without importing any client.
"""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class DecisionRow(_Row):
    id: int
    conversation_id: int
    customer_name: str | None = None
    channel: str | None = None
    message_received_at: AwareDatetime
    decided_at: AwareDatetime | None = None
    action: str | None = None
    grade: int | None = None
    reason: str | None = None
    webhook_ms: int | None = None
    private_note_ms: int | None = None
    approval_ms: int | None = None


class ApprovalRow(_Row):
    id: int
    conversation_id: int | None = None
    reviewer: str | None = None
    status: str | None = None
    requested_at: AwareDatetime
    resolved_at: AwareDatetime | None = None


class NotificationRow(_Row):
    id: int
    created_at: AwareDatetime
    kind: str
    severity: str
    title: str
    message: str
    dedup_key: str
    resolved_at: AwareDatetime | None = None


class NewNotification(_Row):
    """A notification row to insert: an alert's start (``dedup_key`` = alert name and instance)."""

    kind: str
    severity: str
    title: str
    message: str
    dedup_key: str
    created_at: AwareDatetime
