-- latchkey schema v1 (SQLite). Timestamps are epoch milliseconds (INTEGER);
-- ids are prefixed ULIDs (TEXT); key hashes are 32-byte SHA-256 (BLOB).
CREATE TABLE orgs (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    slug        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    password_hash TEXT,
    created_at    INTEGER NOT NULL
);

CREATE TABLE memberships (
    org_id      TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (org_id, user_id)
);

CREATE TABLE projects (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX projects_by_org ON projects(org_id, id);

CREATE TABLE api_keys (
    id                    TEXT PRIMARY KEY,
    org_id                TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    project_id            TEXT REFERENCES projects(id) ON DELETE SET NULL,
    name                  TEXT NOT NULL,
    key_hash              BLOB NOT NULL UNIQUE,
    key_prefix            TEXT NOT NULL,
    key_hint              TEXT NOT NULL,
    environment           TEXT NOT NULL CHECK (environment IN ('live', 'test')),
    kind                  TEXT NOT NULL CHECK (kind IN ('standard', 'restricted')),
    scopes                TEXT NOT NULL,           -- JSON array of canonical scope strings
    owner_user_id         TEXT REFERENCES users(id),
    created_by_user_id    TEXT,
    created_by_key_id     TEXT,
    rate_limit_per_minute INTEGER,
    rate_limit_per_day    INTEGER,
    expires_at            INTEGER,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    last_used_at          INTEGER,
    revoked_at            INTEGER,
    rotated_from          TEXT,
    rotated_to            TEXT
);
CREATE INDEX api_keys_by_org ON api_keys(org_id, id);
CREATE INDEX api_keys_by_project ON api_keys(project_id);
