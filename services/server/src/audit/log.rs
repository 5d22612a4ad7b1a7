//! The `audit_events` table of a service's database (each service's
//! migrations create it alike), written once for both back ends.

use std::{sync::Arc, time::Duration};

use sqlx::{ColumnIndex, Executor, Pool, QueryBuilder, Row};

use super::{Event, Redactor, writer::AuditSink};
use crate::{Column, Db, RowsAffected, db::Sql};

/// One row of the audit log, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// When the call arrived, microseconds since the Unix epoch.
    pub at: i64,
    /// The key's name (`keys/…`, `platforms/…/apiKeys/…`, `admin`); empty
    /// when none was recognised.
    pub key: String,
    /// The gRPC path of the method.
    pub method: String,
    /// The request as JSON, personal fields removed.
    pub request_json: String,
    /// The `google.rpc.Code` of the outcome.
    pub code: i32,
    /// The status message of a failure.
    pub message: String,
}

impl AuditRow {
    /// The row of `event`, its request redacted.
    pub fn of(event: &Event, redactor: &Redactor) -> Self {
        Self {
            at: event.at,
            key: event.key.clone(),
            method: event.method.clone(),
            request_json: redactor.request_json(&event.method, &event.request),
            code: event.code,
            message: event.message.clone(),
        }
    }
}

/// A row read back, with its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub id: i64,
    pub row: AuditRow,
}

/// Which rows a listing wants: `[since, until)` of one key or of all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Empty: every caller.
    pub key: String,
}

/// A service's audit log in its database.
#[derive(Debug, Clone)]
pub struct AuditLog {
    db: Db,
}

impl AuditLog {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The log as the writer's sink.
    pub fn sink(&self) -> Arc<dyn AuditSink> {
        Arc::new(self.clone())
    }

    /// Appends `rows` in one statement.
    pub async fn append(&self, rows: &[AuditRow]) -> Result<(), sqlx::Error> {
        if rows.is_empty() {
            return Ok(());
        }
        match &self.db {
            Db::Sqlite(pool) => append(pool, rows).await,
            Db::Postgres(pool) => append_arrays(pool, rows).await,
        }
    }

    /// The rows `filter` selects, newest first (by arrival, then id),
    /// after the row `(at, id)` when given; at most `limit`.
    pub async fn list(
        &self,
        filter: &EventFilter,
        after: Option<(i64, i64)>,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, sqlx::Error> {
        match &self.db {
            Db::Sqlite(pool) => list(pool, filter, after, limit).await,
            Db::Postgres(pool) => list(pool, filter, after, limit).await,
        }
    }

    /// Deletes the rows of calls that arrived more than `retention` before
    /// `now` (microseconds); how many.
    pub async fn prune(&self, now: i64, retention: Duration) -> Result<u64, sqlx::Error> {
        let retention = i64::try_from(retention.as_micros()).unwrap_or(i64::MAX);
        let cutoff = now.saturating_sub(retention);
        match &self.db {
            Db::Sqlite(pool) => prune(pool, cutoff).await,
            Db::Postgres(pool) => prune(pool, cutoff).await,
        }
    }
}

impl AuditSink for AuditLog {
    fn append<'a>(
        &'a self,
        rows: &'a [AuditRow],
    ) -> std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>> {
        Box::pin(async move { Ok(AuditLog::append(self, rows).await?) })
    }

    fn prune(
        &self,
        now: i64,
        retention: Duration,
    ) -> std::pin::Pin<Box<dyn Future<Output = anyhow::Result<u64>> + Send + '_>> {
        Box::pin(async move { Ok(AuditLog::prune(self, now, retention).await?) })
    }
}

async fn append<DB: Sql>(pool: &Pool<DB>, rows: &[AuditRow]) -> Result<(), sqlx::Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    String: Column<DB>,
    i64: Column<DB>,
    i32: Column<DB>,
{
    let mut builder: QueryBuilder<DB> = QueryBuilder::new(
        "INSERT INTO audit_events (at, key_name, method, request_json, code, message) ",
    );
    builder.push_values(rows, |mut b, row| {
        b.push_bind(row.at)
            .push_bind(row.key.clone())
            .push_bind(row.method.clone())
            .push_bind(row.request_json.clone())
            .push_bind(row.code)
            .push_bind(row.message.clone());
    });
    let mut conn = pool.acquire().await?;
    builder.build().execute(&mut *conn).await?;
    Ok(())
}

/// PostgreSQL: the rows as one array a column, so that every batch is the
/// same statement, prepared once, not one statement text per batch size.
async fn append_arrays(pool: &sqlx::PgPool, rows: &[AuditRow]) -> Result<(), sqlx::Error> {
    let column = |f: fn(&AuditRow) -> &String| rows.iter().map(f).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO audit_events (at, key_name, method, request_json, code, message) \
         SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::INT[], \
         $6::TEXT[])",
    )
    .bind(rows.iter().map(|r| r.at).collect::<Vec<_>>())
    .bind(column(|r| &r.key))
    .bind(column(|r| &r.method))
    .bind(column(|r| &r.request_json))
    .bind(rows.iter().map(|r| r.code).collect::<Vec<_>>())
    .bind(column(|r| &r.message))
    .execute(pool)
    .await?;
    Ok(())
}

async fn list<DB: Sql>(
    pool: &Pool<DB>,
    filter: &EventFilter,
    after: Option<(i64, i64)>,
    limit: i64,
) -> Result<Vec<StoredEvent>, sqlx::Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'n> &'n str: ColumnIndex<DB::Row>,
    String: Column<DB>,
    i64: Column<DB>,
    i32: Column<DB>,
{
    let mut builder: QueryBuilder<DB> = QueryBuilder::new(
        "SELECT id, at, key_name, method, request_json, code, message FROM audit_events \
         WHERE 1 = 1",
    );
    if let Some(since) = filter.since {
        builder.push(" AND at >= ").push_bind(since);
    }
    if let Some(until) = filter.until {
        builder.push(" AND at < ").push_bind(until);
    }
    if !filter.key.is_empty() {
        builder
            .push(" AND key_name = ")
            .push_bind(filter.key.clone());
    }
    if let Some((at, id)) = after {
        builder
            .push(" AND (at < ")
            .push_bind(at)
            .push(" OR (at = ")
            .push_bind(at)
            .push(" AND id < ")
            .push_bind(id)
            .push("))");
    }
    builder
        .push(" ORDER BY at DESC, id DESC LIMIT ")
        .push_bind(limit);
    let mut conn = pool.acquire().await?;
    let rows = builder.build().fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|row| {
            Ok(StoredEvent {
                id: row.try_get("id")?,
                row: AuditRow {
                    at: row.try_get("at")?,
                    key: row.try_get("key_name")?,
                    method: row.try_get("method")?,
                    request_json: row.try_get("request_json")?,
                    code: row.try_get("code")?,
                    message: row.try_get("message")?,
                },
            })
        })
        .collect()
}

async fn prune<DB: Sql>(pool: &Pool<DB>, cutoff: i64) -> Result<u64, sqlx::Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    i64: Column<DB>,
{
    let mut conn = pool.acquire().await?;
    let done = sqlx::query("DELETE FROM audit_events WHERE at < $1")
        .bind(cutoff)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}
