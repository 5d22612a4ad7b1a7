//! Applications and their states, and what a person applied for and was
//! hired as.

use std::collections::{HashMap, HashSet};

use sqlx::{AssertSqlSafe, ColumnIndex, Executor, QueryBuilder, Row};
use talent_server::{Column, FieldViolations, PerBatch};

use super::{
    ApplicationFilter, ApplicationInput, ApplicationRecord, ApplicationStore, EmploymentRecord,
    PostingRecord, RequestId, ResumeRecord, SqlStore, StatusChange, StoreError, StoreResult,
    Transition, app_state,
    backend::RecruitingSql,
    employments::EMPLOYMENT_COLUMNS,
    new_id,
    outbox::write_outbox,
    per_item,
    sql::{Tx, int, invalid, json},
};
use crate::{
    domain::{
        applications::{Refused, transition},
        employments::hire_place,
        postings::open_at,
    },
    events::{self, OutboxEvent},
};

/// What the applications of one call refer to, read once for the call
/// (a statement per kind, not per item) and kept up to date as the items
/// are applied in order, so an item sees what the items before it did.
#[derive(Default)]
struct Referenced {
    applications: HashMap<String, ApplicationRecord>,
    resumes: HashMap<String, ResumeRecord>,
    postings: HashMap<String, PostingRecord>,
    /// Whether a fair of the platform has this id (read when first asked).
    fairs: HashMap<String, bool>,
}

/// The columns of an application as `application_from_row` reads them.
const APPLICATION_COLUMNS: &str = "platform_id, application_id, resume_id, posting_id, fair_id, \
     state, history, submit_at, employment_id, created_at, updated_at";

