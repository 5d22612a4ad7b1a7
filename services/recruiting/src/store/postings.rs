//! Postings: the upsert batch, reads, updates, closing and the expiry
//! sweep. How a batch decides its items is in `posting_batch.rs`, the
//! opening match in `openings.rs`.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use sqlx::{AssertSqlSafe, ColumnIndex, Executor, Pool, QueryBuilder, Row};
use talent_server::{Column, FieldViolations, PerBatch};

use super::{
    CloseReason, ItemError, ItemResult, PostingFields, PostingFilter, PostingInput, PostingPatch,
    PostingRecord, PostingState, PostingStore, PostingSummary, SqlStore, StoreError, StoreResult,
    backend::RecruitingSql,
    coalesce::{Coalesced, Load},
    openings::MatchKey,
    outbox::write_outbox,
    posting_batch::PostingBatch,
    posting_name,
    sql::{Tx, int, json},
};
use crate::{
    domain::postings as rules,
    events::{self, OutboxEvent},
};

/// The columns of a posting as `posting_from_row` reads them, in the order
/// of the batch writes.
pub const POSTING_COLUMNS: &str = "platform_id, external_id, title, title_key, \
     description, employer_code, district, industry, occupation, min_degree, experience_years, \
     salary_min, salary_max, headcount, employment_type, publish_at, expire_at, fair_id, tags, \
     close_reason, closed_at, opening_id, revision, created_at, updated_at";

