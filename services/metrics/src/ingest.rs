//! Applying events and roster rows: validate, update the facts of the
//! entities they touch, recompute those entities' contributions and apply
//! the differences to the aggregates, all in one transaction per request
//! message, together with the deduplication record.

use std::collections::{BTreeMap, BTreeSet};

use talent_proto::talent::events::v1::{self as ev, event::Payload};
use talent_proto::talent::metrics::v1 as pb;
use talent_server::{ApiError, FieldViolations};
use tonic_types::pb::Status as RpcStatus;

use talent_codes::{self as codes, ResidentId};

use crate::{
    disclosure::{self, RecordKeys},
    domain::{
        self, Amount, Cell, Contribution, Employment, PersonFacts, Posting, Resume, RosterRow, kind,
    },
    names,
    store::{EmploymentRow, ParticipationRow, ResumeRow, Store, Tx},
};

/// What the ingestion needs from the configuration.
#[derive(Debug, Clone)]
pub struct IngestSettings {
    pub person_key_secret: String,
    pub city_prefix: String,
    /// The record keys of the units counted (persons, applications).
    pub record_keys: RecordKeys,
}

/// A person's contribution, keyed by the person's record key.
fn person_contribution(facts: &PersonFacts, keys: &RecordKeys) -> Contribution {
    disclosure::keyed(facts.contribution(), keys.of(&facts.person_key))
}

/// One transaction's worth of work: the differences gathered so far, and
/// the entities whose contribution must be recomputed before commit.
struct Batch {
    tx: Tx,
    deltas: BTreeMap<Cell, Amount>,
    /// Entities locked in this transaction, with what they contributed
    /// when first locked.
    locked: BTreeMap<(&'static str, String), Contribution>,
    /// Entities (persons, openings, employers) whose facts changed: they
    /// are recomputed once, at the end, however many events touched them.
    dirty: BTreeSet<(&'static str, String)>,
}

/// Entity kinds recomputed at the end of a batch.
pub(crate) const PERSON: &str = "person";

impl Batch {
    async fn begin(store: &Store) -> Result<Self, ApiError> {
        Ok(Self {
            tx: store.begin().await?,
            deltas: BTreeMap::new(),
            locked: BTreeMap::new(),
            dirty: BTreeSet::new(),
        })
    }

    /// Locks an entity for the rest of the transaction (once) and returns
    /// what it contributes now.
    async fn lock(&mut self, kind: &'static str, id: &str) -> anyhow::Result<Contribution> {
        let key = (kind, id.to_string());
        if let Some(c) = self.locked.get(&key) {
            return Ok(c.clone());
        }
        let c = self.tx.lock_entity(kind, id).await?;
        self.locked.insert(key, c.clone());
        Ok(c)
    }

    /// Locks an entity and marks it for recomputation at the end.
    async fn touch(&mut self, kind: &'static str, id: &str) -> anyhow::Result<()> {
        self.lock(kind, id).await?;
        self.dirty.insert((kind, id.to_string()));
        Ok(())
    }

    /// Applies a recomputed contribution of an entity locked before.
    async fn finish(
        &mut self,
        kind: &'static str,
        id: &str,
        new: Contribution,
    ) -> anyhow::Result<()> {
        let old = self.lock(kind, id).await?;
        if old != new {
            Contribution::diff_into(&old, &new, &mut self.deltas);
            self.tx.save_entity(kind, id, &new).await?;
            self.locked.insert((kind, id.to_string()), new);
        }
        Ok(())
    }

    /// Recomputes every dirty entity, writes the differences stamped with
    /// the commit instant, and commits.
    async fn commit(mut self, keys: &RecordKeys) -> Result<(), ApiError> {
        for (kind, id) in std::mem::take(&mut self.dirty) {
            let new = match kind {
                PERSON => person_contribution(&self.tx.person_facts(&id).await?, keys),
                kind::OPENING => {
                    domain::opening_contribution(&self.tx.postings_where("opening_id", &id).await?)
                }
                _ => domain::employer_contribution(
                    &id,
                    &self.tx.postings_where("employer", &id).await?,
                ),
            };
            self.finish(kind, &id, new).await?;
        }
        // Stamped as late as possible: "as known at" means committed by then.
        self.tx
            .apply_deltas(&self.deltas, codes::now_micros())
            .await?;
        self.tx.commit().await?;
        Ok(())
    }
}

/// Converts field violations into the `google.rpc.Status` of an ack or a
/// rejected row.
pub fn rpc_status(violations: FieldViolations) -> RpcStatus {
    let status: tonic::Status = ApiError::InvalidArgument(violations).into();
    prost::Message::decode(status.details()).unwrap_or_else(|_| RpcStatus {
        code: tonic::Code::InvalidArgument as i32,
        message: status.message().to_string(),
        details: vec![],
    })
}

/// Applies one request message's events in one transaction; returns one
/// ack per event, in order, after the commit.
pub async fn publish(
    store: &Store,
    settings: &IngestSettings,
    events: &[ev::Event],
) -> Result<Vec<pb::EventAck>, ApiError> {
    // Concurrent streams touching the same persons or cells in another
    // order can deadlock on PostgreSQL; the loser is rolled back whole and
    // simply applied again.
    let mut attempt = 0;
    loop {
        match publish_once(store, settings, events).await {
            Err(ApiError::Internal(e)) if attempt < 5 && is_retryable(&e) => attempt += 1,
            Err(ApiError::Internal(e)) if is_unavailable(&e) => {
                tracing::warn!(error = format!("{e:#}"), "database unavailable");
                return Err(ApiError::Unavailable(
                    "the database is not reachable; send the events again later".into(),
                ));
            }
            other => return other,
        }
    }
}

/// The database went away: the caller should send the events again.
fn is_unavailable(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<sqlx::Error>(),
            Some(
                sqlx::Error::Io(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::WorkerCrashed
            )
        )
    })
}

