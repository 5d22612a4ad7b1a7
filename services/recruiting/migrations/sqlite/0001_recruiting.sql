-- The recruiting schema (SQLite). Times are unix microseconds (INTEGER),
-- ids TEXT, flags and enums INTEGER, so that the same queries read both back
-- ends (see ../postgres for the PostgreSQL twin).

-- Platforms that push data, and the hashes of their API keys.
CREATE TABLE platforms (
    id           TEXT PRIMARY KEY,          -- e.g. "zhaopin"
    display_name TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    disabled_at  INTEGER
);

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,         -- lower-case UUID
    platform_id   TEXT NOT NULL REFERENCES platforms(id),
    key_hash      BLOB NOT NULL UNIQUE,     -- SHA-256 of the secret; the secret is never stored
    secret_prefix TEXT NOT NULL,            -- first 8 characters, to recognise a key
    created_at    INTEGER NOT NULL,
    expire_at     INTEGER                   -- NULL: no expiry
);
CREATE INDEX api_keys_platform ON api_keys (platform_id);

-- request_id idempotency (AIP-155): the first result of each request id.
CREATE TABLE idempotency (
    scope       TEXT NOT NULL,              -- "admin" or the platform id
    request_id  TEXT NOT NULL,
    fingerprint BLOB NOT NULL,              -- SHA-256 of the canonical request
    resource    TEXT NOT NULL,              -- id of what the first call created
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (scope, request_id)
);

-- Employers: one shared record per credit code; last write wins per field.
CREATE TABLE employers (
    credit_code   TEXT PRIMARY KEY,
    display_name  TEXT NOT NULL,
    district      TEXT NOT NULL,
    industry      TEXT NOT NULL,
    size          INTEGER NOT NULL,
    field_sources TEXT NOT NULL,            -- JSON {field: [platform, write time]}
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- Which platforms have upserted an employer (and so may see it).
CREATE TABLE employer_platforms (
    platform_id TEXT NOT NULL REFERENCES platforms(id),
    credit_code TEXT NOT NULL REFERENCES employers(credit_code),
    PRIMARY KEY (platform_id, credit_code)
);

CREATE TABLE fairs (
    platform_id  TEXT NOT NULL REFERENCES platforms(id),
    fair_id      TEXT NOT NULL,
    display_name TEXT NOT NULL,
    format       INTEGER NOT NULL,
    start_at     INTEGER NOT NULL,
    end_at       INTEGER NOT NULL,
    district     TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (platform_id, fair_id)
);

CREATE TABLE fair_participations (
    platform_id TEXT NOT NULL,
    fair_id     TEXT NOT NULL,
    credit_code TEXT NOT NULL REFERENCES employers(credit_code),
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (platform_id, fair_id, credit_code),
    FOREIGN KEY (platform_id, fair_id) REFERENCES fairs(platform_id, fair_id)
);

CREATE TABLE postings (
    platform_id      TEXT NOT NULL REFERENCES platforms(id),
    external_id      TEXT NOT NULL,
    title            TEXT NOT NULL,
    title_key        TEXT NOT NULL,         -- normalised title of the opening match
    description      TEXT NOT NULL,
    employer_code    TEXT NOT NULL REFERENCES employers(credit_code),
    district         TEXT NOT NULL,
    industry         TEXT NOT NULL,
    occupation       TEXT NOT NULL,
    min_degree       INTEGER NOT NULL,
    experience_years INTEGER NOT NULL,
    salary_min       INTEGER,
    salary_max       INTEGER,
    headcount        INTEGER NOT NULL,
    employment_type  INTEGER NOT NULL,
    publish_at       INTEGER NOT NULL,
    expire_at        INTEGER NOT NULL,
    fair_id          TEXT,
    tags             TEXT NOT NULL,         -- JSON array of strings
    close_reason     INTEGER NOT NULL,      -- 0 open, 1 closed, 2 expired (recorded)
    closed_at        INTEGER,
    opening_id       TEXT NOT NULL,
    revision         INTEGER NOT NULL,      -- PostingFacts.revision
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (platform_id, external_id)
);
CREATE INDEX postings_opening_match ON postings (employer_code, title_key, district);
CREATE INDEX postings_by_update ON postings (platform_id, updated_at, external_id);
CREATE INDEX postings_open_expiry ON postings (expire_at) WHERE close_reason = 0;

-- Résumés. The personal fields (resident ID number, name, phone, e-mail)
-- exist only inside `pii`: XChaCha20-Poly1305, nonce ‖ ciphertext, the
-- résumé's resource name as associated data. NULL once erased.
CREATE TABLE resumes (
    platform_id TEXT NOT NULL REFERENCES platforms(id),
    external_id TEXT NOT NULL,
    person_key  TEXT NOT NULL,              -- HMAC-SHA256(city secret, resident ID), hex
    pii         BLOB,
    attributes  TEXT NOT NULL,              -- JSON: education, title, skill, preferences
    consent     INTEGER NOT NULL,           -- 1: statistical use consented
    consent_at  INTEGER NOT NULL,
    erased_at   INTEGER,
    revision    INTEGER NOT NULL,           -- ResumeReceived.revision
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (platform_id, external_id)
);
CREATE INDEX resumes_person ON resumes (person_key);

-- Employments: hires (direct or from applications) and separations.
-- Dates are TEXT 'YYYY-MM-DD' (they sort as dates).
CREATE TABLE employments (
    platform_id         TEXT NOT NULL REFERENCES platforms(id),
    employment_id       TEXT NOT NULL,
    resume_id           TEXT,
    person_key          TEXT NOT NULL,
    employer_code       TEXT NOT NULL REFERENCES employers(credit_code),
    district            TEXT NOT NULL,
    industry            TEXT NOT NULL,
    start_date          TEXT NOT NULL,
    end_date            TEXT,
    posting_id          TEXT,
    application_id      TEXT,
    separation_revision INTEGER NOT NULL,   -- Separated.revision
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    PRIMARY KEY (platform_id, employment_id)
);
CREATE INDEX employments_by_start ON employments (platform_id, start_date, employment_id);
CREATE INDEX employments_person ON employments (person_key);

-- Applications: a résumé delivered to a posting, with every transition.
CREATE TABLE applications (
    platform_id    TEXT NOT NULL REFERENCES platforms(id),
    application_id TEXT NOT NULL,
    resume_id      TEXT NOT NULL,
    posting_id     TEXT NOT NULL,
    fair_id        TEXT,
    state          INTEGER NOT NULL,        -- talent.recruiting.v1.ApplicationState
    history        TEXT NOT NULL,           -- JSON [[from, to, time, reason], ...]
    submit_at      INTEGER NOT NULL,
    employment_id  TEXT,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (platform_id, application_id)
);
CREATE INDEX applications_by_create ON applications (platform_id, created_at, application_id);

-- Events waiting for the relay, written in the same transaction as the
-- change they describe. `payload` is an encoded talent.events.v1.Event whose
-- `sequence` equals `seq`; seq order is commit order (writers hold the
-- database's write lock while they append).
CREATE TABLE outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     TEXT NOT NULL UNIQUE,
    payload      BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    delivered_at INTEGER,
    rejected     INTEGER NOT NULL DEFAULT 0      -- 1: refused by metrics; kept for inspection
);
CREATE INDEX outbox_undelivered ON outbox (seq) WHERE delivered_at IS NULL;

-- The relay's lease: one replica at a time delivers the outbox (one row).
CREATE TABLE relay_lease (
    id         INTEGER PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at INTEGER NOT NULL               -- unix microseconds
);
