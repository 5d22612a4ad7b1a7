//! What differs between SQLite and PostgreSQL in the recruiting store, and
//! only that: how a writer begins and locks, how the outbox numbers its
//! rows, and the batch statements each back end runs its own way. Every
//! other statement is written once, generic over [`RecruitingSql`].
//!
//! - SQLite: every writing transaction starts with `BEGIN IMMEDIATE`
//!   (`Sql::BEGIN_WRITE`), which takes the database's single write lock up
//!   front, so writers are serialised and never fail on a lock upgrade; no
//!   other lock is needed.
//! - PostgreSQL: writers take transaction-scoped advisory locks on what they
//!   touch (a platform, an employer's postings), always in sorted order, and
//!   an outbox lock just before appending events, held until commit, so that
//!   outbox sequence numbers are handed out in commit order.
//! - Batches: SQLite takes multi-row `VALUES` and `IN` lists (its statements
//!   are cheap to bind, and it searches an index once per listed key).
//!   PostgreSQL takes one array per column through `UNNEST`: a 1,000-posting
//!   `VALUES` list would be 25,000 bound parameters, which the server
//!   receives, types and parses one by one on every batch. It looks a
//!   batch's keys up one index probe each, by a `LATERAL` subquery behind
//!   `OFFSET 0` (a fence the planner does not flatten): with `IN (…)`, a
//!   planner without statistics for the table (a new database, or a server
//!   without autovacuum) took the platform for selective and read all of a
//!   platform's rows for every batch.

use std::future::Future;

use sqlx::{PgConnection, Postgres, QueryBuilder, Row, Sqlite, SqliteConnection};
use talent_server::{
    PerBatch, Sql,
    db::{piece_rows, pieces},
};

use super::{
    PostingRecord,
    openings::{MATCH_COLUMNS, MatchKey},
    outbox::OutboxInsert,
    postings::POSTING_COLUMNS,
    sql::json,
};

/// The recruiting store's back end: [`Sql`] and what the store does
/// differently on it.
pub trait RecruitingSql: Sql {
    /// Messages of an upsert stream stored in one transaction at most (see
    /// `RecruitingStore::stream_group`).
    const STREAM_GROUP: usize;

    /// Ends the expiry sweep's `SELECT` of the rows it will change.
    const SWEEP_LOCK: &'static str;

