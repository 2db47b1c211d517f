-- Organization key policies and per-key IP rules (issue 27).
--
-- `api_keys.allowed_cidrs`: the networks a key may be used from, a JSON
-- array of CIDR texts, or NULL (the organization's policy list applies, if
-- any). `org_key_policies`: one row per organization that has a policy;
-- `allowed_scopes` and `allowed_cidrs` are JSON arrays or NULL (no rule).
ALTER TABLE api_keys ADD COLUMN allowed_cidrs TEXT;

CREATE TABLE org_key_policies (
    org_id                        TEXT PRIMARY KEY REFERENCES orgs(id) ON DELETE CASCADE,
    max_lifetime                  TEXT,
    require_expiry                INTEGER NOT NULL DEFAULT 0,
    forbid_wildcard_in_live       INTEGER NOT NULL DEFAULT 0,
    allowed_scopes                TEXT,
    default_rate_limit_per_minute INTEGER,
    default_rate_limit_per_day    INTEGER,
    allowed_cidrs                 TEXT,
    updated_at                    INTEGER NOT NULL
);

-- A key's own networks change what a verification answers.
CREATE TRIGGER api_keys_cidrs_logged_update AFTER UPDATE OF allowed_cidrs ON api_keys
WHEN old.allowed_cidrs IS NOT new.allowed_cidrs
BEGIN
    INSERT INTO key_changes (key_hash, changed_at) VALUES (new.key_hash, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;

-- The policy's networks apply to every key of the organization without its
-- own: a change of them changes those keys' answers.
CREATE TRIGGER org_key_policies_logged_insert AFTER INSERT ON org_key_policies
WHEN new.allowed_cidrs IS NOT NULL
BEGIN
    INSERT INTO key_changes (key_hash, changed_at)
        SELECT key_hash, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) FROM api_keys
        WHERE org_id = new.org_id AND allowed_cidrs IS NULL;
END;

CREATE TRIGGER org_key_policies_logged_update AFTER UPDATE ON org_key_policies
WHEN old.allowed_cidrs IS NOT new.allowed_cidrs
BEGIN
    INSERT INTO key_changes (key_hash, changed_at)
        SELECT key_hash, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) FROM api_keys
        WHERE org_id = new.org_id AND allowed_cidrs IS NULL;
END;
