//! Bulk operations for applying a whole request message at once: every
//! read loads the rows of all the keys a message touches in one statement
//! (`WHERE key IN (…)`), every write is one multi-row statement, so the
//! number of statements per message does not grow with its events.
//!
//! Statements are cut into chunks well under the bind-parameter limits
//! (SQLite 32,766, PostgreSQL 65,535).

use std::collections::BTreeSet;

use sqlx::QueryBuilder;
use talent_server::PerBatch;

use super::{POSTING_COLUMNS, PostingRow, R, Tx, posting_of};
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

/// Runs `{select} WHERE {column} = key` for every key, in chunks, and
/// collects the rows; `$T` is the row tuple type. SQLite takes the keys as
/// an `IN (…)` list (it searches the index once per listed key). On
/// PostgreSQL the keys go in a `VALUES` list joined `LATERAL` to the
/// select behind `OFFSET 0`, which the planner cannot flatten, so each key
/// is one index probe whatever the table's statistics say: with an `IN`
/// list, a table never analyzed (a new database, or a server without
/// autovacuum) was read whole for every message.
macro_rules! fetch_in {
    ($tx:expr, $T:ty, $select:expr, $column:expr, $keys:expr) => {{
        let pg = matches!($tx, Tx::Postgres(_));
        let mut out: Vec<$T> = Vec::new();
        for chunk in $keys.chunks(KEYS) {
            on_conn!($tx, c => {
                let mut q = if pg {
                    let mut q = QueryBuilder::new("SELECT r.* FROM (");
                    q.push_values(chunk, |mut b, k| {
                        b.push_bind(k.as_str());
                    });
                    q.push(format!(
                        ") AS k (v) CROSS JOIN LATERAL ({} WHERE {} = k.v OFFSET 0) AS r",
                        $select, $column
                    ));
                    q
                } else {
                    let mut q = QueryBuilder::new(format!("{} WHERE {} IN (", $select, $column));
                    let mut list = q.separated(", ");
                    for k in chunk {
                        list.push_bind(k.as_str());
                    }
                    q.push(")");
                    q
                };
                out.extend(q.build_query_as::<$T>().per_batch().fetch_all(&mut *c).await?);
            });
        }
        out
    }};
}

impl Tx {
    /// Remembers the events `(event_id, source, sequence, outcome)` (ids
    /// distinct); returns the ids that were not seen before. Waits on
    /// PostgreSQL for a concurrent transaction recording the same id, so
    /// exactly one of them applies it.
    pub async fn record_events(
        &mut self,
        events: &[(&str, &str, i64, &str)],
        now: i64,
    ) -> R<BTreeSet<String>> {
        let mut fresh = BTreeSet::new();
        for chunk in events.chunks(rows_per_statement(5)) {
            on_conn!(self, c => {
                let mut q = QueryBuilder::new(
                    "INSERT INTO applied_events (event_id, source, sequence, outcome, applied_at) ",
                );
                q.push_values(chunk, |mut b, e| {
                    b.push_bind(e.0).push_bind(e.1).push_bind(e.2).push_bind(e.3).push_bind(now);
                });
                q.push(" ON CONFLICT (event_id) DO NOTHING RETURNING event_id");
                let ids: Vec<(String,)> = q.build_query_as().per_batch().fetch_all(&mut *c).await?;
                fresh.extend(ids.into_iter().map(|(id,)| id));
            });
        }
        Ok(fresh)
    }

