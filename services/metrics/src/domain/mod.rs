//! The statistical definitions, as pure functions from one entity's facts
//! to the cells it contributes to the aggregates.
//!
//! Every change to an entity's facts recomputes the entity's contribution
//! from all its facts and applies the difference to the aggregates, so the
//! figures do not depend on the order in which facts arrive.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use talent_proto::talent::r#type::v1::TalentTier;

/// Talent tiers as `talent.type.v1.TalentTier` numbers.
pub const TIER_NONE: i64 = TalentTier::None as i64;
pub const TIER_GENERAL: i64 = TalentTier::General as i64;
pub const TIER_HIGH: i64 = TalentTier::High as i64;

/// The day before every real day: the start of every outcome timeline.
pub const BEGINNING: i64 = -1_000_000;

/// Outcome places of cohort members not employed in the city.
pub const OUTSIDE: &str = "OUTSIDE";
pub const NONE: &str = "NONE";

/// Kinds of summable activity cells.
pub mod precedence;
pub mod projection;

pub mod kind {
    pub const POSTING: &str = "posting";
    pub const OPENING: &str = "opening";
    pub const FAIR: &str = "fair";
    pub const PARTICIPATION: &str = "participation";
    pub const RESUME: &str = "resume";
    pub const APPLICATION: &str = "application";
    /// Distinct cells.
    pub const EMPLOYER: &str = "employer";
    pub const SEEKER: &str = "seeker";
}

/// One cell of one aggregate table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Cell {
    Gathered {
        day: i64,
        district: String,
        industry: String,
        platform: String,
        tier: i64,
    },
    Outcome {
        cohort: i64,
        day: i64,
        university: String,
        degree: i64,
        discipline: i64,
        district: String,
        industry: String,
    },
    Activity {
        kind: String,
        day: i64,
        district: String,
        industry: String,
        platform: String,
        tier: i64,
    },
    Distinct {
        kind: String,
        entity: String,
        day: i64,
        district: String,
        industry: String,
        platform: String,
        tier: i64,
    },
}

/// What a cell holds: a count, for openings the headcount, and for counts
/// of persons the key sum of the units counted (`disclosure`; 0 for
/// notices, which are never perturbed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amount {
    pub n: i64,
    pub headcount: i64,
    /// Modulo 2³²; absent from contributions stored before record keys.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub key: u32,
}

fn is_zero(key: &u32) -> bool {
    *key == 0
}

impl Amount {
    pub fn one() -> Self {
        Self {
            n: 1,
            headcount: 0,
            key: 0,
        }
    }
}

/// The cells one entity contributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contribution(pub BTreeMap<Cell, Amount>);

impl Contribution {
    pub fn add(&mut self, cell: Cell, amount: Amount) {
        let a = self.0.entry(cell).or_default();
        a.n += amount.n;
        a.headcount += amount.headcount;
        a.key = a.key.wrapping_add(amount.key);
    }

    /// Sets a cell to one (for distinct presence cells).
    pub fn set_one(&mut self, cell: Cell) {
        self.0.insert(cell, Amount::one());
    }

    pub fn to_json(&self) -> String {
        let list: Vec<(&Cell, &Amount)> = self
            .0
            .iter()
            .filter(|(_, a)| **a != Amount::default())
            .collect();
        serde_json::to_string(&list).expect("cells serialise")
    }

    pub fn from_json(s: &str) -> anyhow::Result<Self> {
        let list: Vec<(Cell, Amount)> = serde_json::from_str(s)?;
        Ok(Self(list.into_iter().collect()))
    }

    /// Adds `new − old` to `into`.
    pub fn diff_into(old: &Self, new: &Self, into: &mut BTreeMap<Cell, Amount>) {
        for (cell, a) in &new.0 {
            let e = into.entry(cell.clone()).or_default();
            e.n += a.n;
            e.headcount += a.headcount;
            e.key = e.key.wrapping_add(a.key);
        }
        for (cell, a) in &old.0 {
            let e = into.entry(cell.clone()).or_default();
            e.n -= a.n;
            e.headcount -= a.headcount;
            e.key = e.key.wrapping_sub(a.key);
        }
    }
}

/// An employment of a person as the facts know it.
#[derive(Debug, Clone)]
pub struct Employment {
    pub id: String,
    pub hired: bool,
    pub district: String,
    pub industry: String,
    pub in_city: bool,
    pub start_day: i64,
    pub platform: String,
    pub recorded_at: i64,
    pub end_day: Option<i64>,
}

