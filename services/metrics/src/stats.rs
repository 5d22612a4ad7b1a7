//! The HR bureau's figures: read aggregate rows, filter and group them by
//! the requested dimensions, then publish them as the caller's protection
//! says (`disclosure`: counts of persons exact or perturbed, notices
//! always exact).

use std::collections::{BTreeMap, BTreeSet};

use talent_codes as codes;
use talent_proto::talent::metrics::v1::{self as pb, Dimension, dimension_value::Value};
use talent_server::{ApiError, FieldViolations};

use crate::{
    disclosure::{self, Tally},
    domain::projection::outcome_dim,
    domain::{NONE, OUTSIDE, TIER_GENERAL, TIER_HIGH, kind},
    store::{GatheredDims, Store},
};

mod publish;
mod request;

pub use publish::Viewer;
use publish::{Figure, notices, rate, shown};
use request::{check_filter, check_group_by, check_known_at, check_period};

/// The version of the statistical definitions these figures follow.
pub const DEFINITION_VERSION: &str = "2025.1";

/// A dimension value, ordered for output.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Val {
    I(i64),
    S(String),
}

/// The attributes of one aggregate row; None where a dimension does not
/// apply to the row's figure.
#[derive(Debug, Clone, Default)]
struct Attrs {
    district: Option<String>,
    industry: Option<String>,
    tier: Option<i64>,
    platform: Option<String>,
    day: Option<i64>,
    university: Option<String>,
    degree: Option<i64>,
    discipline: Option<i64>,
}

impl Attrs {
    fn get(&self, d: Dimension) -> Option<Val> {
        match d {
            Dimension::District => self.district.clone().map(Val::S),
            Dimension::Industry => self.industry.as_ref().map(|i| {
                if i == OUTSIDE || i == NONE {
                    Val::S(i.clone())
                } else {
                    Val::S(i.chars().take(1).collect())
                }
            }),
            Dimension::Tier => self.tier.map(Val::I),
            Dimension::Platform => self.platform.clone().map(Val::S),
            Dimension::Month => self.day.map(|d| Val::S(codes::month_of_day(d))),
            Dimension::University => self.university.clone().map(Val::S),
            Dimension::DegreeLevel => self.degree.map(Val::I),
            Dimension::Discipline => self.discipline.map(Val::I),
            Dimension::Unspecified => None,
        }
    }
}

/// A validated filter.
#[derive(Debug, Clone, Default)]
struct Filter {
    districts: Vec<String>,
    industries: Vec<String>,
    tiers: Vec<i64>,
    platforms: Vec<String>,
    universities: Vec<String>,
    degrees: Vec<i64>,
    disciplines: Vec<i64>,
}

impl Filter {
    /// The dimensions the filter restricts.
    fn dims(&self) -> Vec<Dimension> {
        let mut d = Vec::new();
        if !self.districts.is_empty() {
            d.push(Dimension::District);
        }
        if !self.industries.is_empty() {
            d.push(Dimension::Industry);
        }
        if !self.tiers.is_empty() {
            d.push(Dimension::Tier);
        }
        if !self.platforms.is_empty() {
            d.push(Dimension::Platform);
        }
        if !self.universities.is_empty() {
            d.push(Dimension::University);
        }
        if !self.degrees.is_empty() {
            d.push(Dimension::DegreeLevel);
        }
        if !self.disciplines.is_empty() {
            d.push(Dimension::Discipline);
        }
        d
    }

    fn matches(&self, a: &Attrs) -> bool {
        let prefix = |vals: &[String], v: &Option<String>| {
            vals.is_empty()
                || v.as_ref().is_some_and(|v| {
                    v != OUTSIDE && v != NONE && vals.iter().any(|p| v.starts_with(p.as_str()))
                })
        };
        let eq_s = |vals: &[String], v: &Option<String>| {
            vals.is_empty() || v.as_ref().is_some_and(|v| vals.contains(v))
        };
        let eq_i =
            |vals: &[i64], v: Option<i64>| vals.is_empty() || v.is_some_and(|v| vals.contains(&v));
        prefix(&self.districts, &a.district)
            && prefix(&self.industries, &a.industry)
            && eq_i(&self.tiers, a.tier)
            && eq_s(&self.platforms, &a.platform)
            && eq_s(&self.universities, &a.university)
            && eq_i(&self.degrees, a.degree)
            && eq_i(&self.disciplines, a.discipline)
    }
}

