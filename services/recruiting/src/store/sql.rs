//! The SQLite and PostgreSQL implementations of [`RecruitingStore`].
//!
//! Both schemas use the same column types as seen from Rust (BIGINT /
//! INTEGER as `i64`, TEXT, BLOB / BYTEA), and both back ends accept `$n`
//! placeholders, so the queries are written once, in the macro below, and
//! instantiated per back end. What differs lives behind `PG`:
//!
//! - SQLite: every writing transaction starts with `BEGIN IMMEDIATE`, which
//!   takes the database's single write lock up front, so writers are
//!   serialised and never fail on a lock upgrade;
//! - PostgreSQL: writers take transaction-scoped advisory locks on what they
//!   touch (a platform, an employer's postings), always in sorted order, and
//!   an outbox lock just before appending events, held until commit, so that
//!   outbox sequence numbers are handed out in commit order.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use sqlx::{QueryBuilder, Row};
use talent_server::PerBatch;

use super::{
    coalesce::{Coalesced, Load, PointReads},
    *,
};
use crate::{
    events::{self, OutboxEvent},
    pii::Cipher,
};

/// How many coalesced point reads (`get_posting`) run at once; the
/// lookups that arrive meanwhile wait for the next batch.
const POINT_READ_BATCHES: usize = 2;
/// The most lookups one coalesced read carries.
const POINT_READ_KEYS: usize = 128;

/// How long a request id is remembered: 7 days.
const REQUEST_ID_RETENTION_MICROS: i64 = 7 * crate::validate::DAY_MICROS;

/// The advisory lock of the outbox tail (PostgreSQL).
const OUTBOX_LOCK: i64 = 0x7461_6c65_6e74;

macro_rules! posting_columns {
    () => {
        "platform_id, external_id, title, title_key, description, employer_code, district, \
         industry, occupation, min_degree, experience_years, salary_min, salary_max, headcount, \
         employment_type, publish_at, expire_at, fair_id, tags, close_reason, closed_at, \
         opening_id, revision, created_at, updated_at"
    };
}

macro_rules! employer_columns {
    () => {
        "e.credit_code, e.display_name, e.district, e.industry, e.size, e.field_sources, \
         e.created_at, e.updated_at"
    };
}

macro_rules! resume_columns {
    () => {
        "platform_id, external_id, person_key, pii, attributes, consent, consent_at, erased_at, \
         revision, created_at, updated_at"
    };
}

macro_rules! employment_columns {
    () => {
        "platform_id, employment_id, resume_id, person_key, employer_code, district, industry, \
         start_date, end_date, posting_id, application_id, separation_revision, created_at, \
         updated_at"
    };
}

macro_rules! application_columns {
    () => {
        "platform_id, application_id, resume_id, posting_id, fair_id, state, history, submit_at, \
         employment_id, created_at, updated_at"
    };
}

