//! The statements that add the record keys of what a database counted
//! before record keys existed (the crate's `backfill` drives them).

use futures::future::BoxFuture;
use sqlx::{Encode, Executor, QueryBuilder, Type};
use talent_server::{Column, PerBatch};

use super::{MetricsSql, R, SqlStore};

/// An application row: (id, district, industry, platform, submit day).
pub type ApplicationRow = (String, String, String, String, i64);

/// The backfill's state.
pub trait BackfillStore {
    /// `record_keys.complete_at`: None while the keys of earlier data are
    /// still being added.
    fn record_keys_complete_at(&self) -> BoxFuture<'_, R<Option<i64>>>;
}

/// The backfill's statements inside its transactions.
pub trait BackfillTx {
    /// Takes the backfill's lock (the `record_keys` row; on SQLite the
    /// write lock), so that replicas starting together add each key once,
    /// and returns `complete_at`.
    fn lock_record_keys(&mut self) -> BoxFuture<'_, R<Option<i64>>>;

    /// Marks the keys of earlier data complete from `at` on.
    fn complete_record_keys(&mut self, at: i64) -> BoxFuture<'_, R<()>>;

    /// The next `limit` entity ids of `kind` after `after`, in id order.
    fn entity_ids_after<'a>(
        &'a mut self,
        kind: &'a str,
        after: &'a str,
        limit: i64,
    ) -> BoxFuture<'a, R<Vec<String>>>;

    /// Up to `limit` applications counted without their record key.
    fn unkeyed_applications(&mut self, limit: i64) -> BoxFuture<'_, R<Vec<ApplicationRow>>>;

    /// Marks applications as counted with their record key.
    fn mark_applications_keyed<'a>(&'a mut self, ids: &'a [&'a str]) -> BoxFuture<'a, R<()>>;
}

impl<DB: MetricsSql> BackfillStore for SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
    String: Column<DB>,
    i64: Column<DB>,
    Option<i64>: Column<DB>,
{
    fn record_keys_complete_at(&self) -> BoxFuture<'_, R<Option<i64>>> {
        Box::pin(async move {
            let sql = "SELECT complete_at FROM record_keys WHERE id = 1";
            Ok({
                let p = &self.pool;
                sqlx::query_scalar(sql).fetch_one(p).await
            }?)
        })
    }
}

impl<DB: MetricsSql> BackfillTx for sqlx::Transaction<'static, DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
    String: Column<DB>,
    i64: Column<DB>,
    Option<i64>: Column<DB>,
{
    fn lock_record_keys(&mut self) -> BoxFuture<'_, R<Option<i64>>> {
        Box::pin(async move {
            let lock = "UPDATE record_keys SET complete_at = complete_at WHERE id = 1";
            let read = "SELECT complete_at FROM record_keys WHERE id = 1";
            Ok({
                let c: &mut DB::Connection = self;
                {
                    sqlx::query(lock).execute(&mut *c).await?;
                    sqlx::query_scalar(read).fetch_one(&mut *c).await
                }
            }?)
        })
    }

    fn complete_record_keys(&mut self, at: i64) -> BoxFuture<'_, R<()>> {
        Box::pin(async move {
            let sql =
                "UPDATE record_keys SET complete_at = $1 WHERE id = 1 AND complete_at IS NULL";
            Ok({
                let c: &mut DB::Connection = self;
                sqlx::query(sql).bind(at).execute(&mut *c).await.map(|_| ())
            }?)
        })
    }

    fn entity_ids_after<'a>(
        &'a mut self,
        kind: &'a str,
        after: &'a str,
        limit: i64,
    ) -> BoxFuture<'a, R<Vec<String>>> {
        Box::pin(async move {
            let sql =
                "SELECT id FROM entity_state WHERE kind = $1 AND id > $2 ORDER BY id LIMIT $3";
            Ok({
                let c: &mut DB::Connection = self;
                sqlx::query_scalar(sql)
                    .bind(kind)
                    .bind(after)
                    .bind(limit)
                    .fetch_all(&mut *c)
                    .await
            }?)
        })
    }

    fn unkeyed_applications(&mut self, limit: i64) -> BoxFuture<'_, R<Vec<ApplicationRow>>> {
        Box::pin(async move {
            let sql = "SELECT application_id, district, industry, platform, submit_day \
                   FROM applications WHERE keyed = 0 ORDER BY application_id LIMIT $1";
            Ok({
                let c: &mut DB::Connection = self;
                sqlx::query_as(sql).bind(limit).fetch_all(&mut *c).await
            }?)
        })
    }

    fn mark_applications_keyed<'a>(&'a mut self, ids: &'a [&'a str]) -> BoxFuture<'a, R<()>> {
        Box::pin(async move {
            let c: &mut DB::Connection = self;
            for chunk in ids.chunks(1_000) {
                let mut q = QueryBuilder::new(
                    "UPDATE applications SET keyed = 1 WHERE application_id IN (",
                );
                let mut list = q.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                q.push(")");
                q.build().per_batch().execute(&mut *c).await?;
            }
            Ok(())
        })
    }
}
