//! The queries' reads of the aggregate tables: a count and a key sum per
//! cell, summed in SQL over what a query leaves out.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use sqlx::{ColumnIndex, Encode, Executor, Type};
use talent_codes as codes;
use talent_server::Column;

use super::{MetricsSql, R, SqlStore};
use crate::domain::projection::{OUTCOME_FLOOR, month_start, outcome_dim, year_start};

/// A row of talents gathered: (day, district, industry, platform, tier,
/// n, key sum).
pub type GatheredRow = (i64, String, String, String, i64, i64, i64);

/// Which cell dimensions of the talents gathered a query needs apart from
/// the day and the tier (those it groups or filters by).
#[derive(Debug, Clone, Copy, Default)]
pub struct GatheredDims {
    pub district: bool,
    pub industry: bool,
    pub platform: bool,
}

/// Cohort members per place: (university, degree, discipline, district,
/// industry, status, n, key sum), where status is 0 (not employed), 1
/// (employed outside the city) or 2 (in the city). Only the dimensions in
/// `dims` hold values; the others are '' or 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeRows {
    pub dims: u8,
    pub rows: Vec<OutcomeRow>,
}

pub type OutcomeRow = (String, i64, i64, String, String, i64, i64, i64);

/// The aggregates, as the queries read them.
pub trait AggregateReads {
    /// Talents gathered per cell (day only when `by_day`), for days in
    /// `[start, end)`; as known at `known_at` (None: now). Current figures
    /// read whole years (unless `by_day`) and whole months of the period
    /// from `agg_gathered_roll` and only the days at its edges from
    /// `agg_gathered_now`, all in one statement (one snapshot).
    ///
    /// Cells are summed over the dimensions `keep` leaves out (district,
    /// industry, platform; those come back empty) in SQL, so a two-way
    /// breakdown reads tens of rows, not the thousands of every cell.
    /// Rows: (day, district, industry, platform, tier, n, key sum).
    fn gathered_rows<'a>(
        &'a self,
        start: i64,
        end: i64,
        by_day: bool,
        keep: GatheredDims,
        known_at: Option<i64>,
    ) -> BoxFuture<'a, R<Vec<GatheredRow>>>;

    /// Cohort members per place as of `as_of`, with `dims` (a set of
    /// [`outcome_dim`] bits) the dimensions the caller groups or filters
    /// by. When at most two are asked for and no `known_at` is given, the
    /// running totals of `agg_outcome_roll` answer: whole years before
    /// `as_of`'s year, whole months before its month and the days of its
    /// month, in one statement (one snapshot), a few thousand rows. Else
    /// every day-level row of the cohort up to `as_of` is summed
    /// (`agg_outcome_now`, or `agg_outcome_log` as known at `known_at`).
    fn outcome_rows<'a>(
        &'a self,
        cohort: i64,
        as_of: i64,
        known_at: Option<i64>,
        dims: u8,
    ) -> BoxFuture<'a, R<OutcomeRows>>;

    /// Activity per cell for days in `[start, end)`: (kind, day, district,
    /// industry, platform, tier, n, headcount, key sum).
    #[allow(clippy::type_complexity)]
    fn activity_rows<'a>(
        &'a self,
        start: i64,
        end: i64,
        by_day: bool,
        known_at: Option<i64>,
    ) -> BoxFuture<'a, R<Vec<(String, i64, String, String, String, i64, i64, i64, i64)>>>;

    /// Distinct-entity presence cells for days in `[start, end)`: (kind,
    /// entity, day, district, industry, platform, tier, the entity's
    /// record key: the key sum of a presence).
    #[allow(clippy::type_complexity)]
    fn distinct_rows<'a>(
        &'a self,
        start: i64,
        end: i64,
        known_at: Option<i64>,
    ) -> BoxFuture<'a, R<Vec<(String, String, i64, String, String, String, i64, i64)>>>;

    /// University names by code, as the roster last named them.
    fn university_names<'a>(&'a self) -> BoxFuture<'a, R<BTreeMap<String, String>>>;
}

