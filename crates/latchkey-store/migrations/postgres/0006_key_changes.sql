-- The key change log: one row per key for every change that can alter what a
-- verification answers. Written by triggers, so that every writer is covered
-- (every node, the admin CLI, a node that crashed before its NOTIFY); each
-- node polls it and evicts what it cached (latchkey-verify). Nodes read the
-- rows of finished transactions only, by transaction id (`tx`): a change
-- becomes visible at its commit, and transaction ids below the snapshot's
-- xmin can no longer commit, so polling by `tx` misses nothing, where polling
-- by `seq` could skip a row whose transaction commits late.
-- Not logged: lastUsedAt, credits spent and refilled (only whether a key has
-- credits matters to a cached record), updated_at.
CREATE TABLE key_changes (
    seq        BIGSERIAL PRIMARY KEY,
    tx         XID8 NOT NULL DEFAULT pg_current_xact_id(),
    key_hash   BYTEA NOT NULL,
    changed_at BIGINT NOT NULL DEFAULT (extract(epoch FROM clock_timestamp()) * 1000)::bigint
);
CREATE INDEX key_changes_by_tx ON key_changes (tx);
CREATE INDEX key_changes_by_time ON key_changes (changed_at);

CREATE FUNCTION log_api_key_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO key_changes (key_hash) VALUES (OLD.key_hash);
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF NOT (OLD.key_hash IS DISTINCT FROM NEW.key_hash OR OLD.org_id IS DISTINCT FROM NEW.org_id
            OR OLD.project_id IS DISTINCT FROM NEW.project_id OR OLD.name IS DISTINCT FROM NEW.name
            OR OLD.environment IS DISTINCT FROM NEW.environment OR OLD.kind IS DISTINCT FROM NEW.kind
            OR OLD.scopes IS DISTINCT FROM NEW.scopes OR OLD.owner_user_id IS DISTINCT FROM NEW.owner_user_id
            OR OLD.rate_limit_per_minute IS DISTINCT FROM NEW.rate_limit_per_minute
            OR OLD.rate_limit_per_day IS DISTINCT FROM NEW.rate_limit_per_day
            OR OLD.expires_at IS DISTINCT FROM NEW.expires_at OR OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
            OR OLD.rotated_from IS DISTINCT FROM NEW.rotated_from OR OLD.rotated_to IS DISTINCT FROM NEW.rotated_to
            OR (OLD.remaining IS NULL) <> (NEW.remaining IS NULL)
            OR OLD.refill_amount IS DISTINCT FROM NEW.refill_amount
            OR OLD.refill_interval IS DISTINCT FROM NEW.refill_interval
            OR OLD.surface_id IS DISTINCT FROM NEW.surface_id) THEN
            RETURN NEW;
        END IF;
        IF OLD.key_hash IS DISTINCT FROM NEW.key_hash THEN
            INSERT INTO key_changes (key_hash) VALUES (OLD.key_hash);
        END IF;
    END IF;
    INSERT INTO key_changes (key_hash) VALUES (NEW.key_hash);
    RETURN NEW;
END $$;

CREATE TRIGGER api_keys_logged AFTER INSERT OR UPDATE OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION log_api_key_change();

-- A key's owner joining, leaving or changing role changes the key's answer
-- (DISABLED, or what its role allows).
CREATE FUNCTION log_owner_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    m memberships;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.role IS NOT DISTINCT FROM NEW.role THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'DELETE' THEN m := OLD; ELSE m := NEW; END IF;
    INSERT INTO key_changes (key_hash)
        SELECT key_hash FROM api_keys WHERE org_id = m.org_id AND owner_user_id = m.user_id;
    RETURN m;
END $$;

CREATE TRIGGER memberships_logged AFTER INSERT OR UPDATE OR DELETE ON memberships
    FOR EACH ROW EXECUTE FUNCTION log_owner_change();
