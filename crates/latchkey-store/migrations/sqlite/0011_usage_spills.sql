-- Chunks of usage spill files already replayed. A node that cannot write all
-- its pending usage within the shutdown deadline writes the rest to a spill
-- file in its data directory; the next start adds it to key_usage and
-- api_keys.last_used_at chunk by chunk, each in one transaction with its row
-- here, so a replay cut short and repeated skips what was added: nothing is
-- counted twice. The rows of a spill are deleted once its file is.
CREATE TABLE usage_spill_chunks (
    spill      TEXT NOT NULL,     -- the spill file's id
    chunk      INTEGER NOT NULL,  -- its chunk, from 0
    applied_at INTEGER NOT NULL,  -- ms since the epoch
    PRIMARY KEY (spill, chunk)
);
