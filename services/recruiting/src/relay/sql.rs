//! The relay's outbox on the recruiting database: the outbox and relay
//! lease tables, with statements written once for both back ends and the
//! marking of delivered rows each back end does its own way.

use std::{future::Future, time::Duration};

use sqlx::{ColumnIndex, Database, Executor, Pool};
use talent_codes::now_micros;
use talent_server::{Column, Db, RowsAffected, Sql};

use super::{Backlog, Outbox, OutboxRow};

/// The outbox and relay lease tables of the recruiting database.
#[derive(Clone)]
pub struct SqlOutbox {
    db: Db,
}

impl SqlOutbox {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

impl Outbox for SqlOutbox {
    async fn acquire_lease(&self, holder: &str, ttl: Duration) -> anyhow::Result<bool> {
        match &self.db {
            Db::Sqlite(pool) => Tables(pool).acquire_lease(holder, ttl).await,
            Db::Postgres(pool) => Tables(pool).acquire_lease(holder, ttl).await,
        }
    }

    async fn release_lease(&self, holder: &str) -> anyhow::Result<()> {
        match &self.db {
            Db::Sqlite(pool) => Tables(pool).release_lease(holder).await,
            Db::Postgres(pool) => Tables(pool).release_lease(holder).await,
        }
    }

    async fn next_batch(&self, after: Option<i64>, limit: usize) -> anyhow::Result<Vec<OutboxRow>> {
        match &self.db {
            Db::Sqlite(pool) => Tables(pool).next_batch(after, limit).await,
            Db::Postgres(pool) => Tables(pool).next_batch(after, limit).await,
        }
    }

    async fn mark_delivered(&self, delivered: &[i64], rejected: &[i64]) -> anyhow::Result<()> {
        match &self.db {
            Db::Sqlite(pool) => Tables(pool).mark_delivered(delivered, rejected).await,
            Db::Postgres(pool) => Tables(pool).mark_delivered(delivered, rejected).await,
        }
    }

    async fn backlog(&self) -> anyhow::Result<Backlog> {
        match &self.db {
            Db::Sqlite(pool) => Tables(pool).backlog().await,
            Db::Postgres(pool) => Tables(pool).backlog().await,
        }
    }

    async fn prune_delivered(&self, before_micros: i64) -> anyhow::Result<u64> {
        match &self.db {
            Db::Sqlite(pool) => Tables(pool).prune_delivered(before_micros).await,
            Db::Postgres(pool) => Tables(pool).prune_delivered(before_micros).await,
        }
    }
}

/// The relay's statements on one back end's pool, written once.
struct Tables<'p, DB: Database>(&'p Pool<DB>);

impl<DB: Sql> Tables<'_, DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    usize: ColumnIndex<DB::Row>,
    String: Column<DB>,
    i64: Column<DB>,
    Option<i64>: Column<DB>,
    Vec<u8>: Column<DB>,
    Option<String>: Column<DB>,
{
    async fn acquire_lease(&self, holder: &str, ttl: Duration) -> anyhow::Result<bool> {
        let now = now_micros();
        let expires = now + ttl.as_micros() as i64;
        // Take the lease when it is free, expired, or already ours.
        let affected = sqlx::query(
            "INSERT INTO relay_lease (id, holder, expires_at) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at \
             WHERE relay_lease.holder = excluded.holder OR relay_lease.expires_at < $3",
        )
        .bind(holder.to_owned())
        .bind(expires)
        .bind(now)
        .execute(self.0)
        .await?
        .rows_affected();
        Ok(affected == 1)
    }

    async fn release_lease(&self, holder: &str) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM relay_lease WHERE holder = $1")
            .bind(holder.to_owned())
            .execute(self.0)
            .await?;
        Ok(())
    }

    async fn next_batch(&self, after: Option<i64>, limit: usize) -> anyhow::Result<Vec<OutboxRow>> {
        let rows: Vec<(i64, Vec<u8>, i64, Option<String>)> = sqlx::query_as(
            "SELECT seq, payload, created_at, traceparent FROM outbox \
             WHERE delivered_at IS NULL AND seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after.unwrap_or(i64::MIN))
        .bind(limit as i64)
        .fetch_all(self.0)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(seq, event, created_at_micros, traceparent)| OutboxRow {
                seq,
                event,
                created_at_micros,
                traceparent,
            })
            .collect())
    }

    async fn backlog(&self) -> anyhow::Result<Backlog> {
        let (rows, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE delivered_at IS NULL",
        )
        .fetch_one(self.0)
        .await?;
        Ok(Backlog {
            rows: rows.max(0) as u64,
            oldest_created_at_micros: oldest,
        })
    }

    async fn prune_delivered(&self, before_micros: i64) -> anyhow::Result<u64> {
        // Rejected rows stay for inspection.
        let affected = sqlx::query("DELETE FROM outbox WHERE delivered_at < $1 AND NOT rejected")
            .bind(before_micros)
            .execute(self.0)
            .await?
            .rows_affected();
        Ok(affected)
    }
}

