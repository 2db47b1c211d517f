-- The webhook scheduler asks every minute, three times, for the keys of the
-- organizations subscribed to `api_key.expiring` or `api_key.expired` that
-- expire in a window (`sql::webhooks::EXPIRY_DUE`). Without this index it
-- read every key each time (SQLite's plan: `SCAN k`; 0.25 s at a million
-- keys, with no organization subscribed), inside a write transaction that
-- the usage flush and key creation wait for. Keys that never expire are
-- not in it.
CREATE INDEX api_keys_by_expiry ON api_keys(org_id, expires_at) WHERE expires_at IS NOT NULL;