    /// Locks the entities `ids` of one kind and returns `(id, contribution)`
    /// of each; an entity without a row contributes nothing. On PostgreSQL
    /// missing rows are created first (with no contribution) and the rows
    /// are locked in id order, so transactions locking overlapping sets in
    /// one call each cannot deadlock. SQLite's transaction already holds
    /// the database's write lock, so no row is created there until the
    /// entity contributes (`save_entities` upserts): most persons hired
    /// never do (no graduate roster row, no résumé that counts), and their
    /// rows, at random places in the primary key, were one of the two
    /// index pages each relayed hire dirtied.
    pub async fn lock_entities(
        &mut self,
        kind: &str,
        ids: &BTreeSet<String>,
    ) -> anyhow::Result<Vec<(String, Contribution)>> {
        let pg = matches!(self, Tx::Postgres(_));
        let ids: Vec<&String> = ids.iter().collect();
        if pg {
            for chunk in ids.chunks(rows_per_statement(3)) {
                on_conn!(self, c => {
                    let mut q =
                        QueryBuilder::new("INSERT INTO entity_state (kind, id, contribution) ");
                    q.push_values(chunk, |mut b, id| {
                        b.push_bind(kind).push_bind(id.as_str()).push_bind("[]");
                    });
                    q.push(" ON CONFLICT (kind, id) DO NOTHING");
                    q.build().per_batch().execute(&mut *c).await?;
                });
            }
        }
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(KEYS) {
            on_conn!(self, c => {
                let mut q = if pg {
                    // One index probe per id, as in `fetch_in!`; the lateral
                    // subquery locks its row, and the ids come in order
                    // (sorted by byte, as `COLLATE "C"`), so rows are
                    // locked in id order.
                    let mut q = QueryBuilder::new("SELECT r.id, r.contribution FROM (");
                    q.push_values(chunk, |mut b, id| {
                        b.push_bind(id.as_str());
                    });
                    q.push(
                        ") AS k (v) CROSS JOIN LATERAL (SELECT id, contribution FROM entity_state \
                         WHERE kind = ",
                    );
                    q.push_bind(kind);
                    q.push(" AND id = k.v FOR UPDATE) AS r");
                    q
                } else {
                    let mut q =
                        QueryBuilder::new("SELECT id, contribution FROM entity_state WHERE kind = ");
                    q.push_bind(kind);
                    q.push(" AND id IN (");
                    let mut list = q.separated(", ");
                    for id in chunk {
                        list.push_bind(id.as_str());
                    }
                    q.push(")");
                    q
                };
                let rows: Vec<(String, String)> = q.build_query_as().per_batch().fetch_all(&mut *c).await?;
                for (id, json) in rows {
                    let c = Contribution::from_json(&json)?;
                    out.push((id, c));
                }
            });
        }
        if !pg && out.len() < ids.len() {
            let found: BTreeSet<&str> = out.iter().map(|(id, _)| id.as_str()).collect();
            let missing: Vec<String> = ids
                .iter()
                .filter(|id| !found.contains(id.as_str()))
                .map(|id| id.to_string())
                .collect();
            out.extend(missing.into_iter().map(|id| (id, Contribution::default())));
        }
        Ok(out)
    }

    /// Stores the contributions of entities locked before.
    pub async fn save_entities(&mut self, rows: &[(&str, &str, String)]) -> R<()> {
        for chunk in rows.chunks(rows_per_statement(3)) {
            on_conn!(self, c => {
                let mut q = QueryBuilder::new("INSERT INTO entity_state (kind, id, contribution) ");
                q.push_values(chunk, |mut b, r| {
                    b.push_bind(r.0).push_bind(r.1).push_bind(r.2.as_str());
                });
                q.push(" ON CONFLICT (kind, id) DO UPDATE SET contribution = excluded.contribution");
                q.build().per_batch().execute(&mut *c).await?;
            });
        }
        Ok(())
    }

    /// The employments with one of `ids` or of one of `persons`.
    pub async fn employments_of(
        &mut self,
        ids: &BTreeSet<String>,
        persons: &BTreeSet<String>,
    ) -> R<Vec<EmploymentRow>> {
        let select = format!("SELECT {EMPLOYMENT_COLUMNS} FROM employments");
        let ids: Vec<&String> = ids.iter().collect();
        let persons: Vec<&String> = persons.iter().collect();
        let mut rows = fetch_in!(self, EmploymentTuple, select, "employment_id", ids);
        rows.extend(fetch_in!(
            self,
            EmploymentTuple,
            select,
            "person_key",
            persons
        ));
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
    }

    /// Writes employment rows whole (each id once).
    pub async fn upsert_employments(&mut self, rows: &[&EmploymentRow]) -> R<()> {
        for chunk in rows.chunks(rows_per_statement(11)) {
            on_conn!(self, c => {
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
            });
        }
        Ok(())
    }

    /// The résumés with one of `ids` or of one of `persons`.
    pub async fn resumes_of(
        &mut self,
        ids: &BTreeSet<String>,
        persons: &BTreeSet<String>,
    ) -> R<Vec<ResumeRow>> {
        let select = format!("SELECT {RESUME_COLUMNS} FROM resumes");
        let ids: Vec<&String> = ids.iter().collect();
        let persons: Vec<&String> = persons.iter().collect();
        let mut rows = fetch_in!(self, ResumeTuple, select, "resume_id", ids);
        rows.extend(fetch_in!(self, ResumeTuple, select, "person_key", persons));
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
    }

    /// Writes résumé rows whole (each id once).
    pub async fn upsert_resumes(&mut self, rows: &[&ResumeRow]) -> R<()> {
        for chunk in rows.chunks(rows_per_statement(8)) {
            on_conn!(self, c => {
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
            });
        }
        Ok(())
    }

    /// `(person_key, row)` of every roster row of `persons`.
    pub async fn roster_of(&mut self, persons: &BTreeSet<String>) -> R<Vec<(String, RosterRow)>> {
        type Six = (String, String, i64, i64, i64, i64);
        let persons: Vec<&String> = persons.iter().collect();
        let rows = fetch_in!(
            self,
            Six,
            "SELECT person_key, university_code, degree, discipline, cohort, import_seq FROM roster",
            "person_key",
            persons
        );
        Ok(rows
            .into_iter()
            .map(|r| {
                (
                    r.0,
                    RosterRow {
                        university_code: r.1,
                        degree: r.2,
                        discipline: r.3,
                        cohort: r.4,
                        import_seq: r.5,
                    },
                )
            })
            .collect())
    }