impl<DB: RecruitingSql> ApplicationStore for SqlStore<DB>
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
    async fn create_application(
        &self,
        platform: String,
        input: ApplicationInput,
        request_id: Option<RequestId>,
        now: i64,
    ) -> StoreResult<ApplicationRecord> {
        let mut results = self
            .create_applications(platform, vec![(input, request_id)], now)
            .await?;
        results.pop().unwrap_or_else(|| {
            Err(StoreError::Internal(anyhow::anyhow!(
                "no result for the application"
            )))
        })
    }

    async fn create_applications(
        &self,
        platform: String,
        inputs: Vec<(ApplicationInput, Option<RequestId>)>,
        now: i64,
    ) -> StoreResult<Vec<StoreResult<ApplicationRecord>>> {
        let mut tx = self.begin().await?;
        DB::lock(&mut *tx, [format!("platform:{platform}")]).await?;
        let mut refs = self
            .referenced_by_inputs(&mut tx, &platform, inputs.iter().map(|(input, _)| input))
            .await?;
        let mut results = Vec::with_capacity(inputs.len());
        for (input, request_id) in inputs {
            let result = self
                .create_application_in(&mut tx, &platform, input, request_id, now, &mut refs)
                .await;
            results.push(per_item(result)?);
        }
        tx.commit().await?;
        Ok(results)
    }

    async fn update_application_status(
        &self,
        platform: String,
        application_id: String,
        change: StatusChange,
        now: i64,
    ) -> StoreResult<ApplicationRecord> {
        let mut results = self
            .update_application_statuses(platform, vec![(application_id, change)], now)
            .await?;
        results.pop().unwrap_or_else(|| {
            Err(StoreError::Internal(anyhow::anyhow!(
                "no result for the application"
            )))
        })
    }

    async fn update_application_statuses(
        &self,
        platform: String,
        changes: Vec<(String, StatusChange)>,
        now: i64,
    ) -> StoreResult<Vec<StoreResult<ApplicationRecord>>> {
        let mut tx = self.begin().await?;
        DB::lock(&mut *tx, [format!("platform:{platform}")]).await?;
        let mut refs = self
            .referenced_by_changes(&mut tx, &platform, &changes)
            .await?;
        let mut results = Vec::with_capacity(changes.len());
        for (application_id, change) in changes {
            let result = self
                .update_application_status_in(
                    &mut tx,
                    &platform,
                    application_id,
                    change,
                    now,
                    &mut refs,
                )
                .await;
            results.push(per_item(result)?);
        }
        tx.commit().await?;
        Ok(results)
    }

    async fn get_application(
        &self,
        platform: String,
        application_id: String,
    ) -> StoreResult<Option<ApplicationRecord>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {APPLICATION_COLUMNS} FROM applications \
             WHERE platform_id = $1 AND application_id = $2"
        )))
        .bind(platform)
        .bind(application_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::application_from_row).transpose()
    }

    async fn list_applications(
        &self,
        platform: String,
        filter: ApplicationFilter,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> StoreResult<Vec<ApplicationRecord>> {
        let mut builder: QueryBuilder<DB> = QueryBuilder::new(format!(
            "SELECT {APPLICATION_COLUMNS} FROM applications WHERE platform_id = "
        ));
        builder.push_bind(platform);
        if let Some(posting) = filter.posting_id {
            builder.push(" AND posting_id = ");
            builder.push_bind(posting);
        }
        if let Some(resume) = filter.resume_id {
            builder.push(" AND resume_id = ");
            builder.push_bind(resume);
        }
        if let Some(state) = filter.state {
            builder.push(" AND state = ");
            builder.push_bind(i64::from(state));
        }
        if let Some((created, id)) = after {
            builder.push(" AND (created_at > ");
            builder.push_bind(created);
            builder.push(" OR (created_at = ");
            builder.push_bind(created);
            builder.push(" AND application_id > ");
            builder.push_bind(id);
            builder.push("))");
        }
        builder.push(" ORDER BY created_at, application_id LIMIT ");
        builder.push_bind(limit);
        let rows = builder.build().per_batch().fetch_all(&self.pool).await?;
        rows.iter().map(Self::application_from_row).collect()
    }

    async fn person_records(
        &self,
        platform: Option<String>,
        person_key: String,
    ) -> StoreResult<(Vec<ApplicationRecord>, Vec<EmploymentRecord>)> {
        let mut builder: QueryBuilder<DB> = QueryBuilder::new(
            "SELECT a.platform_id, a.application_id, a.resume_id, a.posting_id, a.fair_id, \
             a.state, a.history, a.submit_at, a.employment_id, a.created_at, a.updated_at \
             FROM applications a JOIN resumes r \
             ON r.platform_id = a.platform_id AND r.external_id = a.resume_id \
             WHERE r.person_key = ",
        );
        builder.push_bind(person_key.clone());
        if let Some(platform) = &platform {
            builder.push(" AND a.platform_id = ");
            builder.push_bind(platform.clone());
        }
        builder.push(" ORDER BY a.platform_id, a.created_at, a.application_id");
        let applications = builder
            .build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(Self::application_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        let mut builder: QueryBuilder<DB> = QueryBuilder::new(format!(
            "SELECT {EMPLOYMENT_COLUMNS} FROM employments WHERE person_key = "
        ));
        builder.push_bind(person_key);
        if let Some(platform) = platform {
            builder.push(" AND platform_id = ");
            builder.push_bind(platform);
        }
        builder.push(" ORDER BY platform_id, start_date, employment_id");
        let employments = builder
            .build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(Self::employment_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok((applications, employments))
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
    /// `create_application` inside `tx`, which holds the platform's lock.
    async fn create_application_in(
        &self,
        tx: &mut Tx<DB>,
        platform: &str,
        input: ApplicationInput,
        request_id: Option<RequestId>,
        now: i64,
        refs: &mut Referenced,
    ) -> StoreResult<ApplicationRecord> {
        if let Some(id) = Self::seen_request(tx, platform, request_id.as_ref(), now).await? {
            let id = id.strip_prefix("application:").unwrap_or(&id).to_owned();
            return Self::load_application(tx, platform, &id)
                .await?
                .ok_or_else(|| {
                    StoreError::Internal(anyhow::anyhow!(
                        "idempotency row names a missing application"
                    ))
                });
        }
        if refs.applications.contains_key(&input.application_id) {
            return Err(StoreError::AlreadyExists(format!(
                "platforms/{platform}/applications/{} already exists",
                input.application_id
            )));
        }
        let mut v = FieldViolations::new();
        if !refs.resumes.contains_key(&input.resume_id) {
            v.add(
                "application.resume",
                "no résumé of the calling platform has this name",
            );
        }
        let posting = refs.postings.get(&input.posting_id).cloned();
        if posting.is_none() {
            v.add(
                "application.posting",
                "no posting of the calling platform has this name",
            );
        }
        if let Some(fair) = &input.fair_id
            && !Self::fair_exists(tx, platform, fair, refs).await?
        {
            v.add(
                "application.fair",
                "no fair of the calling platform has this name",
            );
        }
        let Some(posting) = posting.filter(|_| v.is_empty()) else {
            return Err(StoreError::Invalid(v));
        };
        let submit_at = input.submit_at.unwrap_or(now);
        if !open_at(&posting, submit_at) {
            return Err(StoreError::FailedPrecondition(
                "the posting was not OPEN at the application's submit_time".into(),
            ));
        }
        let record = ApplicationRecord {
            platform_id: platform.to_owned(),
            application_id: input.application_id,
            resume_id: input.resume_id,
            posting_id: input.posting_id,
            fair_id: input.fair_id.or_else(|| posting.fields.fair_id.clone()),
            state: app_state::SUBMITTED,
            history: vec![(0, app_state::SUBMITTED, submit_at, String::new())],
            submit_at,
            employment_id: None,
            created_at: now,
            updated_at: now,
        };
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO applications ({APPLICATION_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, $9)"
        )))
        .bind(record.platform_id.clone())
        .bind(record.application_id.clone())
        .bind(record.resume_id.clone())
        .bind(record.posting_id.clone())
        .bind(record.fair_id.clone())
        .bind(i64::from(record.state))
        .bind(json(&record.history))
        .bind(record.submit_at)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Self::remember_request(
            tx,
            platform,
            request_id,
            &format!("application:{}", record.application_id),
            now,
        )
        .await?;
        let event = OutboxEvent::new(
            platform,
            now,
            events::application_submitted(&record, &posting),
        );
        write_outbox(tx, vec![event], now).await?;
        refs.applications
            .insert(record.application_id.clone(), record.clone());
        Ok(record)
    }

    /// `update_application_status` inside `tx`, which holds the platform's
    /// lock.
    async fn update_application_status_in(
        &self,
        tx: &mut Tx<DB>,
        platform: &str,
        application_id: String,
        change: StatusChange,
        now: i64,
        refs: &mut Referenced,
    ) -> StoreResult<ApplicationRecord> {
        let mut record = refs
            .applications
            .get(&application_id)
            .cloned()
            .ok_or_else(|| {
                StoreError::NotFound(format!(
                    "platforms/{platform}/applications/{application_id} not found"
                ))
            })?;
        let at = change.at.unwrap_or(now);
        let moved = match transition(&record, change.to, at, change.reason, now) {
            Ok(moved) => moved,
            Err(Refused::NotAllowed(m)) => return Err(StoreError::FailedPrecondition(m)),
            Err(Refused::Invalid(field, description)) => return Err(invalid(field, description)),
        };
        let mut events = Vec::new();
        if change.to == app_state::HIRED {
            let Some(hire) = change.hire else {
                return Err(invalid("hire", "is required when state is HIRED"));
            };
            let resume = refs.resumes.get(&record.resume_id).ok_or_else(|| {
                StoreError::Internal(anyhow::anyhow!("application without résumé"))
            })?;
            let posting = refs.postings.get(&record.posting_id).ok_or_else(|| {
                StoreError::Internal(anyhow::anyhow!("application without posting"))
            })?;
            let (district, industry) =
                hire_place(hire.district, hire.industry, Some(&posting.fields), None);
            let employment = EmploymentRecord {
                platform_id: platform.to_owned(),
                employment_id: new_id(),
                resume_id: Some(record.resume_id.clone()),
                person_key: resume.person_key.clone(),
                employer_code: posting.fields.employer_code.clone(),
                district,
                industry,
                start: hire.start,
                end: None,
                posting_id: Some(record.posting_id.clone()),
                application_id: Some(record.application_id.clone()),
                separation_revision: 0,
                created_at: now,
                updated_at: now,
            };
            Self::insert_employment(tx, &employment).await?;
            events.push(OutboxEvent::new(
                platform,
                now,
                events::hired(&employment, &posting.opening_id),
            ));
            record.employment_id = Some(employment.employment_id);
        }
        let record = ApplicationRecord {
            employment_id: record.employment_id,
            ..moved
        };
        sqlx::query(
            "UPDATE applications SET state = $3, history = $4, employment_id = $5, updated_at = $6 \
             WHERE platform_id = $1 AND application_id = $2",
        )
        .bind(platform.to_owned())
        .bind(application_id)
        .bind(i64::from(record.state))
        .bind(json(&record.history))
        .bind(record.employment_id.clone())
        .bind(now)
        .execute(&mut **tx)
        .await?;
        write_outbox(tx, events, now).await?;
        refs.applications
            .insert(record.application_id.clone(), record.clone());
        Ok(record)
    }

    /// What creating `inputs` refers to: the applications of those ids
    /// that exist, their résumés and postings.
    async fn referenced_by_inputs<'a>(
        &self,
        tx: &mut Tx<DB>,
        platform: &str,
        inputs: impl Iterator<Item = &'a ApplicationInput>,
    ) -> StoreResult<Referenced> {
        let (mut ids, mut resumes, mut postings) = (HashSet::new(), HashSet::new(), HashSet::new());
        for input in inputs {
            ids.insert(input.application_id.clone());
            resumes.insert(input.resume_id.clone());
            postings.insert(input.posting_id.clone());
        }
        Ok(Referenced {
            applications: Self::load_applications(tx, platform, &ids).await?,
            resumes: Self::load_resumes(tx, &self.cipher, platform, &resumes).await?,
            postings: Self::load_postings(tx, platform, &postings).await?,
            fairs: HashMap::new(),
        })
    }

    /// What moving the applications of `changes` refers to: the
    /// applications, and for hires their résumés and postings.
    async fn referenced_by_changes(
        &self,
        tx: &mut Tx<DB>,
        platform: &str,
        changes: &[(String, StatusChange)],
    ) -> StoreResult<Referenced> {
        let ids: HashSet<String> = changes.iter().map(|(id, _)| id.clone()).collect();
        let applications = Self::load_applications(tx, platform, &ids).await?;
        let (mut resumes, mut postings) = (HashSet::new(), HashSet::new());
        for (id, change) in changes {
            if let (app_state::HIRED, Some(record)) = (change.to, applications.get(id)) {
                resumes.insert(record.resume_id.clone());
                postings.insert(record.posting_id.clone());
            }
        }
        Ok(Referenced {
            applications,
            resumes: Self::load_resumes(tx, &self.cipher, platform, &resumes).await?,
            postings: Self::load_postings(tx, platform, &postings).await?,
            fairs: HashMap::new(),
        })
    }

    /// Whether the platform has a fair `fair_id`, read once a call.
    async fn fair_exists(
        tx: &mut Tx<DB>,
        platform: &str,
        fair_id: &str,
        refs: &mut Referenced,
    ) -> StoreResult<bool> {
        if let Some(known) = refs.fairs.get(fair_id) {
            return Ok(*known);
        }
        let exists = Self::load_fair(tx, platform, fair_id).await?.is_some();
        refs.fairs.insert(fair_id.to_owned(), exists);
        Ok(exists)
    }

    /// The applications of the platform with these ids.
    async fn load_applications(
        tx: &mut Tx<DB>,
        platform: &str,
        ids: &HashSet<String>,
    ) -> StoreResult<HashMap<String, ApplicationRecord>> {
        let mut found = HashMap::new();
        if ids.is_empty() {
            return Ok(found);
        }
        let mut builder: QueryBuilder<DB> = QueryBuilder::new(format!(
            "SELECT {APPLICATION_COLUMNS} FROM applications WHERE platform_id = "
        ));
        builder.push_bind(platform.to_owned());
        builder.push(" AND application_id IN (");
        let mut list = builder.separated(", ");
        for id in ids {
            list.push_bind(id.clone());
        }
        builder.push(")");
        for row in builder.build().fetch_all(&mut **tx).await? {
            let record = Self::application_from_row(&row)?;
            found.insert(record.application_id.clone(), record);
        }
        Ok(found)
    }

    async fn load_application(
        tx: &mut Tx<DB>,
        platform: &str,
        application_id: &str,
    ) -> StoreResult<Option<ApplicationRecord>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {APPLICATION_COLUMNS} FROM applications \
             WHERE platform_id = $1 AND application_id = $2"
        )))
        .bind(platform.to_owned())
        .bind(application_id.to_owned())
        .fetch_optional(&mut **tx)
        .await?;
        row.as_ref().map(Self::application_from_row).transpose()
    }

    fn application_from_row(row: &DB::Row) -> StoreResult<ApplicationRecord> {
        let history: String = row.try_get("history")?;
        let history: Vec<Transition> = serde_json::from_str(&history)
            .map_err(|e| anyhow::anyhow!("application history: {e}"))?;
        Ok(ApplicationRecord {
            platform_id: row.try_get("platform_id")?,
            application_id: row.try_get("application_id")?,
            resume_id: row.try_get("resume_id")?,
            posting_id: row.try_get("posting_id")?,
            fair_id: row.try_get("fair_id")?,
            state: int(row.try_get("state")?),
            history,
            submit_at: row.try_get("submit_at")?,
            employment_id: row.try_get("employment_id")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}
