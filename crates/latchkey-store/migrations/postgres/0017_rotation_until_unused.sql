-- Rotation until unused (issue 27, point 4). The old key of a rotation with
-- `gracePeriod: "until-unused"` keeps working until it has gone unused for
-- `unused_quiet_ms` since the rotation (`unused_since`), and at the latest
-- until `unused_max_until` (the end of maxGrace), which is its `revoked_at`
-- while it waits: every node's cached record already stops it then. The
-- rotation sweeper (latchkey-server, rotation.rs) ends the wait with a
-- revocation, once (`unused_ended_at IS NULL` and `revoked_at =
-- unused_max_until` are its conditions); a revocation during the wait ends
-- it too. All four are NULL for any other key. `unused_ended_at` alone is
-- not in the key change log: the revocation it comes with changes
-- `revoked_at`, which is.
ALTER TABLE api_keys ADD COLUMN unused_quiet_ms BIGINT;
ALTER TABLE api_keys ADD COLUMN unused_since BIGINT;
ALTER TABLE api_keys ADD COLUMN unused_max_until BIGINT;
ALTER TABLE api_keys ADD COLUMN unused_ended_at BIGINT;

-- The keys still waiting: what each node's sweeper reads.
CREATE INDEX api_keys_unused_waiting ON api_keys (unused_max_until)
    WHERE unused_quiet_ms IS NOT NULL AND unused_ended_at IS NULL;
