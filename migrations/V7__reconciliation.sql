-- Reconciliation: per (tenant, source, stream) and created-at window, compare the source with
-- the store, report what drifted and repair it.

-- When the source created a record (windows are on this clock), and when reconciliation found
-- it deleted at the source. Records are marked, never deleted: a re-pull that finds the record
-- again clears the mark.
ALTER TABLE records
    ADD COLUMN source_created_at timestamptz,
    ADD COLUMN deleted_at timestamptz;

-- Window counts and manifests per (tenant, connector, stream, created-at).
CREATE INDEX records_created_idx
    ON records (tenant_id, connector, stream, source_created_at);

-- One row per reconcile job (the UNIQUE job_id is what keeps a redelivered job from writing a
-- second report); the findings hang off it.
CREATE TABLE reconcile_reports (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id          uuid NOT NULL UNIQUE,
    connector       text NOT NULL,
    tenant_id       text NOT NULL,
    source          text NOT NULL,
    stream          text NOT NULL,
    window_from     timestamptz NOT NULL,
    window_to       timestamptz NOT NULL,
    status          text NOT NULL CHECK (status IN ('clean', 'drift', 'unsupported', 'failed')),
    message         text,
    windows_checked integer NOT NULL DEFAULT 0,
    api_calls       integer NOT NULL DEFAULT 0,
    missing         integer NOT NULL DEFAULT 0,
    extra           integer NOT NULL DEFAULT 0,
    stale           integer NOT NULL DEFAULT 0,
    repulled        integer NOT NULL DEFAULT 0,
    marked_deleted  integer NOT NULL DEFAULT 0,
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz NOT NULL DEFAULT now()
);

-- Listing newest first, optionally narrowed to one tenant / source / stream.
CREATE INDEX reconcile_reports_stream_idx
    ON reconcile_reports (tenant_id, source, stream, id DESC);

CREATE TABLE reconcile_findings (
    report_id         bigint NOT NULL REFERENCES reconcile_reports (id) ON DELETE CASCADE,
    kind              text NOT NULL CHECK (kind IN ('missing', 'extra', 'stale')),
    external_id       text NOT NULL,
    source_updated_at timestamptz,
    store_updated_at  timestamptz,
    PRIMARY KEY (report_id, kind, external_id)
);
