-- Usage credits (optional, with optional refill) and daily verification counts.
ALTER TABLE api_keys ADD COLUMN remaining BIGINT;
ALTER TABLE api_keys ADD COLUMN refill_amount BIGINT;
ALTER TABLE api_keys ADD COLUMN refill_interval TEXT CHECK (refill_interval IN ('daily', 'monthly'));
ALTER TABLE api_keys ADD COLUMN refilled_at BIGINT;

CREATE TABLE key_usage (
    key_id   TEXT COLLATE "C" NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    day      TEXT COLLATE "C" NOT NULL,        -- UTC date, YYYY-MM-DD
    outcome  TEXT COLLATE "C" NOT NULL,        -- VALID, REVOKED, RATE_LIMITED, ...
    count    BIGINT NOT NULL,
    PRIMARY KEY (key_id, day, outcome)
);