macro_rules! sql_store {
    ($module:ident, $Store:ident, $Db:ty, $begin:literal, $pg:literal) => {
        pub mod $module {
            use super::*;

            type Db = $Db;
            type Pool = sqlx::Pool<$Db>;
            type Tx = sqlx::Transaction<'static, $Db>;
            type DbRow = <$Db as sqlx::Database>::Row;
            const PG: bool = $pg;

            /// The store on one back end.
            #[derive(Clone)]
            pub struct $Store {
                pool: Pool,
                cipher: Cipher,
                /// `get_posting`'s lookups, by (platform, external id).
                postings: Arc<PointReads<(String, String), PostingRecord>>,
            }

            impl $Store {
                pub fn new(pool: Pool, cipher: Cipher) -> Self {
                    let postings = Arc::new(PointReads::new(
                        POINT_READ_BATCHES,
                        POINT_READ_KEYS,
                        read_postings(pool.clone()),
                    ));
                    Self { pool, cipher, postings }
                }

                /// A writing transaction.
                async fn begin(&self) -> Result<Tx, sqlx::Error> {
                    self.pool.begin_with($begin).await
                }
            }

            /// Takes the advisory locks named by `keys` (PostgreSQL only).
            /// Every writer takes its platform's lock first and the others
            /// in sorted order (a writer may add locks later, but only
            /// keys that sort after what it holds, never a platform's), so
            /// two writers never wait on each other in a cycle.
            async fn lock(tx: &mut Tx, keys: impl IntoIterator<Item = String>) -> StoreResult<()> {
                if !PG {
                    return Ok(());
                }
                let mut keys: Vec<String> = keys.into_iter().collect();
                keys.sort_by(|a, b| {
                    (!a.starts_with("platform:"), a).cmp(&(!b.starts_with("platform:"), b))
                });
                keys.dedup();
                for key in keys {
                    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                        .bind(key)
                        .execute(&mut **tx)
                        .await?;
                }
                Ok(())
            }

            /// [`lock`] in one statement per 1,000 keys instead of one per
            /// key: the same locks, taken in the same order.
            async fn lock_batched(
                tx: &mut Tx,
                keys: impl IntoIterator<Item = String>,
            ) -> StoreResult<()> {
                if !PG {
                    return Ok(());
                }
                let mut keys: Vec<String> = keys.into_iter().collect();
                keys.sort_by(|a, b| {
                    (!a.starts_with("platform:"), a).cmp(&(!b.starts_with("platform:"), b))
                });
                keys.dedup();
                for chunk in keys.chunks(1000) {
                    // The sorted subquery fixes the order the locks are
                    // taken in.
                    let mut builder: QueryBuilder<Db> = QueryBuilder::new(
                        "SELECT pg_advisory_xact_lock(hashtext(k)) FROM (SELECT k FROM (",
                    );
                    builder.push_values(chunk.iter().enumerate(), |mut row, (n, key)| {
                        row.push_bind(key.clone())
                            .push_bind(i64::try_from(n).unwrap_or(i64::MAX));
                    });
                    builder.push(") AS v (k, n) ORDER BY n OFFSET 0) AS ordered");
                    builder.build().per_batch().execute(&mut **tx).await?;
                }
                Ok(())
            }

            /// Appends `events` to the outbox, numbered in commit order.
            async fn write_outbox(
                tx: &mut Tx,
                events: Vec<OutboxEvent>,
                now: i64,
            ) -> StoreResult<()> {
                if events.is_empty() {
                    return Ok(());
                }
                let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
                let first: i64 = if PG {
                    sqlx::query("SELECT pg_advisory_xact_lock($1)")
                        .bind(OUTBOX_LOCK)
                        .execute(&mut **tx)
                        .await?;
                    // Reserve `count` numbers; under the lock they are
                    // consecutive.
                    let last: i64 = sqlx::query(
                        "SELECT setval(pg_get_serial_sequence('outbox', 'seq'), \
                         nextval(pg_get_serial_sequence('outbox', 'seq')) + $1 - 1)",
                    )
                    .bind(count)
                    .fetch_one(&mut **tx)
                    .await?
                    .try_get(0)?;
                    last - count + 1
                } else {
                    // The highest number ever handed out, even if pruned.
                    let last: i64 = sqlx::query(
                        "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0), \
                         COALESCE((SELECT MAX(seq) FROM outbox), 0))",
                    )
                    .fetch_one(&mut **tx)
                    .await?
                    .try_get(0)?;
                    last + 1
                };
                let rows = events
                    .iter()
                    .enumerate()
                    .map(|(i, event)| {
                        let seq = first + i64::try_from(i).unwrap_or(0);
                        OutboxInsert {
                            seq,
                            event_id: event.event_id.clone(),
                            payload: event.encode(seq, now),
                        }
                    })
                    .collect();
                <Db as BatchSql>::insert_outbox_rows(&mut **tx, rows, now).await?;
                Ok(())
            }

            fn platform_from_row(row: &DbRow) -> Result<PlatformRecord, sqlx::Error> {
                Ok(PlatformRecord {
                    id: row.try_get("id")?,
                    display_name: row.try_get("display_name")?,
                    created_at: row.try_get("created_at")?,
                    disabled_at: row.try_get("disabled_at")?,
                })
            }

            fn key_from_row(row: &DbRow) -> Result<ApiKeyRecord, sqlx::Error> {
                Ok(ApiKeyRecord {
                    id: row.try_get("id")?,
                    platform_id: row.try_get("platform_id")?,
                    secret_prefix: row.try_get("secret_prefix")?,
                    created_at: row.try_get("created_at")?,
                    expire_at: row.try_get("expire_at")?,
                })
            }

            fn employer_from_row(row: &DbRow) -> StoreResult<EmployerRecord> {
                let sources: String = row.try_get("field_sources")?;
                let field_sources: FieldSources = serde_json::from_str(&sources)
                    .map_err(|e| anyhow::anyhow!("employer field_sources: {e}"))?;
                Ok(EmployerRecord {
                    credit_code: row.try_get("credit_code")?,
                    display_name: row.try_get("display_name")?,
                    district: row.try_get("district")?,
                    industry: row.try_get("industry")?,
                    size: int(row.try_get("size")?),
                    field_sources,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            }

            fn posting_from_row(row: &DbRow) -> StoreResult<PostingRecord> {
                let tags: String = row.try_get("tags")?;
                let tags: Vec<String> = serde_json::from_str(&tags)
                    .map_err(|e| anyhow::anyhow!("posting tags: {e}"))?;
                let salary_min: Option<i64> = row.try_get("salary_min")?;
                let salary_max: Option<i64> = row.try_get("salary_max")?;
                Ok(PostingRecord {
                    platform_id: row.try_get("platform_id")?,
                    external_id: row.try_get("external_id")?,
                    fields: PostingFields {
                        title: row.try_get("title")?,
                        title_key: row.try_get("title_key")?,
                        description: row.try_get("description")?,
                        employer_code: row.try_get("employer_code")?,
                        district: row.try_get("district")?,
                        industry: row.try_get("industry")?,
                        occupation: row.try_get("occupation")?,
                        min_degree: int(row.try_get("min_degree")?),
                        experience_years: int(row.try_get("experience_years")?),
                        salary: salary_min.zip(salary_max).map(|(a, b)| (int(a), int(b))),
                        headcount: int(row.try_get("headcount")?),
                        employment_type: int(row.try_get("employment_type")?),
                        publish_at: row.try_get("publish_at")?,
                        expire_at: row.try_get("expire_at")?,
                        fair_id: row.try_get("fair_id")?,
                        tags,
                    },
                    close_reason: CloseReason::from_i64(row.try_get("close_reason")?),
                    closed_at: row.try_get("closed_at")?,
                    opening_id: row.try_get("opening_id")?,
                    revision: row.try_get("revision")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            }

            async fn load_platform(tx: &mut Tx, id: &str) -> StoreResult<Option<PlatformRecord>> {
                let row = sqlx::query(
                    "SELECT id, display_name, created_at, disabled_at FROM platforms WHERE id = $1",
                )
                .bind(id.to_owned())
                .fetch_optional(&mut **tx)
                .await?;
                Ok(row.as_ref().map(platform_from_row).transpose()?)
            }

            /// The employers with these credit codes.
            async fn load_employers(
                tx: &mut Tx,
                codes: &HashSet<String>,
            ) -> StoreResult<HashMap<String, EmployerRecord>> {
                let mut found = HashMap::new();
                if codes.is_empty() {
                    return Ok(found);
                }
                let mut builder: QueryBuilder<Db> = QueryBuilder::new(concat!(
                    "SELECT ",
                    employer_columns!(),
                    " FROM employers e WHERE e.credit_code IN ("
                ));
                let mut list = builder.separated(", ");
                for code in codes {
                    list.push_bind(code.clone());
                }
                builder.push(")");
                for row in builder.build().per_batch().fetch_all(&mut **tx).await? {
                    let employer = employer_from_row(&row)?;
                    found.insert(employer.credit_code.clone(), employer);
                }
                Ok(found)
            }

            /// A query for `columns` of the rows of `table` that belong to
            /// `platform` and have one of `ids` as `external_id` (its
            /// primary key is `(platform_id, external_id)`).
            ///
            /// On PostgreSQL each id is looked up in the primary key by a
            /// LATERAL subquery behind `OFFSET 0` (a fence the planner does
            /// not flatten). With `external_id IN (…)`, a planner without
            /// statistics for the table (a new database, or a server
            /// without autovacuum) took `platform_id` for selective and
            /// read all the platform's rows for every batch: 22 ms a batch
            /// at 60,000 postings, growing with the table. SQLite searches
            /// the index once per listed id.
            fn by_external_ids<'a>(
                columns: &str,
                table: &str,
                platform: &str,
                ids: impl IntoIterator<Item = &'a String>,
            ) -> QueryBuilder<Db> {
                let mut builder: QueryBuilder<Db>;
                if PG {
                    builder = QueryBuilder::new("SELECT r.* FROM ");
                    <Db as BatchSql>::push_text_rows(
                        &mut builder,
                        vec![ids.into_iter().cloned().collect()],
                    );
                    builder.push(format_args!(
                        " AS k (id) CROSS JOIN LATERAL (SELECT {columns} FROM {table} \
                         WHERE platform_id = "
                    ));
                    builder.push_bind(platform.to_owned());
                    builder.push(" AND external_id = k.id OFFSET 0) AS r");
                } else {
                    builder = QueryBuilder::new(format!(
                        "SELECT {columns} FROM {table} WHERE platform_id = "
                    ));
                    builder.push_bind(platform.to_owned());
                    builder.push(" AND external_id IN (");
                    let mut list = builder.separated(", ");
                    for id in ids {
                        list.push_bind(id.clone());
                    }
                    builder.push(")");
                }
                builder
            }

            /// Reads the postings of coalesced `get_posting` lookups: one
            /// statement per platform among them. On SQLite, whose `IN`
            /// list has one parameter per id, the list is padded to a power
            /// of two by repeating an id, so that a handful of prepared
            /// statements serve every batch size.
            fn read_postings(pool: Pool) -> Load<(String, String), PostingRecord> {
                Arc::new(move |keys: Vec<(String, String)>| {
                    let pool = pool.clone();
                    Box::pin(async move {
                        let mut by_platform: HashMap<String, Vec<String>> = HashMap::new();
                        for (platform, id) in keys {
                            by_platform.entry(platform).or_default().push(id);
                        }
                        let mut found = HashMap::new();
                        for (platform, mut ids) in by_platform {
                            if !PG {
                                let padded = ids.len().next_power_of_two();
                                let first = ids[0].clone();
                                ids.resize(padded, first);
                            }
                            let mut builder =
                                by_external_ids(posting_columns!(), "postings", &platform, &ids);
                            for row in builder.build().fetch_all(&pool).await? {
                                let posting = posting_from_row(&row)?;
                                found.insert(
                                    (platform.clone(), posting.external_id.clone()),
                                    posting,
                                );
                            }
                        }
                        Ok(found)
                    })
                })
            }

            /// The platform's postings with these external ids.
            async fn load_postings(
                tx: &mut Tx,
                platform: &str,
                ids: &HashSet<String>,
            ) -> StoreResult<HashMap<String, PostingRecord>> {
                let mut found = HashMap::new();
                if ids.is_empty() {
                    return Ok(found);
                }
                let mut builder = by_external_ids(posting_columns!(), "postings", platform, ids);
                for row in builder.build().per_batch().fetch_all(&mut **tx).await? {
                    let posting = posting_from_row(&row)?;
                    found.insert(posting.external_id.clone(), posting);
                }
                Ok(found)
            }

            /// The start times of the platform's fairs with these ids.
            async fn load_fairs(
                tx: &mut Tx,
                platform: &str,
                ids: &HashSet<String>,
            ) -> StoreResult<HashMap<String, i64>> {
                let mut found = HashMap::new();
                if ids.is_empty() {
                    return Ok(found);
                }
                let mut builder: QueryBuilder<Db> = QueryBuilder::new(
                    "SELECT fair_id, start_at FROM fairs WHERE platform_id = ",
                );
                builder.push_bind(platform.to_owned());
                builder.push(" AND fair_id IN (");
                let mut list = builder.separated(", ");
                for id in ids {
                    list.push_bind(id.clone());
                }
                builder.push(")");
                for row in builder.build().per_batch().fetch_all(&mut **tx).await? {
                    found.insert(row.try_get("fair_id")?, row.try_get("start_at")?);
                }
                Ok(found)
            }

            /// Reads every posting with one of `keys` (not read before) into
            /// `openings`: one statement per 1,000 keys.
            async fn load_match_rows(
                tx: &mut Tx,
                openings: &mut Openings,
                keys: Vec<MatchKey>,
            ) -> StoreResult<()> {
                let keys: Vec<MatchKey> = keys
                    .into_iter()
                    .filter(|k| openings.loaded_keys.insert(k.clone()))
                    .collect();
                const COLUMNS: &str = "platform_id, external_id, employer_code, title_key, \
                     district, opening_id, publish_at, expire_at, close_reason, closed_at";
                for chunk in keys.chunks(1000) {
                    // Both forms search the match index once per key. On
                    // SQLite the row-value IN over a CTE does (a plain
                    // `IN (VALUES …)` scans the table); on PostgreSQL a
                    // LATERAL subquery behind `OFFSET 0` does whatever the
                    // table's statistics say (see `by_external_ids`).
                    let mut builder: QueryBuilder<Db>;
                    if PG {
                        builder = QueryBuilder::new("SELECT m.* FROM ");
                        <Db as BatchSql>::push_text_rows(
                            &mut builder,
                            vec![
                                chunk.iter().map(|k| k.0.clone()).collect(),
                                chunk.iter().map(|k| k.1.clone()).collect(),
                                chunk.iter().map(|k| k.2.clone()).collect(),
                            ],
                        );
                    } else {
                        // Padded to a power of two by repeating a key (the
                        // `IN` ignores repeats), so that a few prepared
                        // statements serve every size: one per size filled
                        // SQLite's statement cache with programs of
                        // thousands of parameters, each used once.
                        let padded = chunk.len().next_power_of_two();
                        let chunk = chunk.iter().chain(std::iter::repeat_n(&chunk[0], padded - chunk.len()));
                        builder = QueryBuilder::new("WITH k (e, t, d) AS (");
                        builder.push_values(chunk, |mut row, key| {
                            row.push_bind(key.0.clone())
                                .push_bind(key.1.clone())
                                .push_bind(key.2.clone());
                        });
                        builder.push(")");
                    }
                    builder.push(if PG {
                        format!(
                            " AS k (e, t, d) CROSS JOIN LATERAL (SELECT {COLUMNS} FROM postings \
                             WHERE employer_code = k.e AND title_key = k.t AND district = k.d \
                             OFFSET 0) AS m"
                        )
                    } else {
                        format!(
                            " SELECT {COLUMNS} FROM postings \
                             WHERE (employer_code, title_key, district) IN (SELECT e, t, d FROM k)"
                        )
                    });
                    for row in builder.build().per_batch().fetch_all(&mut **tx).await? {
                        let close_reason: i64 = row.try_get("close_reason")?;
                        let expire_at: i64 = row.try_get("expire_at")?;
                        let closed_at: Option<i64> = row.try_get("closed_at")?;
                        openings.add_stored(
                            (row.try_get("platform_id")?, row.try_get("external_id")?),
                            MatchRow {
                                key: (
                                    row.try_get("employer_code")?,
                                    row.try_get("title_key")?,
                                    row.try_get("district")?,
                                ),
                                opening_id: row.try_get("opening_id")?,
                                publish_at: row.try_get("publish_at")?,
                                end: if close_reason == CloseReason::Open as i64 {
                                    expire_at
                                } else {
                                    closed_at.unwrap_or(expire_at)
                                },
                            },
                        );
                    }
                }
                Ok(())
            }

            /// Reads the stored holders of each of `ids` (not read before).
            async fn load_opening_holders(
                tx: &mut Tx,
                openings: &mut Openings,
                ids: Vec<String>,
            ) -> StoreResult<()> {
                let ids: Vec<String> = ids
                    .into_iter()
                    .filter(|id| !id.is_empty() && !openings.holders.contains_key(id))
                    .collect::<HashSet<_>>()
                    .into_iter()
                    .collect();
                for chunk in ids.chunks(1000) {
                    for id in chunk {
                        openings.holders.insert(id.clone(), Vec::new());
                    }
                    let mut builder: QueryBuilder<Db> = QueryBuilder::new(
                        "SELECT platform_id, external_id, opening_id FROM postings WHERE opening_id IN (",
                    );
                    let mut list = builder.separated(", ");
                    for id in chunk {
                        list.push_bind(id.clone());
                    }
                    builder.push(")");
                    for row in builder.build().per_batch().fetch_all(&mut **tx).await? {
                        let opening: String = row.try_get("opening_id")?;
                        openings
                            .holders
                            .entry(opening)
                            .or_default()
                            .push((row.try_get("platform_id")?, row.try_get("external_id")?));
                    }
                }
                Ok(())
            }

            /// The opening a posting belongs to (see the match rule on
            /// `PostingService`): the opening of the earliest published
            /// matching copy; else its current opening when no other copy
            /// shares it; else a new one. Decided in memory over what
            /// `openings` read, reading what it lacks.
            async fn find_opening(
                tx: &mut Tx,
                openings: &mut Openings,
                posting: &PostingRecord,
            ) -> StoreResult<String> {
                load_match_rows(tx, openings, vec![match_key(&posting.fields)]).await?;
                if let Some(opening) = openings.matched(posting) {
                    return Ok(opening);
                }
                if !posting.opening_id.is_empty() {
                    load_opening_holders(tx, openings, vec![posting.opening_id.clone()]).await?;
                    let id = (posting.platform_id.clone(), posting.external_id.clone());
                    if !openings.shared(&posting.opening_id, &id) {
                        return Ok(posting.opening_id.clone());
                    }
                }
                Ok(new_id())
            }

            /// A batch's state before its first item: the stored rows its
            /// opening matches will likely need (the keys of new postings
            /// and of changed match fields, the openings such changes may
            /// leave) and the registrations of its fairs, read in a few
            /// statements. What this misses is read when needed.
            async fn begin_posting_batch(
                tx: &mut Tx,
                platform: &str,
                items: &[PostingInput],
                existing: &HashMap<String, PostingRecord>,
                employers: &HashMap<String, EmployerRecord>,
            ) -> StoreResult<PostingBatch> {
                let mut batch = PostingBatch {
                    stored_ids: existing.keys().cloned().collect(),
                    ..PostingBatch::default()
                };
                let mut seen = HashSet::new();
                let repeated: HashSet<&str> = items
                    .iter()
                    .filter(|i| !seen.insert(i.external_id.as_str()))
                    .map(|i| i.external_id.as_str())
                    .collect();
                let mut keys = Vec::new();
                let mut left = Vec::new();
                for item in items {
                    let Some(employer) = employers.get(&item.employer_code) else {
                        continue;
                    };
                    let key = (
                        item.employer_code.clone(),
                        crate::validate::normalised_title(&item.title),
                        item.district.clone().unwrap_or_else(|| employer.district.clone()),
                    );
                    match existing.get(&item.external_id) {
                        None => keys.push(key),
                        Some(stored) => {
                            let publish_at = item.publish_at.unwrap_or(stored.fields.publish_at);
                            let expire_at = item.expire_at.unwrap_or(
                                publish_at.saturating_add(DEFAULT_POSTING_LIFETIME_MICROS),
                            );
                            if repeated.contains(item.external_id.as_str())
                                || key != match_key(&stored.fields)
                                || expire_at != stored.fields.expire_at
                            {
                                keys.push(key);
                                left.push(stored.opening_id.clone());
                            }
                        }
                    }
                }
                load_match_rows(tx, &mut batch.openings, keys).await?;
                load_opening_holders(tx, &mut batch.openings, left).await?;
                let fair_ids: HashSet<String> =
                    items.iter().filter_map(|i| i.fair_id.clone()).collect();
                if !fair_ids.is_empty() {
                    let mut builder: QueryBuilder<Db> = QueryBuilder::new(
                        "SELECT fair_id, credit_code FROM fair_participations WHERE platform_id = ",
                    );
                    builder.push_bind(platform.to_owned());
                    builder.push(" AND fair_id IN (");
                    let mut list = builder.separated(", ");
                    for id in &fair_ids {
                        list.push_bind(id.clone());
                    }
                    builder.push(")");
                    for row in builder.build().per_batch().fetch_all(&mut **tx).await? {
                        batch
                            .registered
                            .insert((row.try_get("fair_id")?, row.try_get("credit_code")?));
                    }
                }
                Ok(batch)
            }

            /// Writes `records` with multi-row statements, as many rows a
            /// statement as the back end's bound-parameter limit allows;
            /// `replace`: they exist and are overwritten (all but
            /// `created_at`).
            async fn write_posting_rows(
                tx: &mut Tx,
                records: &[&PostingRecord],
                replace: bool,
            ) -> StoreResult<()> {
                <Db as BatchSql>::write_posting_rows(&mut **tx, records, replace).await
            }

            /// Writes what a batch decided: its new postings, its changed
            /// ones (each once, as it ended), its new fair registrations.
            async fn finish_posting_batch(
                tx: &mut Tx,
                platform: &str,
                batch: PostingBatch,
                records: &HashMap<String, PostingRecord>,
                now: i64,
            ) -> StoreResult<()> {
                let (changed, new): (Vec<&String>, Vec<&String>) = batch
                    .written
                    .iter()
                    .partition(|id| batch.stored_ids.contains(*id));
                let pick = |ids: Vec<&String>| -> StoreResult<Vec<&PostingRecord>> {
                    ids.into_iter()
                        .map(|id| {
                            records.get(id).ok_or_else(|| {
                                StoreError::Internal(anyhow::anyhow!("a written posting has no record"))
                            })
                        })
                        .collect()
                };
                write_posting_rows(tx, &pick(new)?, false).await?;
                write_posting_rows(tx, &pick(changed)?, true).await?;
                for chunk in batch.participations.chunks(1000) {
                    let mut builder: QueryBuilder<Db> = QueryBuilder::new(
                        "INSERT INTO fair_participations (platform_id, fair_id, credit_code, created_at) ",
                    );
                    builder.push_values(chunk, |mut row, (fair, code)| {
                        row.push_bind(platform.to_owned())
                            .push_bind(fair.clone())
                            .push_bind(code.clone())
                            .push_bind(now);
                    });
                    builder.push(" ON CONFLICT DO NOTHING");
                    builder.build().per_batch().execute(&mut **tx).await?;
                }
                Ok(())
            }

            async fn update_posting_row(tx: &mut Tx, p: &PostingRecord) -> StoreResult<()> {
                let f = &p.fields;
                sqlx::query(
                    "UPDATE postings SET title = $3, title_key = $4, description = $5, \
                     employer_code = $6, district = $7, industry = $8, occupation = $9, \
                     min_degree = $10, experience_years = $11, salary_min = $12, salary_max = $13, \
                     headcount = $14, employment_type = $15, publish_at = $16, expire_at = $17, \
                     fair_id = $18, tags = $19, close_reason = $20, closed_at = $21, \
                     opening_id = $22, revision = $23, updated_at = $24 \
                     WHERE platform_id = $1 AND external_id = $2",
                )
                .bind(p.platform_id.clone())
                .bind(p.external_id.clone())
                .bind(f.title.clone())
                .bind(f.title_key.clone())
                .bind(f.description.clone())
                .bind(f.employer_code.clone())
                .bind(f.district.clone())
                .bind(f.industry.clone())
                .bind(f.occupation.clone())
                .bind(i64::from(f.min_degree))
                .bind(i64::from(f.experience_years))
                .bind(f.salary.map(|s| i64::from(s.0)))
                .bind(f.salary.map(|s| i64::from(s.1)))
                .bind(i64::from(f.headcount))
                .bind(i64::from(f.employment_type))
                .bind(f.publish_at)
                .bind(f.expire_at)
                .bind(f.fair_id.clone())
                .bind(json(&f.tags))
                .bind(p.close_reason as i64)
                .bind(p.closed_at)
                .bind(p.opening_id.clone())
                .bind(p.revision)
                .bind(p.updated_at)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            /// Registers the employer in the fair unless it is already;
            /// emits `FairParticipation` for a new registration.
            async fn register_participation(
                tx: &mut Tx,
                platform: &str,
                fair_id: &str,
                fair_start_at: i64,
                employer: &EmployerRecord,
                now: i64,
                events: &mut Vec<OutboxEvent>,
            ) -> StoreResult<bool> {
                let inserted = sqlx::query(
                    "INSERT INTO fair_participations (platform_id, fair_id, credit_code, created_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                )
                .bind(platform.to_owned())
                .bind(fair_id.to_owned())
                .bind(employer.credit_code.clone())
                .bind(now)
                .execute(&mut **tx)
                .await?
                .rows_affected()
                    == 1;
                if inserted {
                    events.push(OutboxEvent::new(
                        platform,
                        now,
                        events::fair_participation(&events::Participation {
                            platform_id: platform,
                            fair_id,
                            fair_start_at,
                            employer_code: &employer.credit_code,
                            employer_district: &employer.district,
                            employer_industry: &employer.industry,
                            register_at: now,
                        }),
                    ));
                }
                Ok(inserted)
            }

            /// Decides how one posting of a batch is created or changed;
            /// the batch writes it at its end. `existing` is the posting as
            /// stored or as an earlier item of the batch left it.
            #[allow(clippy::too_many_arguments)]
            async fn apply_posting(
                tx: &mut Tx,
                platform: &str,
                input: PostingInput,
                existing: Option<&PostingRecord>,
                employers: &HashMap<String, EmployerRecord>,
                fairs: &HashMap<String, i64>,
                now: i64,
                events: &mut Vec<OutboxEvent>,
                batch: &mut PostingBatch,
            ) -> StoreResult<ItemResult<(Outcome, PostingRecord)>> {
                let Some(employer) = employers.get(&input.employer_code) else {
                    return Ok(Err(ItemError::field(
                        "employer_credit_code",
                        "no employer has this credit code; upsert it with EmployerService first",
                    )));
                };
                let mut problems = Vec::new();
                let publish_at = match (input.publish_at, existing) {
                    (Some(given), Some(stored)) if given != stored.fields.publish_at => {
                        problems.push((
                            "publish_time".to_owned(),
                            "is immutable: it differs from the stored publish time".to_owned(),
                        ));
                        stored.fields.publish_at
                    }
                    (Some(given), _) => given,
                    (None, Some(stored)) => stored.fields.publish_at,
                    (None, None) => now,
                };
                let expire_at = input
                    .expire_at
                    .unwrap_or(publish_at.saturating_add(DEFAULT_POSTING_LIFETIME_MICROS));
                if expire_at <= publish_at {
                    problems.push((
                        "expire_time".to_owned(),
                        "must be after publish_time".to_owned(),
                    ));
                } else if expire_at - publish_at > MAX_POSTING_LIFETIME_MICROS {
                    problems.push((
                        "expire_time".to_owned(),
                        "must be at most 366 days after publish_time".to_owned(),
                    ));
                }
                let fair_start = match &input.fair_id {
                    Some(fair) => match fairs.get(fair) {
                        Some(start) => Some(*start),
                        None => {
                            problems.push((
                                "fair".to_owned(),
                                "no fair of the calling platform has this name".to_owned(),
                            ));
                            None
                        }
                    },
                    None => None,
                };
                if !problems.is_empty() {
                    return Ok(Err(ItemError::Invalid(problems)));
                }
                let fields = PostingFields {
                    title_key: crate::validate::normalised_title(&input.title),
                    title: input.title,
                    description: input.description,
                    employer_code: input.employer_code,
                    district: input.district.unwrap_or_else(|| employer.district.clone()),
                    industry: input.industry.unwrap_or_else(|| employer.industry.clone()),
                    occupation: input.occupation,
                    min_degree: input.min_degree,
                    experience_years: input.experience_years,
                    salary: input.salary,
                    headcount: input.headcount,
                    employment_type: input.employment_type,
                    publish_at,
                    expire_at,
                    fair_id: input.fair_id,
                    tags: input.tags,
                };

                let record = match existing {
                    Some(stored) if stored.fields == fields => {
                        return Ok(Ok((Outcome::Unchanged, stored.clone())));
                    }
                    Some(stored) if stored.close_reason == CloseReason::Closed => {
                        return Ok(Err(ItemError::FailedPrecondition(
                            "the posting is CLOSED and cannot change; push the job under a new external_id"
                                .to_owned(),
                        )));
                    }
                    Some(stored) => {
                        let mut record = stored.clone();
                        let old = &stored.fields;
                        let match_changed = old.employer_code != fields.employer_code
                            || old.title_key != fields.title_key
                            || old.district != fields.district
                            || old.expire_at != fields.expire_at;
                        let fair_changed = old.fair_id != fields.fair_id;
                        record.fields = fields;
                        if record.close_reason == CloseReason::Expired {
                            if record.fields.expire_at > now {
                                record.close_reason = CloseReason::Open;
                                record.closed_at = None;
                            } else {
                                record.closed_at = Some(record.fields.expire_at);
                            }
                        }
                        if match_changed {
                            record.opening_id = find_opening(tx, &mut batch.openings, &record).await?;
                        }
                        let new = &record.fields;
                        let facts_changed = record.opening_id != stored.opening_id
                            || old.employer_code != new.employer_code
                            || old.district != new.district
                            || old.industry != new.industry
                            || old.headcount != new.headcount
                            || old.expire_at != new.expire_at
                            || fair_changed;
                        if facts_changed {
                            record.revision += 1;
                            events.push(OutboxEvent::new(
                                platform,
                                now,
                                events::posting_updated(&record),
                            ));
                        }
                        record.updated_at = now;
                        batch.write(&record);
                        if fair_changed && let (Some(fair), Some(start)) = (&record.fields.fair_id, fair_start) {
                            batch.participate(platform, fair, start, employer, now, events);
                        }
                        return Ok(Ok((Outcome::Updated, record)));
                    }
                    None => {
                        let mut record = PostingRecord {
                            platform_id: platform.to_owned(),
                            external_id: input.external_id,
                            fields,
                            close_reason: CloseReason::Open,
                            closed_at: None,
                            opening_id: String::new(),
                            revision: 1,
                            created_at: now,
                            updated_at: now,
                        };
                        record.opening_id = find_opening(tx, &mut batch.openings, &record).await?;
                        record
                    }
                };
                batch.write(&record);
                events.push(OutboxEvent::new(platform, now, events::posting_published(&record)));
                if let (Some(fair), Some(start)) = (&record.fields.fair_id, fair_start) {
                    batch.participate(platform, fair, start, employer, now, events);
                }
                Ok(Ok((Outcome::Created, record)))
            }

            /// Push a filter on postings into `builder` (after a WHERE).
            fn push_posting_filter(
                builder: &mut QueryBuilder<Db>,
                filter: &PostingFilter,
                now: i64,
            ) {
                match filter.state {
                    None => {}
                    Some(PostingState::Open) => {
                        builder.push(" AND close_reason = 0 AND expire_at > ");
                        builder.push_bind(now);
                    }
                    Some(PostingState::Closed) => {
                        builder.push(" AND close_reason = 1");
                    }
                    Some(PostingState::Expired) => {
                        builder.push(" AND (close_reason = 2 OR (close_reason = 0 AND expire_at <= ");
                        builder.push_bind(now);
                        builder.push("))");
                    }
                }
                if let Some(prefix) = &filter.district_prefix {
                    builder.push(" AND substr(district, 1, CAST(");
                    builder.push_bind(i64::try_from(prefix.len()).unwrap_or(0));
                    builder.push(" AS INTEGER)) = ");
                    builder.push_bind(prefix.clone());
                }
                if let Some(prefix) = &filter.industry_prefix {
                    builder.push(" AND substr(industry, 1, CAST(");
                    builder.push_bind(i64::try_from(prefix.len()).unwrap_or(0));
                    builder.push(" AS INTEGER)) = ");
                    builder.push_bind(prefix.clone());
                }
                if let Some(code) = &filter.employer_code {
                    builder.push(" AND employer_code = ");
                    builder.push_bind(code.clone());
                }
                if let Some(fair) = &filter.fair_id {
                    builder.push(" AND fair_id = ");
                    builder.push_bind(fair.clone());
                }
                if let Some(since) = filter.updated_since {
                    builder.push(" AND updated_at >= ");
                    builder.push_bind(since);
                }
            }

            fn resume_from_row(row: &DbRow, cipher: &Cipher) -> StoreResult<ResumeRecord> {
                let platform_id: String = row.try_get("platform_id")?;
                let external_id: String = row.try_get("external_id")?;
                let sealed: Option<Vec<u8>> = row.try_get("pii")?;
                let personal = sealed
                    .map(|bytes| cipher.open(&resume_name(&platform_id, &external_id), &bytes))
                    .transpose()?;
                let attributes: String = row.try_get("attributes")?;
                let attributes: ResumeAttributes = serde_json::from_str(&attributes)
                    .map_err(|e| anyhow::anyhow!("resume attributes: {e}"))?;
                let consent: i64 = row.try_get("consent")?;
                Ok(ResumeRecord {
                    platform_id,
                    external_id,
                    person_key: row.try_get("person_key")?,
                    personal,
                    attributes,
                    consent: consent != 0,
                    consent_at: row.try_get("consent_at")?,
                    erased_at: row.try_get("erased_at")?,
                    revision: row.try_get("revision")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            }

            async fn load_resumes(
                tx: &mut Tx,
                cipher: &Cipher,
                platform: &str,
                ids: &HashSet<String>,
            ) -> StoreResult<HashMap<String, ResumeRecord>> {
                let mut found = HashMap::new();
                if ids.is_empty() {
                    return Ok(found);
                }
                let mut builder = by_external_ids(resume_columns!(), "resumes", platform, ids);
                for row in builder.build().per_batch().fetch_all(&mut **tx).await? {
                    let resume = resume_from_row(&row, cipher)?;
                    found.insert(resume.external_id.clone(), resume);
                }
                Ok(found)
            }

            /// Writes a résumé (insert or update), sealing its personal
            /// fields with a fresh nonce.
            async fn save_resume(
                tx: &mut Tx,
                cipher: &Cipher,
                r: &ResumeRecord,
                insert: bool,
            ) -> StoreResult<()> {
                let sealed = r
                    .personal
                    .as_ref()
                    .map(|p| cipher.seal(&r.name(), p))
                    .transpose()?;
                let sql = if insert {
                    "INSERT INTO resumes (platform_id, external_id, person_key, pii, attributes, consent, \
                     consent_at, erased_at, revision, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                } else {
                    "UPDATE resumes SET person_key = $3, pii = $4, attributes = $5, consent = $6, \
                     consent_at = $7, erased_at = $8, revision = $9, updated_at = $11 \
                     WHERE platform_id = $1 AND external_id = $2 AND created_at = $10"
                };
                sqlx::query(sql)
                    .bind(r.platform_id.clone())
                    .bind(r.external_id.clone())
                    .bind(r.person_key.clone())
                    .bind(sealed)
                    .bind(json(&r.attributes))
                    .bind(i64::from(r.consent))
                    .bind(r.consent_at)
                    .bind(r.erased_at)
                    .bind(r.revision)
                    .bind(r.created_at)
                    .bind(r.updated_at)
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }

            fn fair_from_row(row: &DbRow) -> StoreResult<FairRecord> {
                Ok(FairRecord {
                    platform_id: row.try_get("platform_id")?,
                    fair_id: row.try_get("fair_id")?,
                    display_name: row.try_get("display_name")?,
                    format: int(row.try_get("format")?),
                    start_at: row.try_get("start_at")?,
                    end_at: row.try_get("end_at")?,
                    district: row.try_get("district")?,
                    created_at: row.try_get("created_at")?,
                    participation_count: row.try_get("participation_count")?,
                })
            }

            fn employment_from_row(row: &DbRow) -> StoreResult<EmploymentRecord> {
                let start: String = row.try_get("start_date")?;
                let end: Option<String> = row.try_get("end_date")?;
                let bad = || StoreError::Internal(anyhow::anyhow!("a stored date is malformed"));
                Ok(EmploymentRecord {
                    platform_id: row.try_get("platform_id")?,
                    employment_id: row.try_get("employment_id")?,
                    resume_id: row.try_get("resume_id")?,
                    person_key: row.try_get("person_key")?,
                    employer_code: row.try_get("employer_code")?,
                    district: row.try_get("district")?,
                    industry: row.try_get("industry")?,
                    start: parse_day(&start).ok_or_else(bad)?,
                    end: end.map(|e| parse_day(&e).ok_or_else(bad)).transpose()?,
                    posting_id: row.try_get("posting_id")?,
                    application_id: row.try_get("application_id")?,
                    separation_revision: row.try_get("separation_revision")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            }

            const FAIR_SELECT: &str = "SELECT f.platform_id, f.fair_id, f.display_name, f.format, \
                f.start_at, f.end_at, f.district, f.created_at, \
                (SELECT COUNT(*) FROM fair_participations p \
                  WHERE p.platform_id = f.platform_id AND p.fair_id = f.fair_id) AS participation_count \
                FROM fairs f WHERE f.platform_id = ";

            /// The resource a request id created before: `Ok(Some)` for a
            /// replay of the same request, `RequestIdReused` for another.
            async fn seen_request(
                tx: &mut Tx,
                scope: &str,
                request: Option<&RequestId>,
                now: i64,
            ) -> StoreResult<Option<String>> {
                let Some(request) = request else {
                    return Ok(None);
                };
                lock(tx, [format!("request:{scope}:{}", request.id)]).await?;
                forget_expired_request(tx, scope, &request.id, now).await?;
                let seen = sqlx::query(
                    "SELECT fingerprint, resource FROM idempotency WHERE scope = $1 AND request_id = $2",
                )
                .bind(scope.to_owned())
                .bind(request.id.clone())
                .fetch_optional(&mut **tx)
                .await?;
                match seen {
                    None => Ok(None),
                    Some(row) => {
                        let fingerprint: Vec<u8> = row.try_get("fingerprint")?;
                        if fingerprint != request.fingerprint {
                            return Err(StoreError::RequestIdReused);
                        }
                        Ok(Some(row.try_get("resource")?))
                    }
                }
            }

            /// Request ids are kept for 7 days (AIP-155); an older one is
            /// forgotten, so its id may be used again.
            async fn forget_expired_request(
                tx: &mut Tx,
                scope: &str,
                request_id: &str,
                now: i64,
            ) -> StoreResult<()> {
                sqlx::query(
                    "DELETE FROM idempotency WHERE scope = $1 AND request_id = $2 AND created_at < $3",
                )
                .bind(scope.to_owned())
                .bind(request_id.to_owned())
                .bind(now - REQUEST_ID_RETENTION_MICROS)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            async fn remember_request(
                tx: &mut Tx,
                scope: &str,
                request: Option<RequestId>,
                resource: &str,
                now: i64,
            ) -> StoreResult<()> {
                if let Some(request) = request {
                    sqlx::query(
                        "INSERT INTO idempotency (scope, request_id, fingerprint, resource, created_at) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(scope.to_owned())
                    .bind(request.id)
                    .bind(request.fingerprint)
                    .bind(resource.to_owned())
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
                }
                Ok(())
            }

            async fn load_fair(tx: &mut Tx, platform: &str, fair_id: &str) -> StoreResult<Option<FairRecord>> {
                let mut builder: QueryBuilder<Db> = QueryBuilder::new(FAIR_SELECT);
                builder.push_bind(platform.to_owned());
                builder.push(" AND f.fair_id = ");
                builder.push_bind(fair_id.to_owned());
                let row = builder.build().fetch_optional(&mut **tx).await?;
                row.as_ref().map(fair_from_row).transpose()
            }

            async fn load_employment(
                tx: &mut Tx,
                platform: &str,
                employment_id: &str,
            ) -> StoreResult<Option<EmploymentRecord>> {
                let row = sqlx::query(concat!(
                    "SELECT ",
                    employment_columns!(),
                    " FROM employments WHERE platform_id = $1 AND employment_id = $2"
                ))
                .bind(platform.to_owned())
                .bind(employment_id.to_owned())
                .fetch_optional(&mut **tx)
                .await?;
                row.as_ref().map(employment_from_row).transpose()
            }

            fn invalid(field: &str, description: &str) -> StoreError {
                let mut v = FieldViolations::new();
                v.add(field, description);
                StoreError::Invalid(v)
            }

            async fn insert_employment(tx: &mut Tx, record: &EmploymentRecord) -> StoreResult<()> {
                sqlx::query(concat!(
                    "INSERT INTO employments (",
                    employment_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, $10, 0, $11, $11)"
                ))
                .bind(record.platform_id.clone())
                .bind(record.employment_id.clone())
                .bind(record.resume_id.clone())
                .bind(record.person_key.clone())
                .bind(record.employer_code.clone())
                .bind(record.district.clone())
                .bind(record.industry.clone())
                .bind(day_text(record.start))
                .bind(record.posting_id.clone())
                .bind(record.application_id.clone())
                .bind(record.created_at)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            /// Inserts new employments with multi-row statements (a few
            /// hundred rows each, within both back ends' bind limits).
            async fn insert_employments<'r>(
                tx: &mut Tx,
                records: impl Iterator<Item = &'r EmploymentRecord>,
            ) -> StoreResult<()> {
                let records: Vec<&EmploymentRecord> = records.collect();
                for chunk in records.chunks(500) {
                    let mut builder: QueryBuilder<Db> = QueryBuilder::new(concat!(
                        "INSERT INTO employments (",
                        employment_columns!(),
                        ") "
                    ));
                    builder.push_values(chunk, |mut row, record| {
                        row.push_bind(record.platform_id.clone())
                            .push_bind(record.employment_id.clone())
                            .push_bind(record.resume_id.clone())
                            .push_bind(record.person_key.clone())
                            .push_bind(record.employer_code.clone())
                            .push_bind(record.district.clone())
                            .push_bind(record.industry.clone())
                            .push_bind(day_text(record.start))
                            .push("NULL")
                            .push_bind(record.posting_id.clone())
                            .push_bind(record.application_id.clone())
                            .push("0")
                            .push_bind(record.created_at)
                            .push_bind(record.updated_at);
                    });
                    builder.build().per_batch().execute(&mut **tx).await?;
                }
                Ok(())
            }

            fn application_from_row(row: &DbRow) -> StoreResult<ApplicationRecord> {
                let history: String = row.try_get("history")?;
                let history: Vec<Transition> = serde_json::from_str(&history)
                    .map_err(|e| anyhow::anyhow!("application history: {e}"))?;
                Ok(ApplicationRecord {
                    platform_id: row.try_get("platform_id")?,
                    application_id: row.try_get("application_id")?,
                    resume_id: row.try_get("resume_id")?,
                    posting_id: row.try_get("posting_id")?,
                    fair_id: row.try_get("fair_id")?,
                    state: int(row.try_get("state")?),
                    history,
                    submit_at: row.try_get("submit_at")?,
                    employment_id: row.try_get("employment_id")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            }

            async fn load_application(
                tx: &mut Tx,
                platform: &str,
                application_id: &str,
            ) -> StoreResult<Option<ApplicationRecord>> {
                let row = sqlx::query(concat!(
                    "SELECT ",
                    application_columns!(),
                    " FROM applications WHERE platform_id = $1 AND application_id = $2"
                ))
                .bind(platform.to_owned())
                .bind(application_id.to_owned())
                .fetch_optional(&mut **tx)
                .await?;
                row.as_ref().map(application_from_row).transpose()
            }

            impl RecruitingStore for $Store {
                /// PostgreSQL: 4 messages (4,000 postings) a transaction.
                /// SQLite: 1. A SQLite transaction keeps the pages it
                /// dirties in its connection's memory until the commit,
                /// and 1,000 postings at random keys dirty ~20 MB of
                /// index and table pages in a 300,000-posting database:
                /// groups of 4 took recruiting's peak RSS in scenario 1
                /// from ~100 MB to 173-188 MB (2: 150 MB), past the
                /// 150 MB budget, for 0.40x -> 0.51x of the baseline.
                fn stream_group(&self) -> usize {
                    if PG { 4 } else { 1 }
                }

            }

            impl PlatformStore for $Store {
                async fn create_platform(
                    &self,
                    platform: PlatformRecord,
                    request_id: Option<RequestId>,
                ) -> StoreResult<PlatformRecord> {
                    let mut tx = self.begin().await?;
                    let mut locks = vec![format!("platform:{}", platform.id)];
                    if let Some(r) = &request_id {
                        locks.push(format!("request:admin:{}", r.id));
                    }
                    lock(&mut tx, locks).await?;
                    if let Some(r) = &request_id {
                        forget_expired_request(&mut tx, "admin", &r.id, platform.created_at).await?;
                        let seen = sqlx::query(
                            "SELECT fingerprint, resource FROM idempotency \
                             WHERE scope = 'admin' AND request_id = $1",
                        )
                        .bind(r.id.clone())
                        .fetch_optional(&mut *tx)
                        .await?;
                        if let Some(seen) = seen {
                            let fingerprint: Vec<u8> = seen.try_get("fingerprint")?;
                            if fingerprint != r.fingerprint {
                                return Err(StoreError::RequestIdReused);
                            }
                            let resource: String = seen.try_get("resource")?;
                            return load_platform(&mut tx, &resource).await?.ok_or_else(|| {
                                StoreError::Internal(anyhow::anyhow!(
                                    "idempotency row names a missing platform"
                                ))
                            });
                        }
                    }
                    let inserted = sqlx::query(
                        "INSERT INTO platforms (id, display_name, created_at, disabled_at) \
                         VALUES ($1, $2, $3, NULL) ON CONFLICT DO NOTHING",
                    )
                    .bind(platform.id.clone())
                    .bind(platform.display_name.clone())
                    .bind(platform.created_at)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if inserted == 0 {
                        return Err(StoreError::AlreadyExists(format!(
                            "platform {:?} already exists",
                            platform.id
                        )));
                    }
                    if let Some(r) = request_id {
                        sqlx::query(
                            "INSERT INTO idempotency (scope, request_id, fingerprint, resource, created_at) \
                             VALUES ('admin', $1, $2, $3, $4)",
                        )
                        .bind(r.id)
                        .bind(r.fingerprint)
                        .bind(platform.id.clone())
                        .bind(platform.created_at)
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                    Ok(platform)
                }

                async fn list_platforms(
                    &self,
                    after: Option<String>,
                    limit: i64,
                    show_disabled: bool,
                ) -> StoreResult<Vec<PlatformRecord>> {
                    let mut builder: QueryBuilder<Db> = QueryBuilder::new(
                        "SELECT id, display_name, created_at, disabled_at FROM platforms WHERE 1 = 1",
                    );
                    if !show_disabled {
                        builder.push(" AND disabled_at IS NULL");
                    }
                    if let Some(after) = after {
                        builder.push(" AND id > ");
                        builder.push_bind(after);
                    }
                    builder.push(" ORDER BY id LIMIT ");
                    builder.push_bind(limit);
                    let rows = builder.build().fetch_all(&self.pool).await?;
                    Ok(rows.iter().map(platform_from_row).collect::<Result<_, _>>()?)
                }

                async fn disable_platform(&self, id: String, now: i64) -> StoreResult<PlatformRecord> {
                    let mut tx = self.begin().await?;
                    lock(&mut tx, [format!("platform:{id}")]).await?;
                    sqlx::query(
                        "UPDATE platforms SET disabled_at = $2 WHERE id = $1 AND disabled_at IS NULL",
                    )
                    .bind(id.clone())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    let platform = load_platform(&mut tx, &id)
                        .await?
                        .ok_or_else(|| StoreError::NotFound(format!("no platform {id:?}")))?;
                    tx.commit().await?;
                    Ok(platform)
                }

                async fn issue_api_key(
                    &self,
                    key: NewApiKey,
                    now: i64,
                    rotate_expire_at: Option<i64>,
                ) -> StoreResult<(ApiKeyRecord, Vec<ApiKeyRecord>)> {
                    let mut tx = self.begin().await?;
                    lock(&mut tx, [format!("platform:{}", key.platform_id)]).await?;
                    let platform = load_platform(&mut tx, &key.platform_id).await?.ok_or_else(|| {
                        StoreError::NotFound(format!("no platform {:?}", key.platform_id))
                    })?;
                    if platform.disabled_at.is_some() {
                        return Err(StoreError::FailedPrecondition(format!(
                            "platform {:?} is disabled",
                            platform.id
                        )));
                    }
                    let active: Vec<ApiKeyRecord> = sqlx::query(
                        "SELECT id, platform_id, secret_prefix, created_at, expire_at FROM api_keys \
                         WHERE platform_id = $1 AND (expire_at IS NULL OR expire_at > $2) \
                         ORDER BY created_at, id",
                    )
                    .bind(key.platform_id.clone())
                    .bind(now)
                    .fetch_all(&mut *tx)
                    .await?
                    .iter()
                    .map(key_from_row)
                    .collect::<Result<_, _>>()?;
                    let mut expiring = Vec::new();
                    match rotate_expire_at {
                        None if active.len() >= 5 => {
                            return Err(StoreError::FailedPrecondition(
                                "the platform already has 5 active API keys; rotate instead".into(),
                            ));
                        }
                        None => {}
                        Some(expire_at) => {
                            for mut old in active {
                                let new_expiry = old.expire_at.map_or(expire_at, |e| e.min(expire_at));
                                sqlx::query("UPDATE api_keys SET expire_at = $2 WHERE id = $1")
                                    .bind(old.id.clone())
                                    .bind(new_expiry)
                                    .execute(&mut *tx)
                                    .await?;
                                old.expire_at = Some(new_expiry);
                                expiring.push(old);
                            }
                        }
                    }
                    sqlx::query(
                        "INSERT INTO api_keys (id, platform_id, key_hash, secret_prefix, created_at, expire_at) \
                         VALUES ($1, $2, $3, $4, $5, NULL)",
                    )
                    .bind(key.id.clone())
                    .bind(key.platform_id.clone())
                    .bind(key.key_hash)
                    .bind(key.secret_prefix.clone())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok((
                        ApiKeyRecord {
                            id: key.id,
                            platform_id: key.platform_id,
                            secret_prefix: key.secret_prefix,
                            created_at: now,
                            expire_at: None,
                        },
                        expiring,
                    ))
                }

                async fn authenticate(&self, key_hash: Vec<u8>, now: i64) -> StoreResult<KeyOwner> {
                    let row = sqlx::query(
                        "SELECT p.id, p.disabled_at, k.expire_at FROM api_keys k JOIN platforms p ON p.id = k.platform_id \
                         WHERE k.key_hash = $1 AND (k.expire_at IS NULL OR k.expire_at > $2)",
                    )
                    .bind(key_hash)
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await?;
                    Ok(match row {
                        None => KeyOwner::Unknown,
                        Some(row) => {
                            let id: String = row.try_get("id")?;
                            let disabled: Option<i64> = row.try_get("disabled_at")?;
                            if disabled.is_some() {
                                KeyOwner::Disabled(id)
                            } else {
                                KeyOwner::Active {
                                    platform: id,
                                    expire_at: row.try_get("expire_at")?,
                                }
                            }
                        }
                    })
                }

            }

            impl EmployerStore for $Store {
                async fn upsert_employers(
                    &self,
                    platform: String,
                    items: Vec<EmployerInput>,
                    now: i64,
                ) -> StoreResult<Vec<ItemResult<Outcome>>> {
                    let codes: HashSet<String> =
                        items.iter().map(|i| i.credit_code.clone()).collect();
                    let mut tx = self.begin().await?;
                    lock(&mut tx, codes.iter().map(|c| format!("employer:{c}"))).await?;
                    let mut stored = load_employers(&mut tx, &codes).await?;
                    let mut results = Vec::with_capacity(items.len());
                    for item in items {
                        let code = item.credit_code.clone();
                        let result = match stored.get(&code) {
                            None => {
                                let mut problems = Vec::new();
                                for (field, value) in [
                                    ("display_name", &item.display_name),
                                    ("district", &item.district),
                                    ("industry", &item.industry),
                                ] {
                                    if value.is_none() {
                                        problems.push((
                                            field.to_owned(),
                                            "is required when the employer is created".to_owned(),
                                        ));
                                    }
                                }
                                if !problems.is_empty() {
                                    results.push(Err(ItemError::Invalid(problems)));
                                    continue;
                                }
                                let mut sources = FieldSources::new();
                                for field in ["display_name", "district", "industry"] {
                                    sources.insert(field.to_owned(), (platform.clone(), now));
                                }
                                if item.size.is_some() {
                                    sources.insert("size".to_owned(), (platform.clone(), now));
                                }
                                let record = EmployerRecord {
                                    credit_code: code.clone(),
                                    display_name: item.display_name.unwrap_or_default(),
                                    district: item.district.unwrap_or_default(),
                                    industry: item.industry.unwrap_or_default(),
                                    size: item.size.unwrap_or(0),
                                    field_sources: sources,
                                    created_at: now,
                                    updated_at: now,
                                };
                                sqlx::query(
                                    "INSERT INTO employers (credit_code, display_name, district, industry, size, \
                                     field_sources, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                                )
                                .bind(record.credit_code.clone())
                                .bind(record.display_name.clone())
                                .bind(record.district.clone())
                                .bind(record.industry.clone())
                                .bind(i64::from(record.size))
                                .bind(json(&record.field_sources))
                                .bind(now)
                                .bind(now)
                                .execute(&mut *tx)
                                .await?;
                                stored.insert(code.clone(), record);
                                Outcome::Created
                            }
                            Some(current) => {
                                let mut record = current.clone();
                                let mut changed = false;
                                let mut set = |field: &str, slot: &mut String, value: Option<String>| {
                                    if let Some(value) = value
                                        && *slot != value
                                    {
                                        *slot = value;
                                        record_source(&mut changed, field, &platform, now)
                                    } else {
                                        None
                                    }
                                };
                                let mut touched = Vec::new();
                                touched.extend(set("display_name", &mut record.display_name, item.display_name));
                                touched.extend(set("district", &mut record.district, item.district));
                                touched.extend(set("industry", &mut record.industry, item.industry));
                                if let Some(size) = item.size
                                    && record.size != size
                                {
                                    record.size = size;
                                    touched.extend(record_source(&mut changed, "size", &platform, now));
                                }
                                for (field, source) in touched {
                                    record.field_sources.insert(field, source);
                                }
                                if changed {
                                    record.updated_at = now;
                                    sqlx::query(
                                        "UPDATE employers SET display_name = $2, district = $3, industry = $4, \
                                         size = $5, field_sources = $6, updated_at = $7 WHERE credit_code = $1",
                                    )
                                    .bind(record.credit_code.clone())
                                    .bind(record.display_name.clone())
                                    .bind(record.district.clone())
                                    .bind(record.industry.clone())
                                    .bind(i64::from(record.size))
                                    .bind(json(&record.field_sources))
                                    .bind(now)
                                    .execute(&mut *tx)
                                    .await?;
                                    stored.insert(code.clone(), record);
                                    Outcome::Updated
                                } else {
                                    Outcome::Unchanged
                                }
                            }
                        };
                        sqlx::query(
                            "INSERT INTO employer_platforms (platform_id, credit_code) VALUES ($1, $2) \
                             ON CONFLICT DO NOTHING",
                        )
                        .bind(platform.clone())
                        .bind(code)
                        .execute(&mut *tx)
                        .await?;
                        results.push(Ok(result));
                    }
                    tx.commit().await?;
                    Ok(results)
                }

                async fn get_employer(
                    &self,
                    platform: String,
                    credit_code: String,
                ) -> StoreResult<Option<EmployerRecord>> {
                    let row = sqlx::query(concat!(
                        "SELECT ",
                        employer_columns!(),
                        " FROM employers e JOIN employer_platforms v ON v.credit_code = e.credit_code \
                         WHERE v.platform_id = $1 AND e.credit_code = $2"
                    ))
                    .bind(platform)
                    .bind(credit_code)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.as_ref().map(employer_from_row).transpose()
                }

                async fn list_employers(
                    &self,
                    platform: String,
                    filter: EmployerFilter,
                    after: Option<String>,
                    limit: i64,
                ) -> StoreResult<Vec<EmployerRecord>> {
                    let mut builder: QueryBuilder<Db> = QueryBuilder::new(concat!(
                        "SELECT ",
                        employer_columns!(),
                        " FROM employers e JOIN employer_platforms v ON v.credit_code = e.credit_code \
                         WHERE v.platform_id = "
                    ));
                    builder.push_bind(platform);
                    if let Some(prefix) = filter.district_prefix {
                        builder.push(" AND substr(e.district, 1, CAST(");
                        builder.push_bind(i64::try_from(prefix.len()).unwrap_or(0));
                        builder.push(" AS INTEGER)) = ");
                        builder.push_bind(prefix);
                    }
                    if let Some(prefix) = filter.industry_prefix {
                        builder.push(" AND substr(e.industry, 1, CAST(");
                        builder.push_bind(i64::try_from(prefix.len()).unwrap_or(0));
                        builder.push(" AS INTEGER)) = ");
                        builder.push_bind(prefix);
                    }
                    if let Some(after) = after {
                        builder.push(" AND e.credit_code > ");
                        builder.push_bind(after);
                    }
                    builder.push(" ORDER BY e.credit_code LIMIT ");
                    builder.push_bind(limit);
                    let rows = builder.build().fetch_all(&self.pool).await?;
                    rows.iter().map(employer_from_row).collect()
                }

            }

            impl PostingStore for $Store {
                async fn upsert_postings(
                    &self,
                    platform: String,
                    items: Vec<PostingInput>,
                    now: i64,
                ) -> StoreResult<Vec<ItemResult<PostingSummary>>> {
                    let ids: HashSet<String> = items.iter().map(|i| i.external_id.clone()).collect();
                    let codes: HashSet<String> =
                        items.iter().map(|i| i.employer_code.clone()).collect();
                    let fair_ids: HashSet<String> =
                        items.iter().filter_map(|i| i.fair_id.clone()).collect();
                    let mut tx = self.begin().await?;
                    lock_batched(
                        &mut tx,
                        std::iter::once(format!("platform:{platform}"))
                            .chain(codes.iter().map(|c| format!("openings:{c}"))),
                    )
                    .await?;
                    let mut existing = load_postings(&mut tx, &platform, &ids).await?;
                    let employers = load_employers(&mut tx, &codes).await?;
                    let fairs = load_fairs(&mut tx, &platform, &fair_ids).await?;
                    // A constant number of statements per batch: the reads
                    // above and in `begin_posting_batch`, the matching in
                    // memory, then multi-row writes.
                    let mut batch =
                        begin_posting_batch(&mut tx, &platform, &items, &existing, &employers).await?;
                    let mut events = Vec::new();
                    let mut results = Vec::with_capacity(items.len());
                    for item in items {
                        let id = item.external_id.clone();
                        let applied = apply_posting(
                            &mut tx,
                            &platform,
                            item,
                            existing.get(&id),
                            &employers,
                            &fairs,
                            now,
                            &mut events,
                            &mut batch,
                        )
                        .await?;
                        results.push(applied.map(|(outcome, record)| {
                            let summary = PostingSummary {
                                outcome,
                                opening_id: record.opening_id.clone(),
                            };
                            existing.insert(id, record);
                            summary
                        }));
                    }
                    finish_posting_batch(&mut tx, &platform, batch, &existing, now).await?;
                    write_outbox(&mut tx, events, now).await?;
                    tx.commit().await?;
                    Ok(results)
                }

                async fn get_posting(
                    &self,
                    platform: String,
                    external_id: String,
                ) -> StoreResult<Option<PostingRecord>> {
                    match self.postings.get((platform.clone(), external_id.clone())).await {
                        Coalesced::Found(posting) => return Ok(Some(posting)),
                        Coalesced::Missing => return Ok(None),
                        Coalesced::Failed => {}
                    }
                    let row = sqlx::query(concat!(
                        "SELECT ",
                        posting_columns!(),
                        " FROM postings WHERE platform_id = $1 AND external_id = $2"
                    ))
                    .bind(platform)
                    .bind(external_id)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.as_ref().map(posting_from_row).transpose()
                }

                async fn list_postings(
                    &self,
                    platform: String,
                    filter: PostingFilter,
                    after: Option<(i64, String)>,
                    limit: i64,
                    now: i64,
                ) -> StoreResult<Vec<PostingRecord>> {
                    let mut builder: QueryBuilder<Db> = QueryBuilder::new(concat!(
                        "SELECT ",
                        posting_columns!(),
                        " FROM postings WHERE platform_id = "
                    ));
                    builder.push_bind(platform);
                    push_posting_filter(&mut builder, &filter, now);
                    if let Some((updated_at, external_id)) = after {
                        builder.push(" AND (updated_at > ");
                        builder.push_bind(updated_at);
                        builder.push(" OR (updated_at = ");
                        builder.push_bind(updated_at);
                        builder.push(" AND external_id > ");
                        builder.push_bind(external_id);
                        builder.push("))");
                    }
                    builder.push(" ORDER BY updated_at, external_id LIMIT ");
                    builder.push_bind(limit);
                    let rows = builder.build().fetch_all(&self.pool).await?;
                    rows.iter().map(posting_from_row).collect()
                }

                async fn update_posting(
                    &self,
                    platform: String,
                    external_id: String,
                    patch: PostingPatch,
                    now: i64,
                ) -> StoreResult<PostingRecord> {
                    let mut tx = self.begin().await?;
                    lock(&mut tx, [format!("platform:{platform}")]).await?;
                    let ids = HashSet::from([external_id.clone()]);
                    let stored = load_postings(&mut tx, &platform, &ids)
                        .await?
                        .remove(&external_id)
                        .ok_or_else(|| StoreError::NotFound(format!(
                            "no posting {}",
                            posting_name(&platform, &external_id)
                        )))?;
                    if stored.close_reason == CloseReason::Closed {
                        return Err(StoreError::FailedPrecondition(
                            "the posting is CLOSED and cannot change".into(),
                        ));
                    }
                    let input = patch.apply(&external_id, &stored.fields);
                    let codes = HashSet::from([input.employer_code.clone()]);
                    lock(&mut tx, [format!("openings:{}", input.employer_code)]).await?;
                    let employers = load_employers(&mut tx, &codes).await?;
                    let fair_ids: HashSet<String> = input.fair_id.iter().cloned().collect();
                    let fairs = load_fairs(&mut tx, &platform, &fair_ids).await?;
                    let mut records = HashMap::from([(external_id.clone(), stored)]);
                    let mut batch = begin_posting_batch(
                        &mut tx,
                        &platform,
                        std::slice::from_ref(&input),
                        &records,
                        &employers,
                    )
                    .await?;
                    let mut events = Vec::new();
                    let applied = apply_posting(
                        &mut tx,
                        &platform,
                        input,
                        records.get(&external_id),
                        &employers,
                        &fairs,
                        now,
                        &mut events,
                        &mut batch,
                    )
                    .await?;
                    let record = match applied {
                        Ok((_, record)) => record,
                        Err(ItemError::FailedPrecondition(m)) => {
                            return Err(StoreError::FailedPrecondition(m));
                        }
                        Err(ItemError::Invalid(problems)) => {
                            let mut violations = FieldViolations::new();
                            for (field, description) in problems {
                                violations.add(format!("posting.{field}"), description);
                            }
                            return Err(StoreError::Invalid(violations));
                        }
                    };
                    records.insert(external_id, record.clone());
                    finish_posting_batch(&mut tx, &platform, batch, &records, now).await?;
                    write_outbox(&mut tx, events, now).await?;
                    tx.commit().await?;
                    Ok(record)
                }

                async fn close_posting(
                    &self,
                    platform: String,
                    external_id: String,
                    close_at: Option<i64>,
                    now: i64,
                ) -> StoreResult<PostingRecord> {
                    let mut tx = self.begin().await?;
                    lock(&mut tx, [format!("platform:{platform}")]).await?;
                    let ids = HashSet::from([external_id.clone()]);
                    let mut record = load_postings(&mut tx, &platform, &ids)
                        .await?
                        .remove(&external_id)
                        .ok_or_else(|| StoreError::NotFound(format!(
                            "no posting {}",
                            posting_name(&platform, &external_id)
                        )))?;
                    if record.state(now) != PostingState::Open {
                        return Ok(record);
                    }
                    let close_at = close_at.unwrap_or(now);
                    if close_at < record.fields.publish_at {
                        return Err(StoreError::Invalid({
                            let mut v = FieldViolations::new();
                            v.add("close_time", "must not be before the posting's publish_time");
                            v
                        }));
                    }
                    record.close_reason = CloseReason::Closed;
                    record.closed_at = Some(close_at);
                    record.revision += 1;
                    record.updated_at = now;
                    update_posting_row(&mut tx, &record).await?;
                    let event = OutboxEvent::new(
                        &platform,
                        now,
                        events::posting_closed(&record, close_at, false),
                    );
                    write_outbox(&mut tx, vec![event], now).await?;
                    tx.commit().await?;
                    Ok(record)
                }

                async fn expire_postings(&self, now: i64) -> StoreResult<usize> {
                    let mut tx = self.begin().await?;
                    let rows = sqlx::query(if PG {
                        concat!(
                            "SELECT ",
                            posting_columns!(),
                            " FROM postings WHERE close_reason = 0 AND expire_at <= $1 \
                             ORDER BY expire_at LIMIT 500 FOR UPDATE SKIP LOCKED"
                        )
                    } else {
                        concat!(
                            "SELECT ",
                            posting_columns!(),
                            " FROM postings WHERE close_reason = 0 AND expire_at <= $1 \
                             ORDER BY expire_at LIMIT 500"
                        )
                    })
                    .bind(now)
                    .fetch_all(&mut *tx)
                    .await?;
                    let mut events = Vec::with_capacity(rows.len());
                    for row in &rows {
                        let mut record = posting_from_row(row)?;
                        record.close_reason = CloseReason::Expired;
                        record.closed_at = Some(record.fields.expire_at);
                        record.revision += 1;
                        record.updated_at = now;
                        update_posting_row(&mut tx, &record).await?;
                        events.push(OutboxEvent::new(
                            &record.platform_id,
                            now,
                            events::posting_closed(&record, record.fields.expire_at, true),
                        ));
                    }
                    let count = events.len();
                    write_outbox(&mut tx, events, now).await?;
                    tx.commit().await?;
                    Ok(count)
                }

            }

            impl ResumeStore for $Store {
                async fn upsert_resumes(
                    &self,
                    platform: String,
                    items: Vec<ResumeInput>,
                    now: i64,
                ) -> StoreResult<Vec<ItemResult<ResumeSummary>>> {
                    let ids: HashSet<String> = items.iter().map(|i| i.external_id.clone()).collect();
                    let mut tx = self.begin().await?;
                    lock(
                        &mut tx,
                        std::iter::once(format!("platform:{platform}"))
                            .chain(items.iter().map(|i| format!("person:{}", i.person_key))),
                    )
                    .await?;
                    let mut existing = load_resumes(&mut tx, &self.cipher, &platform, &ids).await?;
                    let mut events = Vec::new();
                    let mut results = Vec::with_capacity(items.len());
                    for item in items {
                        let stored = existing.get(&item.external_id);
                        let (outcome, record) = match stored {
                            Some(r) if r.erased_at.is_some() => {
                                results.push(Err(ItemError::FailedPrecondition(
                                    "the résumé's person was erased (ErasePerson); it cannot change".into(),
                                )));
                                continue;
                            }
                            Some(r) if r.person_key != item.person_key => {
                                results.push(Err(ItemError::field(
                                    "resident_id_number",
                                    "is immutable: it differs from the résumé's stored number",
                                )));
                                continue;
                            }
                            Some(r) => {
                                let consent_at = item.consent_at.unwrap_or(if r.consent == item.consent {
                                    r.consent_at
                                } else {
                                    now
                                });
                                if r.personal.as_ref() == Some(&item.personal)
                                    && r.attributes == item.attributes
                                    && r.consent == item.consent
                                    && r.consent_at == consent_at
                                {
                                    results.push(Ok(ResumeSummary {
                                        outcome: Outcome::Unchanged,
                                        person_key: r.person_key.clone(),
                                    }));
                                    continue;
                                }
                                let statistics = r.consent != item.consent
                                    || r.attributes.statistics_differ(&item.attributes);
                                let mut record = r.clone();
                                record.personal = Some(item.personal);
                                record.attributes = item.attributes;
                                record.consent = item.consent;
                                record.consent_at = consent_at;
                                record.updated_at = now;
                                if statistics {
                                    record.revision += 1;
                                    events.push(OutboxEvent::new(
                                        &platform,
                                        now,
                                        events::resume_received(&record),
                                    ));
                                }
                                save_resume(&mut tx, &self.cipher, &record, false).await?;
                                (Outcome::Updated, record)
                            }
                            None => {
                                let record = ResumeRecord {
                                    platform_id: platform.clone(),
                                    external_id: item.external_id,
                                    person_key: item.person_key,
                                    personal: Some(item.personal),
                                    attributes: item.attributes,
                                    consent: item.consent,
                                    consent_at: item.consent_at.unwrap_or(now),
                                    erased_at: None,
                                    revision: 1,
                                    created_at: item.received_at.unwrap_or(now),
                                    updated_at: now,
                                };
                                events.push(OutboxEvent::new(
                                    &platform,
                                    now,
                                    events::resume_received(&record),
                                ));
                                save_resume(&mut tx, &self.cipher, &record, true).await?;
                                (Outcome::Created, record)
                            }
                        };
                        results.push(Ok(ResumeSummary {
                            outcome,
                            person_key: record.person_key.clone(),
                        }));
                        existing.insert(record.external_id.clone(), record);
                    }
                    write_outbox(&mut tx, events, now).await?;
                    tx.commit().await?;
                    Ok(results)
                }

                async fn get_resume(
                    &self,
                    platform: String,
                    external_id: String,
                ) -> StoreResult<Option<ResumeRecord>> {
                    let row = sqlx::query(concat!(
                        "SELECT ",
                        resume_columns!(),
                        " FROM resumes WHERE platform_id = $1 AND external_id = $2"
                    ))
                    .bind(platform)
                    .bind(external_id)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.as_ref()
                        .map(|row| resume_from_row(row, &self.cipher))
                        .transpose()
                }

                async fn erase_person(
                    &self,
                    platform: Option<String>,
                    person_key: String,
                    now: i64,
                ) -> StoreResult<i64> {
                    let mut tx = self.begin().await?;
                    lock(&mut tx, [format!("person:{person_key}")]).await?;
                    let owners: Vec<String> = sqlx::query(
                        "SELECT platform_id FROM resumes WHERE person_key = $1 AND erased_at IS NULL",
                    )
                    .bind(person_key.clone())
                    .fetch_all(&mut *tx)
                    .await?
                    .iter()
                    .map(|row| row.try_get(0))
                    .collect::<Result<_, _>>()?;
                    if owners.is_empty() {
                        return Ok(0);
                    }
                    sqlx::query(
                        "UPDATE resumes SET pii = NULL, erased_at = $2, updated_at = $2 \
                         WHERE person_key = $1 AND erased_at IS NULL",
                    )
                    .bind(person_key.clone())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    let counted = owners
                        .iter()
                        .filter(|owner| platform.as_ref().is_none_or(|p| p == *owner))
                        .count();
                    let event = OutboxEvent::new(
                        platform.as_deref().unwrap_or(""),
                        now,
                        events::person_erased(&person_key, now),
                    );
                    write_outbox(&mut tx, vec![event], now).await?;
                    tx.commit().await?;
                    Ok(i64::try_from(counted).unwrap_or(i64::MAX))
                }

                async fn person_resumes(
                    &self,
                    platform: Option<String>,
                    person_key: String,
                ) -> StoreResult<Vec<ResumeRecord>> {
                    let mut builder: QueryBuilder<Db> = QueryBuilder::new(concat!(
                        "SELECT ",
                        resume_columns!(),
                        " FROM resumes WHERE person_key = "
                    ));
                    builder.push_bind(person_key);
                    if let Some(platform) = platform {
                        builder.push(" AND platform_id = ");
                        builder.push_bind(platform);
                    }
                    builder.push(" ORDER BY platform_id, external_id");
                    let rows = builder.build().fetch_all(&self.pool).await?;
                    rows.iter()
                        .map(|row| resume_from_row(row, &self.cipher))
                        .collect()
                }

            }

            impl FairStore for $Store {
                async fn create_fair(
                    &self,
                    platform: String,
                    fair: FairInput,
                    request_id: Option<RequestId>,
                    now: i64,
                ) -> StoreResult<FairRecord> {
                    let mut tx = self.begin().await?;
                    lock(&mut tx, [format!("platform:{platform}")]).await?;
                    if let Some(id) = seen_request(&mut tx, &platform, request_id.as_ref(), now).await? {
                        let id = id.strip_prefix("fair:").unwrap_or(&id).to_owned();
                        return load_fair(&mut tx, &platform, &id).await?.ok_or_else(|| {
                            StoreError::Internal(anyhow::anyhow!("idempotency row names a missing fair"))
                        });
                    }
                    let inserted = sqlx::query(
                        "INSERT INTO fairs (platform_id, fair_id, display_name, format, start_at, end_at, \
                         district, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                    )
                    .bind(platform.clone())
                    .bind(fair.fair_id.clone())
                    .bind(fair.display_name.clone())
                    .bind(i64::from(fair.format))
                    .bind(fair.start_at)
                    .bind(fair.end_at)
                    .bind(fair.district.clone())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if inserted == 0 {
                        return Err(StoreError::AlreadyExists(format!(
                            "{} already exists",
                            fair_name(&platform, &fair.fair_id)
                        )));
                    }
                    remember_request(&mut tx, &platform, request_id, &format!("fair:{}", fair.fair_id), now)
                        .await?;
                    let record = FairRecord {
                        platform_id: platform.clone(),
                        fair_id: fair.fair_id,
                        display_name: fair.display_name,
                        format: fair.format,
                        start_at: fair.start_at,
                        end_at: fair.end_at,
                        district: fair.district,
                        created_at: now,
                        participation_count: 0,
                    };
                    let event = OutboxEvent::new(&platform, now, events::fair_held(&record));
                    write_outbox(&mut tx, vec![event], now).await?;
                    tx.commit().await?;
                    Ok(record)
                }

                async fn register_participation(
                    &self,
                    platform: String,
                    fair_id: String,
                    employer_code: String,
                    now: i64,
                ) -> StoreResult<(i64, bool)> {
                    let mut tx = self.begin().await?;
                    lock(&mut tx, [format!("platform:{platform}")]).await?;
                    let fair = load_fair(&mut tx, &platform, &fair_id)
                        .await?
                        .ok_or_else(|| StoreError::NotFound(format!("{} not found", fair_name(&platform, &fair_id))))?;
                    let codes = HashSet::from([employer_code.clone()]);
                    let employer = load_employers(&mut tx, &codes)
                        .await?
                        .remove(&employer_code)
                        .ok_or_else(|| {
                            invalid(
                                "participation.employer_credit_code",
                                "no employer has this credit code; upsert it with EmployerService first",
                            )
                        })?;
                    let mut events = Vec::new();
                    let created = register_participation(
                        &mut tx, &platform, &fair_id, fair.start_at, &employer, now, &mut events,
                    )
                    .await?;
                    let registered: i64 = sqlx::query(
                        "SELECT created_at FROM fair_participations \
                         WHERE platform_id = $1 AND fair_id = $2 AND credit_code = $3",
                    )
                    .bind(platform.clone())
                    .bind(fair_id.clone())
                    .bind(employer_code.clone())
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get(0)?;
                    write_outbox(&mut tx, events, now).await?;
                    tx.commit().await?;
                    Ok((registered, created))
                }

                async fn get_fair(&self, platform: String, fair_id: String) -> StoreResult<Option<FairRecord>> {
                    let mut builder: QueryBuilder<Db> = QueryBuilder::new(FAIR_SELECT);
                    builder.push_bind(platform);
                    builder.push(" AND f.fair_id = ");
                    builder.push_bind(fair_id);
                    let row = builder.build().fetch_optional(&self.pool).await?;
                    row.as_ref().map(fair_from_row).transpose()
                }

                async fn list_fairs(
                    &self,
                    platform: String,
                    from: Option<i64>,
                    before: Option<i64>,
                    after: Option<(i64, String)>,
                    limit: i64,
                ) -> StoreResult<Vec<FairRecord>> {
                    let mut builder: QueryBuilder<Db> = QueryBuilder::new(FAIR_SELECT);
                    builder.push_bind(platform);
                    if let Some(from) = from {
                        builder.push(" AND f.start_at >= ");
                        builder.push_bind(from);
                    }
                    if let Some(before) = before {
                        builder.push(" AND f.start_at < ");
                        builder.push_bind(before);
                    }
                    if let Some((start, id)) = after {
                        builder.push(" AND (f.start_at > ");
                        builder.push_bind(start);
                        builder.push(" OR (f.start_at = ");
                        builder.push_bind(start);
                        builder.push(" AND f.fair_id > ");
                        builder.push_bind(id);
                        builder.push("))");
                    }
                    builder.push(" ORDER BY f.start_at, f.fair_id LIMIT ");
                    builder.push_bind(limit);
                    let rows = builder.build().fetch_all(&self.pool).await?;
                    rows.iter().map(fair_from_row).collect()
                }

            }

            impl EmploymentStore for $Store {
                async fn record_hire(
                    &self,
                    platform: String,
                    hire: HireInput,
                    request_id: Option<RequestId>,
                    now: i64,
                ) -> StoreResult<EmploymentRecord> {
                    self.record_hires(platform, vec![(hire, request_id)], now)
                        .await?
                        .pop()
                        .unwrap_or_else(|| Err(StoreError::Internal(anyhow::anyhow!("no result for the hire"))))
                }

                async fn record_hires(
                    &self,
                    platform: String,
                    hires: Vec<(HireInput, Option<RequestId>)>,
                    now: i64,
                ) -> StoreResult<Vec<StoreResult<EmploymentRecord>>> {
                    let mut tx = self.begin().await?;
                    lock(&mut tx, [format!("platform:{platform}")]).await?;
                    let mut results: Vec<Option<StoreResult<EmploymentRecord>>> =
                        (0..hires.len()).map(|_| None).collect();

                    // Replays of request ids seen before, and ids repeated
                    // within this request.
                    let mut ids_here = HashSet::new();
                    for (i, (_, request_id)) in hires.iter().enumerate() {
                        let Some(request) = request_id else { continue };
                        if !ids_here.insert(request.id.clone()) {
                            results[i] = Some(Err(invalid(
                                "request_id",
                                "appears on an earlier hire of this request",
                            )));
                            continue;
                        }
                        match seen_request(&mut tx, &platform, Some(request), now).await {
                            Ok(None) => {}
                            Ok(Some(id)) => {
                                let id = id.strip_prefix("employment:").unwrap_or(&id).to_owned();
                                results[i] = Some(load_employment(&mut tx, &platform, &id).await?.ok_or_else(|| {
                                    StoreError::Internal(anyhow::anyhow!("idempotency row names a missing employment"))
                                }));
                            }
                            Err(StoreError::RequestIdReused) => results[i] = Some(Err(StoreError::RequestIdReused)),
                            Err(err) => return Err(err),
                        }
                    }

                    // What the new hires refer to, one query each.
                    let mut resume_ids = HashSet::new();
                    let mut codes = HashSet::new();
                    let mut posting_ids = HashSet::new();
                    for ((hire, _), result) in hires.iter().zip(&results) {
                        if result.is_some() {
                            continue;
                        }
                        if let HirePerson::Resume(id) = &hire.person {
                            resume_ids.insert(id.clone());
                        }
                        codes.insert(hire.employer_code.clone());
                        if let Some(id) = &hire.posting_id {
                            posting_ids.insert(id.clone());
                        }
                    }
                    let resumes = load_resumes(&mut tx, &self.cipher, &platform, &resume_ids).await?;
                    let employers = load_employers(&mut tx, &codes).await?;
                    let postings = load_postings(&mut tx, &platform, &posting_ids).await?;

                    let mut records = Vec::new();
                    let mut outbox = Vec::new();
                    let mut remember = Vec::new();
                    for (i, (hire, request_id)) in hires.into_iter().enumerate() {
                        if results[i].is_some() {
                            continue;
                        }
                        let mut v = FieldViolations::new();
                        let (resume_id, person_key) = match hire.person {
                            HirePerson::PersonKey(key) => (None, Some(key)),
                            HirePerson::Resume(id) => {
                                let found = resumes.get(&id).map(|r| r.person_key.clone());
                                if found.is_none() {
                                    v.add("resume", "no résumé of the calling platform has this name");
                                }
                                (Some(id), found)
                            }
                        };
                        let employer = employers.get(&hire.employer_code);
                        if employer.is_none() {
                            v.add(
                                "employer_credit_code",
                                "no employer has this credit code; upsert it with EmployerService first",
                            );
                        }
                        let posting = hire.posting_id.as_ref().and_then(|id| {
                            let found = postings.get(id);
                            match found {
                                None => v.add("posting", "no posting of the calling platform has this name"),
                                Some(p) if p.fields.employer_code != hire.employer_code => v.add(
                                    "employer_credit_code",
                                    "must equal the posting's employer",
                                ),
                                Some(_) => {}
                            }
                            found
                        });
                        let (Some(person_key), Some(employer), true) = (person_key, employer, v.is_empty()) else {
                            results[i] = Some(Err(StoreError::Invalid(v)));
                            continue;
                        };
                        let record = EmploymentRecord {
                            platform_id: platform.clone(),
                            employment_id: new_id(),
                            resume_id,
                            person_key,
                            employer_code: hire.employer_code,
                            district: hire
                                .district
                                .or_else(|| posting.map(|p| p.fields.district.clone()))
                                .unwrap_or_else(|| employer.district.clone()),
                            industry: hire
                                .industry
                                .or_else(|| posting.map(|p| p.fields.industry.clone()))
                                .unwrap_or_else(|| employer.industry.clone()),
                            start: hire.start,
                            end: None,
                            posting_id: hire.posting_id,
                            application_id: None,
                            separation_revision: 0,
                            created_at: now,
                            updated_at: now,
                        };
                        let opening = posting.map(|p| p.opening_id.clone()).unwrap_or_default();
                        outbox.push(OutboxEvent::new(&platform, now, events::hired(&record, &opening)));
                        if let Some(request) = request_id {
                            remember.push((request, format!("employment:{}", record.employment_id)));
                        }
                        records.push((i, record));
                    }

                    insert_employments(&mut tx, records.iter().map(|(_, r)| r)).await?;
                    for (request, resource) in remember {
                        remember_request(&mut tx, &platform, Some(request), &resource, now).await?;
                    }
                    write_outbox(&mut tx, outbox, now).await?;
                    tx.commit().await?;
                    for (i, record) in records {
                        results[i] = Some(Ok(record));
                    }
                    Ok(results
                        .into_iter()
                        .map(|r| r.unwrap_or_else(|| Err(StoreError::Internal(anyhow::anyhow!("a hire without result")))))
                        .collect())
                }

                async fn record_separation(
                    &self,
                    platform: String,
                    employment_id: String,
                    end: Day,
                    now: i64,
                ) -> StoreResult<EmploymentRecord> {
                    let mut tx = self.begin().await?;
                    lock(&mut tx, [format!("platform:{platform}")]).await?;
                    let mut record = load_employment(&mut tx, &platform, &employment_id)
                        .await?
                        .ok_or_else(|| {
                            StoreError::NotFound(format!(
                                "platforms/{platform}/employments/{employment_id} not found"
                            ))
                        })?;
                    if end <= record.start {
                        return Err(invalid("end_date", "must be after the employment's start_date"));
                    }
                    if record.end == Some(end) {
                        return Ok(record);
                    }
                    record.end = Some(end);
                    record.separation_revision += 1;
                    record.updated_at = now;
                    sqlx::query(
                        "UPDATE employments SET end_date = $3, separation_revision = $4, updated_at = $5 \
                         WHERE platform_id = $1 AND employment_id = $2",
                    )
                    .bind(platform.clone())
                    .bind(employment_id)
                    .bind(day_text(end))
                    .bind(record.separation_revision)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    let event = OutboxEvent::new(&platform, now, events::separated(&record));
                    write_outbox(&mut tx, vec![event], now).await?;
                    tx.commit().await?;
                    Ok(record)
                }

                async fn list_employments(
                    &self,
                    platform: String,
                    filter: EmploymentFilter,
                    after: Option<(String, String)>,
                    limit: i64,
                ) -> StoreResult<Vec<EmploymentRecord>> {
                    let mut builder: QueryBuilder<Db> = QueryBuilder::new(concat!(
                        "SELECT ",
                        employment_columns!(),
                        " FROM employments WHERE platform_id = "
                    ));
                    builder.push_bind(platform);
                    if let Some(code) = filter.employer_code {
                        builder.push(" AND employer_code = ");
                        builder.push_bind(code);
                    }
                    if let Some(key) = filter.person_key {
                        builder.push(" AND person_key = ");
                        builder.push_bind(key);
                    }
                    if let Some(day) = filter.active_on {
                        let day = day_text(day);
                        builder.push(" AND start_date <= ");
                        builder.push_bind(day.clone());
                        builder.push(" AND (end_date IS NULL OR end_date > ");
                        builder.push_bind(day);
                        builder.push(")");
                    }
                    if let Some((start, id)) = after {
                        builder.push(" AND (start_date > ");
                        builder.push_bind(start.clone());
                        builder.push(" OR (start_date = ");
                        builder.push_bind(start);
                        builder.push(" AND employment_id > ");
                        builder.push_bind(id);
                        builder.push("))");
                    }
                    builder.push(" ORDER BY start_date, employment_id LIMIT ");
                    builder.push_bind(limit);
                    let rows = builder.build().fetch_all(&self.pool).await?;
                    rows.iter().map(employment_from_row).collect()
                }

            }

            impl ApplicationStore for $Store {
                async fn create_application(
                    &self,
                    platform: String,
                    input: ApplicationInput,
                    request_id: Option<RequestId>,
                    now: i64,
                ) -> StoreResult<ApplicationRecord> {
                    let mut tx = self.begin().await?;
                    lock(&mut tx, [format!("platform:{platform}")]).await?;
                    if let Some(id) = seen_request(&mut tx, &platform, request_id.as_ref(), now).await? {
                        let id = id.strip_prefix("application:").unwrap_or(&id).to_owned();
                        return load_application(&mut tx, &platform, &id).await?.ok_or_else(|| {
                            StoreError::Internal(anyhow::anyhow!("idempotency row names a missing application"))
                        });
                    }
                    if load_application(&mut tx, &platform, &input.application_id).await?.is_some() {
                        return Err(StoreError::AlreadyExists(format!(
                            "platforms/{platform}/applications/{} already exists",
                            input.application_id
                        )));
                    }
                    let mut v = FieldViolations::new();
                    let resume = load_resumes(
                        &mut tx,
                        &self.cipher,
                        &platform,
                        &HashSet::from([input.resume_id.clone()]),
                    )
                    .await?
                    .remove(&input.resume_id);
                    if resume.is_none() {
                        v.add("application.resume", "no résumé of the calling platform has this name");
                    }
                    let posting = load_postings(&mut tx, &platform, &HashSet::from([input.posting_id.clone()]))
                        .await?
                        .remove(&input.posting_id);
                    if posting.is_none() {
                        v.add("application.posting", "no posting of the calling platform has this name");
                    }
                    if let Some(fair) = &input.fair_id
                        && load_fair(&mut tx, &platform, fair).await?.is_none()
                    {
                        v.add("application.fair", "no fair of the calling platform has this name");
                    }
                    let Some(posting) = posting.filter(|_| v.is_empty()) else {
                        return Err(StoreError::Invalid(v));
                    };
                    let submit_at = input.submit_at.unwrap_or(now);
                    let end = open_period_end(&posting, now);
                    if submit_at < posting.fields.publish_at || submit_at >= end {
                        return Err(StoreError::FailedPrecondition(
                            "the posting was not OPEN at the application's submit_time".into(),
                        ));
                    }
                    let record = ApplicationRecord {
                        platform_id: platform.clone(),
                        application_id: input.application_id,
                        resume_id: input.resume_id,
                        posting_id: input.posting_id,
                        fair_id: input.fair_id.or_else(|| posting.fields.fair_id.clone()),
                        state: app_state::SUBMITTED,
                        history: vec![(0, app_state::SUBMITTED, submit_at, String::new())],
                        submit_at,
                        employment_id: None,
                        created_at: now,
                        updated_at: now,
                    };
                    sqlx::query(concat!(
                        "INSERT INTO applications (",
                        application_columns!(),
                        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, $9)"
                    ))
                    .bind(record.platform_id.clone())
                    .bind(record.application_id.clone())
                    .bind(record.resume_id.clone())
                    .bind(record.posting_id.clone())
                    .bind(record.fair_id.clone())
                    .bind(i64::from(record.state))
                    .bind(json(&record.history))
                    .bind(record.submit_at)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    remember_request(
                        &mut tx,
                        &platform,
                        request_id,
                        &format!("application:{}", record.application_id),
                        now,
                    )
                    .await?;
                    let event = OutboxEvent::new(
                        &platform,
                        now,
                        events::application_submitted(&record, &posting),
                    );
                    write_outbox(&mut tx, vec![event], now).await?;
                    tx.commit().await?;
                    Ok(record)
                }

                async fn update_application_status(
                    &self,
                    platform: String,
                    application_id: String,
                    change: StatusChange,
                    now: i64,
                ) -> StoreResult<ApplicationRecord> {
                    let mut tx = self.begin().await?;
                    lock(&mut tx, [format!("platform:{platform}")]).await?;
                    let mut record = load_application(&mut tx, &platform, &application_id)
                        .await?
                        .ok_or_else(|| {
                            StoreError::NotFound(format!(
                                "platforms/{platform}/applications/{application_id} not found"
                            ))
                        })?;
                    if !app_state::allowed(record.state, change.to) {
                        return Err(StoreError::FailedPrecondition(format!(
                            "an application in state {} cannot move to state {}",
                            record.state, change.to
                        )));
                    }
                    let at = change.at.unwrap_or(now);
                    let last = record.history.last().map_or(record.submit_at, |t| t.2);
                    if at < last {
                        return Err(invalid(
                            "transition_time",
                            "must not be before the previous transition",
                        ));
                    }
                    let mut events = Vec::new();
                    if change.to == app_state::HIRED {
                        let Some(hire) = change.hire else {
                            return Err(invalid("hire", "is required when state is HIRED"));
                        };
                        let resume = load_resumes(
                            &mut tx,
                            &self.cipher,
                            &platform,
                            &HashSet::from([record.resume_id.clone()]),
                        )
                        .await?
                        .remove(&record.resume_id)
                        .ok_or_else(|| StoreError::Internal(anyhow::anyhow!("application without résumé")))?;
                        let posting = load_postings(
                            &mut tx,
                            &platform,
                            &HashSet::from([record.posting_id.clone()]),
                        )
                        .await?
                        .remove(&record.posting_id)
                        .ok_or_else(|| StoreError::Internal(anyhow::anyhow!("application without posting")))?;
                        let employment = EmploymentRecord {
                            platform_id: platform.clone(),
                            employment_id: new_id(),
                            resume_id: Some(record.resume_id.clone()),
                            person_key: resume.person_key,
                            employer_code: posting.fields.employer_code.clone(),
                            district: hire.district.unwrap_or_else(|| posting.fields.district.clone()),
                            industry: hire.industry.unwrap_or_else(|| posting.fields.industry.clone()),
                            start: hire.start,
                            end: None,
                            posting_id: Some(record.posting_id.clone()),
                            application_id: Some(record.application_id.clone()),
                            separation_revision: 0,
                            created_at: now,
                            updated_at: now,
                        };
                        insert_employment(&mut tx, &employment).await?;
                        events.push(OutboxEvent::new(
                            &platform,
                            now,
                            events::hired(&employment, &posting.opening_id),
                        ));
                        record.employment_id = Some(employment.employment_id);
                    }
                    record.history.push((record.state, change.to, at, change.reason));
                    record.state = change.to;
                    record.updated_at = now;
                    sqlx::query(
                        "UPDATE applications SET state = $3, history = $4, employment_id = $5, updated_at = $6 \
                         WHERE platform_id = $1 AND application_id = $2",
                    )
                    .bind(platform.clone())
                    .bind(application_id)
                    .bind(i64::from(record.state))
                    .bind(json(&record.history))
                    .bind(record.employment_id.clone())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    write_outbox(&mut tx, events, now).await?;
                    tx.commit().await?;
                    Ok(record)
                }

                async fn get_application(
                    &self,
                    platform: String,
                    application_id: String,
                ) -> StoreResult<Option<ApplicationRecord>> {
                    let row = sqlx::query(concat!(
                        "SELECT ",
                        application_columns!(),
                        " FROM applications WHERE platform_id = $1 AND application_id = $2"
                    ))
                    .bind(platform)
                    .bind(application_id)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.as_ref().map(application_from_row).transpose()
                }

                async fn list_applications(
                    &self,
                    platform: String,
                    filter: ApplicationFilter,
                    after: Option<(i64, String)>,
                    limit: i64,
                ) -> StoreResult<Vec<ApplicationRecord>> {
                    let mut builder: QueryBuilder<Db> = QueryBuilder::new(concat!(
                        "SELECT ",
                        application_columns!(),
                        " FROM applications WHERE platform_id = "
                    ));
                    builder.push_bind(platform);
                    if let Some(posting) = filter.posting_id {
                        builder.push(" AND posting_id = ");
                        builder.push_bind(posting);
                    }
                    if let Some(resume) = filter.resume_id {
                        builder.push(" AND resume_id = ");
                        builder.push_bind(resume);
                    }
                    if let Some(state) = filter.state {
                        builder.push(" AND state = ");
                        builder.push_bind(i64::from(state));
                    }
                    if let Some((created, id)) = after {
                        builder.push(" AND (created_at > ");
                        builder.push_bind(created);
                        builder.push(" OR (created_at = ");
                        builder.push_bind(created);
                        builder.push(" AND application_id > ");
                        builder.push_bind(id);
                        builder.push("))");
                    }
                    builder.push(" ORDER BY created_at, application_id LIMIT ");
                    builder.push_bind(limit);
                    let rows = builder.build().per_batch().fetch_all(&self.pool).await?;
                    rows.iter().map(application_from_row).collect()
                }

                async fn person_records(
                    &self,
                    platform: Option<String>,
                    person_key: String,
                ) -> StoreResult<(Vec<ApplicationRecord>, Vec<EmploymentRecord>)> {
                    let mut builder: QueryBuilder<Db> = QueryBuilder::new(
                        "SELECT a.platform_id, a.application_id, a.resume_id, a.posting_id, a.fair_id, \
                         a.state, a.history, a.submit_at, a.employment_id, a.created_at, a.updated_at \
                         FROM applications a JOIN resumes r \
                         ON r.platform_id = a.platform_id AND r.external_id = a.resume_id \
                         WHERE r.person_key = ",
                    );
                    builder.push_bind(person_key.clone());
                    if let Some(platform) = &platform {
                        builder.push(" AND a.platform_id = ");
                        builder.push_bind(platform.clone());
                    }
                    builder.push(" ORDER BY a.platform_id, a.created_at, a.application_id");
                    let applications = builder
                        .build()
                        .fetch_all(&self.pool)
                        .await?
                        .iter()
                        .map(application_from_row)
                        .collect::<StoreResult<Vec<_>>>()?;
                    let mut builder: QueryBuilder<Db> = QueryBuilder::new(concat!(
                        "SELECT ",
                        employment_columns!(),
                        " FROM employments WHERE person_key = "
                    ));
                    builder.push_bind(person_key);
                    if let Some(platform) = platform {
                        builder.push(" AND platform_id = ");
                        builder.push_bind(platform);
                    }
                    builder.push(" ORDER BY platform_id, start_date, employment_id");
                    let employments = builder
                        .build()
                        .fetch_all(&self.pool)
                        .await?
                        .iter()
                        .map(employment_from_row)
                        .collect::<StoreResult<Vec<_>>>()?;
                    Ok((applications, employments))
                }
            }
        }
    };
}

sql_store!(sqlite, SqliteStore, sqlx::Sqlite, "BEGIN IMMEDIATE", false);
sql_store!(postgres, PgStore, sqlx::Postgres, "BEGIN", true);

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// The end of a posting's open period: its close time once closed or
/// recorded expired, else its expiry.
fn open_period_end(posting: &PostingRecord, _now: i64) -> i64 {
    match posting.close_reason {
        CloseReason::Open => posting.fields.expire_at,
        _ => posting.closed_at.unwrap_or(posting.fields.expire_at),
    }
}

/// What the opening match compares: (employer, normalised title, district).
type MatchKey = (String, String, String);
/// A posting's primary key: (platform, external id).
type RowId = (String, String);

fn match_key(f: &PostingFields) -> MatchKey {
    (
        f.employer_code.clone(),
        f.title_key.clone(),
        f.district.clone(),
    )
}

/// What the opening match reads of one stored posting.
#[derive(Debug, Clone)]
struct MatchRow {
    key: MatchKey,
    opening_id: String,
    publish_at: i64,
    /// `open_period_end` of the row.
    end: i64,
}

impl MatchRow {
    fn of(p: &PostingRecord) -> Self {
        Self {
            key: match_key(&p.fields),
            opening_id: p.opening_id.clone(),
            publish_at: p.fields.publish_at,
            end: open_period_end(p, 0),
        }
    }
}

/// The part of the `postings` table one batch's opening matches can see,
/// as it stands after the batch's own earlier items: rows read from the
/// database (whole match-key groups, and every holder of an opening whose
/// sharing was asked about) overlaid with the rows the batch wrote. The
/// batch writes only at its end, so a database row the batch did not
/// write is current.
#[derive(Debug, Default)]
struct Openings {
    rows: HashMap<RowId, MatchRow>,
    by_key: HashMap<MatchKey, HashSet<RowId>>,
    /// Keys whose rows were all read from the database.
    loaded_keys: HashSet<MatchKey>,
    /// Rows this batch wrote (their values here win over the database's).
    written: HashSet<RowId>,
    written_by_opening: HashMap<String, HashSet<RowId>>,
    /// Database rows holding each opening asked about (before the batch).
    holders: HashMap<String, Vec<RowId>>,
}

impl Openings {
    /// A row read from the database; ignored when the batch wrote it.
    fn add_stored(&mut self, id: RowId, row: MatchRow) {
        if self.written.contains(&id) || self.rows.contains_key(&id) {
            return;
        }
        self.by_key
            .entry(row.key.clone())
            .or_default()
            .insert(id.clone());
        self.rows.insert(id, row);
    }

    /// The batch wrote `record`.
    fn write(&mut self, record: &PostingRecord) {
        let id = (record.platform_id.clone(), record.external_id.clone());
        let row = MatchRow::of(record);
        if let Some(old) = self.rows.get(&id) {
            if let Some(ids) = self.by_key.get_mut(&old.key) {
                ids.remove(&id);
            }
            if self.written.contains(&id)
                && let Some(ids) = self.written_by_opening.get_mut(&old.opening_id)
            {
                ids.remove(&id);
            }
        }
        self.by_key
            .entry(row.key.clone())
            .or_default()
            .insert(id.clone());
        self.written_by_opening
            .entry(row.opening_id.clone())
            .or_default()
            .insert(id.clone());
        self.written.insert(id.clone());
        self.rows.insert(id, row);
    }

    /// The opening of the earliest published other row with the same key
    /// whose open period overlaps `posting`'s (ties: the smaller opening
    /// id). The key's rows must have been loaded.
    fn matched(&self, posting: &PostingRecord) -> Option<String> {
        let key = match_key(&posting.fields);
        let end = open_period_end(posting, 0);
        let publish_at = posting.fields.publish_at;
        self.by_key
            .get(&key)?
            .iter()
            .filter(|id| id.0 != posting.platform_id || id.1 != posting.external_id)
            .filter_map(|id| self.rows.get(id))
            .filter(|r| r.publish_at < end && r.end > publish_at)
            .min_by(|a, b| (a.publish_at, &a.opening_id).cmp(&(b.publish_at, &b.opening_id)))
            .map(|r| r.opening_id.clone())
    }

    /// Whether a row other than `id` holds `opening`. Its database holders
    /// must have been loaded.
    fn shared(&self, opening: &str, id: &RowId) -> bool {
        let written = self
            .written_by_opening
            .get(opening)
            .is_some_and(|ids| ids.iter().any(|other| other != id));
        written
            || self.holders.get(opening).is_some_and(|ids| {
                ids.iter()
                    .any(|other| other != id && !self.written.contains(other))
            })
    }
}

/// What one batch of postings decided so far, written at its end (see
/// `finish_posting_batch`).
#[derive(Debug, Default)]
struct PostingBatch {
    openings: Openings,
    /// (fair, employer) registrations of the batch's fairs: stored, and
    /// the batch's own.
    registered: HashSet<(String, String)>,
    /// The registrations this batch adds, in order.
    participations: Vec<(String, String)>,
    /// External ids of the postings written, in the order first written.
    written: Vec<String>,
    written_ids: HashSet<String>,
    /// External ids stored before the batch.
    stored_ids: HashSet<String>,
}

impl PostingBatch {
    /// The batch creates or changes `record`.
    fn write(&mut self, record: &PostingRecord) {
        self.openings.write(record);
        if self.written_ids.insert(record.external_id.clone()) {
            self.written.push(record.external_id.clone());
        }
    }

    /// Registers the employer in the fair unless it is already; emits
    /// `FairParticipation` for a new registration.
    fn participate(
        &mut self,
        platform: &str,
        fair_id: &str,
        fair_start_at: i64,
        employer: &EmployerRecord,
        now: i64,
        events: &mut Vec<OutboxEvent>,
    ) {
        let key = (fair_id.to_owned(), employer.credit_code.clone());
        if !self.registered.insert(key.clone()) {
            return;
        }
        self.participations.push(key);
        events.push(OutboxEvent::new(
            platform,
            now,
            events::fair_participation(&events::Participation {
                platform_id: platform,
                fair_id,
                fair_start_at,
                employer_code: &employer.credit_code,
                employer_district: &employer.district,
                employer_industry: &employer.industry,
                register_at: now,
            }),
        ));
    }
}

/// Marks a field as written by `platform` at `now`.
fn record_source(
    changed: &mut bool,
    field: &str,
    platform: &str,
    now: i64,
) -> Option<(String, (String, i64))> {
    *changed = true;
    Some((field.to_owned(), (platform.to_owned(), now)))
}

/// Stored integers that came from `i32` fields.
fn int(value: i64) -> i32 {
    i32::try_from(value).unwrap_or_default()
}

/// One row of an outbox append.
struct OutboxInsert {
    seq: i64,
    event_id: String,
    payload: Vec<u8>,
}

/// What an upsert of stored postings overwrites (all but `created_at`).
const POSTING_UPSERT_TAIL: &str = " ON CONFLICT (platform_id, external_id) DO UPDATE SET \
                             title = excluded.title, title_key = excluded.title_key, \
                             description = excluded.description, \
                             employer_code = excluded.employer_code, district = excluded.district, \
                             industry = excluded.industry, occupation = excluded.occupation, \
                             min_degree = excluded.min_degree, \
                             experience_years = excluded.experience_years, \
                             salary_min = excluded.salary_min, salary_max = excluded.salary_max, \
                             headcount = excluded.headcount, \
                             employment_type = excluded.employment_type, \
                             publish_at = excluded.publish_at, expire_at = excluded.expire_at, \
                             fair_id = excluded.fair_id, tags = excluded.tags, \
                             close_reason = excluded.close_reason, closed_at = excluded.closed_at, \
                             opening_id = excluded.opening_id, revision = excluded.revision, \
                             updated_at = excluded.updated_at";

/// The multi-row statements of a batch, per back end. SQLite takes
/// multi-row `VALUES` lists (its statements are cheap to bind). PostgreSQL
/// takes one array per column through `UNNEST`: a 1,000-posting `VALUES`
/// list is 25,000 bound parameters, which the server receives, types and
/// parses one by one on every batch; with arrays a statement has one
/// parameter per column (PostgreSQL ingest 10.8k → 14.6k postings/s in
/// `bench`, writes alone).
trait BatchSql: sqlx::Database {
    /// Writes `records`; `replace`: they exist and are overwritten.
    async fn write_posting_rows(
        conn: &mut Self::Connection,
        records: &[&PostingRecord],
        replace: bool,
    ) -> StoreResult<()>;

    /// Appends outbox rows written at `now`.
    async fn insert_outbox_rows(
        conn: &mut Self::Connection,
        rows: Vec<OutboxInsert>,
        now: i64,
    ) -> StoreResult<()>;

    /// Pushes a table of text rows given by column (all of one length), to
    /// be named by `AS k (…)`: `(VALUES (…), …)` on SQLite, `UNNEST` of
    /// one array per column on PostgreSQL.
    fn push_text_rows(builder: &mut QueryBuilder<Self>, columns: Vec<Vec<String>>);
}

impl BatchSql for sqlx::Sqlite {
    fn push_text_rows(builder: &mut QueryBuilder<Self>, columns: Vec<Vec<String>>) {
        let rows = columns.first().map_or(0, Vec::len);
        builder.push("(");
        builder.push_values(0..rows, |mut row, i| {
            for column in &columns {
                row.push_bind(column[i].clone());
            }
        });
        builder.push(")");
    }

    async fn write_posting_rows(
        conn: &mut sqlx::SqliteConnection,
        records: &[&PostingRecord],
        replace: bool,
    ) -> StoreResult<()> {
        const COLUMNS: usize = 25;
        let max_params: usize = 32_766;
        for chunk in records.chunks(max_params / COLUMNS) {
            let mut builder: QueryBuilder<sqlx::Sqlite> =
                QueryBuilder::new(concat!("INSERT INTO postings (", posting_columns!(), ") "));
            builder.push_values(chunk, |mut row, p| {
                let f = &p.fields;
                row.push_bind(p.platform_id.clone())
                    .push_bind(p.external_id.clone())
                    .push_bind(f.title.clone())
                    .push_bind(f.title_key.clone())
                    .push_bind(f.description.clone())
                    .push_bind(f.employer_code.clone())
                    .push_bind(f.district.clone())
                    .push_bind(f.industry.clone())
                    .push_bind(f.occupation.clone())
                    .push_bind(i64::from(f.min_degree))
                    .push_bind(i64::from(f.experience_years))
                    .push_bind(f.salary.map(|s| i64::from(s.0)))
                    .push_bind(f.salary.map(|s| i64::from(s.1)))
                    .push_bind(i64::from(f.headcount))
                    .push_bind(i64::from(f.employment_type))
                    .push_bind(f.publish_at)
                    .push_bind(f.expire_at)
                    .push_bind(f.fair_id.clone())
                    .push_bind(json(&f.tags))
                    .push_bind(p.close_reason as i64)
                    .push_bind(p.closed_at)
                    .push_bind(p.opening_id.clone())
                    .push_bind(p.revision)
                    .push_bind(p.created_at)
                    .push_bind(p.updated_at);
            });
            if replace {
                builder.push(POSTING_UPSERT_TAIL);
            }
            builder.build().per_batch().execute(&mut *conn).await?;
        }
        Ok(())
    }

    async fn insert_outbox_rows(
        conn: &mut sqlx::SqliteConnection,
        rows: Vec<OutboxInsert>,
        now: i64,
    ) -> StoreResult<()> {
        for chunk in rows.chunks(32_766 / 4) {
            let mut builder: QueryBuilder<sqlx::Sqlite> =
                QueryBuilder::new("INSERT INTO outbox (seq, event_id, payload, created_at) ");
            builder.push_values(chunk, |mut row, r| {
                row.push_bind(r.seq)
                    .push_bind(r.event_id.as_str())
                    .push_bind(r.payload.as_slice())
                    .push_bind(now);
            });
            builder.build().per_batch().execute(&mut *conn).await?;
        }
        Ok(())
    }
}

impl BatchSql for sqlx::Postgres {
    fn push_text_rows(builder: &mut QueryBuilder<Self>, columns: Vec<Vec<String>>) {
        builder.push("UNNEST(");
        let mut list = builder.separated(", ");
        for column in columns {
            list.push_bind(column);
            list.push_unseparated("::text[]");
        }
        builder.push(")");
    }

    async fn write_posting_rows(
        conn: &mut sqlx::PgConnection,
        records: &[&PostingRecord],
        replace: bool,
    ) -> StoreResult<()> {
        if records.is_empty() {
            return Ok(());
        }
        let texts = |get: &dyn Fn(&PostingRecord) -> &str| -> Vec<String> {
            records.iter().map(|p| get(p).to_owned()).collect()
        };
        let ints = |get: &dyn Fn(&PostingRecord) -> i64| -> Vec<i64> {
            records.iter().map(|p| get(p)).collect()
        };
        let sql = format!(
            "INSERT INTO postings ({}) SELECT * FROM UNNEST(\
             $1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
             $7::text[], $8::text[], $9::text[], $10::int8[], $11::int8[], $12::int8[], \
             $13::int8[], $14::int8[], $15::int8[], $16::int8[], $17::int8[], \
             $18::text[], $19::text[], $20::int8[], $21::int8[], $22::text[], \
             $23::int8[], $24::int8[], $25::int8[]){}",
            posting_columns!(),
            if replace { POSTING_UPSERT_TAIL } else { "" }
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(texts(&|p| &p.platform_id))
            .bind(texts(&|p| &p.external_id))
            .bind(texts(&|p| &p.fields.title))
            .bind(texts(&|p| &p.fields.title_key))
            .bind(texts(&|p| &p.fields.description))
            .bind(texts(&|p| &p.fields.employer_code))
            .bind(texts(&|p| &p.fields.district))
            .bind(texts(&|p| &p.fields.industry))
            .bind(texts(&|p| &p.fields.occupation))
            .bind(ints(&|p| i64::from(p.fields.min_degree)))
            .bind(ints(&|p| i64::from(p.fields.experience_years)))
            .bind(
                records
                    .iter()
                    .map(|p| p.fields.salary.map(|s| i64::from(s.0)))
                    .collect::<Vec<_>>(),
            )
            .bind(
                records
                    .iter()
                    .map(|p| p.fields.salary.map(|s| i64::from(s.1)))
                    .collect::<Vec<_>>(),
            )
            .bind(ints(&|p| i64::from(p.fields.headcount)))
            .bind(ints(&|p| i64::from(p.fields.employment_type)))
            .bind(ints(&|p| p.fields.publish_at))
            .bind(ints(&|p| p.fields.expire_at))
            .bind(
                records
                    .iter()
                    .map(|p| p.fields.fair_id.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(
                records
                    .iter()
                    .map(|p| json(&p.fields.tags))
                    .collect::<Vec<_>>(),
            )
            .bind(ints(&|p| p.close_reason as i64))
            .bind(records.iter().map(|p| p.closed_at).collect::<Vec<_>>())
            .bind(texts(&|p| &p.opening_id))
            .bind(ints(&|p| p.revision))
            .bind(ints(&|p| p.created_at))
            .bind(ints(&|p| p.updated_at))
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn insert_outbox_rows(
        conn: &mut sqlx::PgConnection,
        rows: Vec<OutboxInsert>,
        now: i64,
    ) -> StoreResult<()> {
        let (mut seqs, mut ids, mut payloads) = (
            Vec::with_capacity(rows.len()),
            Vec::with_capacity(rows.len()),
            Vec::with_capacity(rows.len()),
        );
        for r in rows {
            seqs.push(r.seq);
            ids.push(r.event_id);
            payloads.push(r.payload);
        }
        sqlx::query(
            "INSERT INTO outbox (seq, event_id, payload, created_at) \
             SELECT s, i, p, $4 FROM UNNEST($1::int8[], $2::text[], $3::bytea[]) AS t(s, i, p)",
        )
        .bind(seqs)
        .bind(ids)
        .bind(payloads)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}
