//! One batch of postings: the stored rows its items need, read up front in
//! a few statements; each item decided in turn over those rows and what the
//! items before it decided; the batch's writes at its end, in multi-row
//! statements. A repeated external id sees what the earlier item stored.

use std::collections::{HashMap, HashSet};

use sqlx::{ColumnIndex, Executor, QueryBuilder, Row};
use talent_server::{Column, PerBatch};

use super::{
    CloseReason, DEFAULT_POSTING_LIFETIME_MICROS, EmployerRecord, ItemError, ItemResult,
    MAX_POSTING_LIFETIME_MICROS, Outcome, PostingFields, PostingInput, PostingRecord, SqlStore,
    StoreError, StoreResult,
    backend::RecruitingSql,
    fairs::participation_event,
    new_id,
    openings::{MatchKey, MatchRow, Openings, match_key},
    sql::Tx,
};
use crate::events::{self, OutboxEvent};

/// What one batch of postings decided so far, written at its end (see
/// `finish_posting_batch`).
#[derive(Debug, Default)]
pub(super) struct PostingBatch {
    pub openings: Openings,
    /// (fair, employer) registrations of the batch's fairs: stored, and
    /// the batch's own.
    pub registered: HashSet<(String, String)>,
    /// The registrations this batch adds, in order.
    participations: Vec<(String, String)>,
    /// External ids of the postings written, in the order first written.
    written: Vec<String>,
    written_ids: HashSet<String>,
    /// External ids stored before the batch.
    stored_ids: HashSet<String>,
}

impl PostingBatch {
    /// The batch creates or changes `record`.
    pub fn write(&mut self, record: &PostingRecord) {
        self.openings.write(record);
        if self.written_ids.insert(record.external_id.clone()) {
            self.written.push(record.external_id.clone());
        }
    }

