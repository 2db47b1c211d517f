-- Inserts into api_keys and audit_events fire their triggers once per
-- statement, over the statement's rows (a transition table), where a
-- row-level trigger ran a PL/pgSQL call and its statements for every row.
-- A group of new keys is one INSERT (the group committer, POST
-- /v1/api-keys/batch) and its audit events another: the per-row trigger
-- calls were about a quarter of PostgreSQL's CPU per key created
-- (bench/RESULTS.md, "Issue 25: restart under load, and PostgreSQL's triggers
-- per statement").
-- Updates and deletes keep their row-level triggers; what each trigger
-- writes is unchanged.

-- The key change log: a new key's hash (a node may hold it as unknown).
DROP TRIGGER api_keys_logged ON api_keys;
CREATE TRIGGER api_keys_logged AFTER UPDATE OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION log_api_key_change();

CREATE FUNCTION log_inserted_api_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO key_changes (key_hash) SELECT key_hash FROM inserted;
    RETURN NULL;
END $$;

CREATE TRIGGER api_keys_inserted_logged AFTER INSERT ON api_keys
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION log_inserted_api_keys();

-- Credit grants: a new key with credits was granted them at its creation.
DROP TRIGGER api_keys_credit_granted ON api_keys;
CREATE TRIGGER api_keys_credit_granted AFTER UPDATE OF remaining ON api_keys
    FOR EACH ROW EXECUTE FUNCTION api_key_credit_granted();

-- The row-level function now sees only updates of `remaining`.
CREATE OR REPLACE FUNCTION api_key_credit_granted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.remaining IS NOT NULL AND NEW.remaining > 0 AND NEW.remaining > coalesce(OLD.remaining, 0) THEN
        INSERT INTO key_credit_grants (key_id, org_id, granted, granted_at)
            VALUES (NEW.id, NEW.org_id,
                    CASE WHEN NEW.refilled_at IS DISTINCT FROM OLD.refilled_at AND NEW.refill_amount IS NOT NULL
                         THEN NEW.refill_amount ELSE NEW.remaining END,
                    coalesce(NEW.refilled_at, NEW.updated_at))
            ON CONFLICT (key_id) DO UPDATE SET granted = excluded.granted,
                granted_at = greatest(excluded.granted_at, key_credit_grants.granted_at + 1);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION grant_inserted_api_keys_credit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO key_credit_grants (key_id, org_id, granted, granted_at)
        SELECT id, org_id, remaining, created_at FROM inserted WHERE remaining > 0
        ON CONFLICT (key_id) DO UPDATE SET granted = excluded.granted,
            granted_at = greatest(excluded.granted_at, key_credit_grants.granted_at + 1);
    RETURN NULL;
END $$;

CREATE TRIGGER api_keys_inserted_credit_granted AFTER INSERT ON api_keys
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION grant_inserted_api_keys_credit();

-- Webhook events: an audit event of an organization subscribed to some
-- event type of its action becomes that action's webhook events.
DROP TRIGGER audit_events_to_webhooks ON audit_events;
DROP FUNCTION audit_event_to_webhooks();

CREATE FUNCTION inserted_audit_events_to_webhooks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_events (id, org_id, type, created_at, data)
        SELECT n.id, n.org_id, t.event_type, n.at,
               json_build_object('object', json_build_object('type', n.target_type, 'id', n.target_id),
                                 'actor', json_build_object('type', n.actor_type, 'id', n.actor_id),
                                 'details', coalesce(n.details, '{}')::json)::text
        FROM inserted n JOIN webhook_event_types t ON t.action = n.action
        WHERE n.org_id IS NOT NULL AND EXISTS (
            SELECT 1 FROM webhook_event_types st JOIN webhook_subscriptions s ON s.event_type = st.event_type
            WHERE st.action = n.action AND s.org_id = n.org_id);
    RETURN NULL;
END $$;

CREATE TRIGGER audit_events_to_webhooks AFTER INSERT ON audit_events
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION inserted_audit_events_to_webhooks();
