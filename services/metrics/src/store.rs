//! Storage: one interface over the two back ends. The SQL is portable
//! (integers for days and instants, text ids, `ON CONFLICT` upserts), so
//! each operation is written once and expanded for SQLite and PostgreSQL
//! by [`on_conn!`]; where the back ends differ (row locks) the operation
//! says so. Queries read only the aggregate tables.

use std::collections::BTreeMap;

use sqlx::{Postgres, QueryBuilder, Sqlite};
use talent_server::Db;

use crate::codes;
use crate::domain::{
    Amount, Cell, Contribution, Employment, PersonFacts, Posting, Resume, RosterRow,
};

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

// After the macros, which it uses.
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
    pub disclosure_threshold: i64,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

const KEY_COLUMNS: &str =
    "id, kind, display_name, secret_prefix, disclosure_threshold, created_at, revoked_at";

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
        let sql = "INSERT INTO api_keys (id, kind, display_name, key_hash, secret_prefix, \
                   disclosure_threshold, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
        on_pool!(&self.db, p => {
            sqlx::query(sql)
                .bind(&row.id)
                .bind(&row.kind)
                .bind(&row.display_name)
                .bind(hash)
                .bind(&row.secret_prefix)
                .bind(row.disclosure_threshold)
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
    pub async fn gathered_rows(
        &self,
        start: i64,
        end: i64,
        by_day: bool,
        known_at: Option<i64>,
    ) -> R<Vec<(i64, String, String, String, i64, i64)>> {
        if let Some(known_at) = known_at {
            let day = if by_day { "day" } else { "CAST(0 AS BIGINT)" };
            let sql = format!(
                "SELECT {day} AS d, district, industry, platform, tier, \
                 CAST(SUM(n) AS BIGINT) FROM agg_gathered_log WHERE day >= $1 AND day < $2 \
                 AND known_at <= $3 GROUP BY d, district, industry, platform, tier"
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
                    "SELECT {d} AS d, district, industry, platform, tier, n FROM {table} \
                     WHERE {cond}{column} >= ${a} AND {column} < ${b}"
                )
            })
            .collect();
        let sql = format!(
            "SELECT d, district, industry, platform, tier, CAST(SUM(n) AS BIGINT) FROM ({}) x \
             GROUP BY d, district, industry, platform, tier",
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

    /// Cohort members per place as of `as_of`.
    pub async fn outcome_rows(
        &self,
        cohort: i64,
        as_of: i64,
        known_at: Option<i64>,
    ) -> R<Vec<(String, i64, i64, String, String, i64)>> {
        let (table, known) = source("agg_outcome", known_at);
        let sql = format!(
            "SELECT university, degree, discipline, district, industry, CAST(SUM(n) AS BIGINT) \
             FROM {table} WHERE cohort = $1 AND day <= $2 {known} \
             GROUP BY university, degree, discipline, district, industry"
        );
        on_pool!(&self.db, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(cohort)
            .bind(as_of)
            .bind(known_at.unwrap_or(0))
            .fetch_all(p)
            .await)
    }

    /// Activity per cell for days in `[start, end)`.
    #[allow(clippy::type_complexity)]
    pub async fn activity_rows(
        &self,
        start: i64,
        end: i64,
        by_day: bool,
        known_at: Option<i64>,
    ) -> R<Vec<(String, i64, String, String, String, i64, i64, i64)>> {
        let (day, group_day) = if by_day {
            ("day", "day, ")
        } else {
            ("CAST(0 AS BIGINT)", "")
        };
        let (table, known) = source("agg_activity", known_at);
        let sql = format!(
            "SELECT kind, {day} AS d, district, industry, platform, tier, \
             CAST(SUM(n) AS BIGINT), CAST(SUM(headcount) AS BIGINT) \
             FROM {table} WHERE day >= $1 AND day < $2 {known} \
             GROUP BY kind, {group_day}district, industry, platform, tier"
        );
        on_pool!(&self.db, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(start)
            .bind(end)
            .bind(known_at.unwrap_or(0))
            .fetch_all(p)
            .await)
    }

    /// Distinct-entity presence cells for days in `[start, end)`.
    #[allow(clippy::type_complexity)]
    pub async fn distinct_rows(
        &self,
        start: i64,
        end: i64,
        known_at: Option<i64>,
    ) -> R<Vec<(String, String, i64, String, String, String, i64)>> {
        let (table, known) = source("agg_distinct", known_at);
        let sql = format!(
            "SELECT kind, entity, day, district, industry, platform, tier \
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
                    } => Some((*day, district, industry, platform, *tier, a.n)),
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
                    } => Some((kind, entity, *day, district, industry, platform, *tier, a.n)),
                    _ => None,
                })
                .collect();
            on_conn!(self, c => {
                if !gathered.is_empty() {
                    for (table, log) in [("agg_gathered_log", true), ("agg_gathered_now", false)] {
                        let mut q = QueryBuilder::new(format!(
                            "INSERT INTO {table} (day, district, industry, platform, tier, n{}) ",
                            if log { ", known_at" } else { "" }
                        ));
                        q.push_values(&gathered, |mut b, r| {
                            b.push_bind(r.0).push_bind(r.1).push_bind(r.2).push_bind(r.3)
                                .push_bind(r.4).push_bind(r.5);
                            if log {
                                b.push_bind(known_at);
                            }
                        });
                        if !log {
                            q.push(" ON CONFLICT (day, district, industry, platform, tier) \
                                    DO UPDATE SET n = agg_gathered_now.n + excluded.n");
                        }
                        q.build().execute(&mut *c).await?;
                    }
                    // One row per roll-up cell (PostgreSQL cannot update a
                    // row twice in one statement), in key order.
                    let mut roll: BTreeMap<(&str, i64, &String, &String, &String, i64), i64> =
                        BTreeMap::new();
                    for r in &gathered {
                        for (level, bucket) in [("M", month_start(r.0)), ("Y", year_start(r.0))] {
                            *roll.entry((level, bucket, r.1, r.2, r.3, r.4)).or_default() += r.5;
                        }
                    }
                    let mut q = QueryBuilder::new(
                        "INSERT INTO agg_gathered_roll (level, bucket, district, industry, \
                         platform, tier, n) ",
                    );
                    q.push_values(&roll, |mut b, (k, n)| {
                        b.push_bind(k.0).push_bind(k.1).push_bind(k.2).push_bind(k.3)
                            .push_bind(k.4).push_bind(k.5).push_bind(*n);
                    });
                    q.push(" ON CONFLICT (level, bucket, district, industry, platform, tier) \
                            DO UPDATE SET n = agg_gathered_roll.n + excluded.n");
                    q.build().execute(&mut *c).await?;
                }
                if !outcome.is_empty() {
                    for (table, log) in [("agg_outcome_log", true), ("agg_outcome_now", false)] {
                        let mut q = QueryBuilder::new(format!(
                            "INSERT INTO {table} (cohort, day, university, degree, discipline, \
                             district, industry, n{}) ",
                            if log { ", known_at" } else { "" }
                        ));
                        q.push_values(&outcome, |mut b, r| {
                            b.push_bind(r.0).push_bind(r.1).push_bind(r.2).push_bind(r.3)
                                .push_bind(r.4).push_bind(r.5).push_bind(r.6).push_bind(r.7);
                            if log {
                                b.push_bind(known_at);
                            }
                        });
                        if !log {
                            q.push(" ON CONFLICT (cohort, day, university, degree, discipline, \
                                    district, industry) DO UPDATE SET n = agg_outcome_now.n + excluded.n");
                        }
                        q.build().execute(&mut *c).await?;
                    }
                }
                if !activity.is_empty() {
                    for (table, log) in [("agg_activity_log", true), ("agg_activity_now", false)] {
                        let mut q = QueryBuilder::new(format!(
                            "INSERT INTO {table} (kind, day, district, industry, platform, tier, \
                             n, headcount{}) ",
                            if log { ", known_at" } else { "" }
                        ));
                        q.push_values(&activity, |mut b, r| {
                            b.push_bind(r.0).push_bind(r.1).push_bind(r.2).push_bind(r.3)
                                .push_bind(r.4).push_bind(r.5).push_bind(r.6).push_bind(r.7);
                            if log {
                                b.push_bind(known_at);
                            }
                        });
                        if !log {
                            q.push(" ON CONFLICT (kind, day, district, industry, platform, tier) \
                                    DO UPDATE SET n = agg_activity_now.n + excluded.n, \
                                    headcount = agg_activity_now.headcount + excluded.headcount");
                        }
                        q.build().execute(&mut *c).await?;
                    }
                }
                if !distinct.is_empty() {
                    for (table, log) in [("agg_distinct_log", true), ("agg_distinct_now", false)] {
                        let mut q = QueryBuilder::new(format!(
                            "INSERT INTO {table} (kind, entity, day, district, industry, platform, \
                             tier, n{}) ",
                            if log { ", known_at" } else { "" }
                        ));
                        q.push_values(&distinct, |mut b, r| {
                            b.push_bind(r.0).push_bind(r.1).push_bind(r.2).push_bind(r.3)
                                .push_bind(r.4).push_bind(r.5).push_bind(r.6).push_bind(r.7);
                            if log {
                                b.push_bind(known_at);
                            }
                        });
                        if !log {
                            q.push(" ON CONFLICT (kind, entity, day, district, industry, platform, \
                                    tier) DO UPDATE SET n = agg_distinct_now.n + excluded.n");
                        }
                        q.build().execute(&mut *c).await?;
                    }
                }
            });
        }
        Ok(())
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