impl<DB: MetricsSql> AggregateReads for SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
    String: Column<DB>,
    i64: Column<DB>,
{
    fn gathered_rows<'a>(
        &'a self,
        start: i64,
        end: i64,
        by_day: bool,
        keep: GatheredDims,
        known_at: Option<i64>,
    ) -> BoxFuture<'a, R<Vec<GatheredRow>>> {
        Box::pin(async move {
            let mut select = Vec::new();
            let mut group = vec!["d"];
            for (name, kept) in [
                ("district", keep.district),
                ("industry", keep.industry),
                ("platform", keep.platform),
            ] {
                if kept {
                    select.push(name.to_owned());
                    group.push(name);
                } else {
                    select.push(format!("CAST('' AS TEXT) AS {name}"));
                }
            }
            group.push("tier");
            let (select, group) = (select.join(", "), group.join(", "));
            if let Some(known_at) = known_at {
                let day = if by_day { "day" } else { "CAST(0 AS BIGINT)" };
                let sql = format!(
                    "SELECT {day} AS d, {select}, tier, CAST(SUM(n) AS BIGINT), \
                 CAST(SUM(key_sum) AS BIGINT) FROM agg_gathered_log WHERE day >= $1 \
                 AND day < $2 AND known_at <= $3 GROUP BY {group}"
                );
                return Ok({
                    let p = &self.pool;
                    sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(start)
                        .bind(end)
                        .bind(known_at)
                        .fetch_all(p)
                        .await
                }?);
            }
            let pieces = period_pieces(start, end, !by_day);
            let branches: Vec<String> = pieces
                .iter()
                .enumerate()
                .map(|(i, (level, _, _))| {
                    let (a, b) = (2 * i + 1, 2 * i + 2);
                    let (table, column, cond) = match level {
                        None => ("agg_gathered_now", "day", String::new()),
                        Some(level) => (
                            "agg_gathered_roll",
                            "bucket",
                            format!("level = '{level}' AND "),
                        ),
                    };
                    let d = if by_day { column } else { "CAST(0 AS BIGINT)" };
                    format!(
                        "SELECT {d} AS d, district, industry, platform, tier, n, key_sum \
                     FROM {table} WHERE {cond}{column} >= ${a} AND {column} < ${b}"
                    )
                })
                .collect();
            let sql = format!(
                "SELECT d, {select}, tier, CAST(SUM(n) AS BIGINT), CAST(SUM(key_sum) AS BIGINT) \
             FROM ({}) x GROUP BY {group}",
                branches.join(" UNION ALL ")
            );
            Ok({
                let p = &self.pool;
                {
                    let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
                    for (_, from, to) in &pieces {
                        q = q.bind(*from).bind(*to);
                    }
                    q.fetch_all(p).await
                }
            }?)
        })
    }

    fn outcome_rows<'a>(
        &'a self,
        cohort: i64,
        as_of: i64,
        known_at: Option<i64>,
        dims: u8,
    ) -> BoxFuture<'a, R<OutcomeRows>> {
        Box::pin(async move {
            let status = "CASE district WHEN 'NONE' THEN 0 WHEN 'OUTSIDE' THEN 1 ELSE 2 END";
            if known_at.is_some() || dims.count_ones() > 2 || as_of < OUTCOME_FLOOR {
                let (table, known) = source("agg_outcome", known_at);
                let sql = format!(
                    "SELECT university, degree, discipline, district, industry, \
                 CAST({status} AS BIGINT), CAST(SUM(n) AS BIGINT), CAST(SUM(key_sum) AS BIGINT) \
                 FROM {table} WHERE cohort = $1 AND day <= $2 {known} \
                 GROUP BY university, degree, discipline, district, industry"
                );
                let rows = {
                    let p = &self.pool;
                    sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(cohort)
                        .bind(as_of)
                        .bind(known_at.unwrap_or(0))
                        .fetch_all(p)
                        .await
                }?;
                return Ok(OutcomeRows {
                    dims: outcome_dim::ALL,
                    rows,
                });
            }
            let columns = "university, degree, discipline, district, industry, status";
            let branch = |level: &str, cond: &str| {
                format!(
                    "SELECT {columns}, n, key_sum FROM agg_outcome_roll WHERE cohort = $1 AND proj = $2 \
                 AND level = '{level}' AND {cond}"
                )
            };
            let sql = format!(
                "SELECT {columns}, CAST(SUM(n) AS BIGINT), CAST(SUM(key_sum) AS BIGINT) \
             FROM ({} UNION ALL {} UNION ALL {}) x GROUP BY {columns}",
                branch("Y", "bucket < $3"),
                branch("M", "bucket >= $3 AND bucket < $4"),
                branch("D", "bucket >= $4 AND bucket <= $5"),
            );
            let rows = {
                let p = &self.pool;
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(cohort)
                    .bind(i64::from(dims))
                    .bind(year_start(as_of))
                    .bind(month_start(as_of))
                    .bind(as_of)
                    .fetch_all(p)
                    .await
            }?;
            Ok(OutcomeRows { dims, rows })
        })
    }

    #[allow(clippy::type_complexity)]
    fn activity_rows<'a>(
        &'a self,
        start: i64,
        end: i64,
        by_day: bool,
        known_at: Option<i64>,
    ) -> BoxFuture<'a, R<Vec<(String, i64, String, String, String, i64, i64, i64, i64)>>> {
        Box::pin(async move {
            let (day, group_day) = if by_day {
                ("day", "day, ")
            } else {
                ("CAST(0 AS BIGINT)", "")
            };
            let (table, known) = source("agg_activity", known_at);
            let sql = format!(
                "SELECT kind, {day} AS d, district, industry, platform, tier, \
             CAST(SUM(n) AS BIGINT), CAST(SUM(headcount) AS BIGINT), \
             CAST(SUM(key_sum) AS BIGINT) FROM {table} WHERE day >= $1 AND day < $2 {known} \
             GROUP BY kind, {group_day}district, industry, platform, tier"
            );
            Ok({
                let p = &self.pool;
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(start)
                    .bind(end)
                    .bind(known_at.unwrap_or(0))
                    .fetch_all(p)
                    .await
            }?)
        })
    }

    #[allow(clippy::type_complexity)]
    fn distinct_rows<'a>(
        &'a self,
        start: i64,
        end: i64,
        known_at: Option<i64>,
    ) -> BoxFuture<'a, R<Vec<(String, String, i64, String, String, String, i64, i64)>>> {
        Box::pin(async move {
            let (table, known) = source("agg_distinct", known_at);
            let sql = format!(
                "SELECT kind, entity, day, district, industry, platform, tier, \
             CAST(SUM(key_sum) AS BIGINT) \
             FROM {table} WHERE day >= $1 AND day < $2 {known} \
             GROUP BY kind, entity, day, district, industry, platform, tier \
             HAVING SUM(n) > 0"
            );
            Ok({
                let p = &self.pool;
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(start)
                    .bind(end)
                    .bind(known_at.unwrap_or(0))
                    .fetch_all(p)
                    .await
            }?)
        })
    }

    fn university_names<'a>(&'a self) -> BoxFuture<'a, R<BTreeMap<String, String>>> {
        Box::pin(async move {
            let sql = "SELECT code, name FROM universities";
            let rows: Vec<(String, String)> = {
                let p = &self.pool;
                sqlx::query_as(sql).fetch_all(p).await
            }?;
            Ok(rows.into_iter().collect())
        })
    }
}