    /// `(revision, posting)` of the postings with one of `ids`, or of one
    /// of `openings`, or of one of `employers`.
    pub async fn postings_of(
        &mut self,
        ids: &BTreeSet<String>,
        openings: &BTreeSet<String>,
        employers: &BTreeSet<String>,
    ) -> R<Vec<(i64, Posting)>> {
        let select = format!("SELECT {POSTING_COLUMNS} FROM postings");
        let mut rows: Vec<PostingRow> = Vec::new();
        for (column, keys) in [
            ("posting_id", ids),
            ("opening_id", openings),
            ("employer", employers),
        ] {
            let keys: Vec<&String> = keys.iter().collect();
            rows.extend(fetch_in!(self, PostingRow, select, column, keys));
        }
        Ok(rows.into_iter().map(posting_of).collect())
    }

    /// Writes posting rows whole (each id once).
    pub async fn upsert_postings(&mut self, rows: &[(i64, &Posting)]) -> R<()> {
        for chunk in rows.chunks(rows_per_statement(10)) {
            on_conn!(self, c => {
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
            });
        }
        Ok(())
    }

    /// Writes fairs `(id, platform, start_day)` (each id once).
    pub async fn upsert_fairs(&mut self, rows: &[(&str, &str, i64)]) -> R<()> {
        for chunk in rows.chunks(rows_per_statement(3)) {
            on_conn!(self, c => {
                let mut q = QueryBuilder::new("INSERT INTO fairs (fair_id, platform, start_day) ");
                q.push_values(chunk, |mut b, r| {
                    b.push_bind(r.0).push_bind(r.1).push_bind(r.2);
                });
                q.push(
                    " ON CONFLICT (fair_id) DO UPDATE SET platform = excluded.platform, \
                     start_day = excluded.start_day",
                );
                q.build().per_batch().execute(&mut *c).await?;
            });
        }
        Ok(())
    }

    /// The participations of `fairs` (callers pick the pairs they need).
    pub async fn participations_of(
        &mut self,
        fairs: &BTreeSet<String>,
    ) -> R<Vec<ParticipationRow>> {
        let fairs: Vec<&String> = fairs.iter().collect();
        let rows = fetch_in!(
            self,
            ParticipationTuple,
            "SELECT fair_id, employer, district, industry, platform, start_day, register_at \
             FROM fair_participations",
            "fair_id",
            fairs
        );
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
    }

    /// Writes participation rows whole (each pair once; the caller holds
    /// their entities' locks and has kept the latest registration).
    pub async fn upsert_participations(&mut self, rows: &[&ParticipationRow]) -> R<()> {
        for chunk in rows.chunks(rows_per_statement(7)) {
            on_conn!(self, c => {
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
            });
        }
        Ok(())
    }

    /// Records applications `(id, district, industry, platform, day)`
    /// (ids distinct); returns the ids that were new.
    pub async fn insert_applications(
        &mut self,
        rows: &[(&str, &str, &str, &str, i64)],
    ) -> R<BTreeSet<String>> {
        let mut fresh = BTreeSet::new();
        for chunk in rows.chunks(rows_per_statement(6)) {
            on_conn!(self, c => {
                let mut q = QueryBuilder::new(
                    "INSERT INTO applications (application_id, district, industry, platform, \
                     submit_day, keyed) ",
                );
                // `keyed`: its record key goes into the aggregates with it.
                q.push_values(chunk, |mut b, r| {
                    b.push_bind(r.0).push_bind(r.1).push_bind(r.2).push_bind(r.3).push_bind(r.4)
                        .push_bind(1_i64);
                });
                q.push(" ON CONFLICT (application_id) DO NOTHING RETURNING application_id");
                let ids: Vec<(String,)> = q.build_query_as().per_batch().fetch_all(&mut *c).await?;
                fresh.extend(ids.into_iter().map(|(id,)| id));
            });
        }
        Ok(fresh)
    }

    /// Records erasures `(person_key, erased_at)` (keys distinct); an
    /// erasure recorded before stays.
    pub async fn record_erasures(&mut self, rows: &[(&str, i64)]) -> R<()> {
        for chunk in rows.chunks(rows_per_statement(2)) {
            on_conn!(self, c => {
                let mut q = QueryBuilder::new("INSERT INTO erasures (person_key, erased_at) ");
                q.push_values(chunk, |mut b, r| {
                    b.push_bind(r.0).push_bind(r.1);
                });
                q.push(" ON CONFLICT (person_key) DO NOTHING");
                q.build().per_batch().execute(&mut *c).await?;
            });
        }
        Ok(())
    }
}
