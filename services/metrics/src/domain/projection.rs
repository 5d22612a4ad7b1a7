//! The graduate outcomes' projections: which sets of breakdown dimensions
//! the running totals keep, and how one outcome difference is added to
//! each of them at the year, month and day level.

use std::collections::BTreeMap;

use talent_codes as codes;

use crate::disclosure::Tally;

/// The breakdown dimensions of graduate outcomes, as bits of
/// `agg_outcome_roll.proj` and of `store::OutcomeRows::dims`.
pub mod outcome_dim {
    pub const UNIVERSITY: u8 = 1;
    pub const DEGREE: u8 = 2;
    pub const DISCIPLINE: u8 = 4;
    pub const DISTRICT: u8 = 8;
    pub const INDUSTRY: u8 = 16;
    pub const ALL: u8 = 31;
}

/// Every projection `agg_outcome_roll` keeps: each set of at most two
/// breakdown dimensions (1 + 5 + 10).
pub const OUTCOME_PROJECTIONS: [u8; 16] = [0, 1, 2, 4, 8, 16, 3, 5, 9, 17, 6, 10, 18, 12, 20, 24];

/// 1900-01-01: outcome differences of earlier days (the start of every
/// timeline, `domain::BEGINNING`) count on this day in `agg_outcome_roll`,
/// which is exact for every `as_of` from this day on.
pub const OUTCOME_FLOOR: i64 = -25_567;

/// A row key of `agg_outcome_roll`: (cohort, proj, level, bucket,
/// university, degree, discipline, district, industry, status).
pub type OutcomeRollKey = (
    i64,
    i64,
    &'static str,
    i64,
    String,
    i64,
    i64,
    String,
    String,
    i64,
);

/// Adds one outcome difference (a `Cell::Outcome` and its count and key
/// sum) to the running totals: to every projection, at the year, month and
/// day level.
#[allow(clippy::too_many_arguments)]
pub fn outcome_roll_add(
    roll: &mut BTreeMap<OutcomeRollKey, Tally>,
    cohort: i64,
    day: i64,
    university: &str,
    degree: i64,
    discipline: i64,
    district: &str,
    industry: &str,
    amount: Tally,
) {
    let day = day.max(OUTCOME_FLOOR);
    let status = match district {
        crate::domain::NONE => 0,
        crate::domain::OUTSIDE => 1,
        _ => 2,
    };
    let levels = [("Y", year_start(day)), ("M", month_start(day)), ("D", day)];
    for proj in OUTCOME_PROJECTIONS {
        let has = |bit: u8| proj & bit != 0;
        let text = |bit: u8, v: &str| {
            if has(bit) {
                v.to_string()
            } else {
                String::new()
            }
        };
        let int = |bit: u8, v: i64| if has(bit) { v } else { 0 };
        for (level, bucket) in levels {
            *roll
                .entry((
                    cohort,
                    i64::from(proj),
                    level,
                    bucket,
                    text(outcome_dim::UNIVERSITY, university),
                    int(outcome_dim::DEGREE, degree),
                    int(outcome_dim::DISCIPLINE, discipline),
                    text(outcome_dim::DISTRICT, district),
                    text(outcome_dim::INDUSTRY, industry),
                    status,
                ))
                .or_default() += amount;
        }
    }
}

/// The first day of the month of `day`.
pub fn month_start(day: i64) -> i64 {
    let d = codes::date_of_day(day);
    day - i64::from(d.day()) + 1
}

/// The first day of the year of `day`.
pub fn year_start(day: i64) -> i64 {
    let d = codes::date_of_day(day);
    day - i64::from(d.ordinal()) + 1
}
