-- Fleet-wide limits and source health: state every worker process shares.

-- GCRA rate limiting, one row per key (tenant + source credential): `tat` is the theoretical
-- arrival time of the next request. One atomic UPDATE reserves a slot for any worker process.
CREATE TABLE rate_limits (
    key        text PRIMARY KEY,
    tat        timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- At most one active run per stream: the run holding the lease, until when.
ALTER TABLE checkpoints
    ADD COLUMN lease_run   uuid,
    ADD COLUMN lease_until timestamptz;

-- The circuit breaker of each (tenant, source): why it opened, until when, and the probe.
CREATE TABLE source_breakers (
    tenant_id    text NOT NULL,
    source       text NOT NULL,
    connector    text NOT NULL,
    state        text NOT NULL DEFAULT 'closed' CHECK (state IN ('closed', 'open', 'half_open')),
    failures     integer NOT NULL DEFAULT 0,    -- consecutive failures while closed
    trips        integer NOT NULL DEFAULT 0,    -- consecutive openings (grows the cool-down)
    reason       text,
    opened_at    timestamptz,
    open_until   timestamptz,
    probe_job    uuid,                          -- the job probing while half-open
    probe_until  timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, source)
);
