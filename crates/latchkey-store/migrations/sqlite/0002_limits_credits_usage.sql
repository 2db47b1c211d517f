-- Usage credits (optional, with optional refill) and daily verification counts.
ALTER TABLE api_keys ADD COLUMN remaining INTEGER;
ALTER TABLE api_keys ADD COLUMN refill_amount INTEGER;
ALTER TABLE api_keys ADD COLUMN refill_interval TEXT CHECK (refill_interval IN ('daily', 'monthly'));
ALTER TABLE api_keys ADD COLUMN refilled_at INTEGER;

CREATE TABLE key_usage (
    key_id   TEXT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    day      TEXT NOT NULL,        -- UTC date, YYYY-MM-DD
    outcome  TEXT NOT NULL,        -- VALID, REVOKED, RATE_LIMITED, ...
    count    INTEGER NOT NULL,
    PRIMARY KEY (key_id, day, outcome)
);