type Key = Vec<Val>;

/// Sums the tallies of the rows passing the filter, per group and in
/// total.
fn group<const N: usize>(
    rows: &[(Attrs, [Tally; N])],
    by: &[Dimension],
    filter: &Filter,
) -> (BTreeMap<Key, [Tally; N]>, [Tally; N]) {
    let mut groups: BTreeMap<Key, [Tally; N]> = BTreeMap::new();
    let mut total = [Tally::default(); N];
    for (attrs, values) in rows {
        if !filter.matches(attrs) {
            continue;
        }
        let Some(key) = by.iter().map(|d| attrs.get(*d)).collect::<Option<Key>>() else {
            continue;
        };
        let g = groups.entry(key).or_insert([Tally::default(); N]);
        for i in 0..N {
            g[i] += values[i];
            total[i] += values[i];
        }
    }
    (groups, total)
}

fn column<const N: usize>(groups: &BTreeMap<Key, [Tally; N]>, i: usize) -> BTreeMap<Key, Tally> {
    groups.iter().map(|(k, v)| (k.clone(), v[i])).collect()
}

/// Publishes every group's figures and the total's, each on its own: a
/// total is a cell of its own persons, not the sum of the published rows.
/// The groups in key order.
fn publish_groups<const N: usize>(
    groups: BTreeMap<Key, [Tally; N]>,
    total: [Tally; N],
    publish: impl Fn(Tally) -> pb::Count,
) -> ([pb::Count; N], Vec<(Key, [pb::Count; N])>) {
    let rows = groups
        .into_iter()
        .map(|(key, tallies)| (key, tallies.map(&publish)))
        .collect();
    (total.map(&publish), rows)
}

fn dimension_values(
    by: &[Dimension],
    key: &Key,
    names: &BTreeMap<String, String>,
) -> Vec<pb::DimensionValue> {
    by.iter()
        .zip(key)
        .map(|(d, val)| {
            let (s, i) = match val {
                Val::S(s) => (s.clone(), 0),
                Val::I(i) => (String::new(), i32::try_from(*i).unwrap_or(0)),
            };
            let mut label = String::new();
            let value = match d {
                Dimension::District => Value::District(s),
                Dimension::Industry => Value::Industry(s),
                Dimension::Tier => Value::Tier(i),
                Dimension::Platform => Value::PlatformId(s),
                Dimension::Month => Value::Month(s),
                Dimension::University => {
                    label = names.get(&s).cloned().unwrap_or_default();
                    Value::UniversityCode(s)
                }
                Dimension::DegreeLevel => Value::DegreeLevel(i),
                Dimension::Discipline => Value::Discipline(i),
                Dimension::Unspecified => Value::District(s),
            };
            pb::DimensionValue {
                dimension: *d as i32,
                value: Some(value),
                label,
            }
        })
        .collect()
}

const ACTIVITY_DIMS: &[Dimension] = &[
    Dimension::District,
    Dimension::Industry,
    Dimension::Tier,
    Dimension::Platform,
    Dimension::Month,
];
const OUTCOME_DIMS: &[Dimension] = &[
    Dimension::University,
    Dimension::DegreeLevel,
    Dimension::Discipline,
    Dimension::District,
    Dimension::Industry,
];

/// The instant answered and the `known_at` bound to read with.
fn as_known(known_at: Option<i64>) -> (i64, Option<i64>) {
    match known_at {
        Some(t) => (t, Some(t)),
        None => (codes::now_micros(), None),
    }
}

// ----- talents gathered -----

