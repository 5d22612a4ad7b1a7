//! One batch of postings: the stored rows its items need, read up front in
//! a few statements; each item decided in turn over those rows and what the
//! items before it decided; the batch's writes at its end, in multi-row
//! statements. A repeated external id sees what the earlier item stored.

use std::collections::{BTreeSet, HashMap, HashSet};

use sqlx::{ColumnIndex, Executor, QueryBuilder, Row};
use talent_server::{
    Column, PerBatch,
    db::{piece_rows, pieces},
};

use super::{
    CloseReason, EmployerRecord, ItemError, ItemResult, Outcome, PostingFields, PostingInput,
    PostingRecord, SqlStore, StoreError, StoreResult, backend::RecruitingSql,
    fairs::participation_event, openings::MatchKey, sql::Tx,
};
use crate::{
    domain::{
        openings::{Openings, PostingId},
        postings::{self as rules, Change},
    },
    events::{self, OutboxEvent},
};

/// What one batch of postings decided so far, written at its end (see
/// `finish_posting_batch`).
#[derive(Debug, Default)]
pub(super) struct PostingBatch {
    /// Every posting of the loaded keys, as the batch left it.
    openings: Openings,
    loaded_keys: HashSet<MatchKey>,
    /// Keys a posting entered or left: their groups are derived again at
    /// the batch's end.
    touched: BTreeSet<MatchKey>,
    /// (fair, employer) registrations of the batch's fairs: stored, and
    /// the batch's own.
    pub registered: HashSet<(String, String)>,
    /// The registrations this batch adds, in order.
    participations: Vec<(String, String)>,
    /// External ids of the postings written, in the order first written.
    written: Vec<String>,
    written_ids: HashSet<String>,
    /// External ids stored before the batch, with their revision and
    /// opening then.
    stored: HashMap<String, (i64, String)>,
    /// Postings whose statistical facts the batch changed.
    facts_changed: HashSet<String>,
}

impl PostingBatch {
    /// A batch over postings stored as `existing`.
    pub fn new(existing: &HashMap<String, PostingRecord>) -> Self {
        Self {
            stored: existing
                .iter()
                .map(|(id, p)| (id.clone(), (p.revision, p.opening_id.clone())))
                .collect(),
            ..Self::default()
        }
    }

    /// The batch creates or changes `record`. `regroup_from` is the key
    /// it had (its own when new) when the opening match must be derived
    /// again; `facts` when metrics sees the change.
    pub fn write(&mut self, record: &PostingRecord, regroup_from: Option<MatchKey>, facts: bool) {
        let row = rules::match_row(record);
        if let Some(old) = regroup_from {
            self.touched.insert(old);
            self.touched.insert(row.key.clone());
        }
        self.openings.put(
            (record.platform_id.clone(), record.external_id.clone()),
            row,
            record.opening_id.clone(),
        );
        if facts {
            self.facts_changed.insert(record.external_id.clone());
        }
        if self.written_ids.insert(record.external_id.clone()) {
            self.written.push(record.external_id.clone());
        }
    }

