-- OAuth connections: latchkey as the OAuth client of third-party providers
-- (the catalog is in the configuration), holding people's and
-- organizations' grants. Tokens and client secrets are sealed with the
-- organization's data key, like secrets: only ciphertext is stored here.

-- An organization's own client credentials for a catalog provider (set by
-- its admins), used instead of the operator's.
CREATE TABLE oauth_clients (
    org_id               TEXT COLLATE "C" NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    provider             TEXT NOT NULL,       -- the catalog provider's id
    client_id            TEXT NOT NULL,
    client_secret_sealed BYTEA,               -- sealed; NULL: a public client
    updated_at           BIGINT NOT NULL,
    PRIMARY KEY (org_id, provider)
);

-- A person's or an organization's grant at a provider, one per (owner,
-- provider, account at the provider): reconnecting the same account updates
-- it in place. `version` moves on every token change; a refresh is made by
-- the one holder of a lease taken on a version (`refresh_lease_*`).
CREATE TABLE oauth_connections (
    id                   TEXT COLLATE "C" PRIMARY KEY,   -- ocn_…
    org_id               TEXT COLLATE "C" NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    owner_user_id        TEXT COLLATE "C" REFERENCES users(id) ON DELETE CASCADE,   -- NULL: the organization's (shared)
    provider             TEXT NOT NULL,
    account_id           TEXT NOT NULL,       -- the provider's id of the account
    account_label        TEXT NOT NULL,
    requested_scopes     TEXT NOT NULL,       -- space-separated
    granted_scopes       TEXT NOT NULL,       -- space-separated; providers may grant less
    access_token_sealed  BYTEA NOT NULL,
    refresh_token_sealed BYTEA,
    token_type           TEXT NOT NULL,
    expires_at           BIGINT,              -- of the access token; NULL: not said
    status               TEXT NOT NULL CHECK (status IN ('active', 'needs_reauthorization', 'revoked')),
    is_default           BOOLEAN NOT NULL DEFAULT FALSE,
    version              BIGINT NOT NULL,
    refresh_lease_until  BIGINT,
    refresh_lease_holder TEXT,
    cooldown_until       BIGINT,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);
CREATE UNIQUE INDEX oauth_connections_account
    ON oauth_connections(org_id, coalesce(owner_user_id, ''), provider, account_id);
CREATE UNIQUE INDEX oauth_connections_one_default
    ON oauth_connections(org_id, coalesce(owner_user_id, ''), provider) WHERE is_default;

-- Connections in progress (`POST /v1/oauth/connect`): found by id (the
-- waiting client's poll) and by the SHA-256 of the `state` sent to the
-- provider (the callback; once: taking it moves it out of `pending`).
CREATE TABLE oauth_connect_requests (
    id            TEXT COLLATE "C" PRIMARY KEY,   -- ocr_…
    org_id        TEXT COLLATE "C" NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id       TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,   -- who asked: only they may finish it
    provider      TEXT NOT NULL,
    scopes        TEXT NOT NULL,              -- requested, space-separated
    shared        BOOLEAN NOT NULL,
    state_hash    BYTEA NOT NULL UNIQUE,
    pkce_verifier TEXT NOT NULL,              -- server-side only, never sent but to the provider's token endpoint
    status        TEXT NOT NULL CHECK (status IN ('pending', 'exchanging', 'completed', 'failed')),
    error         TEXT,
    connection_id TEXT COLLATE "C" REFERENCES oauth_connections(id) ON DELETE SET NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX oauth_connect_requests_by_org ON oauth_connect_requests(org_id, id);
CREATE INDEX oauth_connect_requests_by_expiry ON oauth_connect_requests(expires_at);
