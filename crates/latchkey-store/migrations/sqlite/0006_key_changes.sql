-- The key change log: one row per key for every change that can alter what a
-- verification answers. Written by triggers, so that every writer is covered
-- (this process, another process on the same data directory, the admin CLI);
-- each server polls it and evicts what it cached (latchkey-verify).
-- Not logged: lastUsedAt, credits spent and refilled (only whether a key has
-- credits matters to a cached record), updated_at.
CREATE TABLE key_changes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    key_hash   BLOB NOT NULL,
    changed_at INTEGER NOT NULL    -- ms since the epoch, for pruning
);
CREATE INDEX key_changes_by_time ON key_changes (changed_at);

CREATE TRIGGER api_keys_logged_insert AFTER INSERT ON api_keys
BEGIN
    INSERT INTO key_changes (key_hash, changed_at) VALUES (new.key_hash, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;

CREATE TRIGGER api_keys_logged_delete AFTER DELETE ON api_keys
BEGIN
    INSERT INTO key_changes (key_hash, changed_at) VALUES (old.key_hash, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;

CREATE TRIGGER api_keys_logged_update AFTER UPDATE ON api_keys
WHEN old.key_hash IS NOT new.key_hash OR old.org_id IS NOT new.org_id OR old.project_id IS NOT new.project_id
  OR old.name IS NOT new.name OR old.environment IS NOT new.environment OR old.kind IS NOT new.kind
  OR old.scopes IS NOT new.scopes OR old.owner_user_id IS NOT new.owner_user_id
  OR old.rate_limit_per_minute IS NOT new.rate_limit_per_minute OR old.rate_limit_per_day IS NOT new.rate_limit_per_day
  OR old.expires_at IS NOT new.expires_at OR old.revoked_at IS NOT new.revoked_at
  OR old.rotated_from IS NOT new.rotated_from OR old.rotated_to IS NOT new.rotated_to
  OR (old.remaining IS NULL) IS NOT (new.remaining IS NULL)
  OR old.refill_amount IS NOT new.refill_amount OR old.refill_interval IS NOT new.refill_interval
  OR old.surface_id IS NOT new.surface_id
BEGIN
    INSERT INTO key_changes (key_hash, changed_at) VALUES (new.key_hash, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
    INSERT INTO key_changes (key_hash, changed_at)
        SELECT old.key_hash, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) WHERE old.key_hash IS NOT new.key_hash;
END;

-- A key's owner leaving the organization or changing role changes the key's
-- answer (DISABLED, or what its role allows).
CREATE TRIGGER memberships_logged_delete AFTER DELETE ON memberships
BEGIN
    INSERT INTO key_changes (key_hash, changed_at)
        SELECT key_hash, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) FROM api_keys
        WHERE org_id = old.org_id AND owner_user_id = old.user_id;
END;

CREATE TRIGGER memberships_logged_update AFTER UPDATE OF role ON memberships
WHEN old.role IS NOT new.role
BEGIN
    INSERT INTO key_changes (key_hash, changed_at)
        SELECT key_hash, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) FROM api_keys
        WHERE org_id = new.org_id AND owner_user_id = new.user_id;
END;

CREATE TRIGGER memberships_logged_insert AFTER INSERT ON memberships
BEGIN
    INSERT INTO key_changes (key_hash, changed_at)
        SELECT key_hash, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) FROM api_keys
        WHERE org_id = new.org_id AND owner_user_id = new.user_id;
END;