impl Employment {
    fn active_on(&self, day: i64) -> bool {
        self.hired && self.start_day <= day && self.end_day.is_none_or(|end| end > day)
    }
}

/// A résumé of a person.
#[derive(Debug, Clone)]
pub struct Resume {
    pub platform: String,
    pub first_day: i64,
    pub degree: i64,
    pub title: i64,
    pub skill: i64,
}

/// A roster row of a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterRow {
    pub university_code: String,
    pub degree: i64,
    pub discipline: i64,
    pub cohort: i64,
    pub import_seq: i64,
}

/// Everything known about one person.
#[derive(Debug, Clone, Default)]
pub struct PersonFacts {
    pub person_key: String,
    pub employments: Vec<Employment>,
    pub resumes: Vec<Resume>,
    pub roster: Vec<RosterRow>,
}

/// Where a cohort member is on a day: (district, industry section) of the
/// in-city employment active that day that started last (ties: recorded
/// last), else OUTSIDE when employed only outside the city, else NONE.
fn place_on(employments: &[Employment], day: i64) -> (String, String) {
    let active: Vec<&Employment> = employments.iter().filter(|e| e.active_on(day)).collect();
    let best = active.iter().filter(|e| e.in_city).max_by(|a, b| {
        (a.start_day, a.recorded_at, &a.id).cmp(&(b.start_day, b.recorded_at, &b.id))
    });
    match best {
        Some(e) => (e.district.clone(), e.industry.clone()),
        None if !active.is_empty() => (OUTSIDE.into(), OUTSIDE.into()),
        None => (NONE.into(), NONE.into()),
    }
}

impl PersonFacts {
    pub fn tier(&self) -> i64 {
        let degree = self
            .resumes
            .iter()
            .map(|r| r.degree)
            .chain(self.roster.iter().map(|r| r.degree))
            .max()
            .unwrap_or(0);
        let title = self.resumes.iter().map(|r| r.title).max().unwrap_or(0);
        let skill = self.resumes.iter().map(|r| r.skill).max().unwrap_or(0);
        talent_codes::tier(degree, title, skill) as i64
    }

    /// The person's cells: talent gathered, cohort outcomes, résumés.
    pub fn contribution(&self) -> Contribution {
        let mut c = Contribution::default();
        let tier = self.tier();

        // Talents gathered: the first in-city employment ever known.
        if tier != TIER_NONE
            && let Some(first) = self
                .employments
                .iter()
                .filter(|e| e.hired && e.in_city)
                .min_by(|a, b| {
                    (a.start_day, a.recorded_at, &a.id).cmp(&(b.start_day, b.recorded_at, &b.id))
                })
        {
            c.add(
                Cell::Gathered {
                    day: first.start_day,
                    district: first.district.clone(),
                    industry: first.industry.clone(),
                    platform: first.platform.clone(),
                    tier,
                },
                Amount::one(),
            );
        }

        // Graduate outcomes: one timeline per cohort the person is in.
        let mut cohorts: BTreeMap<i64, &RosterRow> = BTreeMap::new();
        for row in &self.roster {
            cohorts
                .entry(row.cohort)
                .and_modify(|best| {
                    if (row.degree, -row.import_seq, &row.university_code)
                        > (best.degree, -best.import_seq, &best.university_code)
                    {
                        *best = row;
                    }
                })
                .or_insert(row);
        }
        if !cohorts.is_empty() {
            let mut days: Vec<i64> = self
                .employments
                .iter()
                .filter(|e| e.hired)
                .flat_map(|e| std::iter::once(e.start_day).chain(e.end_day))
                .collect();
            days.sort_unstable();
            days.dedup();
            let mut timeline = vec![(BEGINNING, (NONE.to_string(), NONE.to_string()))];
            for day in days {
                let place = place_on(&self.employments, day);
                if timeline.last().is_some_and(|(_, p)| *p != place) {
                    timeline.push((day, place));
                }
            }
            for (cohort, row) in cohorts {
                let cell = |day: i64, place: &(String, String)| Cell::Outcome {
                    cohort,
                    day,
                    university: row.university_code.clone(),
                    degree: row.degree,
                    discipline: row.discipline,
                    district: place.0.clone(),
                    industry: place.1.clone(),
                };
                let mut previous: Option<&(String, String)> = None;
                for (day, place) in &timeline {
                    if let Some(prev) = previous {
                        c.add(
                            cell(*day, prev),
                            Amount {
                                n: -1,
                                ..Amount::default()
                            },
                        );
                    }
                    c.add(cell(*day, place), Amount::one());
                    previous = Some(place);
                }
            }
        }

        // Résumés received and distinct job seekers, by the person's tier.
        for r in &self.resumes {
            c.add(
                Cell::Activity {
                    kind: kind::RESUME.into(),
                    day: r.first_day,
                    district: String::new(),
                    industry: String::new(),
                    platform: r.platform.clone(),
                    tier,
                },
                Amount::one(),
            );
            c.set_one(Cell::Distinct {
                kind: kind::SEEKER.into(),
                entity: self.person_key.clone(),
                day: r.first_day,
                district: String::new(),
                industry: String::new(),
                platform: r.platform.clone(),
                tier,
            });
        }
        c
    }
}