impl<DB: RecruitingSql> PostingStore for SqlStore<DB>
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
    async fn upsert_postings(
        &self,
        platform: String,
        items: Vec<PostingInput>,
        now: i64,
    ) -> StoreResult<Vec<ItemResult<PostingSummary>>> {
        let ids: HashSet<String> = items.iter().map(|i| i.external_id.clone()).collect();
        let codes: HashSet<String> = items.iter().map(|i| i.employer_code.clone()).collect();
        let fair_ids: HashSet<String> = items.iter().filter_map(|i| i.fair_id.clone()).collect();
        let mut tx = self.begin().await?;
        DB::lock_batched(
            &mut *tx,
            std::iter::once(format!("platform:{platform}"))
                .chain(codes.iter().map(|c| format!("openings:{c}"))),
        )
        .await?;
        let mut existing = Self::load_postings(&mut tx, &platform, &ids).await?;
        // A posting leaving another employer changes that employer's
        // openings too: lock it, and read again what may have moved
        // before the lock.
        let left: Vec<String> = existing
            .values()
            .map(|p| p.fields.employer_code.clone())
            .filter(|c| !codes.contains(c))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if !left.is_empty() {
            DB::lock_batched(&mut *tx, left.iter().map(|c| format!("openings:{c}"))).await?;
            existing = Self::load_postings(&mut tx, &platform, &ids).await?;
        }
        let employers = Self::load_employers(&mut tx, &codes).await?;
        let fairs = Self::load_fairs(&mut tx, &platform, &fair_ids).await?;
        // A constant number of statements per batch: the reads above and
        // in `begin_posting_batch`, the matching in memory, then multi-row
        // writes.
        let mut batch =
            Self::begin_posting_batch(&mut tx, &platform, &items, &existing, &employers).await?;
        let mut events = Vec::new();
        let mut results = Vec::with_capacity(items.len());
        for item in items {
            let id = item.external_id.clone();
            let applied = Self::apply_posting(
                &mut tx,
                &platform,
                item,
                existing.get(&id),
                &employers,
                &fairs,
                now,
                &mut events,
                &mut batch,
            )
            .await?;
            results.push(applied.map(|(outcome, record)| {
                existing.insert(id.clone(), record);
                (outcome, id)
            }));
        }
        Self::finish_posting_batch(&mut tx, &platform, batch, &mut existing, now, &mut events)
            .await?;
        write_outbox(&mut tx, events, now).await?;
        tx.commit().await?;
        Ok(results
            .into_iter()
            .map(|result| {
                result.map(|(outcome, id)| PostingSummary {
                    outcome,
                    opening_id: existing
                        .get(&id)
                        .map(|p| p.opening_id.clone())
                        .unwrap_or_default(),
                })
            })
            .collect())
    }

    async fn get_posting(
        &self,
        platform: String,
        external_id: String,
    ) -> StoreResult<Option<PostingRecord>> {
        match self
            .postings
            .get((platform.clone(), external_id.clone()))
            .await
        {
            Coalesced::Found(posting) => return Ok(Some(posting)),
            Coalesced::Missing => return Ok(None),
            Coalesced::Failed => {}
        }
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {POSTING_COLUMNS} FROM postings WHERE platform_id = $1 AND external_id = $2"
        )))
        .bind(platform)
        .bind(external_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::posting_from_row).transpose()
    }

    async fn list_postings(
        &self,
        platform: String,
        filter: PostingFilter,
        after: Option<(i64, String)>,
        limit: i64,
        now: i64,
    ) -> StoreResult<Vec<PostingRecord>> {
        let mut builder: QueryBuilder<DB> = QueryBuilder::new(format!(
            "SELECT {POSTING_COLUMNS} FROM postings WHERE platform_id = "
        ));
        builder.push_bind(platform);
        Self::push_posting_filter(&mut builder, &filter, now);
        if let Some((updated_at, external_id)) = after {
            builder.push(" AND (updated_at > ");
            builder.push_bind(updated_at);
            builder.push(" OR (updated_at = ");
            builder.push_bind(updated_at);
            builder.push(" AND external_id > ");
            builder.push_bind(external_id);
            builder.push("))");
        }
        builder.push(" ORDER BY updated_at, external_id LIMIT ");
        builder.push_bind(limit);
        let rows = builder.build().fetch_all(&self.pool).await?;
        rows.iter().map(Self::posting_from_row).collect()
    }

    async fn update_posting(
        &self,
        platform: String,
        external_id: String,
        patch: PostingPatch,
        now: i64,
    ) -> StoreResult<PostingRecord> {
        let mut tx = self.begin().await?;
        DB::lock(&mut *tx, [format!("platform:{platform}")]).await?;
        let ids = HashSet::from([external_id.clone()]);
        let stored = Self::load_postings(&mut tx, &platform, &ids)
            .await?
            .remove(&external_id)
            .ok_or_else(|| {
                StoreError::NotFound(format!(
                    "no posting {}",
                    posting_name(&platform, &external_id)
                ))
            })?;
        if stored.close_reason == CloseReason::Closed {
            return Err(StoreError::FailedPrecondition(
                "the posting is CLOSED and cannot change".into(),
            ));
        }
        let input = patch.apply(&external_id, &stored.fields);
        let codes = HashSet::from([input.employer_code.clone()]);
        DB::lock(
            &mut *tx,
            [
                format!("openings:{}", input.employer_code),
                format!("openings:{}", stored.fields.employer_code),
            ]
            .into_iter()
            .collect::<HashSet<_>>(),
        )
        .await?;
        // Read again under the openings' locks: another platform's
        // postings may have moved this one's opening meanwhile.
        let stored = Self::load_postings(&mut tx, &platform, &ids)
            .await?
            .remove(&external_id)
            .ok_or_else(|| StoreError::Internal(anyhow::anyhow!("a locked posting vanished")))?;
        let employers = Self::load_employers(&mut tx, &codes).await?;
        let fair_ids: HashSet<String> = input.fair_id.iter().cloned().collect();
        let fairs = Self::load_fairs(&mut tx, &platform, &fair_ids).await?;
        let mut records = HashMap::from([(external_id.clone(), stored)]);
        let mut batch = Self::begin_posting_batch(
            &mut tx,
            &platform,
            std::slice::from_ref(&input),
            &records,
            &employers,
        )
        .await?;
        let mut events = Vec::new();
        let applied = Self::apply_posting(
            &mut tx,
            &platform,
            input,
            records.get(&external_id),
            &employers,
            &fairs,
            now,
            &mut events,
            &mut batch,
        )
        .await?;
        let record = match applied {
            Ok((_, record)) => record,
            Err(ItemError::FailedPrecondition(m)) => {
                return Err(StoreError::FailedPrecondition(m));
            }
            Err(ItemError::Invalid(problems)) => {
                let mut violations = FieldViolations::new();
                for (field, description) in problems {
                    violations.add(format!("posting.{field}"), description);
                }
                return Err(StoreError::Invalid(violations));
            }
        };
        records.insert(external_id.clone(), record);
        Self::finish_posting_batch(&mut tx, &platform, batch, &mut records, now, &mut events)
            .await?;
        write_outbox(&mut tx, events, now).await?;
        tx.commit().await?;
        records
            .remove(&external_id)
            .ok_or_else(|| StoreError::Internal(anyhow::anyhow!("the posting has no record")))
    }

    async fn close_posting(
        &self,
        platform: String,
        external_id: String,
        close_at: Option<i64>,
        now: i64,
    ) -> StoreResult<PostingRecord> {
        let mut tx = self.begin().await?;
        DB::lock(&mut *tx, [format!("platform:{platform}")]).await?;
        let ids = HashSet::from([external_id.clone()]);
        let found = Self::load_postings(&mut tx, &platform, &ids)
            .await?
            .remove(&external_id)
            .ok_or_else(|| {
                StoreError::NotFound(format!(
                    "no posting {}",
                    posting_name(&platform, &external_id)
                ))
            })?;
        DB::lock(
            &mut *tx,
            [format!("openings:{}", found.fields.employer_code)],
        )
        .await?;
        // Read again under the lock of its openings (see `update_posting`).
        let stored = Self::load_postings(&mut tx, &platform, &ids)
            .await?
            .remove(&external_id)
            .ok_or_else(|| StoreError::Internal(anyhow::anyhow!("a locked posting vanished")))?;
        let close_at = close_at.unwrap_or(now);
        let record = match rules::close(&stored, close_at, now) {
            Ok(None) => return Ok(stored),
            Ok(Some(record)) => record,
            Err((field, description)) => {
                let mut v = FieldViolations::new();
                v.add(field, description);
                return Err(StoreError::Invalid(v));
            }
        };
        // The shorter period may break a bridge between copies.
        let mut events = vec![OutboxEvent::new(
            &platform,
            now,
            events::posting_closed(&record, close_at, false),
        )];
        let mut records = HashMap::from([(external_id.clone(), stored)]);
        let mut batch = PostingBatch::new(&records);
        let key = rules::match_row(&record).key;
        Self::load_match_rows(&mut tx, &mut batch, vec![key.clone()]).await?;
        batch.write(&record, Some(key), false);
        records.insert(external_id.clone(), record);
        Self::finish_posting_batch(&mut tx, &platform, batch, &mut records, now, &mut events)
            .await?;
        write_outbox(&mut tx, events, now).await?;
        tx.commit().await?;
        records
            .remove(&external_id)
            .ok_or_else(|| StoreError::Internal(anyhow::anyhow!("the posting has no record")))
    }

    async fn expire_postings(&self, now: i64) -> StoreResult<usize> {
        let mut tx = self.begin().await?;
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {POSTING_COLUMNS} FROM postings WHERE close_reason = 0 AND expire_at <= $1 \
             ORDER BY expire_at LIMIT 500{}",
            DB::SWEEP_LOCK
        )))
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            let record = rules::expire(&Self::posting_from_row(row)?, now);
            Self::update_posting_row(&mut tx, &record).await?;
            events.push(OutboxEvent::new(
                &record.platform_id,
                now,
                events::posting_closed(&record, record.fields.expire_at, true),
            ));
        }
        let count = events.len();
        write_outbox(&mut tx, events, now).await?;
        tx.commit().await?;
        Ok(count)
    }

    async fn regroup_legacy_openings(&self, now: i64) -> StoreResult<usize> {
        let mut moved = 0;
        loop {
            let mut tx = self.begin().await?;
            let rows = sqlx::query(
                "SELECT employer_code, title_key, district FROM openings_to_regroup \
                 ORDER BY employer_code, title_key, district LIMIT 500",
            )
            .fetch_all(&mut *tx)
            .await?;
            if rows.is_empty() {
                return Ok(moved);
            }
            let keys = rows
                .iter()
                .map(|r| {
                    Ok((
                        r.try_get("employer_code")?,
                        r.try_get("title_key")?,
                        r.try_get("district")?,
                    ))
                })
                .collect::<Result<Vec<MatchKey>, sqlx::Error>>()?;
            DB::lock_batched(&mut *tx, keys.iter().map(|k| format!("openings:{}", k.0))).await?;
            let mut batch = PostingBatch::default();
            Self::load_match_rows(&mut tx, &mut batch, keys.clone()).await?;
            for key in &keys {
                batch.regroup(key.clone());
            }
            let mut events = Vec::new();
            Self::finish_posting_batch(&mut tx, "", batch, &mut HashMap::new(), now, &mut events)
                .await?;
            moved += events.len();
            write_outbox(&mut tx, events, now).await?;
            let mut done: QueryBuilder<DB> = QueryBuilder::new(
                "DELETE FROM openings_to_regroup WHERE (employer_code, title_key, district) IN (",
            );
            done.push_values(&keys, |mut row, key| {
                row.push_bind(key.0.clone())
                    .push_bind(key.1.clone())
                    .push_bind(key.2.clone());
            });
            done.push(")");
            done.build().per_batch().execute(&mut *tx).await?;
            tx.commit().await?;
        }
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
    /// The platform's postings with these external ids.
    pub(super) async fn load_postings(
        tx: &mut Tx<DB>,
        platform: &str,
        ids: &HashSet<String>,
    ) -> StoreResult<HashMap<String, PostingRecord>> {
        let mut found = HashMap::new();
        if ids.is_empty() {
            return Ok(found);
        }
        let mut builder = DB::by_external_ids(POSTING_COLUMNS, "postings", platform, ids);
        for row in builder.build().per_batch().fetch_all(&mut **tx).await? {
            let posting = Self::posting_from_row(&row)?;
            found.insert(posting.external_id.clone(), posting);
        }
        Ok(found)
    }

    /// The start times of the platform's fairs with these ids.
    async fn load_fairs(
        tx: &mut Tx<DB>,
        platform: &str,
        ids: &HashSet<String>,
    ) -> StoreResult<HashMap<String, i64>> {
        let mut found = HashMap::new();
        if ids.is_empty() {
            return Ok(found);
        }
        let mut builder: QueryBuilder<DB> =
            QueryBuilder::new("SELECT fair_id, start_at FROM fairs WHERE platform_id = ");
        builder.push_bind(platform.to_owned());
        builder.push(" AND fair_id IN (");
        let mut list = builder.separated(", ");
        for id in ids {
            list.push_bind(id.clone());
        }
        builder.push(")");
        for row in builder.build().per_batch().fetch_all(&mut **tx).await? {
            found.insert(row.try_get("fair_id")?, row.try_get("start_at")?);
        }
        Ok(found)
    }

    /// Reads the postings of coalesced `get_posting` lookups: one
    /// statement per platform among them.
    pub(super) fn read_postings(pool: Pool<DB>) -> Load<(String, String), PostingRecord> {
        Arc::new(move |keys: Vec<(String, String)>| {
            let pool = pool.clone();
            Box::pin(async move {
                let mut by_platform: HashMap<String, Vec<String>> = HashMap::new();
                for (platform, id) in keys {
                    by_platform.entry(platform).or_default().push(id);
                }
                let mut found = HashMap::new();
                for (platform, mut ids) in by_platform {
                    DB::point_read_ids(&mut ids);
                    let mut builder =
                        DB::by_external_ids(POSTING_COLUMNS, "postings", &platform, &ids);
                    for row in builder.build().fetch_all(&pool).await? {
                        let posting = Self::posting_from_row(&row)?;
                        found.insert((platform.clone(), posting.external_id.clone()), posting);
                    }
                }
                Ok(found)
            })
        })
    }

    async fn update_posting_row(tx: &mut Tx<DB>, p: &PostingRecord) -> StoreResult<()> {
        let f = &p.fields;
        sqlx::query(
            "UPDATE postings SET title = $3, title_key = $4, description = $5, \
             employer_code = $6, district = $7, industry = $8, occupation = $9, \
             min_degree = $10, experience_years = $11, salary_min = $12, salary_max = $13, \
             headcount = $14, employment_type = $15, publish_at = $16, expire_at = $17, \
             fair_id = $18, tags = $19, close_reason = $20, closed_at = $21, \
             opening_id = $22, revision = $23, updated_at = $24 \
             WHERE platform_id = $1 AND external_id = $2",
        )
        .bind(p.platform_id.clone())
        .bind(p.external_id.clone())
        .bind(f.title.clone())
        .bind(f.title_key.clone())
        .bind(f.description.clone())
        .bind(f.employer_code.clone())
        .bind(f.district.clone())
        .bind(f.industry.clone())
        .bind(f.occupation.clone())
        .bind(i64::from(f.min_degree))
        .bind(i64::from(f.experience_years))
        .bind(f.salary.map(|s| i64::from(s.0)))
        .bind(f.salary.map(|s| i64::from(s.1)))
        .bind(i64::from(f.headcount))
        .bind(i64::from(f.employment_type))
        .bind(f.publish_at)
        .bind(f.expire_at)
        .bind(f.fair_id.clone())
        .bind(json(&f.tags))
        .bind(p.close_reason as i64)
        .bind(p.closed_at)
        .bind(p.opening_id.clone())
        .bind(p.revision)
        .bind(p.updated_at)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Push a filter on postings into `builder` (after a WHERE).
    fn push_posting_filter(builder: &mut QueryBuilder<DB>, filter: &PostingFilter, now: i64) {
        match filter.state {
            None => {}
            Some(PostingState::Open) => {
                builder.push(" AND close_reason = 0 AND expire_at > ");
                builder.push_bind(now);
            }
            Some(PostingState::Closed) => {
                builder.push(" AND close_reason = 1");
            }
            Some(PostingState::Expired) => {
                builder.push(" AND (close_reason = 2 OR (close_reason = 0 AND expire_at <= ");
                builder.push_bind(now);
                builder.push("))");
            }
        }
        if let Some(prefix) = &filter.district_prefix {
            builder.push(" AND substr(district, 1, CAST(");
            builder.push_bind(i64::try_from(prefix.len()).unwrap_or(0));
            builder.push(" AS INTEGER)) = ");
            builder.push_bind(prefix.clone());
        }
        if let Some(prefix) = &filter.industry_prefix {
            builder.push(" AND substr(industry, 1, CAST(");
            builder.push_bind(i64::try_from(prefix.len()).unwrap_or(0));
            builder.push(" AS INTEGER)) = ");
            builder.push_bind(prefix.clone());
        }
        if let Some(code) = &filter.employer_code {
            builder.push(" AND employer_code = ");
            builder.push_bind(code.clone());
        }
        if let Some(fair) = &filter.fair_id {
            builder.push(" AND fair_id = ");
            builder.push_bind(fair.clone());
        }
        if let Some(since) = filter.updated_since {
            builder.push(" AND updated_at >= ");
            builder.push_bind(since);
        }
    }

    pub(super) fn posting_from_row(row: &DB::Row) -> StoreResult<PostingRecord> {
        let tags: String = row.try_get("tags")?;
        let tags: Vec<String> =
            serde_json::from_str(&tags).map_err(|e| anyhow::anyhow!("posting tags: {e}"))?;
        let salary_min: Option<i64> = row.try_get("salary_min")?;
        let salary_max: Option<i64> = row.try_get("salary_max")?;
        Ok(PostingRecord {
            platform_id: row.try_get("platform_id")?,
            external_id: row.try_get("external_id")?,
            fields: PostingFields {
                title: row.try_get("title")?,
                title_key: row.try_get("title_key")?,
                description: row.try_get("description")?,
                employer_code: row.try_get("employer_code")?,
                district: row.try_get("district")?,
                industry: row.try_get("industry")?,
                occupation: row.try_get("occupation")?,
                min_degree: int(row.try_get("min_degree")?),
                experience_years: int(row.try_get("experience_years")?),
                salary: salary_min.zip(salary_max).map(|(a, b)| (int(a), int(b))),
                headcount: int(row.try_get("headcount")?),
                employment_type: int(row.try_get("employment_type")?),
                publish_at: row.try_get("publish_at")?,
                expire_at: row.try_get("expire_at")?,
                fair_id: row.try_get("fair_id")?,
                tags,
            },
            close_reason: CloseReason::from_i64(row.try_get("close_reason")?),
            closed_at: row.try_get("closed_at")?,
            opening_id: row.try_get("opening_id")?,
            revision: row.try_get("revision")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}
