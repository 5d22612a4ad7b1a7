-- The metrics service's schema. Portable SQL: dates are INTEGER days since
-- 1970-01-01 (city time), instants INTEGER unix microseconds, ids TEXT.

-- Keys of this service's callers: INGEST (the recruiting service, roster
-- importers), READ (the HR bureau) and OPERATOR. Only hashes are stored.
CREATE TABLE api_keys (
    id                   TEXT PRIMARY KEY,
    kind                 TEXT NOT NULL CHECK (kind IN ('INGEST', 'READ', 'OPERATOR')),
    display_name         TEXT NOT NULL,
    key_hash             TEXT NOT NULL UNIQUE,   -- hex SHA-256 of the secret
    secret_prefix        TEXT NOT NULL,
    disclosure_threshold BIGINT NOT NULL,
    created_at           BIGINT NOT NULL,
    revoked_at           BIGINT
);
CREATE INDEX api_keys_created ON api_keys (created_at, id);

-- Exactly-once: every event id ever applied or rejected, written in the
-- same transaction as the event's effect.
CREATE TABLE applied_events (
    event_id   TEXT PRIMARY KEY,
    source     TEXT NOT NULL,
    sequence   BIGINT NOT NULL,
    outcome    TEXT NOT NULL,
    applied_at BIGINT NOT NULL
);

