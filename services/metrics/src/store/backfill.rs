//! The statements that add the record keys of what a database counted
//! before record keys existed (the crate's `backfill` drives them).

use sqlx::QueryBuilder;
use talent_server::{Db, PerBatch};

use super::{R, Store, Tx};

/// An application row: (id, district, industry, platform, submit day).
pub type ApplicationRow = (String, String, String, String, i64);

impl Store {
    /// `record_keys.complete_at`: None while the keys of earlier data are
    /// still being added.
    pub async fn record_keys_complete_at(&self) -> R<Option<i64>> {
        let sql = "SELECT complete_at FROM record_keys WHERE id = 1";
        on_pool!(&self.db, p => sqlx::query_scalar(sql).fetch_one(p).await)
    }
}

impl Tx {
    /// Takes the backfill's lock (the `record_keys` row; on SQLite the
    /// write lock), so that replicas starting together add each key once,
    /// and returns `complete_at`.
    pub async fn lock_record_keys(&mut self) -> R<Option<i64>> {
        let lock = "UPDATE record_keys SET complete_at = complete_at WHERE id = 1";
        let read = "SELECT complete_at FROM record_keys WHERE id = 1";
        on_conn!(self, c => {
            sqlx::query(lock).execute(&mut *c).await?;
            sqlx::query_scalar(read).fetch_one(&mut *c).await
        })
    }

    /// Marks the keys of earlier data complete from `at` on.
    pub async fn complete_record_keys(&mut self, at: i64) -> R<()> {
        let sql = "UPDATE record_keys SET complete_at = $1 WHERE id = 1 AND complete_at IS NULL";
        on_conn!(self, c => sqlx::query(sql).bind(at).execute(&mut *c).await.map(|_| ()))
    }

    /// The next `limit` entity ids of `kind` after `after`, in id order.
    pub async fn entity_ids_after(
        &mut self,
        kind: &str,
        after: &str,
        limit: i64,
    ) -> R<Vec<String>> {
        let sql = "SELECT id FROM entity_state WHERE kind = $1 AND id > $2 ORDER BY id LIMIT $3";
        on_conn!(self, c => sqlx::query_scalar(sql)
            .bind(kind)
            .bind(after)
            .bind(limit)
            .fetch_all(&mut *c)
            .await)
    }

    /// Up to `limit` applications counted without their record key.
    pub async fn unkeyed_applications(&mut self, limit: i64) -> R<Vec<ApplicationRow>> {
        let sql = "SELECT application_id, district, industry, platform, submit_day \
                   FROM applications WHERE keyed = 0 ORDER BY application_id LIMIT $1";
        on_conn!(self, c => sqlx::query_as(sql).bind(limit).fetch_all(&mut *c).await)
    }

    /// Marks applications as counted with their record key.
    pub async fn mark_applications_keyed(&mut self, ids: &[&str]) -> R<()> {
        for chunk in ids.chunks(1_000) {
            on_conn!(self, c => {
                let mut q =
                    QueryBuilder::new("UPDATE applications SET keyed = 1 WHERE application_id IN (");
                let mut list = q.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                q.push(")");
                q.build().per_batch().execute(&mut *c).await?;
            });
        }
        Ok(())
    }
}
