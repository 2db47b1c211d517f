-- Webhooks (issue 26): endpoints, what they subscribe to, the outbox of
-- events and their deliveries, and each delivery's attempts.
--
-- The outbox is written by triggers, in the transaction of the change: an
-- audit event whose action maps to an event type (webhook_event_types)
-- becomes a webhook event when an enabled endpoint of its organization
-- subscribes to that type, and every webhook event is fanned out to a
-- pending delivery per subscribed endpoint. So whatever appends an audit
-- event (every route, the key writer's batch, the admin CLI) writes its
-- webhook event with it or not at all, and organizations without
-- subscribers pay one indexed lookup per audit event.

CREATE TABLE webhooks (
    id                 TEXT PRIMARY KEY,       -- whk_…
    org_id             TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    url                TEXT NOT NULL,
    description        TEXT,
    events             TEXT NOT NULL,          -- JSON array of event types
    -- The signing secret, sealed with the organization's data key and bound
    -- to (org, id, secret_version); never stored in the clear.
    secret             BYTEA NOT NULL,
    secret_version     BIGINT NOT NULL,
    -- The secret before the last rotation (sealed with version - 1), which
    -- keeps signing alongside until previous_until.
    previous_secret    BYTEA,
    previous_until     BIGINT,
    disabled_at        BIGINT,
    -- Since when every attempt has failed (NULL after a success).
    failing_since      BIGINT,
    created_by_user_id TEXT,
    created_by_key_id  TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX webhooks_by_org ON webhooks(org_id, id);

-- The event types enabled endpoints subscribe to (derived from
-- webhooks.events; a disabled endpoint has none).
CREATE TABLE webhook_subscriptions (
    org_id     TEXT NOT NULL,
    event_type TEXT NOT NULL,
    webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    PRIMARY KEY (org_id, event_type, webhook_id)
);
CREATE INDEX webhook_subscriptions_by_webhook ON webhook_subscriptions(webhook_id);

-- Which audit action produces which event type.
CREATE TABLE webhook_event_types (
    action     TEXT PRIMARY KEY,
    event_type TEXT NOT NULL
);
INSERT INTO webhook_event_types (action, event_type) VALUES
    ('api_key.create', 'api_key.created'),
    ('api_key.rotate', 'api_key.rotated'),
    ('api_key.revoke', 'api_key.revoked'),
    ('api_key.delete', 'api_key.deleted'),
    ('api_key.leaked', 'api_key.leaked'),
    ('invitation.accept', 'member.joined'),
    ('user.jit_create', 'member.joined'),
    ('member.remove', 'member.removed'),
    ('member.update', 'member.role_changed'),
    ('secret.set', 'secret.changed'),
    ('secret.delete', 'secret.changed');

-- The outbox. id: the audit event's (evt_…), so the `webhook-id` of every
-- delivery and retry of it is stable; scheduled events have ids made of
-- what they are about (whe_{key}_{kind}), so writing one twice is a no-op.
CREATE TABLE webhook_events (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    type       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    data       TEXT NOT NULL,                  -- JSON object, never a key or secret value
    webhook_id TEXT                            -- only this endpoint (test events)
);

CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,          -- whd_… (time-ordered)
    webhook_id      TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_id        TEXT NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
    org_id          TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,                    -- pending: when it is due
    lease_until     BIGINT,                    -- a node is attempting it until then
    lease_token     TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (event_id, webhook_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries(webhook_id, id);

CREATE TABLE webhook_attempts (
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    n           BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    status_code BIGINT,
    duration_ms BIGINT NOT NULL,
    error       TEXT,
    PRIMARY KEY (delivery_id, n)
);

CREATE FUNCTION audit_event_to_webhooks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.org_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM webhook_event_types t JOIN webhook_subscriptions s ON s.event_type = t.event_type
        WHERE t.action = NEW.action AND s.org_id = NEW.org_id) THEN
        INSERT INTO webhook_events (id, org_id, type, created_at, data)
            SELECT NEW.id, NEW.org_id, t.event_type, NEW.at,
                   json_build_object('object', json_build_object('type', NEW.target_type, 'id', NEW.target_id),
                                     'actor', json_build_object('type', NEW.actor_type, 'id', NEW.actor_id),
                                     'details', coalesce(NEW.details, '{}')::json)::text
            FROM webhook_event_types t WHERE t.action = NEW.action;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER audit_events_to_webhooks AFTER INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_event_to_webhooks();

CREATE FUNCTION webhook_event_fan_out() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_deliveries (id, webhook_id, event_id, org_id, state, next_attempt_at, created_at, updated_at)
        SELECT 'whd_' || lpad(to_hex(NEW.created_at), 12, '0') || substr(md5(random()::text || w.id), 1, 14),
               w.id, NEW.id, NEW.org_id, 'pending', NEW.created_at, NEW.created_at, NEW.created_at
        FROM webhooks w
        WHERE w.org_id = NEW.org_id AND w.disabled_at IS NULL
          AND CASE WHEN NEW.webhook_id IS NOT NULL THEN w.id = NEW.webhook_id
                   ELSE EXISTS (SELECT 1 FROM webhook_subscriptions s
                                WHERE s.org_id = NEW.org_id AND s.event_type = NEW.type AND s.webhook_id = w.id) END;
    RETURN NULL;
END $$;

CREATE TRIGGER webhook_events_fan_out AFTER INSERT ON webhook_events
    FOR EACH ROW EXECUTE FUNCTION webhook_event_fan_out();

-- Credit grants, for api_key.usage_threshold: the balance a key was given
-- (at creation, or raised later by a refill or a change), and when. A
-- threshold event is sent once per grant.
CREATE TABLE key_credit_grants (
    key_id     TEXT PRIMARY KEY REFERENCES api_keys(id) ON DELETE CASCADE,
    org_id     TEXT NOT NULL,
    granted    BIGINT NOT NULL,
    granted_at BIGINT NOT NULL
);
CREATE INDEX key_credit_grants_by_org ON key_credit_grants(org_id);

CREATE FUNCTION api_key_credit_granted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.remaining IS NOT NULL AND NEW.remaining > 0
       AND (TG_OP = 'INSERT' OR NEW.remaining > coalesce(OLD.remaining, 0)) THEN
        INSERT INTO key_credit_grants (key_id, org_id, granted, granted_at)
            VALUES (NEW.id, NEW.org_id,
                    CASE WHEN TG_OP = 'UPDATE' AND NEW.refilled_at IS DISTINCT FROM OLD.refilled_at
                              AND NEW.refill_amount IS NOT NULL THEN NEW.refill_amount ELSE NEW.remaining END,
                    CASE WHEN TG_OP = 'INSERT' THEN NEW.created_at ELSE coalesce(NEW.refilled_at, NEW.updated_at) END)
            ON CONFLICT (key_id) DO UPDATE SET granted = excluded.granted,
                granted_at = greatest(excluded.granted_at, key_credit_grants.granted_at + 1);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER api_keys_credit_granted AFTER INSERT OR UPDATE OF remaining ON api_keys
    FOR EACH ROW EXECUTE FUNCTION api_key_credit_granted();
