//! The checks of a statistics request: its period, `as_known_at`, the
//! dimensions it groups by and its filter, each violation with its field
//! path.

use talent_codes as codes;
use talent_proto::talent::metrics::v1::{self as pb, Dimension};
use talent_proto::talent::r#type::v1::Period;
use talent_server::FieldViolations;

use super::Filter;

pub(super) fn check_period(v: &mut FieldViolations, field: &str, p: Option<&Period>) -> (i64, i64) {
    let Some(p) = p else {
        v.add(field, "required");
        return (0, 0);
    };
    let start = codes::check_date(p.start_date.as_ref(), 1900..=2100)
        .map_err(|why| v.add(format!("{field}.start_date"), why))
        .ok();
    let end = codes::check_date(p.end_date.as_ref(), 1900..=2100)
        .map_err(|why| v.add(format!("{field}.end_date"), why))
        .ok();
    if let (Some(s), Some(e)) = (start, end) {
        if s >= e {
            v.add(format!("{field}.end_date"), "must be after start_date");
        }
        let sd = codes::date_of_day(s);
        let limit = codes::day_of_date(sd.year() + 10, u32::from(u8::from(sd.month())), 1)
            .map(|d| d + i64::from(sd.day()) - 1)
            .unwrap_or(i64::MAX);
        if e > limit {
            v.add(field, "must span at most 10 years");
        }
        return (s, e);
    }
    (0, 0)
}

pub(super) fn check_known_at(
    v: &mut FieldViolations,
    t: Option<&prost_types::Timestamp>,
) -> Option<i64> {
    let t = t?;
    let us = codes::micros(t)
        .map_err(|why| v.add("as_known_at", why))
        .ok()?;
    if us > codes::now_micros() {
        v.add("as_known_at", "must not be in the future");
    }
    Some(us)
}

pub(super) fn check_group_by(
    v: &mut FieldViolations,
    raw: &[i32],
    allowed: &[Dimension],
) -> Vec<Dimension> {
    let mut dims = Vec::new();
    if raw.len() > 2 {
        v.add("group_by", "at most 2 dimensions");
    }
    for (i, d) in raw.iter().enumerate() {
        match Dimension::try_from(*d) {
            Ok(d) if allowed.contains(&d) => {
                if dims.contains(&d) {
                    v.add(format!("group_by[{i}]"), "repeated dimension");
                } else {
                    dims.push(d);
                }
            }
            _ => v.add(
                format!("group_by[{i}]"),
                "dimension not offered by this method",
            ),
        }
    }
    dims
}

pub(super) fn check_filter(
    v: &mut FieldViolations,
    f: Option<&pb::Filter>,
    allowed: &[Dimension],
    tiers: std::ops::RangeInclusive<i32>,
) -> Filter {
    let mut out = Filter::default();
    let Some(f) = f else { return out };
    let mut field = |name: &str, len: usize, dim: Dimension| -> bool {
        if len == 0 {
            return false;
        }
        if !allowed.contains(&dim) {
            v.add(format!("filter.{name}"), "does not apply to this method");
            return false;
        }
        if len > 100 {
            v.add(format!("filter.{name}"), "at most 100 values");
            return false;
        }
        true
    };
    let (d, i, t, p, u, g, s) = (
        field("districts", f.districts.len(), Dimension::District),
        field("industries", f.industries.len(), Dimension::Industry),
        field("tiers", f.tiers.len(), Dimension::Tier),
        field("platform_ids", f.platform_ids.len(), Dimension::Platform),
        field(
            "university_codes",
            f.university_codes.len(),
            Dimension::University,
        ),
        field(
            "degree_levels",
            f.degree_levels.len(),
            Dimension::DegreeLevel,
        ),
        field("disciplines", f.disciplines.len(), Dimension::Discipline),
    );
    if d {
        for (n, x) in f.districts.iter().enumerate() {
            if x.is_empty() || x.len() > 6 || !x.bytes().all(|b| b.is_ascii_digit()) {
                v.add(format!("filter.districts[{n}]"), "must be 1 to 6 digits");
            }
        }
        out.districts = f.districts.clone();
    }
    if i {
        for (n, x) in f.industries.iter().enumerate() {
            match codes::industry::industry(x) {
                Ok(x) => out.industries.push(x),
                Err(why) => v.add(format!("filter.industries[{n}]"), why),
            }
        }
    }
    if t {
        for (n, x) in f.tiers.iter().enumerate() {
            if !tiers.contains(x) {
                v.add(
                    format!("filter.tiers[{n}]"),
                    "tier not offered by this method",
                );
            }
            out.tiers.push(i64::from(*x));
        }
    }
    if p {
        for (n, x) in f.platform_ids.iter().enumerate() {
            if x.is_empty() || x.len() > 128 {
                v.add(
                    format!("filter.platform_ids[{n}]"),
                    "must be 1 to 128 characters",
                );
            }
        }
        out.platforms = f.platform_ids.clone();
    }
    if u {
        for (n, x) in f.university_codes.iter().enumerate() {
            if !codes::is_university_code(x) {
                v.add(
                    format!("filter.university_codes[{n}]"),
                    "must be ten digits",
                );
            }
        }
        out.universities = f.university_codes.clone();
    }
    if g {
        for (n, x) in f.degree_levels.iter().enumerate() {
            if !(1..=5).contains(x) {
                v.add(
                    format!("filter.degree_levels[{n}]"),
                    "must be a known degree level",
                );
            }
            out.degrees.push(i64::from(*x));
        }
    }
    if s {
        for (n, x) in f.disciplines.iter().enumerate() {
            if !(0..=14).contains(x) {
                v.add(format!("filter.disciplines[{n}]"), "unknown discipline");
            }
            out.disciplines.push(i64::from(*x));
        }
    }
    out
}
