//! The facts of the entities and their locks, in bulk, for applying a
//! whole request message at once: every read loads the rows of all the
//! keys a message touches in one statement per chunk of keys, every write
//! is one multi-row statement, so the number of statements per message
//! does not grow with its events.
//!
//! Statements are cut into chunks well under the bind-parameter limits
//! (SQLite 32,766, PostgreSQL 65,535).

use std::collections::BTreeSet;

use futures::future::BoxFuture;
use sqlx::{ColumnIndex, Encode, Executor, FromRow, QueryBuilder, Type};
use talent_server::{Column, PerBatch};

use super::{MetricsSql, R, StoreError};
use crate::domain::{Contribution, Posting, RosterRow};

/// Keys per `IN (…)` list.
const KEYS: usize = 2_000;
/// Bind parameters per multi-row statement.
const BINDS: usize = 30_000;

/// Rows per multi-row statement of `columns` columns.
fn rows_per_statement(columns: usize) -> usize {
    (BINDS / columns).max(1)
}

/// An employment row with every column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmploymentRow {
    pub id: String,
    pub person_key: String,
    pub hired: bool,
    pub district: String,
    pub industry: String,
    pub in_city: bool,
    pub start_day: i64,
    pub platform: String,
    pub recorded_at: i64,
    pub end_day: Option<i64>,
    pub end_revision: i64,
}

type EmploymentTuple = (
    String,
    String,
    i64,
    String,
    String,
    i64,
    i64,
    String,
    i64,
    Option<i64>,
    i64,
);

const EMPLOYMENT_COLUMNS: &str = "employment_id, person_key, hired, district, industry, in_city, \
                                  start_day, platform, recorded_at, end_day, end_revision";

/// A résumé row with every column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeRow {
    pub id: String,
    pub revision: i64,
    pub person_key: String,
    pub platform: String,
    pub first_day: i64,
    pub degree: i64,
    pub title: i64,
    pub skill: i64,
}

type ResumeTuple = (String, i64, String, String, i64, i64, i64, i64);

const RESUME_COLUMNS: &str =
    "resume_id, revision, person_key, platform, first_day, degree, title, skill";

/// A fair participation row with every column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipationRow {
    pub fair: String,
    pub employer: String,
    pub district: String,
    pub industry: String,
    pub platform: String,
    pub start_day: i64,
    pub register_at: i64,
}

type ParticipationTuple = (String, String, String, String, String, i64, i64);

/// A graduate roster row with every column but the instant of its import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterRecord {
    pub person_key: String,
    /// What the statistics read.
    pub row: RosterRow,
    pub university_name: String,
    pub graduation_day: i64,
}

type RosterTuple = (String, String, i64, i64, i64, i64, String, i64);

const ROSTER_COLUMNS: &str = "person_key, university_code, degree, discipline, cohort, \
                              import_seq, university_name, graduation_day";

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

/// Runs `{select} WHERE {column} = key` for every key of `keys`, in
/// chunks (the statement is `MetricsSql::keyed_select`), and collects the
/// rows.
async fn fetch_in<DB: MetricsSql, T>(
    c: &mut DB::Connection,
    select: &str,
    column: &str,
    keys: &BTreeSet<String>,
) -> R<Vec<T>>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'r> T: FromRow<'r, DB::Row> + Send + Unpin,
{
    let keys: Vec<&String> = keys.iter().collect();
    let mut out: Vec<T> = Vec::new();
    for chunk in keys.chunks(KEYS) {
        let mut q = DB::keyed_select(select, column, chunk);
        out.extend(
            q.build_query_as::<T>()
                .per_batch()
                .fetch_all(&mut *c)
                .await?,
        );
    }
    Ok(out)
}