impl<DB: MarkSql> Tables<'_, DB> {
    async fn mark_delivered(&self, delivered: &[i64], rejected: &[i64]) -> anyhow::Result<()> {
        Ok(DB::mark(self.0, delivered, rejected, now_micros()).await?)
    }
}

/// How each back end marks outbox rows delivered.
trait MarkSql: Sql {
    /// Marks the rows `delivered` (and `rejected`, as rejected) delivered
    /// at `now`.
    fn mark(
        pool: &Pool<Self>,
        delivered: &[i64],
        rejected: &[i64],
        now: i64,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
}

impl MarkSql for sqlx::Postgres {
    async fn mark(
        pool: &Pool<Self>,
        delivered: &[i64],
        rejected: &[i64],
        now: i64,
    ) -> Result<(), sqlx::Error> {
        for (seqs, is_rejected) in [(delivered, false), (rejected, true)] {
            if seqs.is_empty() {
                continue;
            }
            // One array parameter, however many rows.
            sqlx::query("UPDATE outbox SET delivered_at = $1, rejected = $2 WHERE seq = ANY($3)")
                .bind(now)
                .bind(is_rejected)
                .bind(seqs)
                .execute(pool)
                .await?;
        }
        Ok(())
    }
}

impl MarkSql for sqlx::Sqlite {
    /// SQLite takes at most 32,766 parameters a statement, and the marks of
    /// a long backlog grow past that: the rows go as runs of consecutive
    /// seqs (a whole batch is usually one), a bounded number of runs a
    /// statement, all in one transaction (one commit).
    async fn mark(
        pool: &Pool<Self>,
        delivered: &[i64],
        rejected: &[i64],
        now: i64,
    ) -> Result<(), sqlx::Error> {
        let mut tx = pool.begin().await?;
        for (seqs, is_rejected) in [(delivered, false), (rejected, true)] {
            let runs = seq_runs(seqs);
            for chunk in runs.chunks(RUNS_PER_STATEMENT) {
                let mut query = sqlx::QueryBuilder::new("UPDATE outbox SET delivered_at = ");
                query.push_bind(now);
                query.push(", rejected = ");
                query.push_bind(is_rejected);
                query.push(" WHERE ");
                let mut any = query.separated(" OR ");
                for (first, last) in chunk {
                    any.push("seq BETWEEN ");
                    any.push_bind_unseparated(*first);
                    any.push_unseparated(" AND ");
                    any.push_bind_unseparated(*last);
                }
                query.build().execute(&mut *tx).await?;
            }
        }
        tx.commit().await
    }
}

/// Runs of a marking statement on SQLite (two parameters each).
const RUNS_PER_STATEMENT: usize = 500;

/// `seqs` as runs of consecutive numbers, `(first, last)` inclusive, in
/// order; each run covers exactly the seqs given, never a row between them.
pub(super) fn seq_runs(seqs: &[i64]) -> Vec<(i64, i64)> {
    let mut sorted = seqs.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut runs: Vec<(i64, i64)> = Vec::new();
    for seq in sorted {
        match runs.last_mut() {
            Some((_, last)) if *last + 1 == seq => *last = seq,
            _ => runs.push((seq, seq)),
        }
    }
    runs
}
