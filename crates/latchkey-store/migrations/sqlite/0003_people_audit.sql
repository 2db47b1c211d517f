-- People: login sessions, invitations, org policy; the append-only audit trail.
ALTER TABLE orgs ADD COLUMN members_see_all_keys INTEGER NOT NULL DEFAULT 0;

CREATE TABLE sessions (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash     BLOB NOT NULL UNIQUE,   -- SHA-256 of the lks_ token
    current_org_id TEXT REFERENCES orgs(id) ON DELETE SET NULL,
    ip             TEXT,
    user_agent     TEXT,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    last_used_at   INTEGER,
    revoked_at     INTEGER
);
CREATE INDEX sessions_by_user ON sessions(user_id, id);

CREATE TABLE invitations (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    token_hash  BLOB NOT NULL UNIQUE,      -- SHA-256 of the lki_ token
    invited_by  TEXT,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    accepted_at INTEGER,
    accepted_by TEXT,
    revoked_at  INTEGER
);
CREATE INDEX invitations_by_org ON invitations(org_id, id);

CREATE TABLE audit_events (
    id          TEXT PRIMARY KEY,          -- evt_ + ULID: time-ordered
    org_id      TEXT,
    at          INTEGER NOT NULL,
    actor_type  TEXT NOT NULL,
    actor_id    TEXT,
    action      TEXT NOT NULL,
    target_type TEXT,
    target_id   TEXT,
    ip          TEXT,
    request_id  TEXT,
    details     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_by_org ON audit_events(org_id, id);

-- Append-only, also against mistakes in code: no update, no delete.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
