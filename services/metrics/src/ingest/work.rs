//! Application: the facts of one transaction applied in memory to the
//! entities they touch. The entities are locked and their facts loaded in
//! bulk, the facts applied in order (as their own transactions would
//! have been), every entity whose facts changed recomputed once, and the
//! changed rows and the differences of the aggregates written back in
//! bulk, so the number of statements does not grow with the facts.

use std::collections::{BTreeMap, BTreeSet};

use crate::{
    disclosure::{self, RecordKeys},
    domain::{
        self, Amount, Cell, Contribution, Employment, PersonFacts, Posting, Resume, RosterRow,
        kind,
        precedence::{hire_counts, registration_counts, revision_counts},
    },
    store::{EmploymentRow, ParticipationRow, R, ResumeRow, RosterRecord, Tx},
};

use super::{PERSON, validate::Fact};

/// A person's contribution, keyed by the person's record key.
pub(super) fn person_contribution(facts: &PersonFacts, keys: &RecordKeys) -> Contribution {
    disclosure::keyed(facts.contribution(), keys.of(&facts.person_key))
}

/// An entity: its kind and id.
pub(super) type Key = (&'static str, String);

/// The entities the facts name directly.
pub(super) fn first_guess(facts: &[Fact]) -> BTreeSet<Key> {
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
            Fact::Roster(r) => {
                want.insert((PERSON, r.person_key.clone()));
            }
            Fact::Application { .. } | Fact::Erased { .. } | Fact::Nothing => {}
        }
    }
    want
}

/// Locks `keys` kind by kind, each kind in id order, and adds what they
/// contribute to `locked`.
pub(super) async fn lock(
    tx: &mut Tx,
    keys: &BTreeSet<Key>,
    locked: &mut BTreeMap<Key, Contribution>,
) -> R<()> {
    let mut by_kind: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
    for (kind, id) in keys {
        by_kind.entry(kind).or_default().insert(id.clone());
    }
    for (kind, ids) in by_kind {
        for (id, c) in tx.lock_entities(kind, &ids).await? {
            locked.insert((kind, id), c);
        }
    }
    Ok(())
}

/// One message's working set: the facts of the locked entities as loaded,
/// changed in memory by the events in order, written back at the end.
pub(super) struct Work {
    deltas: BTreeMap<Cell, Amount>,
    /// Locked entities and what they contribute (updated as they change).
    entities: BTreeMap<Key, Contribution>,
    /// Entities whose contribution changed: saved at the end.
    changed: BTreeSet<Key>,
    /// Entities whose facts changed: recomputed once, at the end.
    dirty: BTreeSet<Key>,
    /// Entities needed but not locked: the round is done again.
    pub(super) missing: BTreeSet<Key>,
    employments: BTreeMap<String, EmploymentRow>,
    employments_changed: BTreeSet<String>,
    resumes: BTreeMap<String, ResumeRow>,
    resumes_changed: BTreeSet<String>,
    /// Each person's roster rows.
    roster: BTreeMap<String, Vec<RosterRecord>>,
    roster_changed: BTreeSet<(String, String, i64)>,
    /// The last name given to each university in the message.
    universities: BTreeMap<String, String>,
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
    pub(super) async fn load(
        tx: &mut Tx,
        facts: &[Fact],
        locked: &BTreeMap<Key, Contribution>,
    ) -> R<Self> {
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
            roster_changed: BTreeSet::new(),
            universities: BTreeMap::new(),
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
        for r in tx.roster_of(&persons).await? {
            work.roster.entry(r.person_key.clone()).or_default().push(r);
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

    /// Applies one fact, as its own transaction would have; returns
    /// whether it changed a stored fact (a fact that an earlier or a newer
    /// one supersedes changes nothing).
    pub(super) fn apply(&mut self, fact: &Fact) -> bool {
        match fact {
            Fact::Nothing => false,
            Fact::Hired {
                person_key,
                employment,
            } => {
                self.touch(PERSON, person_key);
                let existing = self
                    .employments
                    .get(&employment.id)
                    .map(|e| (e.person_key.clone(), e.hired, e.recorded_at));
                let stored_hire = existing
                    .as_ref()
                    .and_then(|(_, hired, recorded)| hired.then_some(*recorded));
                let counts = hire_counts(stored_hire, employment.recorded_at);
                if counts {
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
                counts
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
                    Some(e) if revision_counts(Some(e.end_revision), *revision) => {
                        e.end_day = Some(*end_day);
                        e.end_revision = *revision;
                    }
                    Some(_) => return false,
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
                true
            }
            Fact::Posting { revision, posting } => {
                self.lock(kind::POSTING, &posting.id);
                let existing = self.postings.get(&posting.id).cloned();
                if !revision_counts(existing.as_ref().map(|(r, _)| *r), *revision) {
                    return false;
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
                true
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
                if !revision_counts(existing.as_ref().map(|(r, _)| *r), *revision) {
                    return false;
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
                true
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
                true
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
                true
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
                let counts = registration_counts(
                    self.participations.get(&key).map(|p| p.register_at),
                    *register_at,
                );
                if counts {
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
                counts
            }
            Fact::Erased { person_key, at } => {
                // The pseudonymous facts stay and keep counting (the
                // contract); the erasure is recorded for audit only.
                self.erasures.entry(person_key.clone()).or_insert(*at);
                true
            }
            Fact::Roster(record) => {
                self.touch(PERSON, &record.person_key);
                let rows = self.roster.entry(record.person_key.clone()).or_default();
                let same_row = |r: &&mut RosterRecord| {
                    r.row.university_code == record.row.university_code
                        && r.row.degree == record.row.degree
                };
                match rows.iter_mut().find(same_row) {
                    Some(stored)
                        if stored.university_name == record.university_name
                            && stored.row.discipline == record.row.discipline
                            && stored.graduation_day == record.graduation_day =>
                    {
                        return false;
                    }
                    // A row imported again keeps its place of import.
                    Some(stored) => {
                        stored.university_name = record.university_name.clone();
                        stored.row.discipline = record.row.discipline;
                        stored.row.cohort = record.row.cohort;
                        stored.graduation_day = record.graduation_day;
                    }
                    None => rows.push(record.clone()),
                }
                self.roster_changed.insert((
                    record.person_key.clone(),
                    record.row.university_code.clone(),
                    record.row.degree,
                ));
                self.universities.insert(
                    record.row.university_code.clone(),
                    record.university_name.clone(),
                );
                true
            }
        }
    }

    /// Recomputes every dirty entity from its facts as they are now.
    pub(super) fn recompute(&mut self, keys: &RecordKeys) {
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
                        roster: self.roster.get(&id).map_or_else(Vec::new, |rows| {
                            rows.iter()
                                .map(|r| r.row.clone())
                                .collect::<Vec<RosterRow>>()
                        }),
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
    pub(super) async fn write(
        mut self,
        tx: &mut Tx,
        keys: &RecordKeys,
        now: i64,
    ) -> R<BTreeMap<Cell, Amount>> {
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
        let rows: Vec<&RosterRecord> = self
            .roster_changed
            .iter()
            .filter_map(|(person, university, degree)| {
                self.roster
                    .get(person)?
                    .iter()
                    .find(|r| r.row.university_code == *university && r.row.degree == *degree)
            })
            .collect();
        tx.upsert_roster(&rows, now).await?;
        let rows: Vec<(&str, &str)> = self
            .universities
            .iter()
            .map(|(code, name)| (code.as_str(), name.as_str()))
            .collect();
        tx.upsert_universities(&rows).await?;
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
