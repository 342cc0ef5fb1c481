-- Scheduled ingestion: what runs when (schedules), every slot the scheduler decided about
-- (schedule_slots, whose key makes a slot enqueue at most once however many scheduler replicas
-- run), and the outbox jobs leave through (committed with the job's ledger row, published with
-- confirms afterwards, so a crash between the commit and the publish loses nothing).

-- One schedule per (tenant, source, stream, job kind): a cron expression or a fixed interval.
-- The scheduler claims due rows with FOR UPDATE SKIP LOCKED and advances next_slot_at in the
-- transaction that records the slot, so a slot is decided once.
CREATE TABLE schedules (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id        text NOT NULL,
    source           text NOT NULL,
    stream           text NOT NULL,
    connector        text NOT NULL,
    kind             text NOT NULL DEFAULT 'pull',       -- the job kind it enqueues
    cron             text,                               -- 5 or 6 fields (seconds optional), in time_zone
    every_seconds    integer CHECK (every_seconds > 0),  -- or: slots at multiples of this since the Unix epoch
    time_zone        text NOT NULL DEFAULT 'UTC',        -- IANA name: the cron's wall clock, backfill days
    jitter_seconds   integer NOT NULL DEFAULT 0 CHECK (jitter_seconds >= 0),
    -- skip: no new run while one of this schedule's runs is unfinished; buffer_one: at most one
    -- run waiting behind the one in flight; allow: every slot runs (the stream lease still
    -- serialises the pulls).
    overlap          text NOT NULL DEFAULT 'skip' CHECK (overlap IN ('skip', 'buffer_one', 'allow')),
    -- Slots older than this (plus the jitter) when the scheduler gets to them are recorded as
    -- missed instead of enqueued: after an outage only the recent slots run.
    catch_up_seconds integer NOT NULL DEFAULT 3600 CHECK (catch_up_seconds >= 0),
    enabled          boolean NOT NULL DEFAULT true,
    paused_reason    text CHECK (paused_reason <> ''),   -- an operator's (or the scheduler's) pause
    paused_by        text,
    paused_at        timestamptz,
    next_slot_at     timestamptz,                        -- first undecided slot; NULL: none ever again
    next_fire_at     timestamptz,                        -- next_slot_at + its jitter: when it is due
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((cron IS NULL) <> (every_seconds IS NULL)),
    CHECK ((paused_at IS NULL) = (paused_reason IS NULL) AND (paused_at IS NULL) = (paused_by IS NULL)),
    UNIQUE (tenant_id, source, stream, kind)
);
-- The claim's scan: due, enabled, not paused, oldest first.
CREATE INDEX schedules_due_idx ON schedules (next_fire_at)
    WHERE enabled AND paused_at IS NULL AND next_fire_at IS NOT NULL;

-- Every slot the scheduler decided about. The primary key is the slot key: a second attempt at
-- a slot (another replica, an edit that lands on a decided slot) inserts nothing and so creates
-- no job. A run of consecutive missed slots is one row (slot_at the first, missed_through the
-- last).
CREATE TABLE schedule_slots (
    schedule_id    bigint NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    slot_at        timestamptz NOT NULL,              -- the slot's nominal time (before jitter)
    outcome        text NOT NULL CHECK (outcome IN ('enqueued', 'skipped', 'missed')),
    job_id         uuid,                              -- the job it produced (enqueued)
    missed_through timestamptz,                       -- missed: the last slot of the run
    missed_count   bigint,                            -- missed: slots in the run (NULL: too many to count)
    decided_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (schedule_id, slot_at),
    CHECK ((outcome = 'enqueued') = (job_id IS NOT NULL)),
    CHECK ((outcome = 'missed') = (missed_through IS NOT NULL))
);
-- The overlap check goes from unfinished jobs (a small set) to the slot that produced them.
CREATE UNIQUE INDEX schedule_slots_job_idx ON schedule_slots (job_id) WHERE job_id IS NOT NULL;

-- Jobs waiting to be published: written in the transaction that records the job in the ledger,
-- published by a relay (confirms + mandatory) and then marked sent. A relay holds its rows with
-- FOR UPDATE SKIP LOCKED while it publishes, so replicas share the work; if it dies the lock
-- goes with its connection and another replica publishes the rows (at least once: the ledger
-- makes a duplicate message harmless).
CREATE TABLE outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id          uuid NOT NULL UNIQUE,
    connector       text NOT NULL,                   -- the routing key, for grouping and reports
    envelope        bytea NOT NULL,                  -- the message body, byte for byte
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    published_at    timestamptz,
    attempts        integer NOT NULL DEFAULT 0,      -- failed publishing attempts
    last_error      text,
    next_attempt_at timestamptz NOT NULL DEFAULT now() -- a refused row waits; others go ahead
);
CREATE INDEX outbox_unsent_idx ON outbox (next_attempt_at, id) WHERE published_at IS NULL;
