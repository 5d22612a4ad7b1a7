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
SELECT 'M', CAST(julianday(date(day * 86400, 'unixepoch', 'start of month')) - 2440587.5 AS INTEGER),
       district, industry, platform, tier, SUM(n)
FROM agg_gathered_now GROUP BY 2, district, industry, platform, tier;

INSERT INTO agg_gathered_roll (level, bucket, district, industry, platform, tier, n)
SELECT 'Y', CAST(julianday(date(day * 86400, 'unixepoch', 'start of year')) - 2440587.5 AS INTEGER),
       district, industry, platform, tier, SUM(n)
FROM agg_gathered_now GROUP BY 2, district, industry, platform, tier;
