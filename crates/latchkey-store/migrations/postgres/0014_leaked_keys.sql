-- Leaked keys (issue 26, points 7-8): when a key was first reported leaked
-- (by a secret scanner's signed report, POST /v1/leaks, or by an admin,
-- POST /v1/api-keys/{id}/report-leak), and what an organization does with a
-- live key reported leaked: `revoke` it at once (the default) or only `flag`
-- it (leaked_at set, the key keeps working). leaked_at is not in the key
-- change log's trigger: flagging alters no verification, and a revocation
-- changes revoked_at, which is.
ALTER TABLE api_keys ADD COLUMN leaked_at BIGINT;
ALTER TABLE orgs ADD COLUMN leak_action TEXT NOT NULL DEFAULT 'revoke' CHECK (leak_action IN ('revoke', 'flag'));