/// The facts of the entities, read and written inside a transaction.
pub trait FactsTx {
    /// Remembers the events `(event_id, source, sequence, outcome)` (ids
    /// distinct); returns the ids that were not seen before. Waits on
    /// PostgreSQL for a concurrent transaction recording the same id, so
    /// exactly one of them applies it.
    fn record_events<'a>(
        &'a mut self,
        events: &'a [(&'a str, &'a str, i64, &'a str)],
        now: i64,
    ) -> BoxFuture<'a, R<BTreeSet<String>>>;

    /// Locks the entities `ids` of one kind, until the transaction ends,
    /// and returns `(id, contribution)` of each; an entity without a row
    /// contributes nothing. Transactions locking overlapping sets in one
    /// call each cannot deadlock (see `MetricsSql`).
    fn lock_entities<'a>(
        &'a mut self,
        kind: &'a str,
        ids: &'a BTreeSet<String>,
    ) -> BoxFuture<'a, R<Vec<(String, Contribution)>>>;

    /// Stores the contributions of entities locked before.
    fn save_entities<'a>(
        &'a mut self,
        rows: &'a [(&'a str, &'a str, String)],
    ) -> BoxFuture<'a, R<()>>;

    /// The employments with one of `ids` or of one of `persons`.
    fn employments_of<'a>(
        &'a mut self,
        ids: &'a BTreeSet<String>,
        persons: &'a BTreeSet<String>,
    ) -> BoxFuture<'a, R<Vec<EmploymentRow>>>;

    /// Writes employment rows whole (each id once).
    fn upsert_employments<'a>(&'a mut self, rows: &'a [&'a EmploymentRow]) -> BoxFuture<'a, R<()>>;

    /// The résumés with one of `ids` or of one of `persons`.
    fn resumes_of<'a>(
        &'a mut self,
        ids: &'a BTreeSet<String>,
        persons: &'a BTreeSet<String>,
    ) -> BoxFuture<'a, R<Vec<ResumeRow>>>;

    /// Writes résumé rows whole (each id once).
    fn upsert_resumes<'a>(&'a mut self, rows: &'a [&'a ResumeRow]) -> BoxFuture<'a, R<()>>;

    /// Every roster row of `persons`.
    fn roster_of<'a>(
        &'a mut self,
        persons: &'a BTreeSet<String>,
    ) -> BoxFuture<'a, R<Vec<RosterRecord>>>;

    /// Writes roster rows (each key once), imported at `now` when new (an
    /// existing row keeps its instant and position of import).
    fn upsert_roster<'a>(
        &'a mut self,
        rows: &'a [&'a RosterRecord],
        now: i64,
    ) -> BoxFuture<'a, R<()>>;

    /// Names universities `(code, name)` (each code once).
    fn upsert_universities<'a>(
        &'a mut self,
        rows: &'a [(&'a str, &'a str)],
    ) -> BoxFuture<'a, R<()>>;

    /// `(revision, posting)` of the postings with one of `ids`, or of one
    /// of `openings`, or of one of `employers`.
    fn postings_of<'a>(
        &'a mut self,
        ids: &'a BTreeSet<String>,
        openings: &'a BTreeSet<String>,
        employers: &'a BTreeSet<String>,
    ) -> BoxFuture<'a, R<Vec<(i64, Posting)>>>;

    /// Writes posting rows whole (each id once).
    fn upsert_postings<'a>(&'a mut self, rows: &'a [(i64, &'a Posting)]) -> BoxFuture<'a, R<()>>;

    /// Writes fairs `(id, platform, start_day)` (each id once).
    fn upsert_fairs<'a>(&'a mut self, rows: &'a [(&'a str, &'a str, i64)]) -> BoxFuture<'a, R<()>>;

    /// The participations of `fairs` (callers pick the pairs they need).
    fn participations_of<'a>(
        &'a mut self,
        fairs: &'a BTreeSet<String>,
    ) -> BoxFuture<'a, R<Vec<ParticipationRow>>>;

    /// Writes participation rows whole (each pair once; the caller holds
    /// their entities' locks and has kept the latest registration).
    fn upsert_participations<'a>(
        &'a mut self,
        rows: &'a [&'a ParticipationRow],
    ) -> BoxFuture<'a, R<()>>;

    /// Records applications `(id, district, industry, platform, day)`
    /// (ids distinct); returns the ids that were new.
    fn insert_applications<'a>(
        &'a mut self,
        rows: &'a [(&'a str, &'a str, &'a str, &'a str, i64)],
    ) -> BoxFuture<'a, R<BTreeSet<String>>>;

    /// Records erasures `(person_key, erased_at)` (keys distinct); an
    /// erasure recorded before stays.
    fn record_erasures<'a>(&'a mut self, rows: &'a [(&'a str, i64)]) -> BoxFuture<'a, R<()>>;
}

