//! The API keys: issued, looked up by their secret's hash, listed, revoked.

use futures::future::BoxFuture;
use sqlx::{ColumnIndex, Encode, Executor, Type};
use talent_server::Column;

use super::{MetricsSql, R, SqlStore};

/// A stored key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyRow {
    pub id: String,
    pub kind: String,
    pub display_name: String,
    pub secret_prefix: String,
    /// READ: `EXACT` or `PERTURBED`; OPERATOR: `EXACT`; RELAY, ROSTER:
    /// empty.
    pub protection: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    /// When the key stops working; none: never.
    pub expire_at: Option<i64>,
}

impl KeyRow {
    /// Whether the key works at `now`: neither revoked nor expired.
    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expire_at.is_none_or(|e| now < e)
    }
}

const KEY_COLUMNS: &str =
    "id, kind, display_name, secret_prefix, protection, created_at, revoked_at, expire_at";

/// The API keys.
pub trait KeyStore {
    /// Stores a new key under the hash of its secret.
    fn insert_key<'a>(&'a self, row: &'a KeyRow, hash: &'a str) -> BoxFuture<'a, R<()>>;

    fn key_by_hash<'a>(&'a self, hash: &'a str) -> BoxFuture<'a, R<Option<KeyRow>>>;

    fn key_by_id<'a>(&'a self, id: &'a str) -> BoxFuture<'a, R<Option<KeyRow>>>;

    /// Keys newest first, revoked ones and those expired at `now` only
    /// when `show_revoked`.
    fn list_keys(
        &self,
        show_revoked: bool,
        now: i64,
        limit: i64,
        offset: i64,
    ) -> BoxFuture<'_, R<Vec<KeyRow>>>;

    /// Revokes a key at `now` (a revoked key stays revoked when it was).
    fn revoke_key<'a>(&'a self, id: &'a str, now: i64) -> BoxFuture<'a, R<()>>;

    /// The unrevoked keys a migration turned from kind `from` into another
    /// kind, oldest first.
    fn migrated_keys<'a>(&'a self, from: &'a str) -> BoxFuture<'a, R<Vec<KeyRow>>>;
}

impl<DB: MetricsSql> KeyStore for SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'n> &'n str: ColumnIndex<DB::Row>,
    String: Column<DB>,
    i64: Column<DB>,
    Option<i64>: Column<DB>,
{
    fn insert_key<'a>(&'a self, row: &'a KeyRow, hash: &'a str) -> BoxFuture<'a, R<()>> {
        // `disclosure_threshold` is the suppression threshold of keys
        // issued before perturbation replaced suppression; new keys get 0.
        let sql = "INSERT INTO api_keys (id, kind, display_name, key_hash, secret_prefix, \
                   protection, disclosure_threshold, created_at, expire_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8)";
        Box::pin(async move {
            sqlx::query(sql)
                .bind(row.id.as_str())
                .bind(row.kind.as_str())
                .bind(row.display_name.as_str())
                .bind(hash)
                .bind(row.secret_prefix.as_str())
                .bind(row.protection.as_str())
                .bind(row.created_at)
                .bind(row.expire_at)
                .execute(&self.pool)
                .await?;
            Ok(())
        })
    }

    fn key_by_hash<'a>(&'a self, hash: &'a str) -> BoxFuture<'a, R<Option<KeyRow>>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1");
        Box::pin(async move {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?)
        })
    }

    fn key_by_id<'a>(&'a self, id: &'a str) -> BoxFuture<'a, R<Option<KeyRow>>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1");
        Box::pin(async move {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
        })
    }

    fn list_keys(
        &self,
        show_revoked: bool,
        now: i64,
        limit: i64,
        offset: i64,
    ) -> BoxFuture<'_, R<Vec<KeyRow>>> {
        let filter = if show_revoked {
            "$3 = $3"
        } else {
            "revoked_at IS NULL AND (expire_at IS NULL OR expire_at > $3)"
        };
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE {filter} \
             ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2"
        );
        Box::pin(async move {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(limit)
                .bind(offset)
                .bind(now)
                .fetch_all(&self.pool)
                .await?)
        })
    }

    fn migrated_keys<'a>(&'a self, from: &'a str) -> BoxFuture<'a, R<Vec<KeyRow>>> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE migrated_from = $1 \
             AND revoked_at IS NULL ORDER BY created_at, id"
        );
        Box::pin(async move {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(from)
                .fetch_all(&self.pool)
                .await?)
        })
    }

    fn revoke_key<'a>(&'a self, id: &'a str, now: i64) -> BoxFuture<'a, R<()>> {
        let sql = "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL";
        Box::pin(async move {
            sqlx::query(sql)
                .bind(now)
                .bind(id)
                .execute(&self.pool)
                .await?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{
        Store,
        test_db::{database, execute, migrate},
    };

    /// INGEST keys become RELAY keys, marked so that the service can name
    /// them; other kinds stay as they were.
    #[tokio::test]
    async fn the_migration_turns_ingest_keys_into_relay_keys() {
        let (db, _guard) = database().await;
        migrate(&db, Some(4)).await;
        execute(
            &db,
            "INSERT INTO api_keys (id, kind, display_name, key_hash, secret_prefix, \
             disclosure_threshold, created_at, revoked_at) VALUES \
             ('i', 'INGEST', 'relay', 'h1', 'tlm_', 0, 1, NULL), \
             ('x', 'INGEST', 'old', 'h2', 'tlm_', 0, 2, 5), \
             ('r', 'READ', 'press', 'h3', 'tlm_', 0, 3, NULL)",
        )
        .await;
        migrate(&db, None).await;
        let store = Store::new(db.clone());
        let kind = |id: &'static str| {
            let store = &store;
            async move { store.key_by_id(id).await.unwrap().unwrap().kind }
        };
        assert_eq!(kind("i").await, "RELAY");
        assert_eq!(kind("x").await, "RELAY");
        assert_eq!(kind("r").await, "READ");
        let migrated: Vec<String> = store
            .migrated_keys("INGEST")
            .await
            .unwrap()
            .into_iter()
            .map(|k| k.id)
            .collect();
        assert_eq!(migrated, ["i"], "the revoked one is not named");
        db.close().await;
    }
}
