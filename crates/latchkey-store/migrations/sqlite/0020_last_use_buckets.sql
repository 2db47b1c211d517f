-- The warm-up's index moves a key at most once per ten minutes of use,
-- not at every usage flush. `api_keys_by_last_used (last_used_at, id)`
-- had an entry deleted and inserted for every key whose `lastUsedAt` a
-- flush wrote (about once a minute per key in use): at a million keys in
-- use that was a random index page per key written, and about a sixth of
-- the verify rate (bench/RESULTS.md, "Issue 25: the warm-up's index by
-- ten-minute buckets"). `last_used_bucket` is `last_used_at` rounded down
-- to ten minutes (`LAST_USE_BUCKET_MS`), written only when it changes.
ALTER TABLE api_keys ADD COLUMN last_used_bucket INTEGER;
UPDATE api_keys SET last_used_bucket = last_used_at - last_used_at % 600000 WHERE last_used_at IS NOT NULL;
DROP INDEX api_keys_by_last_used;
CREATE INDEX api_keys_by_last_use_bucket ON api_keys(last_used_bucket, id);
