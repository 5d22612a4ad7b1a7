-- Keys may be issued with an expiry (unix microseconds); NULL: none. An
-- expired key is refused like a revoked one.
ALTER TABLE api_keys ADD COLUMN expire_at BIGINT;
