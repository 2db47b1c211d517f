-- Secrets (envelope-encrypted: values sealed with a per-organization data key,
-- which is stored wrapped by the operator's master key) and SSH public keys.
CREATE TABLE org_data_keys (
    org_id        TEXT PRIMARY KEY REFERENCES orgs(id) ON DELETE CASCADE,
    master_key_id TEXT NOT NULL,          -- mk_…: which master key wrapped it
    wrapped       BLOB NOT NULL,          -- 0x01 || nonce || XChaCha20-Poly1305 ciphertext
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE secrets (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    owner_user_id TEXT REFERENCES users(id) ON DELETE CASCADE,   -- NULL: organization-wide
    name          TEXT NOT NULL,
    category      TEXT NOT NULL,
    ciphertext    BLOB NOT NULL,          -- sealed value; never the plaintext
    version       INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE UNIQUE INDEX secrets_org_wide_name ON secrets(org_id, name) WHERE owner_user_id IS NULL;
CREATE UNIQUE INDEX secrets_user_name ON secrets(org_id, owner_user_id, name) WHERE owner_user_id IS NOT NULL;
CREATE INDEX secrets_by_org ON secrets(org_id, id);

CREATE TABLE ssh_keys (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    owner_user_id TEXT REFERENCES users(id) ON DELETE CASCADE,   -- NULL: organization-wide
    name          TEXT NOT NULL,
    algorithm     TEXT NOT NULL,
    public_key    TEXT NOT NULL,          -- "<type> <base64>", no comment
    comment       TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,          -- SHA256:… as ssh-keygen -l prints it
    bits          INTEGER NOT NULL,
    is_default    INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);
CREATE UNIQUE INDEX ssh_keys_org_wide_fingerprint ON ssh_keys(org_id, fingerprint) WHERE owner_user_id IS NULL;
CREATE UNIQUE INDEX ssh_keys_user_fingerprint ON ssh_keys(org_id, owner_user_id, fingerprint)
    WHERE owner_user_id IS NOT NULL;
CREATE UNIQUE INDEX ssh_keys_one_default ON ssh_keys(org_id, owner_user_id) WHERE is_default = 1;
CREATE INDEX ssh_keys_by_org ON ssh_keys(org_id, id);