/// A deadlock or serialisation failure: the transaction may be retried.
fn is_retryable(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<sqlx::Error>()
            .and_then(|e| e.as_database_error())
            .and_then(|e| e.code())
            .is_some_and(|code| code == "40P01" || code == "40001")
    })
}

/// Whether an event id can be remembered for deduplication (an id that
/// cannot is rejected by validation anyway, every time it comes).
fn rememberable(event: &ev::Event) -> bool {
    !event.event_id.is_empty() && event.event_id.len() <= 64
}

/// Applies one request message in one transaction with a number of
/// statements that does not grow with its events: the dedupe rows in one
/// statement, then the entities the events touch are locked and their facts
/// loaded in bulk, the events applied in memory in order, and the changed
/// rows and the differences written back in bulk.
async fn publish_once(
    store: &Store,
    settings: &IngestSettings,
    events: &[ev::Event],
) -> Result<Vec<pb::EventAck>, ApiError> {
    let now = codes::now_micros();
    let mut tx = store.begin().await?;
    let checked: Vec<Result<Fact, FieldViolations>> =
        events.iter().map(|e| check_event(e, settings)).collect();

    // Exactly once: the first copy of an id in the message is recorded (with
    // its outcome) in the same transaction as the effect; a later copy, or an
    // id recorded before, is a duplicate.
    let mut first: BTreeMap<&str, usize> = BTreeMap::new();
    let mut records = Vec::new();
    for (i, (event, checked)) in events.iter().zip(&checked).enumerate() {
        if rememberable(event) && !first.contains_key(event.event_id.as_str()) {
            first.insert(&event.event_id, i);
            records.push((
                event.event_id.as_str(),
                event.source.as_str(),
                i64::try_from(event.sequence).unwrap_or(i64::MAX),
                if checked.is_ok() {
                    "APPLIED"
                } else {
                    "REJECTED"
                },
            ));
        }
    }
    // In id order, so concurrent streams holding overlapping events in
    // other orders wait on each other instead of deadlocking. The first
    // statement writes, so SQLite takes the write lock at once.
    records.sort_unstable_by_key(|r| r.0);
    let recorded = tx.record_events(&records, now).await?;

    let mut acks = Vec::with_capacity(events.len());
    let mut facts = Vec::new();
    for (i, (event, checked)) in events.iter().zip(checked).enumerate() {
        let fresh = !rememberable(event)
            || (first.get(event.event_id.as_str()) == Some(&i)
                && recorded.contains(&event.event_id));
        let mut ack = pb::EventAck {
            event_id: event.event_id.clone(),
            source: event.source.clone(),
            sequence: event.sequence,
            outcome: pb::EventOutcome::Applied as i32,
            error: None,
        };
        if !fresh {
            ack.outcome = pb::EventOutcome::Duplicate as i32;
        } else {
            match checked {
                Ok(fact) => facts.push(fact),
                Err(violations) => {
                    ack.outcome = pb::EventOutcome::Rejected as i32;
                    ack.error = Some(rpc_status(violations));
                }
            }
        }
        acks.push(ack);
    }

    // Lock what the facts name, load, apply; when applying reaches an
    // entity not locked yet (an employment or résumé owned by another
    // person, a posting moving from another opening), lock it too and
    // start over on freshly loaded facts. The locked set grows every
    // round, so this ends.
    let mut locked: BTreeMap<Key, Contribution> = BTreeMap::new();
    let mut want = first_guess(&facts);
    let work = loop {
        let new: BTreeSet<Key> = want
            .iter()
            .filter(|k| !locked.contains_key(*k))
            .cloned()
            .collect();
        lock(&mut tx, &new, &mut locked).await?;
        let mut work = Work::load(&mut tx, &facts, &locked).await?;
        for fact in &facts {
            work.apply(fact);
        }
        work.recompute(&settings.record_keys);
        if work.missing.is_empty() {
            break work;
        }
        want.extend(std::mem::take(&mut work.missing));
    };
    let deltas = work.write(&mut tx, &settings.record_keys).await?;
    // Stamped as late as possible: "as known at" means committed by then.
    tx.apply_deltas(&deltas, codes::now_micros()).await?;
    tx.commit().await?;
    Ok(acks)
}

