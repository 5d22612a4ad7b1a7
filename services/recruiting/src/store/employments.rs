//! Employments: hires, one or a batch in one transaction, and separations.

use std::collections::HashSet;

use sqlx::{AssertSqlSafe, ColumnIndex, Executor, QueryBuilder, Row};
use talent_server::{Column, FieldViolations, PerBatch};

use super::{
    Day, EmploymentFilter, EmploymentRecord, EmploymentStore, HireInput, HirePerson, RequestId,
    SqlStore, StoreError, StoreResult,
    backend::RecruitingSql,
    day_text, new_id,
    outbox::write_outbox,
    parse_day, per_item,
    sql::{Tx, invalid},
};
use crate::{
    domain::employments::hire_place,
    events::{self, OutboxEvent},
};

/// The columns of an employment as `employment_from_row` reads them.
pub(super) const EMPLOYMENT_COLUMNS: &str = "platform_id, employment_id, resume_id, person_key, \
     employer_code, district, industry, start_date, end_date, posting_id, application_id, \
     separation_revision, created_at, updated_at";

impl<DB: RecruitingSql> EmploymentStore for SqlStore<DB>
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
            .unwrap_or_else(|| {
                Err(StoreError::Internal(anyhow::anyhow!(
                    "no result for the hire"
                )))
            })
    }

    async fn record_hires(
        &self,
        platform: String,
        hires: Vec<(HireInput, Option<RequestId>)>,
        now: i64,
    ) -> StoreResult<Vec<StoreResult<EmploymentRecord>>> {
        let mut tx = self.begin().await?;
        DB::lock(&mut *tx, [format!("platform:{platform}")]).await?;
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
            match Self::seen_request(&mut tx, &platform, Some(request), now).await {
                Ok(None) => {}
                Ok(Some(id)) => {
                    let id = id.strip_prefix("employment:").unwrap_or(&id).to_owned();
                    results[i] = Some(
                        Self::load_employment(&mut tx, &platform, &id)
                            .await?
                            .ok_or_else(|| {
                                StoreError::Internal(anyhow::anyhow!(
                                    "idempotency row names a missing employment"
                                ))
                            }),
                    );
                }
                Err(StoreError::RequestIdReused) => {
                    results[i] = Some(Err(StoreError::RequestIdReused))
                }
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
        let resumes = Self::load_resumes(&mut tx, &self.cipher, &platform, &resume_ids).await?;
        let employers = Self::load_employers(&mut tx, &codes).await?;
        let postings = Self::load_postings(&mut tx, &platform, &posting_ids).await?;

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
                    None => v.add(
                        "posting",
                        "no posting of the calling platform has this name",
                    ),
                    Some(p) if p.fields.employer_code != hire.employer_code => {
                        v.add("employer_credit_code", "must equal the posting's employer")
                    }
                    Some(_) => {}
                }
                found
            });
            let (Some(person_key), Some(employer), true) = (person_key, employer, v.is_empty())
            else {
                results[i] = Some(Err(StoreError::Invalid(v)));
                continue;
            };
            let (district, industry) = hire_place(
                hire.district,
                hire.industry,
                posting.map(|p| &p.fields),
                Some(employer),
            );
            let record = EmploymentRecord {
                platform_id: platform.clone(),
                employment_id: new_id(),
                resume_id,
                person_key,
                employer_code: hire.employer_code,
                district,
                industry,
                start: hire.start,
                end: None,
                posting_id: hire.posting_id,
                application_id: None,
                separation_revision: 0,
                created_at: now,
                updated_at: now,
            };
            let opening = posting.map(|p| p.opening_id.clone()).unwrap_or_default();
            outbox.push(OutboxEvent::new(
                &platform,
                now,
                events::hired(&record, &opening),
            ));
            if let Some(request) = request_id {
                remember.push((request, format!("employment:{}", record.employment_id)));
            }
            records.push((i, record));
        }

        Self::insert_employments(&mut tx, records.iter().map(|(_, r)| r)).await?;
        for (request, resource) in remember {
            Self::remember_request(&mut tx, &platform, Some(request), &resource, now).await?;
        }
        write_outbox(&mut tx, outbox, now).await?;
        tx.commit().await?;
        for (i, record) in records {
            results[i] = Some(Ok(record));
        }
        Ok(results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(StoreError::Internal(anyhow::anyhow!(
                        "a hire without result"
                    )))
                })
            })
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
        DB::lock(&mut *tx, [format!("platform:{platform}")]).await?;
        let record =
            Self::record_separation_in(&mut tx, &platform, employment_id, end, now).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn record_separations(
        &self,
        platform: String,
        separations: Vec<(String, Day)>,
        now: i64,
    ) -> StoreResult<Vec<StoreResult<EmploymentRecord>>> {
        let mut tx = self.begin().await?;
        DB::lock(&mut *tx, [format!("platform:{platform}")]).await?;
        let mut results = Vec::with_capacity(separations.len());
        for (employment_id, end) in separations {
            let result =
                Self::record_separation_in(&mut tx, &platform, employment_id, end, now).await;
            results.push(per_item(result)?);
        }
        tx.commit().await?;
        Ok(results)
    }

    async fn list_employments(
        &self,
        platform: String,
        filter: EmploymentFilter,
        after: Option<(String, String)>,
        limit: i64,
    ) -> StoreResult<Vec<EmploymentRecord>> {
        let mut builder: QueryBuilder<DB> = QueryBuilder::new(format!(
            "SELECT {EMPLOYMENT_COLUMNS} FROM employments WHERE platform_id = "
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
        rows.iter().map(Self::employment_from_row).collect()
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
    /// `record_separation` inside `tx`, which holds the platform's lock.
    async fn record_separation_in(
        tx: &mut Tx<DB>,
        platform: &str,
        employment_id: String,
        end: Day,
        now: i64,
    ) -> StoreResult<EmploymentRecord> {
        let mut record = Self::load_employment(tx, platform, &employment_id)
            .await?
            .ok_or_else(|| {
                StoreError::NotFound(format!(
                    "platforms/{platform}/employments/{employment_id} not found"
                ))
            })?;
        if end <= record.start {
            return Err(invalid(
                "end_date",
                "must be after the employment's start_date",
            ));
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
        .bind(platform.to_owned())
        .bind(employment_id)
        .bind(day_text(end))
        .bind(record.separation_revision)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        let event = OutboxEvent::new(platform, now, events::separated(&record));
        write_outbox(tx, vec![event], now).await?;
        Ok(record)
    }

    async fn load_employment(
        tx: &mut Tx<DB>,
        platform: &str,
        employment_id: &str,
    ) -> StoreResult<Option<EmploymentRecord>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {EMPLOYMENT_COLUMNS} FROM employments \
             WHERE platform_id = $1 AND employment_id = $2"
        )))
        .bind(platform.to_owned())
        .bind(employment_id.to_owned())
        .fetch_optional(&mut **tx)
        .await?;
        row.as_ref().map(Self::employment_from_row).transpose()
    }

    pub(super) async fn insert_employment(
        tx: &mut Tx<DB>,
        record: &EmploymentRecord,
    ) -> StoreResult<()> {
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO employments ({EMPLOYMENT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, $10, 0, $11, $11)"
        )))
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
        tx: &mut Tx<DB>,
        records: impl Iterator<Item = &'r EmploymentRecord>,
    ) -> StoreResult<()> {
        let records: Vec<&EmploymentRecord> = records.collect();
        for chunk in records.chunks(500) {
            let mut builder: QueryBuilder<DB> =
                QueryBuilder::new(format!("INSERT INTO employments ({EMPLOYMENT_COLUMNS}) "));
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

    pub(super) fn employment_from_row(row: &DB::Row) -> StoreResult<EmploymentRecord> {
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
}