pub async fn talent_gathered(
    store: &Store,
    viewer: Viewer<'_>,
    req: &pb::GetTalentGatheredRequest,
) -> Result<pb::GetTalentGatheredResponse, ApiError> {
    let mut v = FieldViolations::new();
    let (start, end) = check_period(&mut v, "period", req.period.as_ref());
    let by = check_group_by(&mut v, &req.group_by, ACTIVITY_DIMS);
    let filter = check_filter(&mut v, req.filter.as_ref(), ACTIVITY_DIMS, 2..=3);
    let known_at = check_known_at(&mut v, req.as_known_at.as_ref());
    viewer.check_known_at(&mut v, known_at);
    v.into_result()?;
    let (instant, bound) = as_known(known_at);
    let (total, rows) = gathered(store, viewer, start, end, &by, &filter, bound).await?;
    let names = BTreeMap::new();
    Ok(pb::GetTalentGatheredResponse {
        period: req.period,
        total: Some(total),
        rows: rows
            .into_iter()
            .map(|(key, figures)| pb::TalentGatheredRow {
                dimensions: dimension_values(&by, &key, &names),
                figures: Some(figures),
            })
            .collect(),
        definition_version: DEFINITION_VERSION.into(),
        as_known_at: Some(codes::timestamp_of_micros(instant)),
        disclosure_control: Some(viewer.disclosure_control()),
        ..Default::default()
    })
}

#[allow(clippy::type_complexity)]
async fn gathered(
    store: &Store,
    viewer: Viewer<'_>,
    start: i64,
    end: i64,
    by: &[Dimension],
    filter: &Filter,
    known_at: Option<i64>,
) -> Result<
    (
        pb::TalentGatheredFigures,
        Vec<(Key, pb::TalentGatheredFigures)>,
    ),
    ApiError,
> {
    let by_day = by.contains(&Dimension::Month);
    let needs = |d: Dimension| by.contains(&d) || filter.dims().contains(&d);
    let keep = GatheredDims {
        district: needs(Dimension::District),
        industry: needs(Dimension::Industry),
        platform: needs(Dimension::Platform),
    };
    let raw = store
        .gathered_rows(start, end, by_day, keep, known_at)
        .await?;
    let rows: Vec<(Attrs, [Tally; 3])> = raw
        .into_iter()
        .map(|(day, district, industry, platform, tier, n, key_sum)| {
            let t = Tally::new(n, key_sum);
            let none = Tally::default();
            (
                Attrs {
                    district: Some(district),
                    industry: Some(industry),
                    tier: Some(tier),
                    platform: Some(platform),
                    day: by_day.then_some(day),
                    ..Default::default()
                },
                [
                    t,
                    if tier == TIER_HIGH { t } else { none },
                    if tier == TIER_GENERAL { t } else { none },
                ],
            )
        })
        .collect();
    let (groups, total) = group(&rows, by, filter);
    // The tier columns count the same persons as talents gathered does
    // wherever a row holds one tier, so they get the same published value:
    // no column gives away what another perturbs.
    let (total, groups) = publish_groups(groups, total, |t| viewer.persons(t));
    let make = |[gathered, high, general]: [pb::Count; 3]| pb::TalentGatheredFigures {
        talents_gathered: Some(gathered),
        high_tier: Some(high),
        general_tier: Some(general),
    };
    let rows = groups
        .into_iter()
        .map(|(key, counts)| (key, make(counts)))
        .filter(|(_, f)| shown([&f.talents_gathered, &f.high_tier, &f.general_tier]))
        .collect();
    Ok((make(total), rows))
}

// ----- graduate outcomes -----

pub async fn graduate_outcomes(
    store: &Store,
    viewer: Viewer<'_>,
    req: &pb::GetGraduateOutcomesRequest,
) -> Result<pb::GetGraduateOutcomesResponse, ApiError> {
    let mut v = FieldViolations::new();
    if !(1950..=2100).contains(&req.cohort_year) {
        v.add("cohort_year", "must be from 1950 to 2100");
    }
    let by = check_group_by(&mut v, &req.group_by, OUTCOME_DIMS);
    let filter = check_filter(&mut v, req.filter.as_ref(), OUTCOME_DIMS, 2..=3);
    let known_at = check_known_at(&mut v, req.as_known_at.as_ref());
    viewer.check_known_at(&mut v, known_at);
    let as_of = match &req.as_of {
        Some(d) => codes::check_date(Some(d), 1900..=2100)
            .map_err(|why| v.add("as_of", why))
            .unwrap_or(0),
        None => known_at
            .map(codes::day_of_micros)
            .unwrap_or_else(codes::today),
    };
    v.into_result()?;
    let (instant, bound) = as_known(known_at);
    let (total, rows) = outcomes(
        store,
        viewer,
        i64::from(req.cohort_year),
        as_of,
        &by,
        &filter,
        bound,
    )
    .await?;
    let names = if by.contains(&Dimension::University) {
        store.university_names().await?
    } else {
        BTreeMap::new()
    };
    Ok(pb::GetGraduateOutcomesResponse {
        cohort_year: req.cohort_year,
        as_of: Some(codes::proto_date(as_of)),
        total: Some(total),
        rows: rows
            .into_iter()
            .map(|(key, figures)| pb::GraduateOutcomeRow {
                dimensions: dimension_values(&by, &key, &names),
                figures: Some(figures),
            })
            .collect(),
        definition_version: DEFINITION_VERSION.into(),
        as_known_at: Some(codes::timestamp_of_micros(instant)),
        disclosure_control: Some(viewer.disclosure_control()),
        ..Default::default()
    })
}

