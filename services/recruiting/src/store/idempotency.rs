//! Request ids (AIP-155): a create call that carries one is answered, when
//! repeated with the same request, with what the first call created, and
//! refused when the id comes with another request. Ids are kept for 7 days
//! per scope (a platform, or `admin`).

use sqlx::{ColumnIndex, Executor, Row};
use talent_server::Column;

use super::{RequestId, SqlStore, StoreError, StoreResult, backend::RecruitingSql, sql::Tx};

/// How long a request id is remembered: 7 days.
const REQUEST_ID_RETENTION_MICROS: i64 = 7 * crate::validate::DAY_MICROS;

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
    /// The resource a request id created before: `Ok(Some)` for a replay
    /// of the same request, `RequestIdReused` for another. Locks the id
    /// until the transaction ends (PostgreSQL).
    pub(super) async fn seen_request(
        tx: &mut Tx<DB>,
        scope: &str,
        request: Option<&RequestId>,
        now: i64,
    ) -> StoreResult<Option<String>> {
        let Some(request) = request else {
            return Ok(None);
        };
        DB::lock(&mut **tx, [format!("request:{scope}:{}", request.id)]).await?;
        Self::forget_expired_request(tx, scope, &request.id, now).await?;
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

    /// Request ids are kept for 7 days; an older one is forgotten, so its
    /// id may be used again.
    async fn forget_expired_request(
        tx: &mut Tx<DB>,
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

    /// Records that `request` created `resource`.
    pub(super) async fn remember_request(
        tx: &mut Tx<DB>,
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
}
