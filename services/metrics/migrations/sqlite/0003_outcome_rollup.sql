-- Graduate outcomes as running totals, so an "as of D" query reads a few
-- thousand rows instead of every day-level row of the cohort.
--
-- agg_outcome_now keeps one row per (cohort, day, university, degree,
-- discipline, district, industry); "as of D" is the sum of its rows with
-- day <= D. This table holds the same signed differences
--   * projected onto every subset of at most two of the five breakdown
--     dimensions (`proj`, a bit set: 1 university, 2 degree, 4 discipline,
--     8 district, 16 industry; dimensions outside the set hold '' or 0),
--     with `status` (0 not employed, 1 employed outside the city, 2 in the
--     city) so the rates need no district;
--   * summed per calendar year ('Y'), month ('M') and day ('D'); `bucket`
--     is the first day of the year or month, or the day itself. Days
--     before 1900-01-01 (the start of every timeline) count on 1900-01-01.
-- So "as of D" (D >= 1900-01-01) = the 'Y' rows of the years before D's
-- year + the 'M' rows of its months before D's month + the 'D' rows of
-- D's month up to D. Kept in step with agg_outcome_now by the same
-- transaction (store::Tx::apply_deltas).
CREATE TABLE agg_outcome_roll (
    cohort BIGINT NOT NULL,
    proj BIGINT NOT NULL,
    level TEXT NOT NULL CHECK (level IN ('Y', 'M', 'D')),
    bucket BIGINT NOT NULL,
    university TEXT NOT NULL, degree BIGINT NOT NULL, discipline BIGINT NOT NULL,
    district TEXT NOT NULL, industry TEXT NOT NULL,
    status BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (cohort, proj, level, bucket, university, degree, discipline, district,
                 industry, status)
);

-- Existing outcomes, rolled up the same way.
INSERT INTO agg_outcome_roll (cohort, proj, level, bucket, university, degree, discipline,
                              district, industry, status, n)
SELECT o.cohort, p.proj, l.level,
       CASE l.level WHEN 'D' THEN o.d
            WHEN 'M' THEN CAST(julianday(date(o.d * 86400, 'unixepoch', 'start of month')) - 2440587.5 AS INTEGER)
            ELSE CAST(julianday(date(o.d * 86400, 'unixepoch', 'start of year')) - 2440587.5 AS INTEGER) END,
       CASE WHEN (p.proj & 1) <> 0 THEN o.university ELSE '' END,
       CASE WHEN (p.proj & 2) <> 0 THEN o.degree ELSE 0 END,
       CASE WHEN (p.proj & 4) <> 0 THEN o.discipline ELSE 0 END,
       CASE WHEN (p.proj & 8) <> 0 THEN o.district ELSE '' END,
       CASE WHEN (p.proj & 16) <> 0 THEN o.industry ELSE '' END,
       CASE o.district WHEN 'NONE' THEN 0 WHEN 'OUTSIDE' THEN 1 ELSE 2 END,
       SUM(o.n)
FROM (SELECT cohort, MAX(day, -25567) AS d, university, degree, discipline, district, industry, n
      FROM agg_outcome_now) o
CROSS JOIN (SELECT 0 AS proj UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 4
            UNION ALL SELECT 8 UNION ALL SELECT 16 UNION ALL SELECT 3 UNION ALL SELECT 5
            UNION ALL SELECT 9 UNION ALL SELECT 17 UNION ALL SELECT 6 UNION ALL SELECT 10
            UNION ALL SELECT 18 UNION ALL SELECT 12 UNION ALL SELECT 20
            UNION ALL SELECT 24) p
CROSS JOIN (SELECT 'Y' AS level UNION ALL SELECT 'M' UNION ALL SELECT 'D') l
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
HAVING SUM(o.n) <> 0;
