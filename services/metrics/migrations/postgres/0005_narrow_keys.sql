-- INGEST keys allowed both ingestion methods; they are split into RELAY
-- keys (PublishEvents) and ROSTER keys (ImportGraduateRoster). An INGEST
-- key was most likely the relay's, so it becomes a RELAY key; a university
-- that imported its roster with one needs a ROSTER key. `migrated_from`
-- marks such keys ('INGEST'), so that the service names each one still
-- active in a warning at start.
ALTER TABLE api_keys DROP CONSTRAINT api_keys_kind_check;
ALTER TABLE api_keys ADD COLUMN migrated_from TEXT NOT NULL DEFAULT '';
UPDATE api_keys SET kind = 'RELAY', migrated_from = 'INGEST' WHERE kind = 'INGEST';
ALTER TABLE api_keys ADD CONSTRAINT api_keys_kind_check
    CHECK (kind IN ('RELAY', 'ROSTER', 'READ', 'OPERATOR'));
