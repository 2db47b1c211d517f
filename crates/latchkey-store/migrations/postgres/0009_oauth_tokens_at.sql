-- When a connection's current tokens were stored (its connect or its last
-- refresh): a refresh is due by the lifetime the access token had then, so
-- this must not move when the connection changes otherwise (a new default).
ALTER TABLE oauth_connections ADD COLUMN tokens_at BIGINT NOT NULL DEFAULT 0;
UPDATE oauth_connections SET tokens_at = updated_at;
