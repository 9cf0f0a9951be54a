-- chatwoot-health: the three tables that `chatwoot-health report` reads (decision_log,
-- approvals_history) and writes (notifications).
--
-- Idempotent: safe to apply again on a project that already has the tables (an existing table
-- keeps its extra columns; chatwoot-health ignores them). Plain SQL only, no stored functions:
-- it applies the same way on Supabase (`supabase db push`, or the SQL editor) and on a bare
-- PostgreSQL (`psql -f`).

create table if not exists decision_log (
    id bigint primary key,
    conversation_id bigint not null,
    customer_name text,
    channel text,                           -- Chatwoot channel_type (Channel::Email) or email/chat/sms
    message_received_at timestamptz not null, -- the message_created webhook was received
    decided_at timestamptz,                 -- the approval action; null while pending
    action text,
    grade smallint,
    reason text,                            -- breach reason tag
    webhook_ms integer,                     -- webhook processing time
    private_note_ms integer,                -- webhook receipt to private-note creation
    approval_ms integer                     -- approval action time
);

create table if not exists approvals_history (
    id bigint primary key,
    conversation_id bigint,
    reviewer text,
    status text,                            -- pending, approved, edited, rejected
    requested_at timestamptz not null,
    resolved_at timestamptz
);

create table if not exists notifications (
    id bigint generated always as identity primary key,
    created_at timestamptz not null default now(),
    kind text not null,
    severity text not null,
    title text not null,
    message text not null,
    dedup_key text not null,
    resolved_at timestamptz
);

-- The report filters every read by time on the server.
create index if not exists decision_log_message_received_at_idx
    on decision_log (message_received_at);
create index if not exists decision_log_decided_at_idx on decision_log (decided_at);
create index if not exists approvals_history_requested_at_idx
    on approvals_history (requested_at);
create index if not exists approvals_history_resolved_at_idx on approvals_history (resolved_at);
create index if not exists notifications_created_at_idx on notifications (created_at);
create index if not exists notifications_resolved_at_idx on notifications (resolved_at);

-- At most one open notification per alert and instance: when two overlapping runs both try to
-- record the same alert's start, the second insert fails with 23505 (HTTP 409), which the
-- reporter reads as "already notified", so nobody is notified twice.
create unique index if not exists notifications_open_dedup_key_idx
    on notifications (dedup_key) where resolved_at is null;

-- Customer names and reasons live here: row-level security on, and no policy for the public
-- roles, so the anon key (shipped to browsers) reads nothing. The reporter uses the service
-- role, which bypasses RLS; it reads the two logs and records notifications. On a bare
-- PostgreSQL these roles do not exist and nothing is granted.
alter table decision_log enable row level security;
alter table approvals_history enable row level security;
alter table notifications enable row level security;
do $$
begin
    if exists (select from pg_roles where rolname = 'anon') then
        revoke all on decision_log, approvals_history, notifications from anon;
    end if;
    if exists (select from pg_roles where rolname = 'authenticated') then
        revoke all on decision_log, approvals_history, notifications from authenticated;
    end if;
    if exists (select from pg_roles where rolname = 'service_role') then
        grant select on decision_log, approvals_history, notifications to service_role;
        grant insert, update on notifications to service_role;
    end if;
end
$$;
