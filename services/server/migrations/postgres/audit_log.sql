-- The audit log: one row per audited call (talent_server::audit).
-- `at` is when the call arrived, in microseconds since the Unix epoch;
-- `key_name` the key's resource name, `admin`, or empty; `request_json`
-- the request without its personal fields; `code` a google.rpc.Code.
CREATE TABLE audit_events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    key_name TEXT NOT NULL,
    method TEXT NOT NULL,
    request_json TEXT NOT NULL,
    code INTEGER NOT NULL,
    message TEXT NOT NULL
);
-- Listing newest first, pruning by age, and both for one key.
CREATE INDEX audit_events_at ON audit_events (at, id);
CREATE INDEX audit_events_key_at ON audit_events (key_name, at, id);
