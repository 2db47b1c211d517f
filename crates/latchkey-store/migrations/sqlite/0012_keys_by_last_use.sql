-- The verifier's warm-up loads the keys used in the last hour, most recent
-- first (`KeyStore::recently_used_keys`): this index lets each page seek to
-- where the last one stopped instead of reading every key.
CREATE INDEX api_keys_by_last_used ON api_keys(last_used_at, id);
