-- The tables the rest of Tributary builds on. PostgreSQL is the system of record; RabbitMQ is
-- only the transport.

-- The job ledger: one row per job id (assigned at enqueue). Makes duplicate deliveries visible
-- and harmless, and is where attempt counts come from (never from message headers).
CREATE TABLE jobs (
    id                uuid PRIMARY KEY,
    root_id           uuid NOT NULL,              -- first job of the run; continuations share it
    parent_id         uuid,                       -- the job that handed over to this one
    replay_of         uuid,                       -- the dead-lettered job this one replays
    kind              text NOT NULL,
    connector         text NOT NULL,
    tenant_id         text NOT NULL,
    source            text NOT NULL,
    stream            text NOT NULL,
    status            text NOT NULL CHECK (status IN
                        ('queued', 'running', 'retrying', 'snoozed', 'succeeded', 'superseded', 'dead')),
    attempts          integer NOT NULL DEFAULT 0, -- failed attempts that count towards the limit
    deliveries        integer NOT NULL DEFAULT 0, -- times a worker started it (redeliveries included)
    pages             integer NOT NULL DEFAULT 0,
    records_inserted  bigint NOT NULL DEFAULT 0,
    records_updated   bigint NOT NULL DEFAULT 0,
    records_unchanged bigint NOT NULL DEFAULT 0,
    continuation_id   uuid,                       -- set once, before the continuation is published
    last_error_class  text,
    last_error        text,
    worker            text,
    envelope          jsonb NOT NULL,
    enqueued_at       timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    heartbeat_at      timestamptz,
    finished_at       timestamptz
);
CREATE INDEX jobs_root_idx ON jobs (root_id);
CREATE INDEX jobs_unfinished_idx ON jobs (status) WHERE status NOT IN ('succeeded', 'superseded', 'dead');

-- Every handled delivery of a job: when, where, how long, and how it ended.
CREATE TABLE job_attempts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id      uuid NOT NULL REFERENCES jobs (id),
    worker      text NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT now(),
    outcome     text NOT NULL,
    error_class text,
    error       text,
    http_status integer,
    pages       integer NOT NULL DEFAULT 0,
    records     bigint NOT NULL DEFAULT 0
);
CREATE INDEX job_attempts_job_idx ON job_attempts (job_id);

-- Where each (tenant, source, stream) stands: the cursor of its current run. Advanced in the same
-- transaction as the page of records it covers, so a redelivered job resumes, never re-applies.
CREATE TABLE checkpoints (
    tenant_id      text NOT NULL,
    source         text NOT NULL,
    stream         text NOT NULL,
    run_id         uuid NOT NULL,
    cursor         text,                          -- NULL: start of the window
    finished       boolean NOT NULL DEFAULT false,
    pages          bigint NOT NULL DEFAULT 0,
    records        bigint NOT NULL DEFAULT 0,
    run_started_at timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, source, stream)
);

-- The landed data. The content hash lets unchanged records be filtered out before the upsert,
-- so re-ingesting unchanged data (the common case) writes almost nothing.
CREATE TABLE records (
    tenant_id         text NOT NULL,
    connector         text NOT NULL,
    stream            text NOT NULL,
    external_id       text NOT NULL,
    content_hash      bytea NOT NULL,
    data              jsonb NOT NULL,
    source_updated_at timestamptz,
    first_seen_at     timestamptz NOT NULL DEFAULT now(),
    last_changed_at   timestamptz NOT NULL DEFAULT now(),
    last_job_id       uuid NOT NULL,
    PRIMARY KEY (tenant_id, connector, stream, external_id)
);

-- Jobs that will not succeed by retrying, with the original message byte for byte.
CREATE TABLE dead_letters (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dedup_key   text NOT NULL UNIQUE,              -- job id, message id, or payload hash
    job_id      uuid,                              -- NULL when the body did not parse
    connector   text,
    tenant_id   text,
    source      text,
    stream      text,
    class       text NOT NULL,
    reason      text NOT NULL,
    origin      text NOT NULL CHECK (origin IN ('worker', 'broker')),
    attempts    integer NOT NULL DEFAULT 0,
    http_status integer,
    payload     bytea NOT NULL,
    envelope    jsonb,
    headers     jsonb NOT NULL DEFAULT '{}',
    queue       text,
    routing_key text,
    worker      text,
    deliveries  integer NOT NULL DEFAULT 1,        -- times this letter arrived (redeliveries)
    created_at  timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dead_letters_job_idx ON dead_letters (job_id);
CREATE INDEX dead_letters_class_idx ON dead_letters (class, created_at);
