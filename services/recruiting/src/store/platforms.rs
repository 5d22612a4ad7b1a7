//! Platforms and their API keys.

use sqlx::{ColumnIndex, Executor, QueryBuilder, Row};
use talent_server::{Column, RowsAffected};

use super::{
    ApiKeyRecord, KeyOwner, NewApiKey, PlatformRecord, PlatformStore, RequestId, SqlStore,
    StoreError, StoreResult, backend::RecruitingSql, sql::Tx,
};

impl<DB: RecruitingSql> PlatformStore for SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'n> &'n str: ColumnIndex<DB::Row>,
    String: Column<DB>,
    Option<String>: Column<DB>,
    i64: Column<DB>,
    Option<i64>: Column<DB>,
    Vec<u8>: Column<DB>,
    Option<Vec<u8>>: Column<DB>,
{
    async fn create_platform(
        &self,
        platform: PlatformRecord,
        request_id: Option<RequestId>,
    ) -> StoreResult<PlatformRecord> {
        let mut tx = self.begin().await?;
        DB::lock(&mut *tx, [format!("platform:{}", platform.id)]).await?;
        let seen =
            Self::seen_request(&mut tx, ADMIN, request_id.as_ref(), platform.created_at).await?;
        if let Some(id) = seen {
            return Self::load_platform(&mut tx, &id).await?.ok_or_else(|| {
                StoreError::Internal(anyhow::anyhow!("idempotency row names a missing platform"))
            });
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
        Self::remember_request(
            &mut tx,
            ADMIN,
            request_id,
            &platform.id,
            platform.created_at,
        )
        .await?;
        tx.commit().await?;
        Ok(platform)
    }

    async fn list_platforms(
        &self,
        after: Option<String>,
        limit: i64,
        show_disabled: bool,
    ) -> StoreResult<Vec<PlatformRecord>> {
        let mut builder: QueryBuilder<DB> = QueryBuilder::new(
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
        Ok(rows
            .iter()
            .map(Self::platform_from_row)
            .collect::<Result<_, _>>()?)
    }

    async fn disable_platform(&self, id: String, now: i64) -> StoreResult<PlatformRecord> {
        let mut tx = self.begin().await?;
        DB::lock(&mut *tx, [format!("platform:{id}")]).await?;
        sqlx::query("UPDATE platforms SET disabled_at = $2 WHERE id = $1 AND disabled_at IS NULL")
            .bind(id.clone())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let platform = Self::load_platform(&mut tx, &id)
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
        DB::lock(&mut *tx, [format!("platform:{}", key.platform_id)]).await?;
        let platform = Self::load_platform(&mut tx, &key.platform_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no platform {:?}", key.platform_id)))?;
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
        .map(Self::key_from_row)
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
            "INSERT INTO api_keys (id, platform_id, key_hash, secret_prefix, created_at, \
             expire_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(key.id.clone())
        .bind(key.platform_id.clone())
        .bind(key.key_hash)
        .bind(key.secret_prefix.clone())
        .bind(now)
        .bind(key.expire_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((
            ApiKeyRecord {
                id: key.id,
                platform_id: key.platform_id,
                secret_prefix: key.secret_prefix,
                created_at: now,
                expire_at: key.expire_at,
            },
            expiring,
        ))
    }

    async fn authenticate(&self, key_hash: Vec<u8>, now: i64) -> StoreResult<KeyOwner> {
        let row = sqlx::query(
            "SELECT p.id, p.disabled_at, k.id AS key_id, k.expire_at \
             FROM api_keys k JOIN platforms p ON p.id = k.platform_id \
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
                        key: row.try_get("key_id")?,
                        expire_at: row.try_get("expire_at")?,
                    }
                }
            }
        })
    }
}

/// The scope of the administrators' request ids.
const ADMIN: &str = "admin";

impl<DB: RecruitingSql> SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'n> &'n str: ColumnIndex<DB::Row>,
    String: Column<DB>,
    Option<String>: Column<DB>,
    i64: Column<DB>,
    Option<i64>: Column<DB>,
    Vec<u8>: Column<DB>,
    Option<Vec<u8>>: Column<DB>,
{
    async fn load_platform(tx: &mut Tx<DB>, id: &str) -> StoreResult<Option<PlatformRecord>> {
        let row = sqlx::query(
            "SELECT id, display_name, created_at, disabled_at FROM platforms WHERE id = $1",
        )
        .bind(id.to_owned())
        .fetch_optional(&mut **tx)
        .await?;
        Ok(row.as_ref().map(Self::platform_from_row).transpose()?)
    }

    fn platform_from_row(row: &DB::Row) -> Result<PlatformRecord, sqlx::Error> {
        Ok(PlatformRecord {
            id: row.try_get("id")?,
            display_name: row.try_get("display_name")?,
            created_at: row.try_get("created_at")?,
            disabled_at: row.try_get("disabled_at")?,
        })
    }

    fn key_from_row(row: &DB::Row) -> Result<ApiKeyRecord, sqlx::Error> {
        Ok(ApiKeyRecord {
            id: row.try_get("id")?,
            platform_id: row.try_get("platform_id")?,
            secret_prefix: row.try_get("secret_prefix")?,
            created_at: row.try_get("created_at")?,
            expire_at: row.try_get("expire_at")?,
        })
    }
}