/// A posting at its highest known revision.
#[derive(Debug, Clone)]
pub struct Posting {
    pub id: String,
    pub opening_id: String,
    pub employer: String,
    pub district: String,
    pub industry: String,
    pub headcount: i64,
    pub publish_at: i64,
    pub publish_day: i64,
    pub platform: String,
}

pub fn activity(kind: &str, day: i64, district: &str, industry: &str, platform: &str) -> Cell {
    Cell::Activity {
        kind: kind.into(),
        day,
        district: district.into(),
        industry: industry.into(),
        platform: platform.into(),
        tier: 0,
    }
}

/// One posting published (every copy counts).
pub fn posting_contribution(p: Option<&Posting>) -> Contribution {
    let mut c = Contribution::default();
    if let Some(p) = p {
        c.add(
            activity(
                kind::POSTING,
                p.publish_day,
                &p.district,
                &p.industry,
                &p.platform,
            ),
            Amount::one(),
        );
    }
    c
}

/// One opening: counted at its earliest copy, with the largest headcount.
pub fn opening_contribution(copies: &[Posting]) -> Contribution {
    let mut c = Contribution::default();
    let Some(first) = copies
        .iter()
        .min_by(|a, b| (a.publish_at, &a.id).cmp(&(b.publish_at, &b.id)))
    else {
        return c;
    };
    let headcount = copies.iter().map(|p| p.headcount).max().unwrap_or(0);
    c.add(
        activity(
            kind::OPENING,
            first.publish_day,
            &first.district,
            &first.industry,
            &first.platform,
        ),
        Amount {
            n: 1,
            headcount,
            key: 0,
        },
    );
    c
}

/// One employer's presence: a distinct cell per day and breakdown.
pub fn employer_contribution(employer: &str, postings: &[Posting]) -> Contribution {
    let mut c = Contribution::default();
    for p in postings {
        c.set_one(Cell::Distinct {
            kind: kind::EMPLOYER.into(),
            entity: employer.into(),
            day: p.publish_day,
            district: p.district.clone(),
            industry: p.industry.clone(),
            platform: p.platform.clone(),
            tier: 0,
        });
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str, start: i64, end: Option<i64>, district: &str) -> Employment {
        Employment {
            id: id.into(),
            hired: true,
            district: district.into(),
            industry: "C".into(),
            in_city: district.starts_with("3702"),
            start_day: start,
            platform: "p".into(),
            recorded_at: 0,
            end_day: end,
        }
    }

    #[test]
    fn the_timeline_nets_to_one_per_member() {
        let facts = PersonFacts {
            person_key: "k".into(),
            employments: vec![
                job("a", 10, Some(20), "370212"),
                job("b", 15, None, "110101"),
            ],
            resumes: vec![],
            roster: vec![RosterRow {
                university_code: "u".into(),
                degree: 3,
                discipline: 8,
                cohort: 2024,
                import_seq: 1,
            }],
        };
        let c = facts.contribution();
        let total: i64 =
            c.0.iter()
                .filter(|(cell, _)| matches!(cell, Cell::Outcome { .. }))
                .map(|(_, a)| a.n)
                .sum();
        assert_eq!(total, 1);
        let gathered: Vec<_> =
            c.0.keys()
                .filter(|cell| matches!(cell, Cell::Gathered { .. }))
                .collect();
        assert_eq!(gathered.len(), 1);
    }
}
