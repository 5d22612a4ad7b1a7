//! Storage: one interface over the two back ends. The SQL is portable
//! (integers for days and instants, text ids, `ON CONFLICT` upserts), so
//! each operation is written once and expanded for SQLite and PostgreSQL
//! by [`on_conn!`]; where the back ends differ (row locks) the operation
//! says so. Queries read only the aggregate tables.

use std::collections::BTreeMap;

use sqlx::{Postgres, QueryBuilder, Sqlite};
use talent_server::{Db, PerBatch};

use crate::disclosure::Tally;
use crate::domain::{
    Amount, Cell, Contribution, Employment, PersonFacts, Posting, Resume, RosterRow,
};
use talent_codes as codes;

/// An open transaction on either back end.
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

/// Runs `$body` with `$c` bound to the transaction's connection, for each
/// back end (the body is compiled once per back end).
macro_rules! on_conn {
    ($tx:expr, $c:ident => $body:expr) => {
        match $tx {
            Tx::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            Tx::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}

/// Runs `$body` with `$p` bound to the pool, for each back end.
macro_rules! on_pool {
    ($db:expr, $p:ident => $body:expr) => {
        match $db {
            Db::Sqlite($p) => $body,
            Db::Postgres($p) => $body,
        }
    };
}

// After the macros, which they use.
mod backfill;
mod bulk;
pub use bulk::{EmploymentRow, ParticipationRow, ResumeRow};

type R<T> = Result<T, sqlx::Error>;

/// A stored key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyRow {
    pub id: String,
    pub kind: String,
    pub display_name: String,
    pub secret_prefix: String,
    /// READ: `EXACT` or `PERTURBED`; OPERATOR: `EXACT`; INGEST: empty.
    pub protection: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

const KEY_COLUMNS: &str =
    "id, kind, display_name, secret_prefix, protection, created_at, revoked_at";

/// Which cell dimensions of the talents gathered a query needs apart from
/// the day and the tier (those it groups or filters by).
#[derive(Debug, Clone, Copy, Default)]
pub struct GatheredDims {
    pub district: bool,
    pub industry: bool,
    pub platform: bool,
}

/// The metrics service's storage.
#[derive(Clone)]
pub struct Store {
    db: Db,
}

impl Store {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub async fn begin(&self) -> R<Tx> {
        Ok(match &self.db {
            Db::Sqlite(p) => Tx::Sqlite(p.begin().await?),
            Db::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    // ----- keys -----

    #[allow(clippy::too_many_arguments)]
    pub async fn insert_key(&self, row: &KeyRow, hash: &str) -> R<()> {
        // `disclosure_threshold` is the suppression threshold of keys
        // issued before perturbation replaced suppression; new keys get 0.
        let sql = "INSERT INTO api_keys (id, kind, display_name, key_hash, secret_prefix, \
                   protection, disclosure_threshold, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, 0, $7)";
        on_pool!(&self.db, p => {
            sqlx::query(sql)
                .bind(&row.id)
                .bind(&row.kind)
                .bind(&row.display_name)
                .bind(hash)
                .bind(&row.secret_prefix)
                .bind(&row.protection)
                .bind(row.created_at)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    pub async fn key_by_hash(&self, hash: &str) -> R<Option<KeyRow>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1");
        on_pool!(&self.db, p => sqlx::query_as::<_, KeyRow>(sqlx::AssertSqlSafe(sql))
            .bind(hash)
            .fetch_optional(p)
            .await)
    }

    pub async fn key_by_id(&self, id: &str) -> R<Option<KeyRow>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1");
        on_pool!(&self.db, p => sqlx::query_as::<_, KeyRow>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(p)
            .await)
    }

    pub async fn list_keys(&self, show_revoked: bool, limit: i64, offset: i64) -> R<Vec<KeyRow>> {
        let filter = if show_revoked {
            ""
        } else {
            "WHERE revoked_at IS NULL"
        };
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys {filter} \
             ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2"
        );
        on_pool!(&self.db, p => sqlx::query_as::<_, KeyRow>(sqlx::AssertSqlSafe(sql))
            .bind(limit)
            .bind(offset)
            .fetch_all(p)
            .await)
    }

    pub async fn revoke_key(&self, id: &str, now: i64) -> R<()> {
        let sql = "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL";
        on_pool!(&self.db, p => {
            sqlx::query(sql).bind(now).bind(id).execute(p).await?;
        });
        Ok(())
    }

    // ----- queries over the aggregates -----

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
    pub async fn gathered_rows(
        &self,
        start: i64,
        end: i64,
        by_day: bool,
        keep: GatheredDims,
        known_at: Option<i64>,
    ) -> R<Vec<(i64, String, String, String, i64, i64, i64)>> {
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
            return on_pool!(&self.db, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(start)
                .bind(end)
                .bind(known_at)
                .fetch_all(p)
                .await);
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
        on_pool!(&self.db, p => {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            for (_, from, to) in &pieces {
                q = q.bind(*from).bind(*to);
            }
            q.fetch_all(p).await
        })
    }

    /// Cohort members per place as of `as_of`, with `dims` (a set of
    /// [`outcome_dim`] bits) the dimensions the caller groups or filters
    /// by. When at most two are asked for and no `known_at` is given, the
    /// running totals of `agg_outcome_roll` answer: whole years before
    /// `as_of`'s year, whole months before its month and the days of its
    /// month, in one statement (one snapshot), a few thousand rows. Else
    /// every day-level row of the cohort up to `as_of` is summed
    /// (`agg_outcome_now`, or `agg_outcome_log` as known at `known_at`).
    pub async fn outcome_rows(
        &self,
        cohort: i64,
        as_of: i64,
        known_at: Option<i64>,
        dims: u8,
    ) -> R<OutcomeRows> {
        let status = "CASE district WHEN 'NONE' THEN 0 WHEN 'OUTSIDE' THEN 1 ELSE 2 END";
        if known_at.is_some() || dims.count_ones() > 2 || as_of < OUTCOME_FLOOR {
            let (table, known) = source("agg_outcome", known_at);
            let sql = format!(
                "SELECT university, degree, discipline, district, industry, \
                 CAST({status} AS BIGINT), CAST(SUM(n) AS BIGINT), CAST(SUM(key_sum) AS BIGINT) \
                 FROM {table} WHERE cohort = $1 AND day <= $2 {known} \
                 GROUP BY university, degree, discipline, district, industry"
            );
            let rows = on_pool!(&self.db, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(cohort)
                .bind(as_of)
                .bind(known_at.unwrap_or(0))
                .fetch_all(p)
                .await)?;
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
        let rows = on_pool!(&self.db, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(cohort)
            .bind(i64::from(dims))
            .bind(year_start(as_of))
            .bind(month_start(as_of))
            .bind(as_of)
            .fetch_all(p)
            .await)?;
        Ok(OutcomeRows { dims, rows })
    }

    /// Activity per cell for days in `[start, end)`: (kind, day, district,
    /// industry, platform, tier, n, headcount, key sum).
    #[allow(clippy::type_complexity)]
    pub async fn activity_rows(
        &self,
        start: i64,
        end: i64,
        by_day: bool,
        known_at: Option<i64>,
    ) -> R<Vec<(String, i64, String, String, String, i64, i64, i64, i64)>> {
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
        on_pool!(&self.db, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(start)
            .bind(end)
            .bind(known_at.unwrap_or(0))
            .fetch_all(p)
            .await)
    }

    /// Distinct-entity presence cells for days in `[start, end)`: (kind,
    /// entity, day, district, industry, platform, tier, the entity's
    /// record key: the key sum of a presence).
    #[allow(clippy::type_complexity)]
    pub async fn distinct_rows(
        &self,
        start: i64,
        end: i64,
        known_at: Option<i64>,
    ) -> R<Vec<(String, String, i64, String, String, String, i64, i64)>> {
        let (table, known) = source("agg_distinct", known_at);
        let sql = format!(
            "SELECT kind, entity, day, district, industry, platform, tier, \
             CAST(SUM(key_sum) AS BIGINT) \
             FROM {table} WHERE day >= $1 AND day < $2 {known} \
             GROUP BY kind, entity, day, district, industry, platform, tier \
             HAVING SUM(n) > 0"
        );
        on_pool!(&self.db, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(start)
            .bind(end)
            .bind(known_at.unwrap_or(0))
            .fetch_all(p)
            .await)
    }

    pub async fn university_names(&self) -> R<BTreeMap<String, String>> {
        let sql = "SELECT code, name FROM universities";
        let rows: Vec<(String, String)> =
            on_pool!(&self.db, p => sqlx::query_as(sql).fetch_all(p).await)?;
        Ok(rows.into_iter().collect())
    }
}

/// The breakdown dimensions of graduate outcomes, as bits of
/// `agg_outcome_roll.proj` and of [`OutcomeRows::dims`].
pub mod outcome_dim {
    pub const UNIVERSITY: u8 = 1;
    pub const DEGREE: u8 = 2;
    pub const DISCIPLINE: u8 = 4;
    pub const DISTRICT: u8 = 8;
    pub const INDUSTRY: u8 = 16;
    pub const ALL: u8 = 31;
}

/// Every projection `agg_outcome_roll` keeps: each set of at most two
/// breakdown dimensions (1 + 5 + 10).
pub const OUTCOME_PROJECTIONS: [u8; 16] = [0, 1, 2, 4, 8, 16, 3, 5, 9, 17, 6, 10, 18, 12, 20, 24];

/// 1900-01-01: outcome differences of earlier days (the start of every
/// timeline, `domain::BEGINNING`) count on this day in `agg_outcome_roll`,
/// which is exact for every `as_of` from this day on.
pub const OUTCOME_FLOOR: i64 = -25_567;

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

/// A row key of `agg_outcome_roll`: (cohort, proj, level, bucket,
/// university, degree, discipline, district, industry, status).
pub type OutcomeRollKey = (
    i64,
    i64,
    &'static str,
    i64,
    String,
    i64,
    i64,
    String,
    String,
    i64,
);

/// Adds one outcome difference (a `Cell::Outcome` and its count and key
/// sum) to the running totals: to every projection, at the year, month and
/// day level.
#[allow(clippy::too_many_arguments)]
pub fn outcome_roll_add(
    roll: &mut BTreeMap<OutcomeRollKey, Tally>,
    cohort: i64,
    day: i64,
    university: &str,
    degree: i64,
    discipline: i64,
    district: &str,
    industry: &str,
    amount: Tally,
) {
    let day = day.max(OUTCOME_FLOOR);
    let status = match district {
        crate::domain::NONE => 0,
        crate::domain::OUTSIDE => 1,
        _ => 2,
    };
    let levels = [("Y", year_start(day)), ("M", month_start(day)), ("D", day)];
    for proj in OUTCOME_PROJECTIONS {
        let has = |bit: u8| proj & bit != 0;
        let text = |bit: u8, v: &str| {
            if has(bit) {
                v.to_string()
            } else {
                String::new()
            }
        };
        let int = |bit: u8, v: i64| if has(bit) { v } else { 0 };
        for (level, bucket) in levels {
            *roll
                .entry((
                    cohort,
                    i64::from(proj),
                    level,
                    bucket,
                    text(outcome_dim::UNIVERSITY, university),
                    int(outcome_dim::DEGREE, degree),
                    int(outcome_dim::DISCIPLINE, discipline),
                    text(outcome_dim::DISTRICT, district),
                    text(outcome_dim::INDUSTRY, industry),
                    status,
                ))
                .or_default() += amount;
        }
    }
}

/// The first day of the month of `day`.
pub fn month_start(day: i64) -> i64 {
    let d = codes::date_of_day(day);
    day - i64::from(d.day()) + 1
}

/// The first day of the month after the month of `day`.
fn next_month(day: i64) -> i64 {
    let d = codes::date_of_day(day);
    let (y, m) = match u8::from(d.month()) {
        12 => (d.year() + 1, 1),
        m => (d.year(), u32::from(m) + 1),
    };
    codes::day_of_date(y, m, 1).unwrap_or(i64::MAX)
}

/// The first day of the year of `day`.
pub fn year_start(day: i64) -> i64 {
    let d = codes::date_of_day(day);
    day - i64::from(d.ordinal()) + 1
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

type PostingRow = (
    String,
    i64,
    String,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    String,
);
const POSTING_COLUMNS: &str = "posting_id, revision, opening_id, employer, district, industry, \
                               headcount, publish_at, publish_day, platform";

fn posting_of(r: PostingRow) -> (i64, Posting) {
    (
        r.1,
        Posting {
            id: r.0,
            opening_id: r.2,
            employer: r.3,
            district: r.4,
            industry: r.5,
            headcount: r.6,
            publish_at: r.7,
            publish_day: r.8,
            platform: r.9,
        },
    )
}

impl Tx {
    pub async fn commit(self) -> R<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        }
    }

    /// Locks an entity (PostgreSQL: row lock until commit; SQLite: the
    /// transaction already holds the database's write lock) and returns
    /// what it contributes now.
    pub async fn lock_entity(&mut self, kind: &str, id: &str) -> anyhow::Result<Contribution> {
        let insert = "INSERT INTO entity_state (kind, id, contribution) VALUES ($1, $2, '[]') \
                      ON CONFLICT (kind, id) DO NOTHING";
        let json: String = match self {
            Tx::Sqlite(t) => {
                sqlx::query(insert)
                    .bind(kind)
                    .bind(id)
                    .execute(&mut **t)
                    .await?;
                sqlx::query_scalar(
                    "SELECT contribution FROM entity_state WHERE kind = $1 AND id = $2",
                )
                .bind(kind)
                .bind(id)
                .fetch_one(&mut **t)
                .await?
            }
            Tx::Postgres(t) => {
                sqlx::query(insert)
                    .bind(kind)
                    .bind(id)
                    .execute(&mut **t)
                    .await?;
                sqlx::query_scalar(
                    "SELECT contribution FROM entity_state WHERE kind = $1 AND id = $2 FOR UPDATE",
                )
                .bind(kind)
                .bind(id)
                .fetch_one(&mut **t)
                .await?
            }
        };
        Contribution::from_json(&json)
    }

    pub async fn save_entity(&mut self, kind: &str, id: &str, c: &Contribution) -> R<()> {
        let sql = "UPDATE entity_state SET contribution = $1 WHERE kind = $2 AND id = $3";
        let json = c.to_json();
        on_conn!(self, c => sqlx::query(sql).bind(&json).bind(kind).bind(id).execute(&mut *c).await.map(|_| ()))?;
        Ok(())
    }

    // ----- one entity at a time (the roster import; events use `bulk`) -----

    pub async fn person_facts(&mut self, person_key: &str) -> R<PersonFacts> {
        type EmpRow = (
            String,
            i64,
            String,
            String,
            i64,
            i64,
            String,
            i64,
            Option<i64>,
        );
        let emp_sql = "SELECT employment_id, hired, district, industry, in_city, start_day, \
                       platform, recorded_at, end_day FROM employments WHERE person_key = $1";
        let res_sql = "SELECT platform, first_day, degree, title, skill FROM resumes \
                       WHERE person_key = $1";
        let ros_sql = "SELECT university_code, degree, discipline, cohort, import_seq FROM roster \
                       WHERE person_key = $1";
        type Five = (String, i64, i64, i64, i64);
        let (emps, resumes, roster): (Vec<EmpRow>, Vec<Five>, Vec<Five>) = on_conn!(self, c => (
            sqlx::query_as(emp_sql).bind(person_key).fetch_all(&mut *c).await?,
            sqlx::query_as(res_sql).bind(person_key).fetch_all(&mut *c).await?,
            sqlx::query_as(ros_sql).bind(person_key).fetch_all(&mut *c).await?,
        ));
        Ok(PersonFacts {
            person_key: person_key.into(),
            employments: emps
                .into_iter()
                .map(|e| Employment {
                    id: e.0,
                    hired: e.1 == 1,
                    district: e.2,
                    industry: e.3,
                    in_city: e.4 == 1,
                    start_day: e.5,
                    platform: e.6,
                    recorded_at: e.7,
                    end_day: e.8,
                })
                .collect(),
            resumes: resumes
                .into_iter()
                .map(|r| Resume {
                    platform: r.0,
                    first_day: r.1,
                    degree: r.2,
                    title: r.3,
                    skill: r.4,
                })
                .collect(),
            roster: roster
                .into_iter()
                .map(|r| RosterRow {
                    university_code: r.0,
                    degree: r.1,
                    discipline: r.2,
                    cohort: r.3,
                    import_seq: r.4,
                })
                .collect(),
        })
    }

    /// (university_name, discipline, graduation_day) of a roster row.
    pub async fn roster_row(
        &mut self,
        person_key: &str,
        university: &str,
        degree: i64,
    ) -> R<Option<(String, i64, i64)>> {
        let sql = "SELECT university_name, discipline, graduation_day FROM roster \
                   WHERE person_key = $1 AND university_code = $2 AND degree = $3";
        on_conn!(self, c => sqlx::query_as(sql)
            .bind(person_key)
            .bind(university)
            .bind(degree)
            .fetch_optional(&mut *c)
            .await)
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn upsert_roster_row(
        &mut self,
        person_key: &str,
        university: &str,
        degree: i64,
        name: &str,
        discipline: i64,
        graduation_day: i64,
        cohort: i64,
        now: i64,
        seq: i64,
    ) -> R<()> {
        let sql = "INSERT INTO roster (person_key, university_code, degree, university_name, \
                   discipline, graduation_day, cohort, imported_at, import_seq) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                   ON CONFLICT (person_key, university_code, degree) DO UPDATE SET \
                   university_name = excluded.university_name, discipline = excluded.discipline, \
                   graduation_day = excluded.graduation_day, cohort = excluded.cohort";
        let uni = "INSERT INTO universities (code, name) VALUES ($1, $2) \
                   ON CONFLICT (code) DO UPDATE SET name = excluded.name";
        on_conn!(self, c => {
            sqlx::query(sql)
                .bind(person_key)
                .bind(university)
                .bind(degree)
                .bind(name)
                .bind(discipline)
                .bind(graduation_day)
                .bind(cohort)
                .bind(now)
                .bind(seq)
                .execute(&mut *c)
                .await?;
            sqlx::query(uni).bind(university).bind(name).execute(&mut *c).await?;
        });
        Ok(())
    }

    // ----- postings -----

    pub async fn postings_where(&mut self, column: &str, value: &str) -> R<Vec<Posting>> {
        let column = if column == "opening_id" {
            "opening_id"
        } else {
            "employer"
        };
        let sql = format!("SELECT {POSTING_COLUMNS} FROM postings WHERE {column} = $1");
        let rows: Vec<PostingRow> = on_conn!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .fetch_all(&mut *c)
            .await)?;
        Ok(rows.into_iter().map(|r| posting_of(r).1).collect())
    }

    // ----- aggregates -----

    /// Appends the differences to the logs (stamped `known_at`) and adds
    /// them to the current cells. Cells are written in key order, so
    /// concurrent transactions lock shared rows in the same order.
    pub async fn apply_deltas(&mut self, deltas: &BTreeMap<Cell, Amount>, known_at: i64) -> R<()> {
        let deltas: Vec<(&Cell, &Amount)> = deltas
            .iter()
            .filter(|(_, a)| **a != Amount::default())
            .collect();
        for chunk in deltas.chunks(400) {
            let gathered: Vec<_> = chunk
                .iter()
                .filter_map(|(c, a)| match c {
                    Cell::Gathered {
                        day,
                        district,
                        industry,
                        platform,
                        tier,
                    } => Some((*day, district, industry, platform, *tier, a.n, a.key)),
                    _ => None,
                })
                .collect();
            let outcome: Vec<_> = chunk
                .iter()
                .filter_map(|(c, a)| match c {
                    Cell::Outcome {
                        cohort,
                        day,
                        university,
                        degree,
                        discipline,
                        district,
                        industry,
                    } => Some((
                        *cohort,
                        *day,
                        university,
                        *degree,
                        *discipline,
                        district,
                        industry,
                        a.n,
                        a.key,
                    )),
                    _ => None,
                })
                .collect();
            let activity: Vec<_> = chunk
                .iter()
                .filter_map(|(c, a)| match c {
                    Cell::Activity {
                        kind,
                        day,
                        district,
                        industry,
                        platform,
                        tier,
                    } => Some((
                        kind,
                        *day,
                        district,
                        industry,
                        platform,
                        *tier,
                        a.n,
                        a.headcount,
                        a.key,
                    )),
                    _ => None,
                })
                .collect();
            let distinct: Vec<_> = chunk
                .iter()
                .filter_map(|(c, a)| match c {
                    Cell::Distinct {
                        kind,
                        entity,
                        day,
                        district,
                        industry,
                        platform,
                        tier,
                    } => Some((
                        kind, entity, *day, district, industry, platform, *tier, a.n, a.key,
                    )),
                    _ => None,
                })
                .collect();
            on_conn!(self, c => {
                if !gathered.is_empty() {
                    for (table, log) in [("agg_gathered_log", true), ("agg_gathered_now", false)] {
                        let mut q = QueryBuilder::new(format!(
                            "INSERT INTO {table} (day, district, industry, platform, tier, n, \
                             key_sum{}) ",
                            if log { ", known_at" } else { "" }
                        ));
                        q.push_values(&gathered, |mut b, r| {
                            b.push_bind(r.0).push_bind(r.1).push_bind(r.2).push_bind(r.3)
                                .push_bind(r.4).push_bind(r.5).push_bind(i64::from(r.6));
                            if log {
                                b.push_bind(known_at);
                            }
                        });
                        if !log {
                            q.push(" ON CONFLICT (day, district, industry, platform, tier) \
                                    DO UPDATE SET n = agg_gathered_now.n + excluded.n, \
                                    key_sum = (agg_gathered_now.key_sum + excluded.key_sum) \
                                    % 4294967296");
                        }
                        q.build().per_batch().execute(&mut *c).await?;
                    }
                    // One row per roll-up cell (PostgreSQL cannot update a
                    // row twice in one statement), in key order.
                    let mut roll: BTreeMap<(&str, i64, &String, &String, &String, i64), Tally> =
                        BTreeMap::new();
                    for r in &gathered {
                        for (level, bucket) in [("M", month_start(r.0)), ("Y", year_start(r.0))] {
                            *roll.entry((level, bucket, r.1, r.2, r.3, r.4)).or_default() +=
                                Tally { n: r.5, key: r.6 };
                        }
                    }
                    let mut q = QueryBuilder::new(
                        "INSERT INTO agg_gathered_roll (level, bucket, district, industry, \
                         platform, tier, n, key_sum) ",
                    );
                    q.push_values(&roll, |mut b, (k, t)| {
                        b.push_bind(k.0).push_bind(k.1).push_bind(k.2).push_bind(k.3)
                            .push_bind(k.4).push_bind(k.5).push_bind(t.n)
                            .push_bind(i64::from(t.key));
                    });
                    q.push(" ON CONFLICT (level, bucket, district, industry, platform, tier) \
                            DO UPDATE SET n = agg_gathered_roll.n + excluded.n, \
                            key_sum = (agg_gathered_roll.key_sum + excluded.key_sum) % 4294967296");
                    q.build().per_batch().execute(&mut *c).await?;
                }
                if !outcome.is_empty() {
                    for (table, log) in [("agg_outcome_log", true), ("agg_outcome_now", false)] {
                        let mut q = QueryBuilder::new(format!(
                            "INSERT INTO {table} (cohort, day, university, degree, discipline, \
                             district, industry, n, key_sum{}) ",
                            if log { ", known_at" } else { "" }
                        ));
                        q.push_values(&outcome, |mut b, r| {
                            b.push_bind(r.0).push_bind(r.1).push_bind(r.2).push_bind(r.3)
                                .push_bind(r.4).push_bind(r.5).push_bind(r.6).push_bind(r.7)
                                .push_bind(i64::from(r.8));
                            if log {
                                b.push_bind(known_at);
                            }
                        });
                        if !log {
                            q.push(" ON CONFLICT (cohort, day, university, degree, discipline, \
                                    district, industry) DO UPDATE SET n = agg_outcome_now.n + excluded.n, \
                                    key_sum = (agg_outcome_now.key_sum + excluded.key_sum) % 4294967296");
                        }
                        q.build().per_batch().execute(&mut *c).await?;
                    }
                }
                if !activity.is_empty() {
                    for (table, log) in [("agg_activity_log", true), ("agg_activity_now", false)] {
                        let mut q = QueryBuilder::new(format!(
                            "INSERT INTO {table} (kind, day, district, industry, platform, tier, \
                             n, headcount, key_sum{}) ",
                            if log { ", known_at" } else { "" }
                        ));
                        q.push_values(&activity, |mut b, r| {
                            b.push_bind(r.0).push_bind(r.1).push_bind(r.2).push_bind(r.3)
                                .push_bind(r.4).push_bind(r.5).push_bind(r.6).push_bind(r.7)
                                .push_bind(i64::from(r.8));
                            if log {
                                b.push_bind(known_at);
                            }
                        });
                        if !log {
                            q.push(" ON CONFLICT (kind, day, district, industry, platform, tier) \
                                    DO UPDATE SET n = agg_activity_now.n + excluded.n, \
                                    headcount = agg_activity_now.headcount + excluded.headcount, \
                                    key_sum = (agg_activity_now.key_sum + excluded.key_sum) \
                                    % 4294967296");
                        }
                        q.build().per_batch().execute(&mut *c).await?;
                    }
                }
                if !distinct.is_empty() {
                    for (table, log) in [("agg_distinct_log", true), ("agg_distinct_now", false)] {
                        let mut q = QueryBuilder::new(format!(
                            "INSERT INTO {table} (kind, entity, day, district, industry, platform, \
                             tier, n, key_sum{}) ",
                            if log { ", known_at" } else { "" }
                        ));
                        q.push_values(&distinct, |mut b, r| {
                            b.push_bind(r.0).push_bind(r.1).push_bind(r.2).push_bind(r.3)
                                .push_bind(r.4).push_bind(r.5).push_bind(r.6).push_bind(r.7)
                                .push_bind(i64::from(r.8));
                            if log {
                                b.push_bind(known_at);
                            }
                        });
                        if !log {
                            q.push(" ON CONFLICT (kind, entity, day, district, industry, platform, \
                                    tier) DO UPDATE SET n = agg_distinct_now.n + excluded.n, \
                                    key_sum = (agg_distinct_now.key_sum + excluded.key_sum) \
                                    % 4294967296");
                        }
                        q.build().per_batch().execute(&mut *c).await?;
                    }
                }
            });
        }
        self.apply_outcome_roll(&deltas).await
    }

    /// Adds the outcome differences to their running totals
    /// (`agg_outcome_roll`): summed per row first, in key order, so
    /// concurrent transactions lock shared rows in the same order.
    async fn apply_outcome_roll(&mut self, deltas: &[(&Cell, &Amount)]) -> R<()> {
        let mut roll = BTreeMap::new();
        for (cell, a) in deltas {
            if let Cell::Outcome {
                cohort,
                day,
                university,
                degree,
                discipline,
                district,
                industry,
            } = cell
            {
                outcome_roll_add(
                    &mut roll,
                    *cohort,
                    *day,
                    university,
                    *degree,
                    *discipline,
                    district,
                    industry,
                    Tally { n: a.n, key: a.key },
                );
            }
        }
        let rows: Vec<(OutcomeRollKey, Tally)> = roll
            .into_iter()
            .filter(|(_, t)| *t != Tally::default())
            .collect();
        for chunk in rows.chunks(1000) {
            on_conn!(self, c => {
                let mut q = QueryBuilder::new(
                    "INSERT INTO agg_outcome_roll (cohort, proj, level, bucket, university, \
                     degree, discipline, district, industry, status, n, key_sum) ",
                );
                q.push_values(chunk, |mut b, (k, t)| {
                    b.push_bind(k.0).push_bind(k.1).push_bind(k.2).push_bind(k.3)
                        .push_bind(&k.4).push_bind(k.5).push_bind(k.6)
                        .push_bind(&k.7).push_bind(&k.8).push_bind(k.9)
                        .push_bind(t.n).push_bind(i64::from(t.key));
                });
                q.push(
                    " ON CONFLICT (cohort, proj, level, bucket, university, degree, discipline, \
                     district, industry, status) DO UPDATE SET n = agg_outcome_roll.n + excluded.n, \
                     key_sum = (agg_outcome_roll.key_sum + excluded.key_sum) % 4294967296",
                );
                q.build().per_batch().execute(&mut *c).await?;
            });
        }
        Ok(())
    }
}

/// A fresh database for a test, on the back end the test suite runs on
/// (`TALENT_TEST_POSTGRES_URL` set: PostgreSQL, else SQLite).
#[cfg(test)]
pub(crate) mod test_db {
    use sqlx::migrate::Migrator;

    use super::*;

    const POSTGRES_URL_VAR: &str = "TALENT_TEST_POSTGRES_URL";

    /// A fresh, empty database (see [`migrate`]), and a guard that drops
    /// it (PostgreSQL) or its folder (SQLite).
    pub(crate) async fn database() -> (Db, Box<dyn std::any::Any>) {
        match std::env::var(POSTGRES_URL_VAR) {
            Ok(server) if !server.is_empty() => {
                static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                let name = format!(
                    "talent_test_metrics_{}_{}_{}",
                    std::process::id(),
                    codes::now_micros(),
                    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                );
                let admin = sqlx::PgPool::connect(&server).await.unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&admin)
                    .await
                    .unwrap();
                admin.close().await;
                let (base, _) = server.rsplit_once('/').unwrap();
                let pool = sqlx::PgPool::connect(&format!("{base}/{name}"))
                    .await
                    .unwrap();
                /// Drops the database from a runtime of its own (drop is
                /// not async).
                struct DropDatabase(Option<(String, String)>);
                impl Drop for DropDatabase {
                    fn drop(&mut self) {
                        let Some((server, name)) = self.0.take() else {
                            return;
                        };
                        std::thread::spawn(move || {
                            tokio::runtime::Builder::new_current_thread()
                                .enable_all()
                                .build()
                                .unwrap()
                                .block_on(async move {
                                    let admin = sqlx::PgPool::connect(&server).await?;
                                    let sql =
                                        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                                    sqlx::query(sqlx::AssertSqlSafe(sql))
                                        .execute(&admin)
                                        .await?;
                                    admin.close().await;
                                    Ok::<_, sqlx::Error>(())
                                })
                        })
                        .join()
                        .expect("the clean-up thread ends")
                        .expect("dropping the test database");
                    }
                }
                (
                    Db::Postgres(pool),
                    Box::new(DropDatabase(Some((server, name)))),
                )
            }
            _ => {
                let dir = tempfile::tempdir().unwrap();
                let options = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(dir.path().join("metrics.db"))
                    .create_if_missing(true)
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
                let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
                (Db::Sqlite(pool), Box::new(dir))
            }
        }
    }

    /// Runs the migrations up to (and including) version `to`, or all.
    pub(crate) async fn migrate(db: &Db, to: Option<i64>) {
        let run = |m: &'static Migrator| async move {
            match (db, to) {
                (Db::Sqlite(p), Some(v)) => m.run_to(v, p).await,
                (Db::Sqlite(p), None) => m.run(p).await,
                (Db::Postgres(p), Some(v)) => m.run_to(v, p).await,
                (Db::Postgres(p), None) => m.run(p).await,
            }
        };
        match db {
            Db::Sqlite(_) => run(crate::MIGRATIONS.sqlite).await.unwrap(),
            Db::Postgres(_) => run(crate::MIGRATIONS.postgres).await.unwrap(),
        }
    }
}

/// The running totals of graduate outcomes (`agg_outcome_roll`) against
/// the day-level rows they summarise, on the back end the test suite runs
/// on (`TALENT_TEST_POSTGRES_URL` set: PostgreSQL, else SQLite).
#[cfg(test)]
mod outcome_roll_tests {
    use std::collections::BTreeMap;

    use super::{
        test_db::{database, migrate},
        *,
    };
    use crate::domain::{BEGINNING, NONE, OUTSIDE};

    /// xorshift64*: deterministic, so a failure replays.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn day(y: i32, m: u32, d: u32) -> i64 {
        codes::day_of_date(y, m, d).unwrap()
    }

    /// The first and last day of every month from 2023-11 to 2026-02.
    fn month_edges() -> Vec<i64> {
        let mut out = Vec::new();
        let mut first = day(2023, 11, 1);
        while first < day(2026, 3, 1) {
            let next = next_month(first);
            out.extend([first, next - 1]);
            first = next;
        }
        out
    }

    /// (cohort, day, university, degree, discipline, district, industry).
    type ModelCell = (i64, i64, String, i64, i64, String, String);

    /// Random outcome differences (counts and key sums): every day of a
    /// timeline kind (its start, month edges, days in between) and every
    /// kind of place.
    fn history(rng: &mut Rng, n: usize) -> BTreeMap<ModelCell, Tally> {
        let edges = month_edges();
        let places = [
            (NONE, NONE),
            (OUTSIDE, OUTSIDE),
            ("370202", "C13"),
            ("370211", "F"),
            ("370203", "C"),
        ];
        let mut out: BTreeMap<ModelCell, Tally> = BTreeMap::new();
        for _ in 0..n {
            let d = match rng.below(4) {
                0 => BEGINNING,
                1 => edges[rng.below(edges.len())],
                _ => day(2023, 11, 1) + rng.below(850) as i64,
            };
            let place = places[rng.below(places.len())];
            let cell = (
                2024 + rng.below(2) as i64,
                d,
                format!("370200000{}", rng.below(3)),
                2 + rng.below(4) as i64,
                rng.below(4) as i64,
                place.0.to_string(),
                place.1.to_string(),
            );
            *out.entry(cell).or_default() += Tally {
                n: rng.below(7) as i64 - 3,
                key: rng.next() as u32,
            };
        }
        out
    }

    /// The model's answer: cells with day <= `as_of`, projected on `dims`,
    /// with their status, zero sums dropped.
    fn expected(
        model: &BTreeMap<ModelCell, Tally>,
        cohort: i64,
        as_of: i64,
        dims: u8,
    ) -> Vec<OutcomeRow> {
        let mut sums: BTreeMap<OutcomeRow, Tally> = BTreeMap::new();
        for ((c, d, u, g, s, district, industry), n) in model {
            if *c != cohort || *d > as_of {
                continue;
            }
            let status = match district.as_str() {
                NONE => 0,
                OUTSIDE => 1,
                _ => 2,
            };
            let keep = |bit: u8| dims & bit != 0;
            let key = (
                if keep(outcome_dim::UNIVERSITY) {
                    u.clone()
                } else {
                    String::new()
                },
                if keep(outcome_dim::DEGREE) { *g } else { 0 },
                if keep(outcome_dim::DISCIPLINE) { *s } else { 0 },
                if keep(outcome_dim::DISTRICT) {
                    district.clone()
                } else {
                    String::new()
                },
                if keep(outcome_dim::INDUSTRY) {
                    industry.clone()
                } else {
                    String::new()
                },
                status,
                0,
                0,
            );
            *sums.entry(key).or_default() += *n;
        }
        sums.into_iter()
            .filter(|(_, t)| *t != Tally::default())
            .map(|(k, t)| (k.0, k.1, k.2, k.3, k.4, k.5, t.n, i64::from(t.key)))
            .collect()
    }

    /// The rows with something in them, key sums reduced modulo 2³².
    fn answered(rows: OutcomeRows) -> Vec<OutcomeRow> {
        let mut rows: Vec<OutcomeRow> = rows
            .rows
            .into_iter()
            .map(|r| {
                let t = Tally::new(r.6, r.7);
                (r.0, r.1, r.2, r.3, r.4, r.5, t.n, i64::from(t.key))
            })
            .filter(|r| (r.6, r.7) != (0, 0))
            .collect();
        rows.sort();
        rows
    }

    /// Outcomes written before migration 0003 (rolled up by the migration)
    /// and after it (rolled up by `apply_deltas`, in many transactions)
    /// answer every as-of date and every projection as the day-level rows
    /// and the model do: before the first event, on the first and last day
    /// of each month, between, and in the far future.
    #[tokio::test]
    async fn running_totals_agree_with_the_day_level_rows() {
        let (db, _guard) = database().await;
        let mut rng = Rng(0x0005_eed0_f0c0_70e5);

        // Written directly into agg_outcome_now before the migration (and
        // before key sums existed).
        migrate(&db, Some(2)).await;
        let before: BTreeMap<ModelCell, Tally> = history(&mut rng, 600)
            .into_iter()
            .map(|(c, t)| (c, Tally { n: t.n, key: 0 }))
            .collect();
        for (c, n) in &before {
            let sql = "INSERT INTO agg_outcome_now (cohort, day, university, degree, discipline, \
                       district, industry, n) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
            on_pool!(&db, p => sqlx::query(sql)
                .bind(c.0).bind(c.1).bind(&c.2).bind(c.3).bind(c.4).bind(&c.5).bind(&c.6).bind(n.n)
                .execute(p)
                .await
                .map(|_| ())
                .unwrap());
        }
        migrate(&db, None).await;

        // Then through the service's write path.
        let store = Store::new(db.clone());
        let mut model = before;
        for batch in 0..12 {
            let after = history(&mut rng, 150);
            let mut deltas = BTreeMap::new();
            for (c, t) in &after {
                *model.entry(c.clone()).or_default() += *t;
                deltas.insert(
                    Cell::Outcome {
                        cohort: c.0,
                        day: c.1,
                        university: c.2.clone(),
                        degree: c.3,
                        discipline: c.4,
                        district: c.5.clone(),
                        industry: c.6.clone(),
                    },
                    Amount {
                        n: t.n,
                        headcount: 0,
                        key: t.key,
                    },
                );
            }
            let mut tx = store.begin().await.unwrap();
            tx.apply_deltas(&deltas, 1_000 + batch).await.unwrap();
            tx.commit().await.unwrap();
        }

        let mut dates = month_edges();
        dates.extend([
            OUTCOME_FLOOR,
            day(1950, 6, 30),
            day(2023, 10, 31),
            day(2100, 12, 31),
        ]);
        dates.extend((0..8).map(|_| day(2023, 11, 1) + rng.below(850) as i64));
        let mut nonempty = 0;
        for cohort in [2024, 2025] {
            for &as_of in &dates {
                let full = store
                    .outcome_rows(cohort, as_of, None, outcome_dim::ALL)
                    .await
                    .unwrap();
                assert_eq!(full.dims, outcome_dim::ALL);
                assert_eq!(
                    answered(full),
                    expected(&model, cohort, as_of, outcome_dim::ALL),
                    "day-level rows, cohort {cohort} as of {as_of}"
                );
                for dims in OUTCOME_PROJECTIONS {
                    let rolled = store.outcome_rows(cohort, as_of, None, dims).await.unwrap();
                    assert_eq!(rolled.dims, dims);
                    let want = expected(&model, cohort, as_of, dims);
                    nonempty += usize::from(!want.is_empty());
                    assert_eq!(
                        answered(rolled),
                        want,
                        "running totals, projection {dims}, cohort {cohort} as of {as_of}"
                    );
                }
            }
        }
        // The histories are not trivially empty at the dates checked.
        assert!(nonempty > dates.len() * 16, "{nonempty}");
        db.close().await;
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