-- ---------------------------------------------------------------------
-- Facts: the latest known state of each thing the events describe. Read
-- only to recompute one entity's contribution, never by queries.
CREATE TABLE employments (
    employment_id TEXT PRIMARY KEY,
    person_key    TEXT NOT NULL,
    hired         BIGINT NOT NULL DEFAULT 0,   -- 1 once the Hired fact arrived
    district      TEXT NOT NULL DEFAULT '',
    industry      TEXT NOT NULL DEFAULT '',
    in_city       BIGINT NOT NULL DEFAULT 0,
    start_day     BIGINT NOT NULL DEFAULT 0,
    platform      TEXT NOT NULL DEFAULT '',
    recorded_at   BIGINT NOT NULL DEFAULT 0,   -- the Hired event's recorded_at
    end_day       BIGINT,
    end_revision  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX employments_person ON employments (person_key);

CREATE TABLE resumes (
    resume_id  TEXT PRIMARY KEY,
    revision   BIGINT NOT NULL,
    person_key TEXT NOT NULL,
    platform   TEXT NOT NULL,
    first_day  BIGINT NOT NULL,
    degree     BIGINT NOT NULL,
    title      BIGINT NOT NULL,
    skill      BIGINT NOT NULL
);
CREATE INDEX resumes_person ON resumes (person_key);

-- The graduate roster; the key is (person, university, degree level).
CREATE TABLE roster (
    person_key      TEXT NOT NULL,
    university_code TEXT NOT NULL,
    degree          BIGINT NOT NULL,
    university_name TEXT NOT NULL,
    discipline      BIGINT NOT NULL,
    graduation_day  BIGINT NOT NULL,
    cohort          BIGINT NOT NULL,
    imported_at     BIGINT NOT NULL,
    import_seq      BIGINT NOT NULL,
    PRIMARY KEY (person_key, university_code, degree)
);

CREATE TABLE universities (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE postings (
    posting_id  TEXT PRIMARY KEY,
    revision    BIGINT NOT NULL,
    opening_id  TEXT NOT NULL,
    employer    TEXT NOT NULL,
    district    TEXT NOT NULL,
    industry    TEXT NOT NULL,
    headcount   BIGINT NOT NULL,
    publish_at  BIGINT NOT NULL,
    publish_day BIGINT NOT NULL,
    platform    TEXT NOT NULL
);
CREATE INDEX postings_opening ON postings (opening_id);
CREATE INDEX postings_employer ON postings (employer);

CREATE TABLE fairs (
    fair_id   TEXT PRIMARY KEY,
    platform  TEXT NOT NULL,
    start_day BIGINT NOT NULL
);

CREATE TABLE fair_participations (
    fair_id       TEXT NOT NULL,
    employer      TEXT NOT NULL,
    district      TEXT NOT NULL,
    industry      TEXT NOT NULL,
    platform      TEXT NOT NULL,
    start_day     BIGINT NOT NULL,
    register_at   BIGINT NOT NULL,
    PRIMARY KEY (fair_id, employer)
);

CREATE TABLE applications (
    application_id TEXT PRIMARY KEY,
    district       TEXT NOT NULL,
    industry       TEXT NOT NULL,
    platform       TEXT NOT NULL,
    submit_day     BIGINT NOT NULL
);

CREATE TABLE erasures (
    person_key TEXT PRIMARY KEY,
    erased_at  BIGINT NOT NULL
);

-- What each entity (person, posting, opening, employer, ...) currently
-- contributes to the aggregates, so a change is applied as a difference.
CREATE TABLE entity_state (
    kind         TEXT NOT NULL,
    id           TEXT NOT NULL,
    contribution TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);

-- ---------------------------------------------------------------------
-- Aggregates. `*_log`: signed differences stamped with the instant they
-- were committed (`known_at`), for "as known at". `*_now`: the same summed
-- over all time, one row per cell, for the current figures.
CREATE TABLE agg_gathered_log (
    day BIGINT NOT NULL, district TEXT NOT NULL, industry TEXT NOT NULL,
    platform TEXT NOT NULL, tier BIGINT NOT NULL,
    n BIGINT NOT NULL, known_at BIGINT NOT NULL
);
CREATE INDEX agg_gathered_log_day ON agg_gathered_log (day);
CREATE TABLE agg_gathered_now (
    day BIGINT NOT NULL, district TEXT NOT NULL, industry TEXT NOT NULL,
    platform TEXT NOT NULL, tier BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (day, district, industry, platform, tier)
);

CREATE TABLE agg_outcome_log (
    cohort BIGINT NOT NULL, day BIGINT NOT NULL, university TEXT NOT NULL,
    degree BIGINT NOT NULL, discipline BIGINT NOT NULL,
    district TEXT NOT NULL, industry TEXT NOT NULL,
    n BIGINT NOT NULL, known_at BIGINT NOT NULL
);
CREATE INDEX agg_outcome_log_cohort ON agg_outcome_log (cohort, day);
CREATE TABLE agg_outcome_now (
    cohort BIGINT NOT NULL, day BIGINT NOT NULL, university TEXT NOT NULL,
    degree BIGINT NOT NULL, discipline BIGINT NOT NULL,
    district TEXT NOT NULL, industry TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (cohort, day, university, degree, discipline, district, industry)
);

CREATE TABLE agg_activity_log (
    kind TEXT NOT NULL, day BIGINT NOT NULL, district TEXT NOT NULL,
    industry TEXT NOT NULL, platform TEXT NOT NULL, tier BIGINT NOT NULL,
    n BIGINT NOT NULL, headcount BIGINT NOT NULL, known_at BIGINT NOT NULL
);
CREATE INDEX agg_activity_log_day ON agg_activity_log (day);
CREATE TABLE agg_activity_now (
    kind TEXT NOT NULL, day BIGINT NOT NULL, district TEXT NOT NULL,
    industry TEXT NOT NULL, platform TEXT NOT NULL, tier BIGINT NOT NULL,
    n BIGINT NOT NULL, headcount BIGINT NOT NULL,
    PRIMARY KEY (kind, day, district, industry, platform, tier)
);
CREATE INDEX agg_activity_now_day ON agg_activity_now (day);

-- Distinct counts (employers posting, distinct job seekers) cannot be
-- summed over days, so these keep one row per entity and day.
CREATE TABLE agg_distinct_log (
    kind TEXT NOT NULL, entity TEXT NOT NULL, day BIGINT NOT NULL,
    district TEXT NOT NULL, industry TEXT NOT NULL, platform TEXT NOT NULL,
    tier BIGINT NOT NULL, n BIGINT NOT NULL, known_at BIGINT NOT NULL
);
CREATE INDEX agg_distinct_log_day ON agg_distinct_log (day);
CREATE TABLE agg_distinct_now (
    kind TEXT NOT NULL, entity TEXT NOT NULL, day BIGINT NOT NULL,
    district TEXT NOT NULL, industry TEXT NOT NULL, platform TEXT NOT NULL,
    tier BIGINT NOT NULL, n BIGINT NOT NULL,
    PRIMARY KEY (kind, entity, day, district, industry, platform, tier)
);
CREATE INDEX agg_distinct_now_day ON agg_distinct_now (day);
