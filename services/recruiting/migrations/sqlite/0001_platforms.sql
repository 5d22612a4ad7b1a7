-- Platforms that push data, and the hashes of their API keys.
CREATE TABLE platforms (
    id           TEXT PRIMARY KEY,          -- resource id, e.g. "zhaopin"
    display_name TEXT NOT NULL,
    created_at   TEXT NOT NULL,             -- RFC 3339, UTC
    disabled_at  TEXT
);

CREATE TABLE platform_keys (
    id          TEXT PRIMARY KEY,
    platform_id TEXT NOT NULL REFERENCES platforms(id),
    key_hash    BLOB NOT NULL UNIQUE,       -- SHA-256 of the secret; the secret is never stored
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