/// The bit of a breakdown dimension of graduate outcomes.
fn outcome_bit(d: Dimension) -> u8 {
    match d {
        Dimension::University => outcome_dim::UNIVERSITY,
        Dimension::DegreeLevel => outcome_dim::DEGREE,
        Dimension::Discipline => outcome_dim::DISCIPLINE,
        Dimension::District => outcome_dim::DISTRICT,
        Dimension::Industry => outcome_dim::INDUSTRY,
        _ => 0,
    }
}

#[allow(clippy::type_complexity)]
async fn outcomes(
    store: &Store,
    viewer: Viewer<'_>,
    cohort: i64,
    as_of: i64,
    by: &[Dimension],
    filter: &Filter,
    known_at: Option<i64>,
) -> Result<
    (
        pb::GraduateOutcomeFigures,
        Vec<(Key, pb::GraduateOutcomeFigures)>,
    ),
    ApiError,
> {
    // Only the dimensions grouped or filtered by need to be read: at most
    // two of them are answered from the running totals.
    let dims = by
        .iter()
        .chain(filter.dims().iter())
        .fold(0, |bits, d| bits | outcome_bit(*d));
    let raw = store.outcome_rows(cohort, as_of, known_at, dims).await?;
    let has = |bit: u8| raw.dims & bit != 0;
    let rows: Vec<(Attrs, [Tally; 3])> = raw
        .rows
        .into_iter()
        .map(
            |(university, degree, discipline, district, industry, status, n, key_sum)| {
                let t = Tally::new(n, key_sum);
                let none = Tally::default();
                (
                    Attrs {
                        district: has(outcome_dim::DISTRICT).then_some(district),
                        industry: has(outcome_dim::INDUSTRY).then_some(industry),
                        university: has(outcome_dim::UNIVERSITY).then_some(university),
                        degree: has(outcome_dim::DEGREE).then_some(degree),
                        discipline: has(outcome_dim::DISCIPLINE).then_some(discipline),
                        ..Default::default()
                    },
                    [
                        t,
                        if status >= 1 { t } else { none },
                        if status == 2 { t } else { none },
                    ],
                )
            },
        )
        .filter(|(_, [t, _, _])| *t != Tally::default())
        .collect();
    let (groups, total) = group(&rows, by, filter);
    let (total, groups) = publish_groups(groups, total, |t| viewer.persons(t));
    let make = |[cohort, employed, retained]: [pb::Count; 3]| pb::GraduateOutcomeFigures {
        employment_rate: Some(rate(&employed, &cohort)),
        retention_rate: Some(rate(&retained, &cohort)),
        local_share_of_employed: Some(rate(&retained, &employed)),
        cohort_size: Some(cohort),
        employed: Some(employed),
        retained: Some(retained),
    };
    let rows = groups
        .into_iter()
        .map(|(key, counts)| (key, make(counts)))
        .filter(|(_, f)| shown([&f.cohort_size, &f.employed, &f.retained]))
        .collect();
    Ok((make(total), rows))
}

// ----- recruitment activity -----

/// The activity figures, in `RecruitmentActivityFigures` order.
const FIGURES: usize = 9;

/// Which dimensions apply to each activity kind.
fn applies(kind_name: &str, d: Dimension) -> bool {
    match d {
        Dimension::Platform | Dimension::Month => true,
        Dimension::District | Dimension::Industry => {
            !matches!(kind_name, kind::FAIR | kind::RESUME | kind::SEEKER)
        }
        Dimension::Tier => matches!(kind_name, kind::RESUME | kind::SEEKER),
        _ => false,
    }
}

