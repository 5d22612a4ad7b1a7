-- Platforms that push data, and the hashes of their API keys.
CREATE TABLE platforms (
    id           TEXT PRIMARY KEY,          -- resource id, e.g. "zhaopin"
    display_name TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    disabled_at  TIMESTAMPTZ
);

CREATE TABLE platform_keys (
    id          TEXT PRIMARY KEY,
    platform_id TEXT NOT NULL REFERENCES platforms(id),
    key_hash    BYTEA NOT NULL UNIQUE,      -- SHA-256 of the secret; the secret is never stored
    created_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);