impl<DB: MetricsSql> FactsTx for sqlx::Transaction<'static, DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
    String: Column<DB>,
    i64: Column<DB>,
    Option<i64>: Column<DB>,
{
    fn record_events<'a>(
        &'a mut self,
        events: &'a [(&'a str, &'a str, i64, &'a str)],
        now: i64,
    ) -> BoxFuture<'a, R<BTreeSet<String>>> {
        Box::pin(async move {
            let c: &mut DB::Connection = self;
            let mut fresh = BTreeSet::new();
            for chunk in events.chunks(rows_per_statement(5)) {
                let mut q = QueryBuilder::new(
                    "INSERT INTO applied_events (event_id, source, sequence, outcome, applied_at) ",
                );
                q.push_values(chunk, |mut b, e| {
                    b.push_bind(e.0)
                        .push_bind(e.1)
                        .push_bind(e.2)
                        .push_bind(e.3)
                        .push_bind(now);
                });
                q.push(" ON CONFLICT (event_id) DO NOTHING RETURNING event_id");
                let ids: Vec<(String,)> = q.build_query_as().per_batch().fetch_all(&mut *c).await?;
                fresh.extend(ids.into_iter().map(|(id,)| id));
            }
            Ok(fresh)
        })
    }

    fn lock_entities<'a>(
        &'a mut self,
        kind: &'a str,
        ids: &'a BTreeSet<String>,
    ) -> BoxFuture<'a, R<Vec<(String, Contribution)>>> {
        Box::pin(async move {
            let c: &mut DB::Connection = self;
            let ids: Vec<&String> = ids.iter().collect();
            if DB::ENTITY_ROWS_FIRST {
                for chunk in ids.chunks(rows_per_statement(3)) {
                    let mut q =
                        QueryBuilder::new("INSERT INTO entity_state (kind, id, contribution) ");
                    q.push_values(chunk, |mut b, id| {
                        b.push_bind(kind).push_bind(id.as_str()).push_bind("[]");
                    });
                    q.push(" ON CONFLICT (kind, id) DO NOTHING");
                    q.build().per_batch().execute(&mut *c).await?;
                }
            }
            let mut out = Vec::with_capacity(ids.len());
            for chunk in ids.chunks(KEYS) {
                let rows: Vec<(String, String)> = DB::lock_entity_rows(kind, chunk)
                    .build_query_as()
                    .per_batch()
                    .fetch_all(&mut *c)
                    .await?;
                for (id, json) in rows {
                    let contribution = Contribution::from_json(&json).map_err(|e| {
                        StoreError::Corrupt(format!("the contribution of {kind} {id}: {e:#}"))
                    })?;
                    out.push((id, contribution));
                }
            }
            if DB::ENTITY_ROWS_FIRST {
                if out.len() != ids.len() {
                    return Err(StoreError::Corrupt(format!(
                        "locked {} of {} {kind} entities",
                        out.len(),
                        ids.len()
                    )));
                }
            } else if out.len() < ids.len() {
                let found: BTreeSet<&str> = out.iter().map(|(id, _)| id.as_str()).collect();
                let missing: Vec<String> = ids
                    .iter()
                    .filter(|id| !found.contains(id.as_str()))
                    .map(|id| id.to_string())
                    .collect();
                out.extend(missing.into_iter().map(|id| (id, Contribution::default())));
            }
            Ok(out)
        })
    }

    fn save_entities<'a>(
        &'a mut self,
        rows: &'a [(&'a str, &'a str, String)],
    ) -> BoxFuture<'a, R<()>> {
        Box::pin(async move {
            let c: &mut DB::Connection = self;
            for chunk in rows.chunks(rows_per_statement(3)) {
                let mut q = QueryBuilder::new("INSERT INTO entity_state (kind, id, contribution) ");
                q.push_values(chunk, |mut b, r| {
                    b.push_bind(r.0).push_bind(r.1).push_bind(r.2.as_str());
                });
                q.push(
                    " ON CONFLICT (kind, id) DO UPDATE SET contribution = excluded.contribution",
                );
                q.build().per_batch().execute(&mut *c).await?;
            }
            Ok(())
        })
    }

    fn employments_of<'a>(
        &'a mut self,
        ids: &'a BTreeSet<String>,
        persons: &'a BTreeSet<String>,
    ) -> BoxFuture<'a, R<Vec<EmploymentRow>>> {
        Box::pin(async move {
            let select = format!("SELECT {EMPLOYMENT_COLUMNS} FROM employments");
            let mut rows =
                fetch_in::<DB, EmploymentTuple>(&mut **self, &select, "employment_id", ids).await?;
            rows.extend(
                fetch_in::<DB, EmploymentTuple>(&mut **self, &select, "person_key", persons)
                    .await?,
            );
            Ok(rows
                .into_iter()
                .map(|e| EmploymentRow {
                    id: e.0,
                    person_key: e.1,
                    hired: e.2 == 1,
                    district: e.3,
                    industry: e.4,
                    in_city: e.5 == 1,
                    start_day: e.6,
                    platform: e.7,
                    recorded_at: e.8,
                    end_day: e.9,
                    end_revision: e.10,
                })
                .collect())
        })
    }

    fn upsert_employments<'a>(&'a mut self, rows: &'a [&'a EmploymentRow]) -> BoxFuture<'a, R<()>> {
        Box::pin(async move {
            let c: &mut DB::Connection = self;
            for chunk in rows.chunks(rows_per_statement(11)) {
                let mut q =
                    QueryBuilder::new(format!("INSERT INTO employments ({EMPLOYMENT_COLUMNS}) "));
                q.push_values(chunk, |mut b, e| {
                    b.push_bind(e.id.as_str())
                        .push_bind(e.person_key.as_str())
                        .push_bind(i64::from(e.hired))
                        .push_bind(e.district.as_str())
                        .push_bind(e.industry.as_str())
                        .push_bind(i64::from(e.in_city))
                        .push_bind(e.start_day)
                        .push_bind(e.platform.as_str())
                        .push_bind(e.recorded_at)
                        .push_bind(e.end_day)
                        .push_bind(e.end_revision);
                });
                q.push(
                    " ON CONFLICT (employment_id) DO UPDATE SET person_key = excluded.person_key, \
             hired = excluded.hired, district = excluded.district, \
             industry = excluded.industry, in_city = excluded.in_city, \
             start_day = excluded.start_day, platform = excluded.platform, \
             recorded_at = excluded.recorded_at, end_day = excluded.end_day, \
             end_revision = excluded.end_revision",
                );
                q.build().per_batch().execute(&mut *c).await?;
            }
            Ok(())
        })
    }

    fn resumes_of<'a>(
        &'a mut self,
        ids: &'a BTreeSet<String>,
        persons: &'a BTreeSet<String>,
    ) -> BoxFuture<'a, R<Vec<ResumeRow>>> {
        Box::pin(async move {
            let select = format!("SELECT {RESUME_COLUMNS} FROM resumes");
            let mut rows =
                fetch_in::<DB, ResumeTuple>(&mut **self, &select, "resume_id", ids).await?;
            rows.extend(
                fetch_in::<DB, ResumeTuple>(&mut **self, &select, "person_key", persons).await?,
            );
            Ok(rows
                .into_iter()
                .map(|r| ResumeRow {
                    id: r.0,
                    revision: r.1,
                    person_key: r.2,
                    platform: r.3,
                    first_day: r.4,
                    degree: r.5,
                    title: r.6,
                    skill: r.7,
                })
                .collect())
        })
    }

    fn upsert_resumes<'a>(&'a mut self, rows: &'a [&'a ResumeRow]) -> BoxFuture<'a, R<()>> {
        Box::pin(async move {
            let c: &mut DB::Connection = self;
            for chunk in rows.chunks(rows_per_statement(8)) {
                let mut q = QueryBuilder::new(format!("INSERT INTO resumes ({RESUME_COLUMNS}) "));
                q.push_values(chunk, |mut b, r| {
                    b.push_bind(r.id.as_str())
                        .push_bind(r.revision)
                        .push_bind(r.person_key.as_str())
                        .push_bind(r.platform.as_str())
                        .push_bind(r.first_day)
                        .push_bind(r.degree)
                        .push_bind(r.title)
                        .push_bind(r.skill);
                });
                q.push(
                    " ON CONFLICT (resume_id) DO UPDATE SET revision = excluded.revision, \
             person_key = excluded.person_key, platform = excluded.platform, \
             first_day = excluded.first_day, degree = excluded.degree, \
             title = excluded.title, skill = excluded.skill",
                );
                q.build().per_batch().execute(&mut *c).await?;
            }
            Ok(())
        })
    }

    fn roster_of<'a>(
        &'a mut self,
        persons: &'a BTreeSet<String>,
    ) -> BoxFuture<'a, R<Vec<RosterRecord>>> {
        Box::pin(async move {
            let select = format!("SELECT {ROSTER_COLUMNS} FROM roster");
            let rows =
                fetch_in::<DB, RosterTuple>(&mut **self, &select, "person_key", persons).await?;
            Ok(rows
                .into_iter()
                .map(|r| RosterRecord {
                    person_key: r.0,
                    row: RosterRow {
                        university_code: r.1,
                        degree: r.2,
                        discipline: r.3,
                        cohort: r.4,
                        import_seq: r.5,
                    },
                    university_name: r.6,
                    graduation_day: r.7,
                })
                .collect())
        })
    }

    fn upsert_roster<'a>(
        &'a mut self,
        rows: &'a [&'a RosterRecord],
        now: i64,
    ) -> BoxFuture<'a, R<()>> {
        Box::pin(async move {
            let c: &mut DB::Connection = self;
            for chunk in rows.chunks(rows_per_statement(9)) {
                let mut q = QueryBuilder::new(format!(
                    "INSERT INTO roster ({ROSTER_COLUMNS}, imported_at) "
                ));
                q.push_values(chunk, |mut b, r| {
                    b.push_bind(r.person_key.as_str())
                        .push_bind(r.row.university_code.as_str())
                        .push_bind(r.row.degree)
                        .push_bind(r.row.discipline)
                        .push_bind(r.row.cohort)
                        .push_bind(r.row.import_seq)
                        .push_bind(r.university_name.as_str())
                        .push_bind(r.graduation_day)
                        .push_bind(now);
                });
                q.push(
                    " ON CONFLICT (person_key, university_code, degree) DO UPDATE SET \
                     university_name = excluded.university_name, \
                     discipline = excluded.discipline, graduation_day = excluded.graduation_day, \
                     cohort = excluded.cohort",
                );
                q.build().per_batch().execute(&mut *c).await?;
            }
            Ok(())
        })
    }

    fn upsert_universities<'a>(
        &'a mut self,
        rows: &'a [(&'a str, &'a str)],
    ) -> BoxFuture<'a, R<()>> {
        Box::pin(async move {
            let c: &mut DB::Connection = self;
            for chunk in rows.chunks(rows_per_statement(2)) {
                let mut q = QueryBuilder::new("INSERT INTO universities (code, name) ");
                q.push_values(chunk, |mut b, r| {
                    b.push_bind(r.0).push_bind(r.1);
                });
                q.push(" ON CONFLICT (code) DO UPDATE SET name = excluded.name");
                q.build().per_batch().execute(&mut *c).await?;
            }
            Ok(())
        })
    }

    fn postings_of<'a>(
        &'a mut self,
        ids: &'a BTreeSet<String>,
        openings: &'a BTreeSet<String>,
        employers: &'a BTreeSet<String>,
    ) -> BoxFuture<'a, R<Vec<(i64, Posting)>>> {
        Box::pin(async move {
            let select = format!("SELECT {POSTING_COLUMNS} FROM postings");
            let mut rows: Vec<PostingRow> = Vec::new();
            for (column, keys) in [
                ("posting_id", ids),
                ("opening_id", openings),
                ("employer", employers),
            ] {
                rows.extend(fetch_in::<DB, PostingRow>(&mut **self, &select, column, keys).await?);
            }
            Ok(rows.into_iter().map(posting_of).collect())
        })
    }

    fn upsert_postings<'a>(&'a mut self, rows: &'a [(i64, &'a Posting)]) -> BoxFuture<'a, R<()>> {
        Box::pin(async move {
            let c: &mut DB::Connection = self;
            for chunk in rows.chunks(rows_per_statement(10)) {
                let mut q = QueryBuilder::new(format!("INSERT INTO postings ({POSTING_COLUMNS}) "));
                q.push_values(chunk, |mut b, (revision, p)| {
                    b.push_bind(p.id.as_str())
                        .push_bind(*revision)
                        .push_bind(p.opening_id.as_str())
                        .push_bind(p.employer.as_str())
                        .push_bind(p.district.as_str())
                        .push_bind(p.industry.as_str())
                        .push_bind(p.headcount)
                        .push_bind(p.publish_at)
                        .push_bind(p.publish_day)
                        .push_bind(p.platform.as_str());
                });
                q.push(
                    " ON CONFLICT (posting_id) DO UPDATE SET revision = excluded.revision, \
             opening_id = excluded.opening_id, employer = excluded.employer, \
             district = excluded.district, industry = excluded.industry, \
             headcount = excluded.headcount, publish_at = excluded.publish_at, \
             publish_day = excluded.publish_day, platform = excluded.platform",
                );
                q.build().per_batch().execute(&mut *c).await?;
            }
            Ok(())
        })
    }

    fn upsert_fairs<'a>(&'a mut self, rows: &'a [(&'a str, &'a str, i64)]) -> BoxFuture<'a, R<()>> {
        Box::pin(async move {
            let c: &mut DB::Connection = self;
            for chunk in rows.chunks(rows_per_statement(3)) {
                let mut q = QueryBuilder::new("INSERT INTO fairs (fair_id, platform, start_day) ");
                q.push_values(chunk, |mut b, r| {
                    b.push_bind(r.0).push_bind(r.1).push_bind(r.2);
                });
                q.push(
                    " ON CONFLICT (fair_id) DO UPDATE SET platform = excluded.platform, \
             start_day = excluded.start_day",
                );
                q.build().per_batch().execute(&mut *c).await?;
            }
            Ok(())
        })
    }

    fn participations_of<'a>(
        &'a mut self,
        fairs: &'a BTreeSet<String>,
    ) -> BoxFuture<'a, R<Vec<ParticipationRow>>> {
        Box::pin(async move {
            let rows = fetch_in::<DB, ParticipationTuple>(
                &mut **self,
                "SELECT fair_id, employer, district, industry, platform, start_day, register_at \
             FROM fair_participations",
                "fair_id",
                fairs,
            )
            .await?;
            Ok(rows
                .into_iter()
                .map(|r| ParticipationRow {
                    fair: r.0,
                    employer: r.1,
                    district: r.2,
                    industry: r.3,
                    platform: r.4,
                    start_day: r.5,
                    register_at: r.6,
                })
                .collect())
        })
    }

    fn upsert_participations<'a>(
        &'a mut self,
        rows: &'a [&'a ParticipationRow],
    ) -> BoxFuture<'a, R<()>> {
        Box::pin(async move {
            let c: &mut DB::Connection = self;
            for chunk in rows.chunks(rows_per_statement(7)) {
                let mut q = QueryBuilder::new(
                    "INSERT INTO fair_participations (fair_id, employer, district, industry, \
             platform, start_day, register_at) ",
                );
                q.push_values(chunk, |mut b, r| {
                    b.push_bind(r.fair.as_str())
                        .push_bind(r.employer.as_str())
                        .push_bind(r.district.as_str())
                        .push_bind(r.industry.as_str())
                        .push_bind(r.platform.as_str())
                        .push_bind(r.start_day)
                        .push_bind(r.register_at);
                });
                q.push(
                    " ON CONFLICT (fair_id, employer) DO UPDATE SET district = excluded.district, \
             industry = excluded.industry, platform = excluded.platform, \
             start_day = excluded.start_day, register_at = excluded.register_at",
                );
                q.build().per_batch().execute(&mut *c).await?;
            }
            Ok(())
        })
    }

    fn insert_applications<'a>(
        &'a mut self,
        rows: &'a [(&'a str, &'a str, &'a str, &'a str, i64)],
    ) -> BoxFuture<'a, R<BTreeSet<String>>> {
        Box::pin(async move {
            let c: &mut DB::Connection = self;
            let mut fresh = BTreeSet::new();
            for chunk in rows.chunks(rows_per_statement(6)) {
                let mut q = QueryBuilder::new(
                    "INSERT INTO applications (application_id, district, industry, platform, \
             submit_day, keyed) ",
                );
                // `keyed`: its record key goes into the aggregates with it.
                q.push_values(chunk, |mut b, r| {
                    b.push_bind(r.0)
                        .push_bind(r.1)
                        .push_bind(r.2)
                        .push_bind(r.3)
                        .push_bind(r.4)
                        .push_bind(1_i64);
                });
                q.push(" ON CONFLICT (application_id) DO NOTHING RETURNING application_id");
                let ids: Vec<(String,)> = q.build_query_as().per_batch().fetch_all(&mut *c).await?;
                fresh.extend(ids.into_iter().map(|(id,)| id));
            }
            Ok(fresh)
        })
    }

    fn record_erasures<'a>(&'a mut self, rows: &'a [(&'a str, i64)]) -> BoxFuture<'a, R<()>> {
        Box::pin(async move {
            let c: &mut DB::Connection = self;
            for chunk in rows.chunks(rows_per_statement(2)) {
                let mut q = QueryBuilder::new("INSERT INTO erasures (person_key, erased_at) ");
                q.push_values(chunk, |mut b, r| {
                    b.push_bind(r.0).push_bind(r.1);
                });
                q.push(" ON CONFLICT (person_key) DO NOTHING");
                q.build().per_batch().execute(&mut *c).await?;
            }
            Ok(())
        })
    }
}
