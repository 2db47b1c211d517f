-- The usage write-behind's cost per key (issue 25, point 5).
--
-- 1. key_usage's foreign key to api_keys is replaced by a trigger that
--    deletes a key's counts with the key. Every statement that adds counts
--    (`write_usage` in src/postgres/mod.rs, the only writer of this table)
--    joins each count to its key row and locks that row `FOR KEY SHARE`, in
--    key order, skipping a key deleted meanwhile: a count is only ever added
--    for a key that exists and cannot be deleted before the count commits.
--    The foreign key's check repeated that lock row by row (an internal
--    query per inserted count: about half of the cost of writing a new
--    day's counts, measured with EXPLAIN ANALYZE).
-- 2. key_usage leaves room on its pages, so that adding to a count (the
--    steady state: one row per key, day and outcome, updated every sweep)
--    can be a HOT update that touches no index.
ALTER TABLE key_usage DROP CONSTRAINT key_usage_key_id_fkey;

CREATE FUNCTION delete_key_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM key_usage WHERE key_id IN (SELECT id FROM gone);
    RETURN NULL;
END $$;

CREATE TRIGGER api_keys_usage_deleted AFTER DELETE ON api_keys
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION delete_key_usage();

ALTER TABLE key_usage SET (fillfactor = 70);