/// The kind behind each figure.
const FIGURE_KINDS: [&str; FIGURES] = [
    kind::POSTING,
    kind::OPENING,
    kind::OPENING,
    kind::EMPLOYER,
    kind::FAIR,
    kind::PARTICIPATION,
    kind::RESUME,
    kind::SEEKER,
    kind::APPLICATION,
];

fn activity_attrs(
    kind_name: &str,
    day: i64,
    district: String,
    industry: String,
    platform: String,
    tier: i64,
    by_day: bool,
) -> Attrs {
    Attrs {
        district: applies(kind_name, Dimension::District).then_some(district),
        industry: applies(kind_name, Dimension::Industry).then_some(industry),
        tier: applies(kind_name, Dimension::Tier).then_some(tier),
        platform: Some(platform),
        day: by_day.then_some(day),
        ..Default::default()
    }
}

pub async fn recruitment_activity(
    store: &Store,
    viewer: Viewer<'_>,
    req: &pb::GetRecruitmentActivityRequest,
) -> Result<pb::GetRecruitmentActivityResponse, ApiError> {
    let mut v = FieldViolations::new();
    let (start, end) = check_period(&mut v, "period", req.period.as_ref());
    let by = check_group_by(&mut v, &req.group_by, ACTIVITY_DIMS);
    let filter = check_filter(&mut v, req.filter.as_ref(), ACTIVITY_DIMS, 1..=3);
    let known_at = check_known_at(&mut v, req.as_known_at.as_ref());
    viewer.check_known_at(&mut v, known_at);
    v.into_result()?;
    let (instant, bound) = as_known(known_at);
    let (total, rows) = activity(store, viewer, start, end, &by, &filter, bound).await?;
    let names = BTreeMap::new();
    Ok(pb::GetRecruitmentActivityResponse {
        period: req.period,
        total: Some(total),
        rows: rows
            .into_iter()
            .map(|(key, figures)| pb::RecruitmentActivityRow {
                dimensions: dimension_values(&by, &key, &names),
                figures: Some(figures),
            })
            .collect(),
        definition_version: DEFINITION_VERSION.into(),
        as_known_at: Some(codes::timestamp_of_micros(instant)),
        disclosure_control: Some(viewer.disclosure_control()),
        ..Default::default()
    })
}

#[allow(clippy::type_complexity)]
async fn activity(
    store: &Store,
    viewer: Viewer<'_>,
    start: i64,
    end: i64,
    by: &[Dimension],
    filter: &Filter,
    known_at: Option<i64>,
) -> Result<
    (
        pb::RecruitmentActivityFigures,
        Vec<(Key, pb::RecruitmentActivityFigures)>,
    ),
    ApiError,