/// An entity: its kind and id.
type Key = (&'static str, String);

/// The entities the facts name directly.
fn first_guess(facts: &[Fact]) -> BTreeSet<Key> {
    let mut want = BTreeSet::new();
    for fact in facts {
        match fact {
            Fact::Hired { person_key, .. }
            | Fact::Separated { person_key, .. }
            | Fact::Resume { person_key, .. } => {
                want.insert((PERSON, person_key.clone()));
            }
            Fact::Posting { posting, .. } => {
                want.insert((kind::POSTING, posting.id.clone()));
                want.insert((kind::OPENING, posting.opening_id.clone()));
                want.insert((kind::EMPLOYER, posting.employer.clone()));
            }
            Fact::Fair { id, .. } => {
                want.insert((kind::FAIR, id.clone()));
            }
            Fact::Participation { fair, employer, .. } => {
                want.insert((kind::PARTICIPATION, format!("{fair}|{employer}")));
            }
            Fact::Application { .. } | Fact::Erased { .. } | Fact::Nothing => {}
        }
    }
    want
}

/// Locks `keys` kind by kind, each kind in id order, and adds what they
/// contribute to `locked`.
async fn lock(
    tx: &mut Tx,
    keys: &BTreeSet<Key>,
    locked: &mut BTreeMap<Key, Contribution>,
) -> anyhow::Result<()> {
    let mut by_kind: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
    for (kind, id) in keys {
        by_kind.entry(kind).or_default().insert(id.clone());
    }
    for (kind, ids) in by_kind {
        let rows = tx.lock_entities(kind, &ids).await?;
        anyhow::ensure!(
            rows.len() == ids.len(),
            "locked {} of {} {kind} entities",
            rows.len(),
            ids.len()
        );
        for (id, c) in rows {
            locked.insert((kind, id), c);
        }
    }
    Ok(())
}

/// One message's working set: the facts of the locked entities as loaded,
/// changed in memory by the events in order, written back at the end.
struct Work {
    deltas: BTreeMap<Cell, Amount>,
    /// Locked entities and what they contribute (updated as they change).
    entities: BTreeMap<Key, Contribution>,
    /// Entities whose contribution changed: saved at the end.
    changed: BTreeSet<Key>,
    /// Entities whose facts changed: recomputed once, at the end.
    dirty: BTreeSet<Key>,
    /// Entities needed but not locked: the round is done again.
    missing: BTreeSet<Key>,
    employments: BTreeMap<String, EmploymentRow>,
    employments_changed: BTreeSet<String>,
    resumes: BTreeMap<String, ResumeRow>,
    resumes_changed: BTreeSet<String>,
    roster: BTreeMap<String, Vec<RosterRow>>,
    postings: BTreeMap<String, (i64, Posting)>,
    postings_changed: BTreeSet<String>,
    participations: BTreeMap<(String, String), ParticipationRow>,
    participations_changed: BTreeSet<(String, String)>,
    /// The last value of each fair in the message.
    fairs: BTreeMap<String, (String, i64)>,
    /// The first copy of each application in the message.
    applications: BTreeMap<String, (String, String, String, i64)>,
    /// The first erasure of each person in the message.
    erasures: BTreeMap<String, i64>,
}

impl Work {
    /// Loads the facts of the locked entities and of the things the facts
    /// name (read after the locks, so they are current).
    async fn load(
        tx: &mut Tx,
        facts: &[Fact],
        locked: &BTreeMap<Key, Contribution>,
    ) -> anyhow::Result<Self> {
        let of_kind = |wanted: &str| -> BTreeSet<String> {
            locked
                .keys()
                .filter(|(k, _)| *k == wanted)
                .map(|(_, id)| id.clone())
                .collect()
        };
        let (persons, openings, employers) = (
            of_kind(PERSON),
            of_kind(kind::OPENING),
            of_kind(kind::EMPLOYER),
        );
        let (mut employment_ids, mut resume_ids, mut posting_ids, mut fairs) = (
            BTreeSet::new(),
            BTreeSet::new(),
            BTreeSet::new(),
            BTreeSet::new(),
        );
        for fact in facts {
            match fact {
                Fact::Hired { employment, .. } => {
                    employment_ids.insert(employment.id.clone());
                }
                Fact::Separated { employment, .. } => {
                    employment_ids.insert(employment.clone());
                }
                Fact::Resume { id, .. } => {
                    resume_ids.insert(id.clone());
                }
                Fact::Posting { posting, .. } => {
                    posting_ids.insert(posting.id.clone());
                }
                Fact::Participation { fair, .. } => {
                    fairs.insert(fair.clone());
                }
                _ => {}
            }
        }
        let mut work = Work {
            deltas: BTreeMap::new(),
            entities: locked.clone(),
            changed: BTreeSet::new(),
            dirty: BTreeSet::new(),
            missing: BTreeSet::new(),
            employments: BTreeMap::new(),
            employments_changed: BTreeSet::new(),
            resumes: BTreeMap::new(),
            resumes_changed: BTreeSet::new(),
            roster: BTreeMap::new(),
            postings: BTreeMap::new(),
            postings_changed: BTreeSet::new(),
            participations: BTreeMap::new(),
            participations_changed: BTreeSet::new(),
            fairs: BTreeMap::new(),
            applications: BTreeMap::new(),
            erasures: BTreeMap::new(),
        };
        for e in tx.employments_of(&employment_ids, &persons).await? {
            work.employments.insert(e.id.clone(), e);
        }
        for r in tx.resumes_of(&resume_ids, &persons).await? {
            work.resumes.insert(r.id.clone(), r);
        }
        for (person, row) in tx.roster_of(&persons).await? {
            work.roster.entry(person).or_default().push(row);
        }
        for (revision, p) in tx.postings_of(&posting_ids, &openings, &employers).await? {
            work.postings.insert(p.id.clone(), (revision, p));
        }
        for p in tx.participations_of(&fairs).await? {
            work.participations
                .insert((p.fair.clone(), p.employer.clone()), p);
        }
        Ok(work)
    }

    /// What a locked entity contributes now (noting it when not locked).
    fn lock(&mut self, kind: &'static str, id: &str) -> Contribution {
        match self.entities.get(&(kind, id.to_string())) {
            Some(c) => c.clone(),
            None => {
                self.missing.insert((kind, id.to_string()));
                Contribution::default()
            }
        }
    }

    /// Marks an entity for recomputation at the end.
    fn touch(&mut self, kind: &'static str, id: &str) {
        self.lock(kind, id);
        self.dirty.insert((kind, id.to_string()));
    }

    /// Applies a recomputed contribution of an entity.
    fn finish(&mut self, kind: &'static str, id: &str, new: Contribution) {
        let old = self.lock(kind, id);
        if old != new {
            Contribution::diff_into(&old, &new, &mut self.deltas);
            self.entities.insert((kind, id.to_string()), new);
            self.changed.insert((kind, id.to_string()));
        }
    }

    /// Applies one fact, as its own transaction would have.
    fn apply(&mut self, fact: &Fact) {
        match fact {
            Fact::Nothing => {}
            Fact::Hired {
                person_key,
                employment,
            } => {
                self.touch(PERSON, person_key);
                let existing = self
                    .employments
                    .get(&employment.id)
                    .map(|e| (e.person_key.clone(), e.hired, e.recorded_at));
                // Of two hires of one employment the one recorded last counts.
                let newer = match &existing {
                    Some((_, true, recorded)) => employment.recorded_at >= *recorded,
                    _ => true,
                };
                if newer {
                    let row = self
                        .employments
                        .entry(employment.id.clone())
                        .or_insert_with(|| EmploymentRow {
                            id: employment.id.clone(),
                            person_key: String::new(),
                            hired: false,
                            district: String::new(),
                            industry: String::new(),
                            in_city: false,
                            start_day: 0,
                            platform: String::new(),
                            recorded_at: 0,
                            end_day: None,
                            end_revision: 0,
                        });
                    row.person_key = person_key.clone();
                    row.hired = true;
                    row.district = employment.district.clone();
                    row.industry = employment.industry.clone();
                    row.in_city = employment.in_city;
                    row.start_day = employment.start_day;
                    row.platform = employment.platform.clone();
                    row.recorded_at = employment.recorded_at;
                    self.employments_changed.insert(employment.id.clone());
                    if let Some((previous, _, _)) = existing
                        && previous != *person_key
                    {
                        self.touch(PERSON, &previous);
                    }
                }
            }
            Fact::Separated {
                employment,
                person_key,
                end_day,
                revision,
            } => {
                let owner = match self.employments.get(employment) {
                    Some(e) => e.person_key.clone(),
                    None => person_key.clone(),
                };
                self.touch(PERSON, &owner);
                match self.employments.get_mut(employment) {
                    Some(e) if *revision > e.end_revision => {
                        e.end_day = Some(*end_day);
                        e.end_revision = *revision;
                    }
                    Some(_) => return,
                    None => {
                        self.employments.insert(
                            employment.clone(),
                            EmploymentRow {
                                id: employment.clone(),
                                person_key: owner,
                                hired: false,
                                district: String::new(),
                                industry: String::new(),
                                in_city: false,
                                start_day: 0,
                                platform: String::new(),
                                recorded_at: 0,
                                end_day: Some(*end_day),
                                end_revision: *revision,
                            },
                        );
                    }
                }
                self.employments_changed.insert(employment.clone());
            }
            Fact::Posting { revision, posting } => {
                self.lock(kind::POSTING, &posting.id);
                let existing = self.postings.get(&posting.id).cloned();
                if existing.as_ref().is_some_and(|(r, _)| *r >= *revision) {
                    return;
                }
                self.postings
                    .insert(posting.id.clone(), (*revision, posting.clone()));
                self.postings_changed.insert(posting.id.clone());
                self.finish(
                    kind::POSTING,
                    &posting.id,
                    domain::posting_contribution(Some(posting)),
                );
                self.touch(kind::OPENING, &posting.opening_id);
                self.touch(kind::EMPLOYER, &posting.employer);
                if let Some((_, old)) = existing {
                    self.touch(kind::OPENING, &old.opening_id);
                    self.touch(kind::EMPLOYER, &old.employer);
                }
            }
            Fact::Resume {
                id,
                revision,
                person_key,
                platform,
                first_day,
                degree,
                title,
                skill,
            } => {
                self.touch(PERSON, person_key);
                let existing = self
                    .resumes
                    .get(id)
                    .map(|r| (r.revision, r.person_key.clone()));
                if existing.as_ref().is_some_and(|(r, _)| *r >= *revision) {
                    return;
                }
                self.resumes.insert(
                    id.clone(),
                    ResumeRow {
                        id: id.clone(),
                        revision: *revision,
                        person_key: person_key.clone(),
                        platform: platform.clone(),
                        first_day: *first_day,
                        degree: *degree,
                        title: *title,
                        skill: *skill,
                    },
                );
                self.resumes_changed.insert(id.clone());
                if let Some((_, previous)) = existing
                    && previous != *person_key
                {
                    self.touch(PERSON, &previous);
                }
            }
            Fact::Application {
                id,
                district,
                industry,
                platform,
                day,
            } => {
                // Counted when written (see `write`): an application
                // recorded before, or earlier in this message, counts once.
                self.applications.entry(id.clone()).or_insert_with(|| {
                    (district.clone(), industry.clone(), platform.clone(), *day)
                });
            }
            Fact::Fair {
                id,
                platform,
                start_day,
            } => {
                self.lock(kind::FAIR, id);
                self.fairs
                    .insert(id.clone(), (platform.clone(), *start_day));
                let mut new = Contribution::default();
                new.add(
                    domain::activity(kind::FAIR, *start_day, "", "", platform),
                    Amount::one(),
                );
                self.finish(kind::FAIR, id, new);
            }
            Fact::Participation {
                fair,
                employer,
                district,
                industry,
                platform,
                start_day,
                register_at,
            } => {
                let entity = format!("{fair}|{employer}");
                self.lock(kind::PARTICIPATION, &entity);
                let key = (fair.clone(), employer.clone());
                // The latest registration wins.
                if self
                    .participations
                    .get(&key)
                    .is_none_or(|p| p.register_at < *register_at)
                {
                    self.participations.insert(
                        key.clone(),
                        ParticipationRow {
                            fair: fair.clone(),
                            employer: employer.clone(),
                            district: district.clone(),
                            industry: industry.clone(),
                            platform: platform.clone(),
                            start_day: *start_day,
                            register_at: *register_at,
                        },
                    );
                    self.participations_changed.insert(key.clone());
                }
                let p = &self.participations[&key];
                let mut new = Contribution::default();
                new.add(
                    domain::activity(
                        kind::PARTICIPATION,
                        p.start_day,
                        &p.district,
                        &p.industry,
                        &p.platform,
                    ),
                    Amount::one(),
                );
                self.finish(kind::PARTICIPATION, &entity, new);
            }
            Fact::Erased { person_key, at } => {
                // The pseudonymous facts stay and keep counting (the
                // contract); the erasure is recorded for audit only.
                self.erasures.entry(person_key.clone()).or_insert(*at);
            }
        }
    }

    /// Recomputes every dirty entity from its facts as they are now.
    fn recompute(&mut self, keys: &RecordKeys) {
        let dirty = std::mem::take(&mut self.dirty);
        let mut employments: BTreeMap<&str, Vec<Employment>> = BTreeMap::new();
        for e in self.employments.values() {
            employments
                .entry(e.person_key.as_str())
                .or_default()
                .push(Employment {
                    id: e.id.clone(),
                    hired: e.hired,
                    district: e.district.clone(),
                    industry: e.industry.clone(),
                    in_city: e.in_city,
                    start_day: e.start_day,
                    platform: e.platform.clone(),
                    recorded_at: e.recorded_at,
                    end_day: e.end_day,
                });
        }
        let mut resumes: BTreeMap<&str, Vec<Resume>> = BTreeMap::new();
        for r in self.resumes.values() {
            resumes
                .entry(r.person_key.as_str())
                .or_default()
                .push(Resume {
                    platform: r.platform.clone(),
                    first_day: r.first_day,
                    degree: r.degree,
                    title: r.title,
                    skill: r.skill,
                });
        }
        let mut by_opening: BTreeMap<&str, Vec<Posting>> = BTreeMap::new();
        let mut by_employer: BTreeMap<&str, Vec<Posting>> = BTreeMap::new();
        for (_, p) in self.postings.values() {
            by_opening
                .entry(p.opening_id.as_str())
                .or_default()
                .push(p.clone());
            by_employer
                .entry(p.employer.as_str())
                .or_default()
                .push(p.clone());
        }
        let mut new = Vec::with_capacity(dirty.len());
        for (kind, id) in dirty {
            let c = match kind {
                PERSON => person_contribution(
                    &PersonFacts {
                        person_key: id.clone(),
                        employments: employments.remove(id.as_str()).unwrap_or_default(),
                        resumes: resumes.remove(id.as_str()).unwrap_or_default(),
                        roster: self.roster.get(&id).cloned().unwrap_or_default(),
                    },
                    keys,
                ),
                kind::OPENING => domain::opening_contribution(
                    by_opening.get(id.as_str()).map_or(&[], Vec::as_slice),
                ),
                _ => domain::employer_contribution(
                    &id,
                    by_employer.get(id.as_str()).map_or(&[], Vec::as_slice),
                ),
            };
            new.push((kind, id, c));
        }
        for (kind, id, c) in new {
            self.finish(kind, &id, c);
        }
    }

    /// Writes the changed facts and contributions back, each table in one
    /// statement per chunk; returns all the differences of the message.
    async fn write(
        mut self,
        tx: &mut Tx,
        keys: &RecordKeys,
    ) -> anyhow::Result<BTreeMap<Cell, Amount>> {
        let rows: Vec<&EmploymentRow> = self
            .employments_changed
            .iter()
            .map(|id| &self.employments[id])
            .collect();
        tx.upsert_employments(&rows).await?;
        let rows: Vec<&ResumeRow> = self
            .resumes_changed
            .iter()
            .map(|id| &self.resumes[id])
            .collect();
        tx.upsert_resumes(&rows).await?;
        let rows: Vec<(i64, &Posting)> = self
            .postings_changed
            .iter()
            .map(|id| {
                let (revision, p) = &self.postings[id];
                (*revision, p)
            })
            .collect();
        tx.upsert_postings(&rows).await?;
        let rows: Vec<(&str, &str, i64)> = self
            .fairs
            .iter()
            .map(|(id, (platform, day))| (id.as_str(), platform.as_str(), *day))
            .collect();
        tx.upsert_fairs(&rows).await?;
        let rows: Vec<&ParticipationRow> = self
            .participations_changed
            .iter()
            .map(|k| &self.participations[k])
            .collect();
        tx.upsert_participations(&rows).await?;
        let rows: Vec<(&str, &str, &str, &str, i64)> = self
            .applications
            .iter()
            .map(|(id, (d, i, p, day))| (id.as_str(), d.as_str(), i.as_str(), p.as_str(), *day))
            .collect();
        let new = tx.insert_applications(&rows).await?;
        for (id, (district, industry, platform, day)) in &self.applications {
            if new.contains(id) {
                let cell = domain::activity(kind::APPLICATION, *day, district, industry, platform);
                let mut c = Contribution::default();
                c.add(cell, Amount::one());
                let c = disclosure::keyed(c, keys.of(id));
                Contribution::diff_into(&Contribution::default(), &c, &mut self.deltas);
            }
        }
        let rows: Vec<(&str, i64)> = self
            .erasures
            .iter()
            .map(|(k, at)| (k.as_str(), *at))
            .collect();
        tx.record_erasures(&rows).await?;
        let rows: Vec<(&str, &str, String)> = self
            .changed
            .iter()
            .map(|(kind, id)| {
                (
                    *kind,
                    id.as_str(),
                    self.entities[&(*kind, id.clone())].to_json(),
                )
            })
            .collect();
        tx.save_entities(&rows).await?;
        Ok(self.deltas)
    }
}

/// A validated, normalised fact.
enum Fact {
    Hired {
        person_key: String,
        employment: Employment,
    },
    Separated {
        employment: String,
        person_key: String,
        end_day: i64,
        revision: i64,
    },
    Posting {
        revision: i64,
        posting: Posting,
    },
    Nothing,
    Resume {
        id: String,
        revision: i64,
        person_key: String,
        platform: String,
        first_day: i64,
        degree: i64,
        title: i64,
        skill: i64,
    },
    Application {
        id: String,
        district: String,
        industry: String,
        platform: String,
        day: i64,
    },
    Fair {
        id: String,
        platform: String,
        start_day: i64,
    },
    Participation {
        fair: String,
        employer: String,
        district: String,
        industry: String,
        platform: String,
        start_day: i64,
        register_at: i64,
    },
    Erased {
        person_key: String,
        at: i64,
    },
}

struct Checker {
    v: FieldViolations,
    prefix: &'static str,
}

impl Checker {
    fn path(&self, field: &str) -> String {
        if self.prefix.is_empty() {
            field.to_string()
        } else {
            format!("{}.{field}", self.prefix)
        }
    }
    fn add(&mut self, field: &str, why: impl Into<String>) {
        let p = self.path(field);
        self.v.add(p, why);
    }
    fn person_key(&mut self, field: &str, s: &str) -> String {
        if !codes::is_person_key(s) {
            self.add(field, codes::person_key::RULE);
        }
        s.to_string()
    }
    fn district(&mut self, field: &str, s: &str) -> String {
        if !codes::is_district(s) {
            self.add(field, codes::district::RULE);
        }
        s.to_string()
    }
    fn industry(&mut self, field: &str, s: &str) -> String {
        match codes::industry::industry(s) {
            Ok(i) => i,
            Err(why) => {
                self.add(field, why);
                String::new()
            }
        }
    }
    fn employer(&mut self, field: &str, s: &str) -> String {
        match codes::credit_code::credit_code(s) {
            Ok(c) => c,
            Err(why) => {
                self.add(field, why);
                String::new()
            }
        }
    }
    fn name(&mut self, field: &str, s: &str, collection: &str) -> String {
        match names::resource_platform(s, collection) {
            Some(p) => p.to_string(),
            None => {
                self.add(
                    field,
                    format!("must be platforms/{{platform}}/{collection}/{{id}}"),
                );
                String::new()
            }
        }
    }
    fn uuid(&mut self, field: &str, s: &str) {
        if !names::is_uuid(s) {
            self.add(field, "must be a lower-case hyphenated UUID");
        }
    }
    /// A required instant as unix microseconds; `None` when invalid.
    fn time(&mut self, field: &str, t: Option<&prost_types::Timestamp>) -> Option<i64> {
        let Some(t) = t else {
            self.add(field, "required");
            return None;
        };
        codes::micros(t).map_err(|why| self.add(field, why)).ok()
    }
    /// An optional instant as unix microseconds; 0 when unset or invalid.
    fn optional_time(&mut self, field: &str, t: Option<&prost_types::Timestamp>) -> i64 {
        t.map_or(0, |t| self.time(field, Some(t)).unwrap_or(0))
    }
    /// The city's day of a required instant.
    fn day(&mut self, field: &str, t: Option<&prost_types::Timestamp>) -> i64 {
        self.time(field, t).map_or(0, codes::day_of_micros)
    }
    fn date(&mut self, field: &str, d: Option<&talent_proto::google::r#type::Date>) -> i64 {
        match codes::check_date(d, 1900..=2100) {
            Ok(day) => day,
            Err(why) => {
                self.add(field, why);
                0
            }
        }
    }
    fn revision(&mut self, field: &str, r: i64) -> i64 {
        if r < 1 {
            self.add(field, "must be at least 1");
        }
        r
    }
}

fn check_event(e: &ev::Event, settings: &IngestSettings) -> Result<Fact, FieldViolations> {
    let mut c = Checker {
        v: FieldViolations::new(),
        prefix: "",
    };
    c.uuid("event_id", &e.event_id);
    if e.source.is_empty() || e.source.len() > 128 || !e.source.is_ascii() {
        c.add("source", "must be 1 to 128 ASCII characters");
    }
    if e.sequence == 0 {
        c.add("sequence", "must be at least 1");
    }
    let occurred = c.time("occurred_at", e.occurred_at.as_ref());
    let recorded = c.time("recorded_at", e.recorded_at.as_ref());
    if let (Some(occurred), Some(recorded)) = (occurred, recorded)
        && recorded < occurred
    {
        c.add("recorded_at", "must not be before occurred_at");
    }
    let recorded = recorded.unwrap_or(0);
    let in_city = |district: &str| codes::in_city(district, &settings.city_prefix);
    let fact = match &e.payload {
        None => {
            c.add("payload", "exactly one fact is required");
            Fact::Nothing
        }
        Some(Payload::Hired(h)) => {
            c.prefix = "hired";
            let platform = c.name("employment", &h.employment, "employments");
            let person_key = c.person_key("person_key", &h.person_key);
            c.employer("employer_credit_code", &h.employer_credit_code);
            let district = c.district("workplace_district", &h.workplace_district);
            let industry = c.industry("industry", &h.industry);
            let start_day = c.date("start_date", h.start_date.as_ref());
            let reporter = if !h.reporting_platform_id.is_empty() {
                h.reporting_platform_id.clone()
            } else if !e.platform_id.is_empty() {
                e.platform_id.clone()
            } else {
                platform
            };
            Fact::Hired {
                person_key,
                employment: Employment {
                    id: h.employment.clone(),
                    hired: true,
                    in_city: in_city(&district),
                    district,
                    industry,
                    start_day,
                    platform: reporter,
                    recorded_at: recorded,
                    end_day: None,
                },
            }
        }
        Some(Payload::Separated(s)) => {
            c.prefix = "separated";
            c.name("employment", &s.employment, "employments");
            let person_key = c.person_key("person_key", &s.person_key);
            let end_day = c.date("end_date", s.end_date.as_ref());
            let revision = c.revision("revision", s.revision);
            Fact::Separated {
                employment: s.employment.clone(),
                person_key,
                end_day,
                revision,
            }
        }
        Some(Payload::PostingPublished(ev::PostingPublished { facts }))
        | Some(Payload::PostingUpdated(ev::PostingUpdated { facts })) => {
            c.prefix = if matches!(e.payload, Some(Payload::PostingPublished(_))) {
                "posting_published"
            } else {
                "posting_updated"
            };
            match facts {
                None => {
                    c.add("facts", "required");
                    Fact::Nothing
                }
                Some(f) => check_posting(&mut c, f),
            }
        }
        Some(Payload::PostingClosed(p)) => {
            c.prefix = "posting_closed";
            c.name("posting", &p.posting, "postings");
            c.revision("revision", p.revision);
            // Closing changes no figure: postings count when published.
            Fact::Nothing
        }
        Some(Payload::ResumeReceived(r)) => {
            c.prefix = "resume_received";
            let platform = c.name("resume", &r.resume, "resumes");
            let revision = c.revision("revision", r.revision);
            let person_key = c.person_key("person_key", &r.person_key);
            let first_day = c.day("first_received_at", r.first_received_at.as_ref());
            let (mut degree, mut title, mut skill) = (0, 0, 0);
            match (&r.attributes, r.statistical_use_consent) {
                (Some(_), false) => c.add(
                    "attributes",
                    "must be unset without statistical_use_consent",
                ),
                (Some(a), true) => {
                    if a.education.len() > 10 {
                        c.add("attributes.education", "at most 10 entries");
                    }
                    for (i, ed) in a.education.iter().enumerate() {
                        if !(1..=5).contains(&ed.degree_level) {
                            c.add(
                                &format!("attributes.education[{i}].degree_level"),
                                "must be a known degree level",
                            );
                        }
                        degree = degree.max(i64::from(ed.degree_level));
                    }
                    if !(0..=5).contains(&a.professional_title_level) {
                        c.add("attributes.professional_title_level", "unknown value");
                    }
                    if !(0..=8).contains(&a.vocational_skill_level) {
                        c.add("attributes.vocational_skill_level", "unknown value");
                    }
                    title = i64::from(a.professional_title_level);
                    skill = i64::from(a.vocational_skill_level);
                }
                (None, _) => {}
            }
            Fact::Resume {
                id: r.resume.clone(),
                revision,
                person_key,
                platform,
                first_day,
                degree,
                title,
                skill,
            }
        }
        Some(Payload::ApplicationSubmitted(a)) => {
            c.prefix = "application_submitted";
            let platform = c.name("application", &a.application, "applications");
            c.name("resume", &a.resume, "resumes");
            c.name("posting", &a.posting, "postings");
            let district = c.district("workplace_district", &a.workplace_district);
            let industry = c.industry("industry", &a.industry);
            let day = c.day("submit_time", a.submit_time.as_ref());
            Fact::Application {
                id: a.application.clone(),
                district,
                industry,
                platform,
                day,
            }
        }
        Some(Payload::FairHeld(f)) => {
            c.prefix = "fair_held";
            let platform = c.name("fair", &f.fair, "fairs");
            if f.format == 0 || f.format > 3 {
                c.add("format", "must be ONLINE, ONSITE or HYBRID");
            }
            let start_day = c.day("start_time", f.start_time.as_ref());
            Fact::Fair {
                id: f.fair.clone(),
                platform,
                start_day,
            }
        }
        Some(Payload::FairParticipation(p)) => {
            c.prefix = "fair_participation";
            let platform = c.name("fair", &p.fair, "fairs");
            let employer = c.employer("employer_credit_code", &p.employer_credit_code);
            let district = c.district("employer_district", &p.employer_district);
            let industry = c.industry("employer_industry", &p.employer_industry);
            let start_day = c.day("fair_start_time", p.fair_start_time.as_ref());
            let register = c.optional_time("register_time", p.register_time.as_ref());
            Fact::Participation {
                fair: p.fair.clone(),
                employer,
                district,
                industry,
                platform,
                start_day,
                register_at: register,
            }
        }
        Some(Payload::PersonErased(p)) => {
            c.prefix = "person_erased";
            let person_key = c.person_key("person_key", &p.person_key);
            let at = c.optional_time("erase_time", p.erase_time.as_ref());
            Fact::Erased { person_key, at }
        }
    };
    if c.v.is_empty() { Ok(fact) } else { Err(c.v) }
}

fn check_posting(c: &mut Checker, f: &ev::PostingFacts) -> Fact {
    let platform = c.name("facts.posting", &f.posting, "postings");
    let revision = c.revision("facts.revision", f.revision);
    c.uuid("facts.opening_id", &f.opening_id);
    let employer = c.employer("facts.employer_credit_code", &f.employer_credit_code);
    let district = c.district("facts.workplace_district", &f.workplace_district);
    let industry = c.industry("facts.industry", &f.industry);
    if f.headcount < 1 {
        c.add("facts.headcount", "must be at least 1");
    }
    let publish = c
        .time("facts.publish_time", f.publish_time.as_ref())
        .unwrap_or(0);
    if !f.fair.is_empty() {
        c.name("facts.fair", &f.fair, "fairs");
    }
    Fact::Posting {
        revision,
        posting: Posting {
            id: f.posting.clone(),
            opening_id: f.opening_id.clone(),
            employer,
            district,
            industry,
            headcount: i64::from(f.headcount),
            publish_at: publish,
            publish_day: codes::day_of_micros(publish),
            platform,
        },
    }
}

/// The outcome of one roster row.
pub enum RowOutcome {
    Accepted,
    Unchanged,
    Rejected(RpcStatus),
}

/// Imports one request message's rows in one transaction.
pub async fn import_roster(
    store: &Store,
    settings: &IngestSettings,
    rows: Vec<pb::GraduateRosterRow>,
    first_position: u64,
) -> Result<Vec<(String, RowOutcome)>, ApiError> {
    let now = codes::now_micros();
    let mut batch = Batch::begin(store).await?;
    let mut out = Vec::with_capacity(rows.len());
    for (i, row) in rows.into_iter().enumerate() {
        let position = first_position + i as u64;
        let row_id = if row.row_id.is_empty() {
            position.to_string()
        } else {
            row.row_id.clone()
        };
        let checked = check_row(&row, settings);
        let outcome = match checked {
            Err(v) => RowOutcome::Rejected(rpc_status(v)),
            Ok(r) => {
                batch.touch(PERSON, &r.person_key).await?;
                let existing = batch
                    .tx
                    .roster_row(&r.person_key, &r.university, r.degree)
                    .await?;
                if existing.as_ref().is_some_and(|(name, disc, day)| {
                    *name == r.name && *disc == r.discipline && *day == r.day
                }) {
                    RowOutcome::Unchanged
                } else {
                    batch
                        .tx
                        .upsert_roster_row(
                            &r.person_key,
                            &r.university,
                            r.degree,
                            &r.name,
                            r.discipline,
                            r.day,
                            r.cohort,
                            now,
                            now.saturating_mul(1000)
                                .saturating_add(i64::try_from(position % 1000).unwrap_or(0)),
                        )
                        .await?;
                    RowOutcome::Accepted
                }
            }
        };
        out.push((row_id, outcome));
    }
    batch.commit(&settings.record_keys).await?;
    Ok(out)
}

struct Row {
    person_key: String,
    university: String,
    name: String,
    degree: i64,
    discipline: i64,
    day: i64,
    cohort: i64,
}

fn check_row(
    row: &pb::GraduateRosterRow,
    settings: &IngestSettings,
) -> Result<Row, FieldViolations> {
    use pb::graduate_roster_row::Person;
    let mut v = FieldViolations::new();
    if row.row_id.chars().count() > 64 {
        v.add("row_id", "at most 64 characters");
    }
    let person_key = match &row.person {
        None => {
            v.add("person", "a person_key or a resident_id_number is required");
            String::new()
        }
        Some(Person::PersonKey(k)) => {
            if !codes::is_person_key(k) {
                v.add("person_key", codes::person_key::RULE);
            }
            k.clone()
        }
        Some(Person::ResidentIdNumber(id)) => match ResidentId::parse(id) {
            Ok(id) => codes::person_key(settings.person_key_secret.as_bytes(), &id),
            Err(why) => {
                v.add("resident_id_number", why);
                String::new()
            }
        },
    };
    if !codes::is_university_code(&row.university_code) {
        v.add("university_code", codes::university::RULE);
    }
    let name = row.university_name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        v.add("university_name", "must be 1 to 100 characters");
    } else if name.chars().any(char::is_control) {
        v.add("university_name", "must not contain control characters");
    }
    if !(1..=5).contains(&row.degree_level) {
        v.add("degree_level", "required: a known degree level");
    }
    if !(0..=14).contains(&row.discipline) {
        v.add("discipline", "unknown discipline");
    }
    let day = match codes::check_date(row.graduation_date.as_ref(), 1950..=2100) {
        Ok(d) => d,
        Err(why) => {
            v.add("graduation_date", why);
            0
        }
    };
    v.into_result().map_err(|e| match e {
        ApiError::InvalidArgument(v) => v,
        _ => FieldViolations::new(),
    })?;
    Ok(Row {
        person_key,
        university: row.university_code.clone(),
        name,
        degree: i64::from(row.degree_level),
        discipline: i64::from(row.discipline),
        day,
        cohort: i64::from(codes::date_of_day(day).year()),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use talent_proto::google::r#type::Date;
    use talent_server::Db;

    use super::*;
    use crate::store::test_db::{database, migrate};

    pub(crate) const PLATFORM: &str = "p";

    /// A valid unified social credit code.
    pub(crate) fn employer() -> String {
        codes::credit_code::with_check_character("91370200000000001").unwrap()
    }

    pub(crate) fn event(n: u64, payload: Payload) -> ev::Event {
        ev::Event {
            event_id: format!("00000000-0000-4000-8000-{n:012x}"),
            source: "recruiting".into(),
            sequence: n,
            occurred_at: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            recorded_at: Some(prost_types::Timestamp {
                seconds: 1_700_000_000 + n as i64,
                nanos: 0,
            }),
            platform_id: PLATFORM.into(),
            payload: Some(payload),
        }
    }

    pub(crate) fn date(month: i32) -> Option<Date> {
        Some(Date {
            year: 2025,
            month,
            day: 1,
        })
    }

    async fn count(db: &Db, sql: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match db {
            Db::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
            Db::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
        }
    }

    /// Group commit applies several request messages in one transaction,
    /// so one `publish` can touch more persons and employments than one
    /// key list of a bulk statement holds (2,000): each list is cut in
    /// chunks, and every event must still be applied once.
    #[tokio::test]
    async fn a_transaction_past_one_key_list_applies_every_event_once() {
        const PERSONS: u64 = 2_500;
        let (db, _guard) = database().await;
        migrate(&db, None).await;
        let store = Store::new(db.clone());
        let settings = IngestSettings {
            person_key_secret: "test".into(),
            city_prefix: "3702".into(),
            record_keys: RecordKeys::new("test record keys"),
        };
        let employment = |n: u64| format!("platforms/{PLATFORM}/employments/e-{n}");
        let person = |n: u64| format!("{n:064x}");
        let hires: Vec<ev::Event> = (0..PERSONS)
            .map(|n| {
                event(
                    n + 1,
                    Payload::Hired(ev::Hired {
                        employment: employment(n),
                        person_key: person(n),
                        employer_credit_code: employer(),
                        workplace_district: "370212".into(),
                        industry: "C39".into(),
                        start_date: date(1),
                        reporting_platform_id: PLATFORM.into(),
                        ..Default::default()
                    }),
                )
            })
            .collect();
        let outcomes = |acks: Vec<pb::EventAck>| -> BTreeMap<i32, usize> {
            let mut out = BTreeMap::new();
            for ack in acks {
                *out.entry(ack.outcome).or_default() += 1;
            }
            out
        };
        let applied = pb::EventOutcome::Applied as i32;
        let duplicate = pb::EventOutcome::Duplicate as i32;

        let acks = publish(&store, &settings, &hires).await.unwrap();
        assert_eq!(outcomes(acks), BTreeMap::from([(applied, 2_500)]));
        // Every hire separated, and the hires sent again, in one call:
        // the separations read and lock what the hires stored.
        let mut next: Vec<ev::Event> = (0..PERSONS)
            .map(|n| {
                event(
                    PERSONS + n + 1,
                    Payload::Separated(ev::Separated {
                        employment: employment(n),
                        person_key: person(n),
                        end_date: date(7),
                        revision: 1,
                    }),
                )
            })
            .collect();
        next.extend(hires.iter().cloned());
        let acks = publish(&store, &settings, &next).await.unwrap();
        assert_eq!(
            outcomes(acks),
            BTreeMap::from([(applied, 2_500), (duplicate, 2_500)])
        );

        assert_eq!(
            count(&db, "SELECT COUNT(*) FROM applied_events").await,
            5_000
        );
        assert_eq!(
            count(
                &db,
                "SELECT COUNT(*) FROM employments WHERE hired = 1 AND in_city = 1 \
                 AND end_day IS NOT NULL AND end_revision = 1"
            )
            .await,
            2_500
        );
        assert_eq!(
            count(&db, "SELECT COUNT(DISTINCT person_key) FROM employments").await,
            2_500
        );
    }
}
