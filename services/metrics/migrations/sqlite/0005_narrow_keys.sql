-- INGEST keys allowed both ingestion methods; they are split into RELAY
-- keys (PublishEvents) and ROSTER keys (ImportGraduateRoster). An INGEST
-- key was most likely the relay's, so it becomes a RELAY key; a university
-- that imported its roster with one needs a ROSTER key. `migrated_from`
-- marks such keys ('INGEST'), so that the service names each one still
-- active in a warning at start.
--
-- SQLite cannot change a CHECK constraint: the table is rebuilt (nothing
-- refers to it).
CREATE TABLE api_keys_narrow (
    id                   TEXT PRIMARY KEY,
    kind                 TEXT NOT NULL CHECK (kind IN ('RELAY', 'ROSTER', 'READ', 'OPERATOR')),
    display_name         TEXT NOT NULL,
    key_hash             TEXT NOT NULL UNIQUE,   -- hex SHA-256 of the secret
    secret_prefix        TEXT NOT NULL,
    disclosure_threshold BIGINT NOT NULL,
    created_at           BIGINT NOT NULL,
    revoked_at           BIGINT,
    protection           TEXT NOT NULL DEFAULT ''
                         CHECK (protection IN ('', 'EXACT', 'PERTURBED')),
    migrated_from        TEXT NOT NULL DEFAULT ''
);
INSERT INTO api_keys_narrow (id, kind, display_name, key_hash, secret_prefix,
                             disclosure_threshold, created_at, revoked_at,
                             protection, migrated_from)
SELECT id, CASE kind WHEN 'INGEST' THEN 'RELAY' ELSE kind END, display_name,
       key_hash, secret_prefix, disclosure_threshold, created_at, revoked_at,
       protection, CASE kind WHEN 'INGEST' THEN 'INGEST' ELSE '' END
FROM api_keys;
DROP TABLE api_keys;
ALTER TABLE api_keys_narrow RENAME TO api_keys;
CREATE INDEX api_keys_created ON api_keys (created_at, id);