    /// Derives the openings of `key` again at the batch's end.
    pub fn regroup(&mut self, key: MatchKey) {
        self.touched.insert(key);
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
    /// A batch's state before its first item: every stored posting of
    /// the match keys its items enter or leave, and the registrations of
    /// its fairs, read in a few statements. What this misses is read when
    /// needed.
    pub(super) async fn begin_posting_batch(
        tx: &mut Tx<DB>,
        platform: &str,
        items: &[PostingInput],
        existing: &HashMap<String, PostingRecord>,
        employers: &HashMap<String, EmployerRecord>,
    ) -> StoreResult<PostingBatch> {
        let mut batch = PostingBatch::new(existing);
        let mut keys = Vec::new();
        for item in items {
            let Some(employer) = employers.get(&item.employer_code) else {
                continue;
            };
            let key = (
                item.employer_code.clone(),
                rules::title_key(&item.title),
                item.district
                    .clone()
                    .unwrap_or_else(|| employer.district.clone()),
            );
            if let Some(stored) = existing.get(&item.external_id) {
                let stored_key = rules::match_row(stored).key;
                if stored_key == key && item.expire_at == Some(stored.fields.expire_at) {
                    continue;
                }
                keys.push(stored_key);
            }
            keys.push(key);
        }
        Self::load_match_rows(tx, &mut batch, keys).await?;
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

    /// Ends a batch: derives the openings of every key its postings
    /// entered or left (postings of other platforms included), then writes
    /// its new postings, its changed ones (each once, as it ended) and
    /// every other posting whose opening moved, with their events, and its
    /// new fair registrations. `records` holds the batch's postings and
    /// gets their final openings.
    pub(super) async fn finish_posting_batch(
        tx: &mut Tx<DB>,
        platform: &str,
        mut batch: PostingBatch,
        records: &mut HashMap<String, PostingRecord>,
        now: i64,
        events: &mut Vec<OutboxEvent>,
    ) -> StoreResult<()> {
        let mut moved: Vec<(PostingId, String)> = Vec::new();
        for key in std::mem::take(&mut batch.touched) {
            moved.extend(batch.openings.regroup(&key));
        }
        // Postings the batch did not write whose opening moved.
        let mut others: HashMap<String, HashMap<String, String>> = HashMap::new();
        for ((owner, id), opening) in moved {
            match records.get_mut(&id) {
                Some(record) if owner == platform => {
                    record.opening_id = opening;
                    if !batch.written_ids.contains(&id) {
                        batch.written_ids.insert(id.clone());
                        batch.written.push(id);
                    }
                }
                _ => {
                    others.entry(owner).or_default().insert(id, opening);
                }
            }
        }
        for (owner, openings) in others {
            let mut moves: Vec<(String, String)> = openings.into_iter().collect();
            moves.sort();
            for row in DB::move_openings(&mut **tx, &owner, &moves, now).await? {
                let record = Self::posting_from_row(&row)?;
                events.push(OutboxEvent::new(
                    &owner,
                    now,
                    events::posting_updated(&record),
                ));
            }
        }
        for id in &batch.written {
            let record = records.get_mut(id).ok_or_else(|| {
                StoreError::Internal(anyhow::anyhow!("a written posting has no record"))
            })?;
            let payload = match batch.stored.get(id) {
                None => Some(events::posting_published(record)),
                Some((_, opening)) => {
                    let moved = record.opening_id != *opening;
                    if moved && !batch.facts_changed.contains(id) {
                        record.revision += 1;
                        record.updated_at = now;
                    }
                    (moved || batch.facts_changed.contains(id))
                        .then(|| events::posting_updated(record))
                }
            };
            if let Some(payload) = payload {
                events.push(OutboxEvent::new(platform, now, payload));
            }
        }
        let (changed, new): (Vec<&String>, Vec<&String>) = batch
            .written
            .iter()
            .partition(|id| batch.stored.contains_key(*id));
        let pick = |ids: Vec<&String>| -> Vec<&PostingRecord> {
            ids.into_iter().filter_map(|id| records.get(id)).collect()
        };
        let new = pick(new);
        let changed = pick(changed);
        DB::write_posting_rows(&mut **tx, &new, false).await?;
        DB::write_posting_rows(&mut **tx, &changed, true).await?;
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

    /// Decides how one posting of a batch is created or changed (its
    /// opening at the batch's end); the batch writes it at its end.
    /// `existing` is the posting as stored or as an earlier item of the
    /// batch left it.
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
        let publish_at = rules::publish_time(
            input.publish_at,
            existing.map(|p| &p.fields),
            now,
            &mut problems,
        );
        let expire_at = rules::expire_time(input.expire_at, publish_at, &mut problems);
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
            title_key: rules::title_key(&input.title),
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

        let Some(stored) = existing else {
            let record = PostingRecord {
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
            let key = rules::match_row(&record).key;
            Self::load_match_rows(tx, batch, vec![key.clone()]).await?;
            batch.write(&record, Some(key), true);
            if let (Some(fair), Some(start)) = (&record.fields.fair_id, fair_start) {
                batch.participate(platform, fair, start, employer, now, events);
            }
            return Ok(Ok((Outcome::Created, record)));
        };
        let fair_changed = stored.fields.fair_id != fields.fair_id;
        let (mut record, facts, matching) = match rules::change(stored, fields, now) {
            Ok(Change::Unchanged) => return Ok(Ok((Outcome::Unchanged, stored.clone()))),
            Err(why) => return Ok(Err(ItemError::FailedPrecondition(why.to_owned()))),
            Ok(Change::Changed {
                record,
                facts,
                matching,
            }) => (record, facts, matching),
        };
        if facts {
            record.revision += 1;
        }
        let regroup_from = if matching {
            let old = rules::match_row(stored).key;
            let new = rules::match_row(&record).key;
            Self::load_match_rows(tx, batch, vec![old.clone(), new]).await?;
            Some(old)
        } else {
            None
        };
        batch.write(&record, regroup_from, facts);
        if fair_changed && let (Some(fair), Some(start)) = (&record.fields.fair_id, fair_start) {
            batch.participate(platform, fair, start, employer, now, events);
        }
        Ok(Ok((Outcome::Updated, record)))
    }

    /// Reads every stored posting with one of `keys` (not read before)
    /// into the batch, a few statements ([`pieces`]) whatever their number. A posting the batch
    /// wrote keeps the batch's version.
    pub(super) async fn load_match_rows(
        tx: &mut Tx<DB>,
        batch: &mut PostingBatch,
        keys: Vec<MatchKey>,
    ) -> StoreResult<()> {
        let keys: Vec<MatchKey> = keys
            .into_iter()
            .filter(|k| batch.loaded_keys.insert(k.clone()))
            .collect();
        for (chunk, full) in pieces(&keys, piece_rows::<DB>(3)) {
            let mut builder = DB::match_rows(chunk);
            for row in builder.build().piece(full).fetch_all(&mut **tx).await? {
                let id: PostingId = (row.try_get("platform_id")?, row.try_get("external_id")?);
                if batch.openings.contains(&id) {
                    continue;
                }
                let close_reason = CloseReason::from_i64(row.try_get("close_reason")?);
                let match_row = crate::domain::openings::MatchRow {
                    key: (
                        row.try_get("employer_code")?,
                        row.try_get("title_key")?,
                        row.try_get("district")?,
                    ),
                    publish_at: row.try_get("publish_at")?,
                    end: rules::period_end(
                        close_reason,
                        row.try_get("closed_at")?,
                        row.try_get("expire_at")?,
                    ),
                };
                batch
                    .openings
                    .put(id, match_row, row.try_get("opening_id")?);
            }
        }
        Ok(())
    }
}
