//! Job fairs and the employers registered in them.

use std::collections::HashSet;

use sqlx::{ColumnIndex, Executor, QueryBuilder, Row};
use talent_server::{Column, RowsAffected};

use super::{
    EmployerRecord, FairInput, FairRecord, FairStore, RequestId, SqlStore, StoreError, StoreResult,
    backend::RecruitingSql,
    fair_name,
    outbox::write_outbox,
    per_item,
    sql::{Tx, int, invalid},
};
use crate::events::{self, OutboxEvent};

/// A fair with its count of registered employers, for one platform (bind
/// the platform next).
const FAIR_SELECT: &str = "SELECT f.platform_id, f.fair_id, f.display_name, f.format, \
     f.start_at, f.end_at, f.district, f.created_at, \
     (SELECT COUNT(*) FROM fair_participations p \
       WHERE p.platform_id = f.platform_id AND p.fair_id = f.fair_id) AS participation_count \
     FROM fairs f WHERE f.platform_id = ";

impl<DB: RecruitingSql> FairStore for SqlStore<DB>
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
    async fn create_fair(
        &self,
        platform: String,
        fair: FairInput,
        request_id: Option<RequestId>,
        now: i64,
    ) -> StoreResult<FairRecord> {
        let mut tx = self.begin().await?;
        DB::lock(&mut *tx, [format!("platform:{platform}")]).await?;
        let record = Self::create_fair_in(&mut tx, &platform, fair, request_id, now).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn create_fairs(
        &self,
        platform: String,
        fairs: Vec<(FairInput, Option<RequestId>)>,
        now: i64,
    ) -> StoreResult<Vec<StoreResult<FairRecord>>> {
        let mut tx = self.begin().await?;
        DB::lock(&mut *tx, [format!("platform:{platform}")]).await?;
        let mut results = Vec::with_capacity(fairs.len());
        for (fair, request_id) in fairs {
            let result = Self::create_fair_in(&mut tx, &platform, fair, request_id, now).await;
            results.push(per_item(result)?);
        }
        tx.commit().await?;
        Ok(results)
    }

    async fn register_participation(
        &self,
        platform: String,
        fair_id: String,
        employer_code: String,
        now: i64,
    ) -> StoreResult<(i64, bool)> {
        let mut tx = self.begin().await?;
        DB::lock(&mut *tx, [format!("platform:{platform}")]).await?;
        let registered =
            Self::register_participation_in(&mut tx, &platform, &fair_id, employer_code, now)
                .await?;
        tx.commit().await?;
        Ok(registered)
    }

    async fn register_participations(
        &self,
        platform: String,
        participations: Vec<(String, String)>,
        now: i64,
    ) -> StoreResult<Vec<StoreResult<(String, i64, bool)>>> {
        let mut tx = self.begin().await?;
        DB::lock(&mut *tx, [format!("platform:{platform}")]).await?;
        let mut results = Vec::with_capacity(participations.len());
        for (fair_id, employer_code) in participations {
            let result = Self::register_participation_in(
                &mut tx,
                &platform,
                &fair_id,
                employer_code.clone(),
                now,
            )
            .await
            .map(|(at, created)| (employer_code, at, created));
            results.push(per_item(result)?);
        }
        tx.commit().await?;
        Ok(results)
    }

    async fn get_fair(&self, platform: String, fair_id: String) -> StoreResult<Option<FairRecord>> {
        let mut builder: QueryBuilder<DB> = QueryBuilder::new(FAIR_SELECT);
        builder.push_bind(platform);
        builder.push(" AND f.fair_id = ");
        builder.push_bind(fair_id);
        let row = builder.build().fetch_optional(&self.pool).await?;
        row.as_ref().map(Self::fair_from_row).transpose()
    }

    async fn list_fairs(
        &self,
        platform: String,
        from: Option<i64>,
        before: Option<i64>,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> StoreResult<Vec<FairRecord>> {
        let mut builder: QueryBuilder<DB> = QueryBuilder::new(FAIR_SELECT);
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
        rows.iter().map(Self::fair_from_row).collect()
    }
}

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
    /// `create_fair` inside `tx`, which holds the platform's lock.
    async fn create_fair_in(
        tx: &mut Tx<DB>,
        platform: &str,
        fair: FairInput,
        request_id: Option<RequestId>,
        now: i64,
    ) -> StoreResult<FairRecord> {
        if let Some(id) = Self::seen_request(tx, platform, request_id.as_ref(), now).await? {
            let id = id.strip_prefix("fair:").unwrap_or(&id).to_owned();
            return Self::load_fair(tx, platform, &id).await?.ok_or_else(|| {
                StoreError::Internal(anyhow::anyhow!("idempotency row names a missing fair"))
            });
        }
        let inserted = sqlx::query(
            "INSERT INTO fairs (platform_id, fair_id, display_name, format, start_at, end_at, \
             district, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .bind(platform.to_owned())
        .bind(fair.fair_id.clone())
        .bind(fair.display_name.clone())
        .bind(i64::from(fair.format))
        .bind(fair.start_at)
        .bind(fair.end_at)
        .bind(fair.district.clone())
        .bind(now)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Err(StoreError::AlreadyExists(format!(
                "{} already exists",
                fair_name(platform, &fair.fair_id)
            )));
        }
        Self::remember_request(
            tx,
            platform,
            request_id,
            &format!("fair:{}", fair.fair_id),
            now,
        )
        .await?;
        let record = FairRecord {
            platform_id: platform.to_owned(),
            fair_id: fair.fair_id,
            display_name: fair.display_name,
            format: fair.format,
            start_at: fair.start_at,
            end_at: fair.end_at,
            district: fair.district,
            created_at: now,
            participation_count: 0,
        };
        let event = OutboxEvent::new(platform, now, events::fair_held(&record));
        write_outbox(tx, vec![event], now).await?;
        Ok(record)
    }

    /// `register_participation` inside `tx`, which holds the platform's
    /// lock.
    async fn register_participation_in(
        tx: &mut Tx<DB>,
        platform: &str,
        fair_id: &str,
        employer_code: String,
        now: i64,
    ) -> StoreResult<(i64, bool)> {
        let fair = Self::load_fair(tx, platform, fair_id)
            .await?
            .ok_or_else(|| {
                StoreError::NotFound(format!("{} not found", fair_name(platform, fair_id)))
            })?;
        let codes = HashSet::from([employer_code.clone()]);
        let employer = Self::load_employers(tx, &codes)
            .await?
            .remove(&employer_code)
            .ok_or_else(|| {
                invalid(
                    "participation.employer_credit_code",
                    "no employer has this credit code; upsert it with EmployerService first",
                )
            })?;
        let created = sqlx::query(
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
        let mut events = Vec::new();
        if created {
            events.push(participation_event(
                platform,
                fair_id,
                fair.start_at,
                &employer,
                now,
            ));
        }
        let registered: i64 = sqlx::query(
            "SELECT created_at FROM fair_participations \
             WHERE platform_id = $1 AND fair_id = $2 AND credit_code = $3",
        )
        .bind(platform.to_owned())
        .bind(fair_id.to_owned())
        .bind(employer_code.clone())
        .fetch_one(&mut **tx)
        .await?
        .try_get("created_at")?;
        write_outbox(tx, events, now).await?;
        Ok((registered, created))
    }

    pub(super) async fn load_fair(
        tx: &mut Tx<DB>,
        platform: &str,
        fair_id: &str,
    ) -> StoreResult<Option<FairRecord>> {
        let mut builder: QueryBuilder<DB> = QueryBuilder::new(FAIR_SELECT);
        builder.push_bind(platform.to_owned());
        builder.push(" AND f.fair_id = ");
        builder.push_bind(fair_id.to_owned());
        let row = builder.build().fetch_optional(&mut **tx).await?;
        row.as_ref().map(Self::fair_from_row).transpose()
    }

    fn fair_from_row(row: &DB::Row) -> StoreResult<FairRecord> {
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
}

/// `FairParticipation`: `employer` registered in the fair at `now`.
pub(super) fn participation_event(
    platform: &str,
    fair_id: &str,
    fair_start_at: i64,
    employer: &EmployerRecord,
    now: i64,
) -> OutboxEvent {
    OutboxEvent::new(
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
    )
}
