//! Random event histories, sent in a random order with random duplicates
//! and the roster split around them, checked figure by figure against a
//! straightforward in-memory model of the definitions written here.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};

use support::{
    TestApp,
    metrics::{Metrics, date, hired, period, person, resume, roster_row, separated, value},
};
use talent_proto::talent::events::v1 as ev;
use talent_proto::talent::metrics::v1::{self as pb, Dimension, dimension_value::Value};

/// A small deterministic random generator (xorshift64*), so a failing
/// seed can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn day(&mut self) -> (i32, i32, i32) {
        (
            2023 + self.below(3) as i32,
            1 + self.below(12) as i32,
            1 + self.below(28) as i32,
        )
    }
}

type Day = (i32, i32, i32);

struct Job {
    id: String,
    district: &'static str,
    start: Day,
    /// Separations by revision.
    ends: Vec<(i64, Day)>,
}

impl Job {
    fn end(&self) -> Option<Day> {
        self.ends
            .iter()
            .max_by_key(|(rev, _)| *rev)
            .map(|(_, d)| *d)
    }
    fn active_on(&self, d: Day) -> bool {
        self.start <= d && self.end().is_none_or(|end| end > d)
    }
    fn in_city(&self) -> bool {
        self.district.starts_with("3702")
    }
}

struct Person {
    key: String,
    /// (university, degree, graduation year)
    roster: Vec<(&'static str, i32, i32)>,
    resume: Option<(i32, Day)>,
    jobs: Vec<Job>,
}

impl Person {
    fn tier(&self) -> i32 {
        let degree = self
            .roster
            .iter()
            .map(|r| r.1)
            .chain(self.resume.map(|r| r.0))
            .max()
            .unwrap_or(0);
        match degree {
            4.. => 3,
            2 | 3 => 2,
            _ => 1,
        }
    }
    fn first_in_city_start(&self) -> Option<Day> {
        self.jobs
            .iter()
            .filter(|j| j.in_city())
            .map(|j| j.start)
            .min()
    }
    fn cohort_degree(&self, year: i32) -> Option<i32> {
        self.roster
            .iter()
            .filter(|r| r.2 == year)
            .map(|r| r.1)
            .max()
    }
}

const DISTRICTS: [&str; 3] = ["370212", "370203", "110101"];
const UNIVERSITIES: [&str; 2] = ["4137010001", "4137010002"];

fn history(rng: &mut Rng) -> Vec<Person> {
    (0..14)
        .map(|n| {
            let key = person(1000 + n);
            let roster = (0..rng.below(3))
                .map(|_| {
                    (
                        UNIVERSITIES[rng.below(2)],
                        2 + rng.below(4) as i32,
                        2023 + rng.below(2) as i32,
                    )
                })
                .collect();
            let resume = rng.chance(40).then(|| (1 + rng.below(5) as i32, rng.day()));
            let jobs = (0..rng.below(4))
                .map(|j| {
                    let mut ends = Vec::new();
                    if rng.chance(50) {
                        ends.push((1, rng.day()));
                        if rng.chance(40) {
                            ends.push((2, rng.day()));
                        }
                    }
                    Job {
                        id: format!("p{n}j{j}"),
                        district: DISTRICTS[rng.below(3)],
                        start: rng.day(),
                        ends,
                    }
                })
                .collect();
            Person {
                key,
                roster,
                resume,
                jobs,
            }
        })
        .collect()
}

fn d(day: Day) -> talent_proto::google::r#type::Date {
    date(day.0, day.1, day.2)
}

fn events_of(people: &[Person]) -> Vec<ev::Event> {
    let mut events = Vec::new();
    for p in people {
        if let Some((degree, received)) = p.resume {
            events.push(resume(&p.key, &p.key, degree, d(received), "pa", 1));
        }
        for j in &p.jobs {
            events.push(hired(&j.id, &p.key, j.district, "I", d(j.start), "pa"));
            for (rev, end) in &j.ends {
                events.push(separated(&j.id, &p.key, d(*end), "pa", *rev));
            }
        }
    }
    events
}

fn month(dv: &pb::DimensionValue) -> String {
    match dv.value.as_ref().unwrap() {
        Value::Month(m) => m.clone(),
        other => panic!("{other:?}"),
    }
}

