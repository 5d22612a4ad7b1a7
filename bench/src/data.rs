//! The synthetic city: a deterministic function from a person's number to
//! their facts (two employments, maybe a résumé, maybe a roster row), and
//! an independent model of the aggregate cells those facts produce, as the
//! metrics service defines them (`services/metrics/src/domain/`). The
//! model is checked against the service itself on a small city (see
//! `check`), so the bulk-loaded aggregates are the ones ingestion writes.

use std::collections::HashMap;

use talent_codes as codes;
use talent_metrics::disclosure::{RecordKeys, Tally, cell_key};
use talent_proto::talent::r#type::v1::TalentTier;

/// The metrics service's record-key secret in every benchmark run; the
/// model keys its cells with it as the service keys its own.
pub const RECORD_KEY_SECRET: &str = "bench-record-key-secret";

/// In-city districts (the city prefix is `3702`).
pub const DISTRICTS_IN: [&str; 10] = [
    "370202", "370203", "370211", "370212", "370213", "370214", "370215", "370281", "370283",
    "370285",
];
/// Workplaces outside the city.
pub const DISTRICTS_OUT: [&str; 2] = ["110101", "310101"];
/// GB/T 4754-2017 sections.
pub const INDUSTRIES: [&str; 20] = [
    "A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O", "P", "Q", "R", "S",
    "T",
];
pub const PLATFORMS: [&str; 4] = ["qdrc", "zhaopin", "liepin", "boss"];
pub const UNIVERSITIES: usize = 20;

pub const OUTSIDE: &str = "OUTSIDE";
pub const NONE: &str = "NONE";
const BEGINNING: i64 = -1_000_000;

pub fn university_code(u: usize) -> String {
    format!("37020{u:05}")
}

pub fn university_name(u: usize) -> String {
    format!("Qingdao University No. {u}")
}

