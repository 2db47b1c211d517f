-- Single sign-on (OpenID Connect), the CLI's browser login and the device flow.

-- Whether a user's email is known to be theirs: set when an invitation sent
-- to it was used, when the operator created the account, or when an identity
-- provider vouched for it at a just-in-time sign-up. Email linking
-- (`link_by_verified_email`) needs it.
ALTER TABLE users ADD COLUMN email_verified_at INTEGER;
UPDATE users SET email_verified_at = (SELECT min(accepted_at) FROM invitations WHERE accepted_by = users.id);

-- A person's identities at identity providers, by (issuer, subject): never by
-- a claim that can change.
CREATE TABLE user_identities (
    id           TEXT PRIMARY KEY,          -- idn_…
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider     TEXT NOT NULL,             -- the configured provider's id
    issuer       TEXT NOT NULL,
    subject      TEXT NOT NULL,
    email        TEXT,                      -- as the provider said at the last sign-in
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    UNIQUE (issuer, subject)
);
CREATE INDEX user_identities_by_user ON user_identities(user_id, id);

-- Sign-ins in progress, each found by the SHA-256 of a secret its client
-- holds: an OpenID Connect authorization request (the `state`), a CLI's
-- one-time code, a device authorization (the device code; its user code is
-- hashed too). Single use: taking one deletes it.
CREATE TABLE auth_requests (
    hash           BLOB PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('oidc', 'cli_code', 'device')),
    user_code_hash BLOB UNIQUE,
    payload        TEXT NOT NULL,           -- the kind's own fields (JSON); no plaintext secret of the client's
    user_id        TEXT REFERENCES users(id) ON DELETE CASCADE,
    org_id         TEXT REFERENCES orgs(id) ON DELETE SET NULL,
    decision       TEXT CHECK (decision IN ('approved', 'denied')),
    polled_at      INTEGER,
    prev_polled_at INTEGER,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
);
CREATE INDEX auth_requests_by_expiry ON auth_requests(expires_at);