/// (talents gathered, high tier) per month of a response grouped by month.
fn by_month(g: &pb::GetTalentGatheredResponse) -> BTreeMap<String, (i64, i64)> {
    g.rows
        .iter()
        .map(|r| {
            let f = r.figures.as_ref().unwrap();
            (
                month(&r.dimensions[0]),
                (value(&f.talents_gathered), value(&f.high_tier)),
            )
        })
        .collect()
}

async fn check_seed(seed: u64) {
    let mut rng = Rng(seed);
    let people = history(&mut rng);
    let app = TestApp::spawn().await;
    let metrics = Metrics::connect(&app).await;

    // Shuffle, duplicate some, and split into messages of 1 to 6 events.
    let mut events = events_of(&people);
    let extra: Vec<ev::Event> = events.iter().filter(|_| rng.chance(30)).cloned().collect();
    events.extend(extra);
    for i in (1..events.len()).rev() {
        events.swap(i, rng.below(i + 1));
    }
    let mut batches = Vec::new();
    while !events.is_empty() {
        let n = (1 + rng.below(6)).min(events.len());
        batches.push(events.drain(..n).collect::<Vec<_>>());
    }
    let rows: Vec<pb::GraduateRosterRow> = people
        .iter()
        .flat_map(|p| {
            p.roster
                .iter()
                .map(|(u, degree, year)| roster_row(&p.key, u, *degree, 8, date(*year, 6, 30)))
        })
        .collect();
    let (early, late) = rows.split_at(rows.len() / 2);
    metrics.import_roster(early.to_vec()).await;
    let half = batches.len() / 2;
    let second = batches.split_off(half);
    for part in [batches, second] {
        let acks = metrics
            .publish_batches_with(&metrics.relay_key, part)
            .await
            .unwrap();
        for ack in acks.iter().flatten() {
            assert_ne!(ack.outcome(), pb::EventOutcome::Rejected, "{ack:?}");
        }
    }
    metrics.import_roster(late.to_vec()).await;

    // Talents gathered, by month, for a few periods.
    for (start, end) in [
        ((2023, 1, 1), (2026, 1, 1)),
        ((2023, 6, 1), (2024, 3, 1)),
        ((2024, 2, 14), (2025, 8, 1)),
    ] {
        let mut expected: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for p in &people {
            let tier = p.tier();
            if let Some(first) = p.first_in_city_start()
                && tier > 1
                && first >= start
                && first < end
            {
                let e = expected
                    .entry(format!("{:04}-{:02}", first.0, first.1))
                    .or_default();
                e.0 += 1;
                e.1 += i64::from(tier == 3);
            }
        }
        let g = metrics
            .gathered(pb::GetTalentGatheredRequest {
                period: period(d(start), d(end)),
                group_by: vec![Dimension::Month as i32],
                ..Default::default()
            })
            .await;
        let got = by_month(&g);
        assert_eq!(got, expected, "seed {seed}: gathered in {start:?}..{end:?}");
        // Broken down by district as well, or filtered to one district,
        // the same figures: the district is summed in the query unless the
        // request groups or filters by it.
        let by_district = metrics
            .gathered(pb::GetTalentGatheredRequest {
                period: period(d(start), d(end)),
                group_by: vec![Dimension::Month as i32, Dimension::District as i32],
                ..Default::default()
            })
            .await;
        let mut per_district: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
        let mut summed: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for r in &by_district.rows {
            let f = r.figures.as_ref().unwrap();
            let v = (value(&f.talents_gathered), value(&f.high_tier));
            let Some(Value::District(district)) = r.dimensions[1].value.clone() else {
                panic!("{:?}", r.dimensions);
            };
            assert!(DISTRICTS.contains(&district.as_str()), "{district:?}");
            let m = month(&r.dimensions[0]);
            per_district.insert((district, m.clone()), v);
            let e = summed.entry(m).or_default();
            e.0 += v.0;
            e.1 += v.1;
        }
        assert_eq!(summed, expected, "seed {seed}: by month and district");
        for district in DISTRICTS {
            let one = metrics
                .gathered(pb::GetTalentGatheredRequest {
                    period: period(d(start), d(end)),
                    group_by: vec![Dimension::Month as i32],
                    filter: Some(pb::Filter {
                        districts: vec![district.into()],
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .await;
            let got = by_month(&one);
            let want: BTreeMap<String, (i64, i64)> = per_district
                .iter()
                .filter(|((dist, _), _)| dist == district)
                .map(|((_, m), v)| (m.clone(), *v))
                .collect();
            assert_eq!(got, want, "seed {seed}: filtered to {district}");
        }
        let replay = metrics
            .gathered(pb::GetTalentGatheredRequest {
                period: period(d(start), d(end)),
                group_by: vec![Dimension::Month as i32],
                as_known_at: g.as_known_at,
                ..Default::default()
            })
            .await;
        assert_eq!(replay.rows, g.rows, "seed {seed}: replayed as known at");
        let total = g.total.unwrap();
        assert_eq!(
            value(&total.talents_gathered),
            expected.values().map(|v| v.0).sum::<i64>(),
            "seed {seed}"
        );
    }

    // Graduate outcomes by degree level on several days.
    for year in [2023, 2024] {
        for as_of in [
            (2023, 3, 1),
            (2024, 1, 15),
            (2024, 9, 30),
            (2025, 6, 1),
            (2026, 1, 1),
        ] {
            let mut expected: BTreeMap<i32, (i64, i64, i64)> = BTreeMap::new();
            for p in &people {
                let Some(degree) = p.cohort_degree(year) else {
                    continue;
                };
                let employed = p.jobs.iter().any(|j| j.active_on(as_of));
                let retained = p.jobs.iter().any(|j| j.in_city() && j.active_on(as_of));
                let e = expected.entry(degree).or_default();
                e.0 += 1;
                e.1 += i64::from(employed);
                e.2 += i64::from(retained);
            }
            let o = metrics
                .outcomes(pb::GetGraduateOutcomesRequest {
                    cohort_year: year,
                    as_of: Some(d(as_of)),
                    group_by: vec![Dimension::DegreeLevel as i32],
                    ..Default::default()
                })
                .await;
            let got: BTreeMap<i32, (i64, i64, i64)> = o
                .rows
                .iter()
                .map(|r| {
                    let f = r.figures.as_ref().unwrap();
                    let degree = match r.dimensions[0].value.as_ref().unwrap() {
                        Value::DegreeLevel(x) => *x,
                        other => panic!("{other:?}"),
                    };
                    (
                        degree,
                        (
                            value(&f.cohort_size),
                            value(&f.employed),
                            value(&f.retained),
                        ),
                    )
                })
                .collect();
            assert_eq!(got, expected, "seed {seed}: cohort {year} as of {as_of:?}");
            // The log of differences agrees with the current cells.
            let replay = metrics
                .outcomes(pb::GetGraduateOutcomesRequest {
                    cohort_year: year,
                    as_of: Some(d(as_of)),
                    group_by: vec![Dimension::DegreeLevel as i32],
                    as_known_at: o.as_known_at,
                    ..Default::default()
                })
                .await;
            assert_eq!(replay.rows, o.rows, "seed {seed}: replayed as known at");
        }
    }

    // Résumés received and distinct job seekers by tier.
    let mut expected: BTreeMap<i32, i64> = BTreeMap::new();
    let mut seekers = BTreeSet::new();
    for p in &people {
        if let Some((_, received)) = p.resume
            && received >= (2024, 1, 1)
        {
            *expected.entry(p.tier()).or_default() += 1;
            seekers.insert(p.key.clone());
        }
    }
    let a = metrics
        .activity(pb::GetRecruitmentActivityRequest {
            period: period(date(2024, 1, 1), date(2026, 1, 1)),
            group_by: vec![Dimension::Tier as i32],
            ..Default::default()
        })
        .await;
    let got: BTreeMap<i32, i64> = a
        .rows
        .iter()
        .map(|r| {
            let tier = match r.dimensions[0].value.as_ref().unwrap() {
                Value::Tier(t) => *t,
                other => panic!("{other:?}"),
            };
            (tier, value(&r.figures.as_ref().unwrap().resumes_received))
        })
        .collect();
    assert_eq!(got, expected, "seed {seed}: résumés by tier");
    assert_eq!(
        value(&a.total.unwrap().distinct_job_seekers),
        seekers.len() as i64,
        "seed {seed}"
    );
    app.stop().await;
}

#[tokio::test]
async fn random_histories_in_random_order_match_the_model() {
    for seed in [0x9e37_79b9_7f4a_7c15, 42, 7_777_777, 0xdead_beef] {
        check_seed(seed).await;
    }
}