> {
    let by_day = by.contains(&Dimension::Month);
    let summed = store.activity_rows(start, end, by_day, known_at).await?;
    let distinct = store.distinct_rows(start, end, known_at).await?;
    let filter_dims = filter.dims();
    let mut figures: Vec<Option<Figure>> = Vec::with_capacity(FIGURES);
    for (i, kind_name) in FIGURE_KINDS.iter().enumerate() {
        let applicable = by
            .iter()
            .chain(&filter_dims)
            .all(|d| applies(kind_name, *d));
        if !applicable {
            figures.push(None);
            continue;
        }
        let (cells, total) = if matches!(*kind_name, kind::EMPLOYER | kind::SEEKER) {
            // Distinct entities per cell, each with its record key (the key
            // sum of its presence; 0 for employers).
            let mut sets: BTreeMap<Key, BTreeMap<&str, Tally>> = BTreeMap::new();
            let mut all: BTreeMap<&str, Tally> = BTreeMap::new();
            for (kd, entity, day, district, industry, platform, tier, key_sum) in &distinct {
                if kd != kind_name {
                    continue;
                }
                let attrs = activity_attrs(
                    kd,
                    *day,
                    district.clone(),
                    industry.clone(),
                    platform.clone(),
                    *tier,
                    true,
                );
                if !filter.matches(&attrs) {
                    continue;
                }
                let Some(key) = by.iter().map(|d| attrs.get(*d)).collect::<Option<Key>>() else {
                    continue;
                };
                let one = Tally::new(1, *key_sum);
                sets.entry(key).or_default().insert(entity, one);
                all.insert(entity, one);
            }
            let sum = |set: BTreeMap<&str, Tally>| {
                set.into_values().fold(Tally::default(), |mut t, one| {
                    t += one;
                    t
                })
            };
            let cells: BTreeMap<Key, Tally> =
                sets.into_iter().map(|(key, s)| (key, sum(s))).collect();
            (cells, sum(all))
        } else {
            let rows: Vec<(Attrs, [Tally; 1])> = summed
                .iter()
                .filter(|r| r.0 == *kind_name)
                .map(
                    |(kd, day, district, industry, platform, tier, n, headcount, key_sum)| {
                        (
                            activity_attrs(
                                kd,
                                *day,
                                district.clone(),
                                industry.clone(),
                                platform.clone(),
                                *tier,
                                by_day,
                            ),
                            [if i == 2 {
                                Tally::new(*headcount, 0)
                            } else {
                                Tally::new(*n, *key_sum)
                            }],
                        )
                    },
                )
                .collect();
            let (groups, total) = group(&rows, by, filter);
            (column(&groups, 0), total[0])
        };
        let figure = if disclosure::counts_persons(kind_name) {
            Figure::of(&cells, total, |t| viewer.persons(t))
        } else {
            Figure::of(&cells, total, |t| notices(t.n))
        };
        figures.push(Some(figure));
    }
    let make = |get: &dyn Fn(&Figure) -> Option<pb::Count>| {
        let f = |i: usize| figures[i].as_ref().and_then(get);
        pb::RecruitmentActivityFigures {
            postings: f(0),
            openings: f(1),
            headcount_demanded: f(2),
            employers_posting: f(3),
            fairs_held: f(4),
            employer_participations: f(5),
            resumes_received: f(6),
            distinct_job_seekers: f(7),
            applications: f(8),
        }
    };
    let total = make(&|f: &Figure| Some(f.total));
    let keys: BTreeSet<&Key> = figures
        .iter()
        .flatten()
        .flat_map(|f| f.rows.keys())
        .collect();
    let rows = keys
        .into_iter()
        .map(|key| {
            let figures = make(&|f: &Figure| Some(f.rows.get(key).copied().unwrap_or_default()));
            (key.clone(), figures)
        })
        .filter(|(_, f)| {
            shown([
                &f.postings,
                &f.openings,
                &f.headcount_demanded,
                &f.employers_posting,
                &f.fairs_held,
                &f.employer_participations,
                &f.resumes_received,
                &f.distinct_job_seekers,
                &f.applications,
            ])
        })
        .collect();
    Ok((total, rows))
}

// ----- the period report -----

pub async fn period_report(
    store: &Store,
    viewer: Viewer<'_>,
    req: &pb::GetPeriodReportRequest,
) -> Result<pb::GetPeriodReportResponse, ApiError> {
    let mut v = FieldViolations::new();
    let (start, end) = check_period(&mut v, "period", req.period.as_ref());
    let cohort = if req.cohort_year == 0 {
        codes::date_of_day(start).year()
    } else {
        req.cohort_year
    };
    if !(1950..=2100).contains(&cohort) {
        v.add("cohort_year", "must be 0 or from 1950 to 2100");
    }
    let known_at = check_known_at(&mut v, req.as_known_at.as_ref());
    viewer.check_known_at(&mut v, known_at);
    let as_of = match &req.as_of {
        Some(d) => codes::check_date(Some(d), 1900..=2100)
            .map_err(|why| v.add("as_of", why))
            .unwrap_or(0),
        None => (end - 1).min(codes::today()),
    };
    v.into_result()?;
    let (instant, bound) = as_known(known_at);
    let none = Filter::default();
    let (gathered, _) = gathered(store, viewer, start, end, &[], &none, bound).await?;
    let (outcomes, _) =
        outcomes(store, viewer, i64::from(cohort), as_of, &[], &none, bound).await?;
    let (activity, _) = activity(store, viewer, start, end, &[], &none, bound).await?;
    let disclosure_control = viewer.disclosure_control();
    let (text_zh, text_en) = render(
        start,
        end,
        cohort,
        &gathered,
        &outcomes,
        &activity,
        &disclosure_control,
    );
    Ok(pb::GetPeriodReportResponse {
        period: req.period,
        cohort_year: cohort,
        as_of: Some(codes::proto_date(as_of)),
        talent_gathered: Some(gathered),
        graduate_outcomes: Some(outcomes),
        recruitment_activity: Some(activity),
        text_zh,
        text_en,
        definition_version: DEFINITION_VERSION.into(),
        as_known_at: Some(codes::timestamp_of_micros(instant)),
        disclosure_control: Some(disclosure_control),
        ..Default::default()
    })
}

