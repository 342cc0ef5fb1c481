-- A source whose credentials or configuration were refused needs a human. Recorded next to its
-- breaker, shown to operators, cleared by the next success. It does not pause the source: each
-- job still dead-letters on its own, ready to be replayed once the source is fixed.
ALTER TABLE source_breakers
    ADD COLUMN attention    text,
    ADD COLUMN attention_at timestamptz;
