-- Organization key policies and per-key IP rules (issue 27).
--
-- `api_keys.allowed_cidrs`: the networks a key may be used from, a JSON
-- array of CIDR texts, or NULL (the organization's policy list applies, if
-- any). `org_key_policies`: one row per organization that has a policy;
-- `allowed_scopes` and `allowed_cidrs` are JSON arrays or NULL (no rule).
ALTER TABLE api_keys ADD COLUMN allowed_cidrs TEXT;

CREATE TABLE org_key_policies (
    org_id                        TEXT COLLATE "C" PRIMARY KEY REFERENCES orgs(id) ON DELETE CASCADE,
    max_lifetime                  TEXT,
    require_expiry                BOOLEAN NOT NULL DEFAULT FALSE,
    forbid_wildcard_in_live       BOOLEAN NOT NULL DEFAULT FALSE,
    allowed_scopes                TEXT,
    default_rate_limit_per_minute BIGINT,
    default_rate_limit_per_day    BIGINT,
    allowed_cidrs                 TEXT,
    updated_at                    BIGINT NOT NULL
);

-- A key's own networks change what a verification answers.
CREATE FUNCTION log_api_key_cidrs_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO key_changes (key_hash) VALUES (NEW.key_hash);
    RETURN NEW;
END $$;

CREATE TRIGGER api_keys_cidrs_logged AFTER UPDATE OF allowed_cidrs ON api_keys
    FOR EACH ROW WHEN (OLD.allowed_cidrs IS DISTINCT FROM NEW.allowed_cidrs)
    EXECUTE FUNCTION log_api_key_cidrs_change();

-- The policy's networks apply to every key of the organization without its
-- own: a change of them changes those keys' answers.
CREATE FUNCTION log_key_policy_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.allowed_cidrs IS NOT DISTINCT FROM NEW.allowed_cidrs THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'INSERT' AND NEW.allowed_cidrs IS NULL THEN
        RETURN NEW;
    END IF;
    INSERT INTO key_changes (key_hash)
        SELECT key_hash FROM api_keys WHERE org_id = NEW.org_id AND allowed_cidrs IS NULL;
    RETURN NEW;
END $$;

CREATE TRIGGER org_key_policies_logged AFTER INSERT OR UPDATE ON org_key_policies
    FOR EACH ROW EXECUTE FUNCTION log_key_policy_change();
