-- chatwoot-health shared store (issue #14): the runs of every probe host, and the one alert state.
-- Applied by `chatwoot-health store migrate` (and shipped as supabase/migrations/…_health_runs.sql,
-- the same text). Idempotent: every statement may run again on a schema it already made.

CREATE TABLE IF NOT EXISTS chatwoot_health_schema (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version    integer NOT NULL
);

-- One row per check run (its artifact), partitioned by month on checked_at so that pruning drops
-- whole partitions. The primary key includes the partition key, as PostgreSQL requires; an
-- artifact's checked_at never changes, so (artifact_id, checked_at) is as unique as artifact_id.
CREATE TABLE IF NOT EXISTS health_runs (
    artifact_id  text        NOT NULL,  -- the artifact file's name without .json
    checked_at   timestamptz NOT NULL,
    instance     text        NOT NULL,
    location     text        NOT NULL,
    status       text        NOT NULL,  -- ok | degraded | down | unknown
    liveness     text        NOT NULL,  -- up | down | unknown (the run's final verdict)
    artifact     jsonb       NOT NULL,
    stored_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (artifact_id, checked_at)
) PARTITION BY RANGE (checked_at);
CREATE TABLE IF NOT EXISTS health_runs_default PARTITION OF health_runs DEFAULT;
CREATE INDEX IF NOT EXISTS health_runs_instance_time ON health_runs (instance, checked_at);

-- The month's partition of `at` (and the next month's), created when missing. Rows that landed in
-- the default partition meanwhile are moved into it. Serialised by an advisory lock, so that hosts
-- writing at once never race; returns the schema version (the caller checks it in the same trip).
CREATE OR REPLACE FUNCTION chatwoot_health_prepare(at timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    part    text;
    lo      timestamptz;
    hi      timestamptz;
BEGIN
    FOR step IN 0..1 LOOP
        -- month arithmetic on UTC wall time: the session's time zone never shifts a bound
        lo := (date_trunc('month', at AT TIME ZONE 'UTC') + make_interval(months => step))
              AT TIME ZONE 'UTC';
        hi := (date_trunc('month', at AT TIME ZONE 'UTC') + make_interval(months => step + 1))
              AT TIME ZONE 'UTC';
        part := 'health_runs_' || to_char(lo AT TIME ZONE 'UTC', 'YYYY"m"MM');
        CONTINUE WHEN to_regclass(part) IS NOT NULL;
        PERFORM pg_advisory_xact_lock(7314021401);
        CONTINUE WHEN to_regclass(part) IS NOT NULL;
        EXECUTE format('CREATE TABLE %I (LIKE health_runs INCLUDING DEFAULTS)', part);
        EXECUTE format(
            'WITH moved AS (DELETE FROM health_runs_default WHERE checked_at >= %L '
            'AND checked_at < %L RETURNING *) INSERT INTO %I SELECT * FROM moved', lo, hi, part);
        EXECUTE format('ALTER TABLE health_runs ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                       part, lo, hi);
    END LOOP;
    RETURN (SELECT version FROM chatwoot_health_schema);
END
$$;

-- The alert state shared by every probe host (the SQLite state's tables, in PostgreSQL): one
-- open episode per (instance, alert), one outbox row per (message, channel), the last run.
CREATE TABLE IF NOT EXISTS notify_episodes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance    text        NOT NULL,
    alert       text        NOT NULL,
    severity    text        NOT NULL,
    title       text        NOT NULL,
    message     text        NOT NULL,
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz,
    end_reason  text,
    pushed      boolean     NOT NULL,
    seeded      boolean     NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX IF NOT EXISTS notify_episodes_one_open
    ON notify_episodes (instance, alert) WHERE ended_at IS NULL;
CREATE INDEX IF NOT EXISTS notify_episodes_started ON notify_episodes (started_at);

CREATE TABLE IF NOT EXISTS notify_outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    episode_id      bigint      NOT NULL REFERENCES notify_episodes (id),
    message_id      text        NOT NULL,
    kind            text        NOT NULL,
    alert           text        NOT NULL,
    title           text        NOT NULL,
    body            text        NOT NULL,
    channel_key     text        NOT NULL,
    channel_label   text        NOT NULL,
    created_at      timestamptz NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text,
    last_attempt_at timestamptz,
    lease_until     timestamptz,
    delivered_at    timestamptz,
    gave_up_at      timestamptz,
    UNIQUE (message_id, channel_key)
);
CREATE INDEX IF NOT EXISTS notify_outbox_pending
    ON notify_outbox (id) WHERE delivered_at IS NULL AND gave_up_at IS NULL;

CREATE TABLE IF NOT EXISTS notify_runs (
    instance     text PRIMARY KEY,
    last_run_at  timestamptz NOT NULL
);

INSERT INTO chatwoot_health_schema (version) VALUES (1)
    ON CONFLICT (singleton) DO UPDATE SET version = greatest(chatwoot_health_schema.version, 1);