pub fn person_key(i: u64) -> String {
    format!("{:064x}", i + 1)
}

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// One employment as the service stores it.
#[derive(Debug, Clone)]
pub struct Emp {
    pub id: String,
    pub district: &'static str,
    pub industry: &'static str,
    pub in_city: bool,
    pub start_day: i64,
    pub platform: &'static str,
    pub recorded_at: i64,
    pub end_day: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Resume {
    pub id: String,
    pub platform: &'static str,
    pub first_day: i64,
    pub degree: i64,
}

#[derive(Debug, Clone)]
pub struct Roster {
    pub university: usize,
    pub degree: i64,
    pub discipline: i64,
    pub graduation_day: i64,
    pub cohort: i64,
}

#[derive(Debug, Clone)]
pub struct Person {
    pub key: String,
    pub emps: Vec<Emp>,
    pub resume: Option<Resume>,
    pub roster: Option<Roster>,
}

/// Days since 1970-01-01.
pub fn day(y: i32, m: u32, d: u32) -> i64 {
    codes::day_of_date(y, m, d).expect("a valid date")
}

/// The facts of person `i`: employments start 2016–2025; 30 % have a
/// résumé with consent; 1 % are in the 2024 cohort and 1 % in the 2025
/// cohort of the local universities' roster, and start work near graduation.
pub fn person(i: u64) -> Person {
    let h = |salt: u64| mix(i.wrapping_mul(31).wrapping_add(salt));
    let roster = match i % 100 {
        0 | 1 => {
            let cohort = if i.is_multiple_of(100) { 2024 } else { 2025 };
            Some(Roster {
                university: (h(1) % UNIVERSITIES as u64) as usize,
                degree: 2 + (h(2) % 4) as i64,
                discipline: 1 + (h(3) % 13) as i64,
                graduation_day: day(cohort, 6, 30),
                cohort: i64::from(cohort),
            })
        }
        _ => None,
    };
    let base = match &roster {
        Some(r) => r.graduation_day - 30 + (h(4) % 240) as i64,
        None => day(2016, 1, 1) + (h(4) % 3650) as i64,
    };
    let place = |salt: u64| -> (&'static str, bool) {
        let x = h(salt);
        if x % 10 < 7 {
            (DISTRICTS_IN[((x >> 8) % 10) as usize], true)
        } else {
            (DISTRICTS_OUT[((x >> 8) % 2) as usize], false)
        }
    };
    let platform = |salt: u64| PLATFORMS[(h(salt) % 4) as usize];
    let industry = |salt: u64| INDUSTRIES[(h(salt) % 20) as usize];
    let (d1, c1) = place(5);
    let (d2, c2) = place(6);
    let p1 = platform(7);
    let p2 = platform(8);
    let end1 = (h(9) % 2 == 0).then(|| base + 30 + (h(10) % 700) as i64);
    let start2 = base + 60 + (h(11) % 900) as i64;
    let recorded = 1_600_000_000_000_000 + (i as i64) * 4;
    let emps = vec![
        Emp {
            id: format!("platforms/{p1}/employments/{i:010}a"),
            district: d1,
            industry: industry(12),
            in_city: c1,
            start_day: base,
            platform: p1,
            recorded_at: recorded,
            end_day: end1,
        },
        Emp {
            id: format!("platforms/{p2}/employments/{i:010}b"),
            district: d2,
            industry: industry(13),
            in_city: c2,
            start_day: start2,
            platform: p2,
            recorded_at: recorded + 1,
            end_day: None,
        },
    ];
    let resume = (h(14) % 10 < 3).then(|| {
        let p = platform(15);
        Resume {
            id: format!("platforms/{p}/resumes/{i:010}"),
            platform: p,
            first_day: base - 30,
            degree: 1 + (h(16) % 5) as i64,
        }
    });
    Person {
        key: person_key(i),
        emps,
        resume,
        roster,
    }
}

/// A talents-gathered cell: (day, district, industry, platform, tier).
pub type GatheredCell = (i64, &'static str, &'static str, &'static str, i64);
/// A graduate-outcome cell: (cohort, day, university, degree, discipline,
/// district, industry).
pub type OutcomeCell = (i64, i64, usize, i64, i64, &'static str, &'static str);

/// A row key of the outcome running totals (`agg_outcome_roll`);
/// `university` None where the projection leaves it out ('').
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RollCell {
    pub cohort: i64,
    pub proj: u8,
    pub level: u8,
    pub bucket: i64,
    pub university: Option<usize>,
    pub degree: i64,
    pub discipline: i64,
    pub district: &'static str,
    pub industry: &'static str,
    pub status: i64,
}

/// The summed aggregate cells of many persons (`agg_*_now`): each cell's
/// count and the sum of its persons' record keys.
#[derive(Debug)]
pub struct Aggregates {
    pub gathered: HashMap<GatheredCell, Tally>,
    pub outcome: HashMap<OutcomeCell, Tally>,
    keys: RecordKeys,
}

impl Default for Aggregates {
    fn default() -> Self {
        Self {
            gathered: HashMap::new(),
            outcome: HashMap::new(),
            keys: RecordKeys::new(RECORD_KEY_SECRET),
        }
    }
}

/// `n` copies of a person with record key `key`.
fn tally(n: i64, key: u32) -> Tally {
    Tally {
        n,
        key: cell_key(n, key),
    }
}

/// A cell worth keeping: the service keeps a row whose count came back to
/// zero, and its key sum need not be zero (one person in, another out).
fn kept(t: &Tally) -> bool {
    t.n != 0 || t.key != 0
}

fn active_on(e: &Emp, day: i64) -> bool {
    e.start_day <= day && e.end_day.is_none_or(|end| end > day)
}

/// (district, industry) of the person on `day`, as the outcome figures
/// define it.
fn place_on(emps: &[Emp], day: i64) -> (&'static str, &'static str) {
    let active: Vec<&Emp> = emps.iter().filter(|e| active_on(e, day)).collect();
    let best = active.iter().filter(|e| e.in_city).max_by(|a, b| {
        (a.start_day, a.recorded_at, &a.id).cmp(&(b.start_day, b.recorded_at, &b.id))
    });
    match best {
        Some(e) => (e.district, e.industry),
        None if !active.is_empty() => (OUTSIDE, OUTSIDE),
        None => (NONE, NONE),
    }
}

impl Aggregates {
    /// Adds one person's contribution.
    pub fn add(&mut self, p: &Person) {
        let record_key = self.keys.of(&p.key);
        let degree = p
            .resume
            .iter()
            .map(|r| r.degree)
            .chain(p.roster.iter().map(|r| r.degree))
            .max()
            .unwrap_or(0);
        // The bench's persons have no title or skill level.
        let tier = codes::tier(degree, 0, 0);
        if tier != TalentTier::None
            && let Some(first) = p.emps.iter().filter(|e| e.in_city).min_by(|a, b| {
                (a.start_day, a.recorded_at, &a.id).cmp(&(b.start_day, b.recorded_at, &b.id))
            })
        {
            *self
                .gathered
                .entry((
                    first.start_day,
                    first.district,
                    first.industry,
                    first.platform,
                    tier as i64,
                ))
                .or_default() += tally(1, record_key);
        }
        if let Some(r) = &p.roster {
            let mut days: Vec<i64> = p
                .emps
                .iter()
                .flat_map(|e| std::iter::once(e.start_day).chain(e.end_day))
                .collect();
            days.sort_unstable();
            days.dedup();
            let mut timeline = vec![(BEGINNING, (NONE, NONE))];
            for d in days {
                let place = place_on(&p.emps, d);
                if timeline.last().is_some_and(|(_, prev)| *prev != place) {
                    timeline.push((d, place));
                }
            }
            let mut previous: Option<(&'static str, &'static str)> = None;
            for (d, place) in timeline {
                let cell = |pl: (&'static str, &'static str)| {
                    (
                        r.cohort,
                        d,
                        r.university,
                        r.degree,
                        r.discipline,
                        pl.0,
                        pl.1,
                    )
                };
                if let Some(prev) = previous {
                    *self.outcome.entry(cell(prev)).or_default() += tally(-1, record_key);
                }
                *self.outcome.entry(cell(place)).or_default() += tally(1, record_key);
                previous = Some(place);
            }
        }
    }

    /// The graduate outcomes as the service's running totals
    /// (`agg_outcome_roll`, migration 0003): every difference projected on
    /// each set of at most two breakdown dimensions, with the member's
    /// status (0 not employed, 1 outside the city, 2 in the city), summed
    /// per year ('Y'), month ('M') and day ('D'); days before 1900-01-01
    /// count on that day. Rows with zero count and key dropped.
    pub fn outcome_roll(&self) -> HashMap<RollCell, Tally> {
        // University, degree, discipline, district, industry.
        const BITS: [u8; 5] = [1, 2, 4, 8, 16];
        let projections: Vec<u8> = (0..32u8).filter(|p| p.count_ones() <= 2).collect();
        let floor = day(1900, 1, 1);
        let mut roll: HashMap<RollCell, Tally> = HashMap::new();
        for (&(cohort, d, u, g, s, district, industry), &n) in &self.outcome {
            let d = d.max(floor);
            let date = codes::date_of_day(d);
            let month = d - i64::from(date.day()) + 1;
            let year = d - i64::from(date.ordinal()) + 1;
            let status = match district {
                NONE => 0,
                OUTSIDE => 1,
                _ => 2,
            };
            for &p in &projections {
                let has = |i: usize| p & BITS[i] != 0;
                for (level, bucket) in [(b'Y', year), (b'M', month), (b'D', d)] {
                    let cell = RollCell {
                        cohort,
                        proj: p,
                        level,
                        bucket,
                        university: has(0).then_some(u),
                        degree: if has(1) { g } else { 0 },
                        discipline: if has(2) { s } else { 0 },
                        district: if has(3) { district } else { "" },
                        industry: if has(4) { industry } else { "" },
                        status,
                    };
                    *roll.entry(cell).or_default() += n;
                }
            }
        }
        roll.retain(|_, t| kept(t));
        roll
    }

    /// Drops cells whose count and key sum are zero (they add nothing to
    /// any answer).
    pub fn prune(&mut self) {
        self.gathered.retain(|_, t| kept(t));
        self.outcome.retain(|_, t| kept(t));
    }

    /// The cells alone, for a second model run on another thread.
    pub fn outcome_only(&self) -> Self {
        Self {
            outcome: self.outcome.clone(),
            ..Self::default()
        }
    }
}
