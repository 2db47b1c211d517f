-- People: login sessions, invitations, org policy; the append-only audit trail.
ALTER TABLE orgs ADD COLUMN members_see_all_keys BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE sessions (
    id             TEXT COLLATE "C" PRIMARY KEY,
    user_id        TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash     BYTEA NOT NULL UNIQUE,   -- SHA-256 of the lks_ token
    current_org_id TEXT COLLATE "C" REFERENCES orgs(id) ON DELETE SET NULL,
    ip             TEXT,
    user_agent     TEXT,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    last_used_at   BIGINT,
    revoked_at     BIGINT
);
CREATE INDEX sessions_by_user ON sessions(user_id, id);

CREATE TABLE invitations (
    id          TEXT COLLATE "C" PRIMARY KEY,
    org_id      TEXT COLLATE "C" NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    token_hash  BYTEA NOT NULL UNIQUE,      -- SHA-256 of the lki_ token
    invited_by  TEXT COLLATE "C",
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    accepted_at BIGINT,
    accepted_by TEXT COLLATE "C",
    revoked_at  BIGINT
);
CREATE INDEX invitations_by_org ON invitations(org_id, id);

CREATE TABLE audit_events (
    id          TEXT COLLATE "C" PRIMARY KEY,          -- evt_ + ULID: time-ordered
    org_id      TEXT COLLATE "C",
    at          BIGINT NOT NULL,
    actor_type  TEXT NOT NULL,
    actor_id    TEXT COLLATE "C",
    action      TEXT NOT NULL,
    target_type TEXT,
    target_id   TEXT COLLATE "C",
    ip          TEXT,
    request_id  TEXT,
    details     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_by_org ON audit_events(org_id, id);

-- Append-only, also against mistakes in code: no update, no delete (and no
-- truncate, which would bypass the row triggers).
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
