-- The aggregate cells are stored in their primary key's order (WITHOUT
-- ROWID): a statistics query reads a range of the key and finds the count
-- and key sum in the same B-tree, instead of looking each cell up in the
-- table by its rowid, and an upsert writes one B-tree, not two. PostgreSQL
-- answers from index-only scans of its own and needs no change.

CREATE TABLE agg_gathered_now_c (
    day BIGINT NOT NULL, district TEXT NOT NULL, industry TEXT NOT NULL,
    platform TEXT NOT NULL, tier BIGINT NOT NULL,
    n BIGINT NOT NULL, key_sum BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, district, industry, platform, tier)
) WITHOUT ROWID;
INSERT INTO agg_gathered_now_c (day, district, industry, platform, tier, n, key_sum)
SELECT day, district, industry, platform, tier, n, key_sum FROM agg_gathered_now;
DROP TABLE agg_gathered_now;
ALTER TABLE agg_gathered_now_c RENAME TO agg_gathered_now;

CREATE TABLE agg_gathered_roll_c (
    level TEXT NOT NULL CHECK (level IN ('M', 'Y')),
    bucket BIGINT NOT NULL, district TEXT NOT NULL, industry TEXT NOT NULL,
    platform TEXT NOT NULL, tier BIGINT NOT NULL,
    n BIGINT NOT NULL, key_sum BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (level, bucket, district, industry, platform, tier)
) WITHOUT ROWID;
INSERT INTO agg_gathered_roll_c (level, bucket, district, industry, platform, tier, n, key_sum)
SELECT level, bucket, district, industry, platform, tier, n, key_sum FROM agg_gathered_roll;
DROP TABLE agg_gathered_roll;
ALTER TABLE agg_gathered_roll_c RENAME TO agg_gathered_roll;

CREATE TABLE agg_outcome_now_c (
    cohort BIGINT NOT NULL, day BIGINT NOT NULL, university TEXT NOT NULL,
    degree BIGINT NOT NULL, discipline BIGINT NOT NULL,
    district TEXT NOT NULL, industry TEXT NOT NULL,
    n BIGINT NOT NULL, key_sum BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (cohort, day, university, degree, discipline, district, industry)
) WITHOUT ROWID;
INSERT INTO agg_outcome_now_c (cohort, day, university, degree, discipline, district, industry,
                               n, key_sum)
SELECT cohort, day, university, degree, discipline, district, industry, n, key_sum
FROM agg_outcome_now;
DROP TABLE agg_outcome_now;
ALTER TABLE agg_outcome_now_c RENAME TO agg_outcome_now;

CREATE TABLE agg_outcome_roll_c (
    cohort BIGINT NOT NULL,
    proj BIGINT NOT NULL,
    level TEXT NOT NULL CHECK (level IN ('Y', 'M', 'D')),
    bucket BIGINT NOT NULL,
    university TEXT NOT NULL, degree BIGINT NOT NULL, discipline BIGINT NOT NULL,
    district TEXT NOT NULL, industry TEXT NOT NULL,
    status BIGINT NOT NULL,
    n BIGINT NOT NULL, key_sum BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (cohort, proj, level, bucket, university, degree, discipline, district,
                 industry, status)
) WITHOUT ROWID;
INSERT INTO agg_outcome_roll_c (cohort, proj, level, bucket, university, degree, discipline,
                                district, industry, status, n, key_sum)
SELECT cohort, proj, level, bucket, university, degree, discipline, district, industry, status,
       n, key_sum
FROM agg_outcome_roll;
DROP TABLE agg_outcome_roll;
ALTER TABLE agg_outcome_roll_c RENAME TO agg_outcome_roll;

CREATE TABLE agg_activity_now_c (
    kind TEXT NOT NULL, day BIGINT NOT NULL, district TEXT NOT NULL,
    industry TEXT NOT NULL, platform TEXT NOT NULL, tier BIGINT NOT NULL,
    n BIGINT NOT NULL, headcount BIGINT NOT NULL, key_sum BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, day, district, industry, platform, tier)
) WITHOUT ROWID;
INSERT INTO agg_activity_now_c (kind, day, district, industry, platform, tier, n, headcount,
                                key_sum)
SELECT kind, day, district, industry, platform, tier, n, headcount, key_sum
FROM agg_activity_now;
DROP TABLE agg_activity_now;
ALTER TABLE agg_activity_now_c RENAME TO agg_activity_now;
CREATE INDEX agg_activity_now_day ON agg_activity_now (day);

CREATE TABLE agg_distinct_now_c (
    kind TEXT NOT NULL, entity TEXT NOT NULL, day BIGINT NOT NULL,
    district TEXT NOT NULL, industry TEXT NOT NULL, platform TEXT NOT NULL,
    tier BIGINT NOT NULL, n BIGINT NOT NULL, key_sum BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, entity, day, district, industry, platform, tier)
) WITHOUT ROWID;
INSERT INTO agg_distinct_now_c (kind, entity, day, district, industry, platform, tier, n,
                                key_sum)
SELECT kind, entity, day, district, industry, platform, tier, n, key_sum FROM agg_distinct_now;
DROP TABLE agg_distinct_now;
ALTER TABLE agg_distinct_now_c RENAME TO agg_distinct_now;
CREATE INDEX agg_distinct_now_day ON agg_distinct_now (day);