    /// Registers the employer in the fair unless it is already; emits
    /// `FairParticipation` for a new registration.
    pub fn participate(
        &mut self,
        platform: &str,
        fair_id: &str,
        fair_start_at: i64,
        employer: &EmployerRecord,
        now: i64,
        events: &mut Vec<OutboxEvent>,
    ) {
        let key = (fair_id.to_owned(), employer.credit_code.clone());
        if !self.registered.insert(key.clone()) {
            return;
        }
        self.participations.push(key);
        events.push(participation_event(
            platform,
            fair_id,
            fair_start_at,
            employer,
            now,
        ));
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
    /// A batch's state before its first item: the stored rows its
    /// opening matches will likely need (the keys of new postings
    /// and of changed match fields, the openings such changes may
    /// leave) and the registrations of its fairs, read in a few
    /// statements. What this misses is read when needed.
    pub(super) async fn begin_posting_batch(
        tx: &mut Tx<DB>,
        platform: &str,
        items: &[PostingInput],
        existing: &HashMap<String, PostingRecord>,
        employers: &HashMap<String, EmployerRecord>,
    ) -> StoreResult<PostingBatch> {
        let mut batch = PostingBatch {
            stored_ids: existing.keys().cloned().collect(),
            ..PostingBatch::default()
        };
        let mut seen = HashSet::new();
        let repeated: HashSet<&str> = items
            .iter()
            .filter(|i| !seen.insert(i.external_id.as_str()))
            .map(|i| i.external_id.as_str())
            .collect();
        let mut keys = Vec::new();
        let mut left = Vec::new();
        for item in items {
            let Some(employer) = employers.get(&item.employer_code) else {
                continue;
            };
            let key = (
                item.employer_code.clone(),
                crate::validate::normalised_title(&item.title),
                item.district
                    .clone()
                    .unwrap_or_else(|| employer.district.clone()),
            );
            match existing.get(&item.external_id) {
                None => keys.push(key),
                Some(stored) => {
                    let publish_at = item.publish_at.unwrap_or(stored.fields.publish_at);
                    let expire_at = item
                        .expire_at
                        .unwrap_or(publish_at.saturating_add(DEFAULT_POSTING_LIFETIME_MICROS));
                    if repeated.contains(item.external_id.as_str())
                        || key != match_key(&stored.fields)
                        || expire_at != stored.fields.expire_at
                    {
                        keys.push(key);
                        left.push(stored.opening_id.clone());
                    }
                }
            }
        }
        Self::load_match_rows(tx, &mut batch.openings, keys).await?;
        Self::load_opening_holders(tx, &mut batch.openings, left).await?;
        let fair_ids: HashSet<String> = items.iter().filter_map(|i| i.fair_id.clone()).collect();
        if !fair_ids.is_empty() {
            let mut builder: QueryBuilder<DB> = QueryBuilder::new(
                "SELECT fair_id, credit_code FROM fair_participations WHERE platform_id = ",
            );
            builder.push_bind(platform.to_owned());
            builder.push(" AND fair_id IN (");
            let mut list = builder.separated(", ");
            for id in &fair_ids {
                list.push_bind(id.clone());
            }
            builder.push(")");
            for row in builder.build().per_batch().fetch_all(&mut **tx).await? {
                batch
                    .registered
                    .insert((row.try_get("fair_id")?, row.try_get("credit_code")?));
            }
        }
        Ok(batch)
    }

    /// Writes what a batch decided: its new postings, its changed
    /// ones (each once, as it ended), its new fair registrations.
    pub(super) async fn finish_posting_batch(
        tx: &mut Tx<DB>,
        platform: &str,
        batch: PostingBatch,
        records: &HashMap<String, PostingRecord>,
        now: i64,
    ) -> StoreResult<()> {
        let (changed, new): (Vec<&String>, Vec<&String>) = batch
            .written
            .iter()
            .partition(|id| batch.stored_ids.contains(*id));
        let pick = |ids: Vec<&String>| -> StoreResult<Vec<&PostingRecord>> {
            ids.into_iter()
                .map(|id| {
                    records.get(id).ok_or_else(|| {
                        StoreError::Internal(anyhow::anyhow!("a written posting has no record"))
                    })
                })
                .collect()
        };
        DB::write_posting_rows(&mut **tx, &pick(new)?, false).await?;
        DB::write_posting_rows(&mut **tx, &pick(changed)?, true).await?;
        for chunk in batch.participations.chunks(1000) {
            let mut builder: QueryBuilder<DB> = QueryBuilder::new(
                "INSERT INTO fair_participations (platform_id, fair_id, credit_code, created_at) ",
            );
            builder.push_values(chunk, |mut row, (fair, code)| {
                row.push_bind(platform.to_owned())
                    .push_bind(fair.clone())
                    .push_bind(code.clone())
                    .push_bind(now);
            });
            builder.push(" ON CONFLICT DO NOTHING");
            builder.build().per_batch().execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Decides how one posting of a batch is created or changed;
    /// the batch writes it at its end. `existing` is the posting as
    /// stored or as an earlier item of the batch left it.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn apply_posting(
        tx: &mut Tx<DB>,
        platform: &str,
        input: PostingInput,
        existing: Option<&PostingRecord>,
        employers: &HashMap<String, EmployerRecord>,
        fairs: &HashMap<String, i64>,
        now: i64,
        events: &mut Vec<OutboxEvent>,
        batch: &mut PostingBatch,
    ) -> StoreResult<ItemResult<(Outcome, PostingRecord)>> {
        let Some(employer) = employers.get(&input.employer_code) else {
            return Ok(Err(ItemError::field(
                "employer_credit_code",
                "no employer has this credit code; upsert it with EmployerService first",
            )));
        };
        let mut problems = Vec::new();
        let publish_at = match (input.publish_at, existing) {
            (Some(given), Some(stored)) if given != stored.fields.publish_at => {
                problems.push((
                    "publish_time".to_owned(),
                    "is immutable: it differs from the stored publish time".to_owned(),
                ));
                stored.fields.publish_at
            }
            (Some(given), _) => given,
            (None, Some(stored)) => stored.fields.publish_at,
            (None, None) => now,
        };
        let expire_at = input
            .expire_at
            .unwrap_or(publish_at.saturating_add(DEFAULT_POSTING_LIFETIME_MICROS));
        if expire_at <= publish_at {
            problems.push((
                "expire_time".to_owned(),
                "must be after publish_time".to_owned(),
            ));
        } else if expire_at - publish_at > MAX_POSTING_LIFETIME_MICROS {
            problems.push((
                "expire_time".to_owned(),
                "must be at most 366 days after publish_time".to_owned(),
            ));
        }
        let fair_start = match &input.fair_id {
            Some(fair) => match fairs.get(fair) {
                Some(start) => Some(*start),
                None => {
                    problems.push((
                        "fair".to_owned(),
                        "no fair of the calling platform has this name".to_owned(),
                    ));
                    None
                }
            },
            None => None,
        };
        if !problems.is_empty() {
            return Ok(Err(ItemError::Invalid(problems)));
        }
        let fields = PostingFields {
            title_key: crate::validate::normalised_title(&input.title),
            title: input.title,
            description: input.description,
            employer_code: input.employer_code,
            district: input.district.unwrap_or_else(|| employer.district.clone()),
            industry: input.industry.unwrap_or_else(|| employer.industry.clone()),
            occupation: input.occupation,
            min_degree: input.min_degree,
            experience_years: input.experience_years,
            salary: input.salary,
            headcount: input.headcount,
            employment_type: input.employment_type,
            publish_at,
            expire_at,
            fair_id: input.fair_id,
            tags: input.tags,
        };

        let record = match existing {
            Some(stored) if stored.fields == fields => {
                return Ok(Ok((Outcome::Unchanged, stored.clone())));
            }
            Some(stored) if stored.close_reason == CloseReason::Closed => {
                return Ok(Err(ItemError::FailedPrecondition(
                    "the posting is CLOSED and cannot change; push the job under a new external_id"
                        .to_owned(),
                )));
            }
            Some(stored) => {
                let mut record = stored.clone();
                let old = &stored.fields;
                let match_changed = old.employer_code != fields.employer_code
                    || old.title_key != fields.title_key
                    || old.district != fields.district
                    || old.expire_at != fields.expire_at;
                let fair_changed = old.fair_id != fields.fair_id;
                record.fields = fields;
                if record.close_reason == CloseReason::Expired {
                    if record.fields.expire_at > now {
                        record.close_reason = CloseReason::Open;
                        record.closed_at = None;
                    } else {
                        record.closed_at = Some(record.fields.expire_at);
                    }
                }
                if match_changed {
                    record.opening_id =
                        Self::find_opening(tx, &mut batch.openings, &record).await?;
                }
                let new = &record.fields;
                let facts_changed = record.opening_id != stored.opening_id
                    || old.employer_code != new.employer_code
                    || old.district != new.district
                    || old.industry != new.industry
                    || old.headcount != new.headcount
                    || old.expire_at != new.expire_at
                    || fair_changed;
                if facts_changed {
                    record.revision += 1;
                    events.push(OutboxEvent::new(
                        platform,
                        now,
                        events::posting_updated(&record),
                    ));
                }
                record.updated_at = now;
                batch.write(&record);
                if fair_changed
                    && let (Some(fair), Some(start)) = (&record.fields.fair_id, fair_start)
                {
                    batch.participate(platform, fair, start, employer, now, events);
                }
                return Ok(Ok((Outcome::Updated, record)));
            }
            None => {
                let mut record = PostingRecord {
                    platform_id: platform.to_owned(),
                    external_id: input.external_id,
                    fields,
                    close_reason: CloseReason::Open,
                    closed_at: None,
                    opening_id: String::new(),
                    revision: 1,
                    created_at: now,
                    updated_at: now,
                };
                record.opening_id = Self::find_opening(tx, &mut batch.openings, &record).await?;
                record
            }
        };
        batch.write(&record);
        events.push(OutboxEvent::new(
            platform,
            now,
            events::posting_published(&record),
        ));
        if let (Some(fair), Some(start)) = (&record.fields.fair_id, fair_start) {
            batch.participate(platform, fair, start, employer, now, events);
        }
        Ok(Ok((Outcome::Created, record)))
    }

    /// The opening a posting belongs to (see the match rule on
    /// `PostingService`): the opening of the earliest published
    /// matching copy; else its current opening when no other copy
    /// shares it; else a new one. Decided in memory over what
    /// `openings` read, reading what it lacks.
    async fn find_opening(
        tx: &mut Tx<DB>,
        openings: &mut Openings,
        posting: &PostingRecord,
    ) -> StoreResult<String> {
        Self::load_match_rows(tx, openings, vec![match_key(&posting.fields)]).await?;
        if let Some(opening) = openings.matched(posting) {
            return Ok(opening);
        }
        if !posting.opening_id.is_empty() {
            Self::load_opening_holders(tx, openings, vec![posting.opening_id.clone()]).await?;
            let id = (posting.platform_id.clone(), posting.external_id.clone());
            if !openings.shared(&posting.opening_id, &id) {
                return Ok(posting.opening_id.clone());
            }
        }
        Ok(new_id())
    }

    /// Reads every posting with one of `keys` (not read before) into
    /// `openings`: one statement per 1,000 keys.
    async fn load_match_rows(
        tx: &mut Tx<DB>,
        openings: &mut Openings,
        keys: Vec<MatchKey>,
    ) -> StoreResult<()> {
        let keys: Vec<MatchKey> = keys
            .into_iter()
            .filter(|k| openings.loaded_keys.insert(k.clone()))
            .collect();
        for chunk in keys.chunks(1000) {
            let mut builder = DB::match_rows(chunk);
            for row in builder.build().per_batch().fetch_all(&mut **tx).await? {
                let close_reason: i64 = row.try_get("close_reason")?;
                let expire_at: i64 = row.try_get("expire_at")?;
                let closed_at: Option<i64> = row.try_get("closed_at")?;
                openings.add_stored(
                    (row.try_get("platform_id")?, row.try_get("external_id")?),
                    MatchRow {
                        key: (
                            row.try_get("employer_code")?,
                            row.try_get("title_key")?,
                            row.try_get("district")?,
                        ),
                        opening_id: row.try_get("opening_id")?,
                        publish_at: row.try_get("publish_at")?,
                        end: if close_reason == CloseReason::Open as i64 {
                            expire_at
                        } else {
                            closed_at.unwrap_or(expire_at)
                        },
                    },
                );
            }
        }
        Ok(())
    }

    /// Reads the stored holders of each of `ids` (not read before).
    async fn load_opening_holders(
        tx: &mut Tx<DB>,
        openings: &mut Openings,
        ids: Vec<String>,
    ) -> StoreResult<()> {
        let ids: Vec<String> = ids
            .into_iter()
            .filter(|id| !id.is_empty() && !openings.holders.contains_key(id))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        for chunk in ids.chunks(1000) {
            for id in chunk {
                openings.holders.insert(id.clone(), Vec::new());
            }
            let mut builder: QueryBuilder<DB> = QueryBuilder::new(
                "SELECT platform_id, external_id, opening_id FROM postings WHERE opening_id IN (",
            );
            let mut list = builder.separated(", ");
            for id in chunk {
                list.push_bind(id.clone());
            }
            builder.push(")");
            for row in builder.build().per_batch().fetch_all(&mut **tx).await? {
                let opening: String = row.try_get("opening_id")?;
                openings
                    .holders
                    .entry(opening)
                    .or_default()
                    .push((row.try_get("platform_id")?, row.try_get("external_id")?));
            }
        }
        Ok(())
    }
}
