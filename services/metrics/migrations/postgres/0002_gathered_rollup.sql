-- Talents gathered summed per calendar month ('M') and year ('Y'), so a
-- long period reads one row per cell and month or year instead of one per
-- cell and day. `bucket` is the day number of the month's or year's first
-- day. Kept in step with agg_gathered_now by the same transaction.
CREATE TABLE agg_gathered_roll (
    level TEXT NOT NULL CHECK (level IN ('M', 'Y')),
    bucket BIGINT NOT NULL, district TEXT NOT NULL, industry TEXT NOT NULL,
    platform TEXT NOT NULL, tier BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (level, bucket, district, industry, platform, tier)
);

INSERT INTO agg_gathered_roll (level, bucket, district, industry, platform, tier, n)
SELECT 'M', CAST(CAST(date_trunc('month', DATE '1970-01-01' + CAST(day AS INTEGER)) AS DATE) - DATE '1970-01-01' AS BIGINT),
       district, industry, platform, tier, SUM(n)
FROM agg_gathered_now GROUP BY 2, district, industry, platform, tier;

INSERT INTO agg_gathered_roll (level, bucket, district, industry, platform, tier, n)
SELECT 'Y', CAST(CAST(date_trunc('year', DATE '1970-01-01' + CAST(day AS INTEGER)) AS DATE) - DATE '1970-01-01' AS BIGINT),
       district, industry, platform, tier, SUM(n)
FROM agg_gathered_now GROUP BY 2, district, industry, platform, tier;
