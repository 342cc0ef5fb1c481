-- Sources an operator paused (maintenance at the source, a credential being rotated, a runaway
-- bill): while a row matches, workers pull nothing for the source and snooze its jobs, spending
-- no attempt, until the row is deleted (resuming). Written by queue-admin, read by every worker
-- before each job, next to the circuit breaker.
CREATE TABLE source_pauses (
    source    text NOT NULL,
    tenant_id text NOT NULL DEFAULT '*',              -- '*' = every tenant of the source
    reason    text NOT NULL CHECK (reason <> ''),     -- shown to operators and in job errors
    paused_by text NOT NULL,                          -- who paused it, as the audit log names actors
    paused_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, tenant_id)
);
