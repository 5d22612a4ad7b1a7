-- Keys of this service's callers: INGEST (the recruiting service, roster
-- importers), READ (the HR bureau) and OPERATOR. Only hashes are stored.
CREATE TABLE api_keys (
    id                   TEXT PRIMARY KEY,
    kind                 TEXT NOT NULL CHECK (kind IN ('INGEST', 'READ', 'OPERATOR')),
    display_name         TEXT NOT NULL,
    key_hash             BYTEA NOT NULL UNIQUE,  -- SHA-256 of the secret
    disclosure_threshold INTEGER NOT NULL DEFAULT 5,
    created_at           TIMESTAMPTZ NOT NULL,
    revoked_at           TIMESTAMPTZ
);