/// The first day of the month after the month of `day`.
pub(super) fn next_month(day: i64) -> i64 {
    let d = codes::date_of_day(day);
    let (y, m) = match u8::from(d.month()) {
        12 => (d.year() + 1, 1),
        m => (d.year(), u32::from(m) + 1),
    };
    codes::day_of_date(y, m, 1).unwrap_or(i64::MAX)
}

/// `[start, end)` cut into runs of whole years (when `years`), whole
/// months and single days: (None for days, or Some("M" | "Y"), from, to),
/// where `from`/`to` are day numbers (first days of months or years for
/// roll-up runs).
fn period_pieces(start: i64, end: i64, years: bool) -> Vec<(Option<&'static str>, i64, i64)> {
    let mut out: Vec<(Option<&'static str>, i64, i64)> = Vec::new();
    let mut cur = start;
    while cur < end {
        let next_m = next_month(cur);
        let next_y =
            codes::day_of_date(codes::date_of_day(cur).year() + 1, 1, 1).unwrap_or(i64::MAX);
        let (level, next) = if years && year_start(cur) == cur && next_y <= end {
            (Some("Y"), next_y)
        } else if month_start(cur) == cur && next_m <= end {
            (Some("M"), next_m)
        } else {
            (None, next_m.min(end))
        };
        match out.last_mut() {
            Some(last) if last.0 == level && last.2 == cur => last.2 = next,
            _ => out.push((level, cur, next)),
        }
        cur = next;
    }
    out
}

/// The table to read and the `known_at` condition (`$3`).
fn source(prefix: &str, known_at: Option<i64>) -> (String, &'static str) {
    match known_at {
        Some(_) => (format!("{prefix}_log"), "AND known_at <= $3 AND $3 = $3"),
        None => (format!("{prefix}_now"), "AND $3 = $3"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> i64 {
        codes::day_of_date(y, m, d).unwrap()
    }

    #[test]
    fn a_period_is_cut_into_edge_days_whole_months_and_whole_years() {
        let pieces = period_pieces(day(2023, 3, 15), day(2025, 6, 2), true);
        assert_eq!(
            pieces,
            vec![
                (None, day(2023, 3, 15), day(2023, 4, 1)),
                (Some("M"), day(2023, 4, 1), day(2024, 1, 1)),
                (Some("Y"), day(2024, 1, 1), day(2025, 1, 1)),
                (Some("M"), day(2025, 1, 1), day(2025, 6, 1)),
                (None, day(2025, 6, 1), day(2025, 6, 2)),
            ]
        );
        // By month (no years), and a period inside one month.
        assert_eq!(
            period_pieces(day(2024, 1, 1), day(2025, 1, 1), false),
            vec![(Some("M"), day(2024, 1, 1), day(2025, 1, 1))]
        );
        assert_eq!(
            period_pieces(day(2024, 2, 3), day(2024, 2, 20), true),
            vec![(None, day(2024, 2, 3), day(2024, 2, 20))]
        );
        // The pieces always cover the period exactly, end to end.
        for (s, e) in [
            (day(2020, 12, 31), day(2021, 1, 1)),
            (day(2019, 1, 1), day(2029, 1, 1)),
        ] {
            let p = period_pieces(s, e, true);
            assert_eq!(p.first().unwrap().1, s);
            assert_eq!(p.last().unwrap().2, e);
            assert!(p.windows(2).all(|w| w[0].2 == w[1].1));
        }
        assert_eq!(month_start(day(2024, 2, 29)), day(2024, 2, 1));
        assert_eq!(year_start(day(2024, 12, 31)), day(2024, 1, 1));
    }
}