    /// Takes the locks named by `keys` until the transaction ends. Every
    /// writer takes its platform's lock first and the others in sorted
    /// order (a writer may add locks later, but only keys that sort after
    /// what it holds, never a platform's), so two writers never wait on
    /// each other in a cycle.
    fn lock(
        conn: &mut Self::Connection,
        keys: impl IntoIterator<Item = String> + Send,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;

    /// [`lock`](Self::lock) for many keys: the same locks, taken in the same
    /// order, in one statement per 1,000 keys.
    fn lock_batched(
        conn: &mut Self::Connection,
        keys: impl IntoIterator<Item = String> + Send,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;

    /// Reserves `count` consecutive outbox positions, after every position
    /// handed out before (even if pruned), in commit order; returns the
    /// first.
    fn reserve_outbox(
        conn: &mut Self::Connection,
        count: i64,
    ) -> impl Future<Output = Result<i64, sqlx::Error>> + Send;

    /// Appends outbox rows written at `now` by the transaction whose trace
    /// context is `traceparent` (none: traces are not exported).
    fn insert_outbox_rows(
        conn: &mut Self::Connection,
        rows: Vec<OutboxInsert>,
        now: i64,
        traceparent: Option<&str>,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;

    /// Writes `records`; `replace`: they exist and are overwritten (all but
    /// `created_at`).
    fn write_posting_rows(
        conn: &mut Self::Connection,
        records: &[&PostingRecord],
        replace: bool,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;

    /// A query for `columns` of the rows of `table` that belong to
    /// `platform` and have one of `ids` as `external_id` (the table's
    /// primary key is `(platform_id, external_id)`).
    fn by_external_ids<'a>(
        columns: &str,
        table: &str,
        platform: &str,
        ids: impl IntoIterator<Item = &'a String>,
    ) -> QueryBuilder<Self>;

    /// Readies the ids of a coalesced point read for
    /// [`by_external_ids`](Self::by_external_ids).
    fn point_read_ids(ids: &mut Vec<String>);

    /// A query for [`MATCH_COLUMNS`] of every posting whose match key is one
    /// of `keys` (at most 1,000, at least one).
    fn match_rows(keys: &[MatchKey]) -> QueryBuilder<Self>;

    /// Moves postings of `platform` to other openings: each `(external id,
    /// opening)` of `moves` gets its opening, one more revision and
    /// `updated_at = now`. Returns the moved rows' [`POSTING_COLUMNS`] as
    /// they now are. A few statements, whatever the number of moves.
    fn move_openings(
        conn: &mut Self::Connection,
        platform: &str,
        moves: &[(String, String)],
        now: i64,
    ) -> impl Future<Output = Result<Vec<Self::Row>, sqlx::Error>> + Send;
}

impl RecruitingSql for Sqlite {
    /// A SQLite transaction keeps the pages it dirties in its connection's
    /// memory until the commit, so a group of messages holds the dirty
    /// pages of all of them at once; one message a transaction keeps
    /// recruiting within its memory budget.
    const STREAM_GROUP: usize = 1;

    /// The write lock, taken at `BEGIN IMMEDIATE`, already excludes every
    /// other writer.
    const SWEEP_LOCK: &'static str = "";

    async fn lock(
        _: &mut SqliteConnection,
        _: impl IntoIterator<Item = String> + Send,
    ) -> Result<(), sqlx::Error> {
        Ok(())
    }

    async fn lock_batched(
        _: &mut SqliteConnection,
        _: impl IntoIterator<Item = String> + Send,
    ) -> Result<(), sqlx::Error> {
        Ok(())
    }

    async fn reserve_outbox(conn: &mut SqliteConnection, _: i64) -> Result<i64, sqlx::Error> {
        // Writers are serialised; the highest number ever handed out is
        // kept in `sqlite_sequence`, even after its row was pruned.
        let last: i64 = sqlx::query(
            "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0), \
             COALESCE((SELECT MAX(seq) FROM outbox), 0))",
        )
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
        Ok(last + 1)
    }

    async fn insert_outbox_rows(
        conn: &mut SqliteConnection,
        rows: Vec<OutboxInsert>,
        now: i64,
        traceparent: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        for (chunk, full) in pieces(&rows, piece_rows::<Self>(5)) {
            let mut builder: QueryBuilder<Self> = QueryBuilder::new(
                "INSERT INTO outbox (seq, event_id, payload, created_at, traceparent) ",
            );
            builder.push_values(chunk, |mut row, r| {
                row.push_bind(r.seq)
                    .push_bind(r.event_id.as_str())
                    .push_bind(r.payload.as_slice())
                    .push_bind(now)
                    .push_bind(traceparent);
            });
            builder.build().piece(full).execute(&mut *conn).await?;
        }
        Ok(())
    }

    async fn write_posting_rows(
        conn: &mut SqliteConnection,
        records: &[&PostingRecord],
        replace: bool,
    ) -> Result<(), sqlx::Error> {
        const COLUMNS: usize = 25;
        for (chunk, full) in pieces(records, piece_rows::<Self>(COLUMNS)) {
            let mut builder: QueryBuilder<Self> =
                QueryBuilder::new(format!("INSERT INTO postings ({POSTING_COLUMNS}) "));
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
            builder.build().piece(full).execute(&mut *conn).await?;
        }
        Ok(())
    }

    fn by_external_ids<'a>(
        columns: &str,
        table: &str,
        platform: &str,
        ids: impl IntoIterator<Item = &'a String>,
    ) -> QueryBuilder<Self> {
        let mut builder = QueryBuilder::new(format!(
            "SELECT {columns} FROM {table} WHERE platform_id = "
        ));
        builder.push_bind(platform.to_owned());
        builder.push(" AND external_id IN (");
        let mut list = builder.separated(", ");
        for id in ids {
            list.push_bind(id.clone());
        }
        builder.push(")");
        builder
    }

    /// The `IN` list has one parameter per id: padded to a power of two by
    /// repeating an id, a handful of prepared statements serve every batch
    /// size.
    fn point_read_ids(ids: &mut Vec<String>) {
        if let Some(first) = ids.first().cloned() {
            ids.resize(ids.len().next_power_of_two(), first);
        }
    }

    /// A row-value `IN` over a CTE searches the match index once per key (a
    /// plain `IN (VALUES …)` scans the table).
    fn match_rows(keys: &[MatchKey]) -> QueryBuilder<Self> {
        let mut builder = QueryBuilder::new("WITH k (e, t, d) AS (");
        builder.push_values(keys, |mut row, key| {
            row.push_bind(key.0.clone())
                .push_bind(key.1.clone())
                .push_bind(key.2.clone());
        });
        builder.push(format!(
            ") SELECT {MATCH_COLUMNS} FROM postings \
             WHERE (employer_code, title_key, district) IN (SELECT e, t, d FROM k)"
        ));
        builder
    }

    /// One `UPDATE … FROM (VALUES …) RETURNING` per 1,024 moves.
    async fn move_openings(
        conn: &mut SqliteConnection,
        platform: &str,
        moves: &[(String, String)],
        now: i64,
    ) -> Result<Vec<sqlx::sqlite::SqliteRow>, sqlx::Error> {
        let mut rows = Vec::with_capacity(moves.len());
        for chunk in moves.chunks(1024) {
            let mut builder: QueryBuilder<Self> = QueryBuilder::new(
                "UPDATE postings SET opening_id = m.column2, revision = revision + 1, \
                 updated_at = ",
            );
            builder.push_bind(now);
            builder.push(" FROM (");
            builder.push_values(chunk, |mut row, (id, opening)| {
                row.push_bind(id.as_str()).push_bind(opening.as_str());
            });
            builder.push(") AS m WHERE postings.platform_id = ");
            builder.push_bind(platform);
            builder.push(format!(
                " AND postings.external_id = m.column1 RETURNING {POSTING_COLUMNS}"
            ));
            rows.extend(builder.build().per_batch().fetch_all(&mut *conn).await?);
        }
        Ok(rows)
    }
}

/// The advisory lock of the outbox tail (PostgreSQL).
const OUTBOX_LOCK: i64 = 0x7461_6c65_6e74;

impl RecruitingSql for Postgres {
    /// Four messages (4,000 postings) share a transaction's commit and its
    /// reads.
    const STREAM_GROUP: usize = 4;

    /// Two replicas' sweeps take different rows instead of waiting on each
    /// other.
    const SWEEP_LOCK: &'static str = " FOR UPDATE SKIP LOCKED";

    async fn lock(
        conn: &mut PgConnection,
        keys: impl IntoIterator<Item = String> + Send,
    ) -> Result<(), sqlx::Error> {
        for key in lock_order(keys) {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                .bind(key)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    async fn lock_batched(
        conn: &mut PgConnection,
        keys: impl IntoIterator<Item = String> + Send,
    ) -> Result<(), sqlx::Error> {
        let keys = lock_order(keys);
        for chunk in keys.chunks(1000) {
            // The sorted subquery fixes the order the locks are taken in.
            let mut builder: QueryBuilder<Self> = QueryBuilder::new(
                "SELECT pg_advisory_xact_lock(hashtext(k)) FROM (SELECT k FROM (",
            );
            builder.push_values(chunk.iter().enumerate(), |mut row, (n, key)| {
                row.push_bind(key.clone())
                    .push_bind(i64::try_from(n).unwrap_or(i64::MAX));
            });
            builder.push(") AS v (k, n) ORDER BY n OFFSET 0) AS ordered");
            builder.build().per_batch().execute(&mut *conn).await?;
        }
        Ok(())
    }

    async fn reserve_outbox(conn: &mut PgConnection, count: i64) -> Result<i64, sqlx::Error> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(OUTBOX_LOCK)
            .execute(&mut *conn)
            .await?;
        // Under the lock the numbers reserved are consecutive.
        let last: i64 = sqlx::query(
            "SELECT setval(pg_get_serial_sequence('outbox', 'seq'), \
             nextval(pg_get_serial_sequence('outbox', 'seq')) + $1 - 1)",
        )
        .bind(count)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
        Ok(last - count + 1)
    }

    async fn insert_outbox_rows(
        conn: &mut PgConnection,
        rows: Vec<OutboxInsert>,
        now: i64,
        traceparent: Option<&str>,
    ) -> Result<(), sqlx::Error> {
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
            "INSERT INTO outbox (seq, event_id, payload, created_at, traceparent) \
             SELECT s, i, p, $4, $5 FROM UNNEST($1::int8[], $2::text[], $3::bytea[]) AS t(s, i, p)",
        )
        .bind(seqs)
        .bind(ids)
        .bind(payloads)
        .bind(now)
        .bind(traceparent)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    async fn write_posting_rows(
        conn: &mut PgConnection,
        records: &[&PostingRecord],
        replace: bool,
    ) -> Result<(), sqlx::Error> {
        if records.is_empty() {
            return Ok(());
        }
        let texts = |get: &dyn Fn(&PostingRecord) -> &str| -> Vec<String> {
            records.iter().map(|p| get(p).to_owned()).collect()
        };
        let ints = |get: &dyn Fn(&PostingRecord) -> i64| -> Vec<i64> {
            records.iter().map(|p| get(p)).collect()
        };
        sqlx::query(sqlx::AssertSqlSafe(pg_posting_insert(replace)))
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

    fn by_external_ids<'a>(
        columns: &str,
        table: &str,
        platform: &str,
        ids: impl IntoIterator<Item = &'a String>,
    ) -> QueryBuilder<Self> {
        let mut builder = QueryBuilder::new("SELECT r.* FROM ");
        push_text_rows(&mut builder, vec![ids.into_iter().cloned().collect()]);
        builder.push(format_args!(
            " AS k (id) CROSS JOIN LATERAL (SELECT {columns} FROM {table} WHERE platform_id = "
        ));
        builder.push_bind(platform.to_owned());
        builder.push(" AND external_id = k.id OFFSET 0) AS r");
        builder
    }

    fn point_read_ids(_: &mut Vec<String>) {}

    fn match_rows(keys: &[MatchKey]) -> QueryBuilder<Self> {
        let mut builder = QueryBuilder::new("SELECT m.* FROM ");
        push_text_rows(
            &mut builder,
            vec![
                keys.iter().map(|k| k.0.clone()).collect(),
                keys.iter().map(|k| k.1.clone()).collect(),
                keys.iter().map(|k| k.2.clone()).collect(),
            ],
        );
        builder.push(format!(
            " AS k (e, t, d) CROSS JOIN LATERAL (SELECT {MATCH_COLUMNS} FROM postings \
             WHERE employer_code = k.e AND title_key = k.t AND district = k.d OFFSET 0) AS m"
        ));
        builder
    }

    /// One `UPDATE … FROM UNNEST` for every move.
    async fn move_openings(
        conn: &mut PgConnection,
        platform: &str,
        moves: &[(String, String)],
        now: i64,
    ) -> Result<Vec<sqlx::postgres::PgRow>, sqlx::Error> {
        if moves.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "UPDATE postings SET opening_id = m.m_opening, revision = postings.revision + 1, \
             updated_at = $3 FROM UNNEST($1::text[], $2::text[]) AS m (m_id, m_opening) \
             WHERE postings.platform_id = $4 AND postings.external_id = m.m_id \
             RETURNING {POSTING_COLUMNS}"
        );
        let (ids, openings): (Vec<&str>, Vec<&str>) = moves
            .iter()
            .map(|(id, opening)| (id.as_str(), opening.as_str()))
            .unzip();
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ids)
            .bind(openings)
            .bind(now)
            .bind(platform)
            .fetch_all(&mut *conn)
            .await
    }
}

/// Pushes a table of text rows given by column (all of one length), to be
/// named by `AS k (…)`: `UNNEST` of one array per column.
fn push_text_rows(builder: &mut QueryBuilder<Postgres>, columns: Vec<Vec<String>>) {
    builder.push("UNNEST(");
    let mut list = builder.separated(", ");
    for column in columns {
        list.push_bind(column);
        list.push_unseparated("::text[]");
    }
    builder.push(")");
}

/// `keys` in the order locks are taken: platforms first, then sorted,
/// each once.
fn lock_order(keys: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut keys: Vec<String> = keys.into_iter().collect();
    keys.sort_by(|a, b| (!a.starts_with("platform:"), a).cmp(&(!b.starts_with("platform:"), b)));
    keys.dedup();
    keys
}

/// PostgreSQL's insert of postings, one array a column in the order of
/// [`POSTING_COLUMNS`]; with `replace`, an upsert ([`POSTING_UPSERT_TAIL`]).
pub fn pg_posting_insert(replace: bool) -> String {
    format!(
        "INSERT INTO postings ({POSTING_COLUMNS}) SELECT * FROM UNNEST(\
         $1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
         $7::text[], $8::text[], $9::text[], $10::int8[], $11::int8[], $12::int8[], \
         $13::int8[], $14::int8[], $15::int8[], $16::int8[], $17::int8[], \
         $18::text[], $19::text[], $20::int8[], $21::int8[], $22::text[], \
         $23::int8[], $24::int8[], $25::int8[]){}",
        if replace { POSTING_UPSERT_TAIL } else { "" }
    )
}

/// What an upsert of stored postings overwrites (all but `created_at`).
pub const POSTING_UPSERT_TAIL: &str = " ON CONFLICT (platform_id, external_id) DO UPDATE SET \
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
