-- latchkey schema v1 (PostgreSQL). Timestamps are epoch milliseconds
-- (BIGINT); ids are prefixed ULIDs (TEXT); key hashes are 32-byte SHA-256
-- (BYTEA). Text columns that are sorted or paged on use the "C" collation,
-- so that order is byte order, as in SQLite, whatever the database's locale.
CREATE TABLE orgs (
    id          TEXT COLLATE "C" PRIMARY KEY,
    name        TEXT NOT NULL,
    slug        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    id            TEXT COLLATE "C" PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    password_hash TEXT,
    created_at    BIGINT NOT NULL
);

CREATE TABLE memberships (
    org_id      TEXT COLLATE "C" NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id     TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);

CREATE TABLE projects (
    id          TEXT COLLATE "C" PRIMARY KEY,
    org_id      TEXT COLLATE "C" NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX projects_by_org ON projects(org_id, id);

CREATE TABLE api_keys (
    id                    TEXT COLLATE "C" PRIMARY KEY,
    org_id                TEXT COLLATE "C" NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    project_id            TEXT COLLATE "C" REFERENCES projects(id) ON DELETE SET NULL,
    name                  TEXT NOT NULL,
    key_hash              BYTEA NOT NULL UNIQUE,
    key_prefix            TEXT NOT NULL,
    key_hint              TEXT NOT NULL,
    environment           TEXT NOT NULL CHECK (environment IN ('live', 'test')),
    kind                  TEXT NOT NULL CHECK (kind IN ('standard', 'restricted')),
    scopes                TEXT NOT NULL,           -- JSON array of canonical scope strings
    owner_user_id         TEXT COLLATE "C" REFERENCES users(id),
    created_by_user_id    TEXT COLLATE "C",
    created_by_key_id     TEXT COLLATE "C",
    rate_limit_per_minute BIGINT,
    rate_limit_per_day    BIGINT,
    expires_at            BIGINT,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL,
    last_used_at          BIGINT,
    revoked_at            BIGINT,
    rotated_from          TEXT COLLATE "C",
    rotated_to            TEXT COLLATE "C"
);
CREATE INDEX api_keys_by_org ON api_keys(org_id, id);
CREATE INDEX api_keys_by_project ON api_keys(project_id);
