-- Keys imported from another system by their hash (issue 27, point 5).
--
-- `imported`: the key was not minted here (`POST /v1/api-keys/import`): its
-- `key_prefix` is the text the import gave (another system's display
-- prefix, possibly empty) and it has no `key_hint`. The verifier looks
-- presented strings of another format up by their hash only while some
-- key is imported; the partial index answers that at once.
-- `external_id`: the key's id in the system it came from, if given.
ALTER TABLE api_keys ADD COLUMN imported BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE api_keys ADD COLUMN external_id TEXT;
CREATE INDEX api_keys_imported ON api_keys(org_id) WHERE imported = TRUE;