/// The seed report's talent paragraph, in Chinese and English; for
/// perturbed figures, with a closing sentence saying so.
fn render(
    start: i64,
    end: i64,
    cohort: i32,
    g: &pb::TalentGatheredFigures,
    o: &pb::GraduateOutcomeFigures,
    a: &pb::RecruitmentActivityFigures,
    control: &pb::DisclosureControl,
) -> (String, String) {
    let n = |c: &Option<pb::Count>| c.map_or(0, |c| c.value).to_string();
    let pct = |r: &Option<pb::Rate>, none: &str| match r {
        Some(r) if r.denominator > 0 => format!("{:.1}%", r.value * 100.0),
        _ => none.to_string(),
    };
    let first = codes::date_of_day(start);
    let last = codes::date_of_day(end - 1);
    let span_zh = format!(
        "{}年{}月{}日至{}年{}月{}日",
        first.year(),
        u8::from(first.month()),
        first.day(),
        last.year(),
        u8::from(last.month()),
        last.day()
    );
    let span_en = format!("{first} to {last}");
    let mut text_zh = format!(
        "{span_zh}，全市新集聚各类人才{}人，其中硕士、副高及高技能以上层次人才{}人。\
         {cohort}届高校毕业生{}人，已就业{}人，就业率{}，留青率{}。\
         举办网络招聘会{}场，参会企业{}家次，提供就业岗位{}个，收到简历{}份。",
        n(&g.talents_gathered),
        n(&g.high_tier),
        n(&o.cohort_size),
        n(&o.employed),
        pct(&o.employment_rate, "—"),
        pct(&o.retention_rate, "—"),
        n(&a.fairs_held),
        n(&a.employer_participations),
        n(&a.headcount_demanded),
        n(&a.resumes_received),
    );
    let mut text_en = format!(
        "From {span_en}, the city gathered {} talents, of whom {} at master's, associate-senior \
         or high-skill level and above. Of the {cohort} graduate cohort of {}, {} were employed \
         (employment rate {}, retention rate {}). {} job fairs were held with {} employer \
         participations, offering {} positions; {} résumés were received.",
        n(&g.talents_gathered),
        n(&g.high_tier),
        n(&o.cohort_size),
        n(&o.employed),
        pct(&o.employment_rate, "n/a"),
        pct(&o.retention_rate, "n/a"),
        n(&a.fairs_held),
        n(&a.employer_participations),
        n(&a.headcount_demanded),
        n(&a.resumes_received),
    );
    if control.protection() == pb::Protection::Perturbed {
        let d = control.max_adjustment;
        text_zh.push_str(&format!(
            "人数类数据已作扰动处理（每项与真实值相差不超过{d}），合计不一定等于各项之和。"
        ));
        text_en.push_str(&format!(
            " Counts of persons are perturbed for disclosure control (each by at most {d}) \
             and need not add up."
        ));
    }
    (text_zh, text_en)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_paragraph_says_when_counts_are_perturbed() {
        let control = |protection: pb::Protection, d| pb::DisclosureControl {
            protection: protection as i32,
            max_adjustment: d,
        };
        let day = codes::day_of_date(2024, 1, 1).unwrap();
        let render = |c: &pb::DisclosureControl| {
            render(
                day,
                day + 182,
                2024,
                &pb::TalentGatheredFigures::default(),
                &pb::GraduateOutcomeFigures::default(),
                &pb::RecruitmentActivityFigures {
                    fairs_held: Some(notices(4)),
                    ..Default::default()
                },
                c,
            )
        };
        let (zh, en) = render(&control(pb::Protection::Perturbed, 3));
        assert!(
            en.ends_with("(each by at most 3) and need not add up."),
            "{en}"
        );
        assert!(zh.contains("不超过3"), "{zh}");
        assert!(en.contains("4 job fairs") && zh.contains("举办网络招聘会4场"));
        let (zh, en) = render(&control(pb::Protection::Exact, 0));
        assert!(!en.contains("perturbed") && !zh.contains("扰动"), "{en}");
    }
}
