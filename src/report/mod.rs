//! The period report: `talent report --period 2020H1 --cohort 2020
//! [--html FILE]`.
//!
//! Built from a `GetPeriodReportResponse` (the headline figures and the
//! paragraph in the seed report's wording) plus, when available, four
//! breakdown answers whose requests [`breakdown_requests`] builds. The HTML
//! is one self-contained XHTML-compatible file, inline CSS and inline SVG,
//! no scripts and nothing fetched, so it can be mailed or archived and still
//! open years later; XHTML syntax lets a plain XML parser verify it.
//!
//! When the counts of persons are perturbed (a PERTURBED key), the report
//! says so, and that the figures need not add up, in the text's last line
//! and under the HTML's headline and charts.

mod html;
pub mod sample;
mod svg;

pub use html::{FONT_STACK, html};

use std::fmt::Write as _;

use talent_proto::google::r#type::Date as PbDate;
use talent_proto::talent::metrics::v1::{
    Count, Dimension, Filter, GetGraduateOutcomesRequest, GetGraduateOutcomesResponse,
    GetPeriodReportResponse, GetRecruitmentActivityRequest, GetRecruitmentActivityResponse,
    GetTalentGatheredRequest, GetTalentGatheredResponse, Rate,
};
use talent_proto::talent::r#type::v1::Period;

use crate::format::{self, group, percent, text::wrap_lines};

/// The answers a report is made of.
#[derive(Clone, Copy, Debug)]
pub struct ReportInput<'a> {
    /// `GetPeriodReport`: headline figures and paragraph. Required.
    pub report: &'a GetPeriodReportResponse,
    /// `GetGraduateOutcomes` grouped by DISTRICT.
    pub outcomes_by_district: Option<&'a GetGraduateOutcomesResponse>,
    /// `GetGraduateOutcomes` grouped by UNIVERSITY.
    pub outcomes_by_university: Option<&'a GetGraduateOutcomesResponse>,
    /// `GetTalentGathered` grouped by MONTH, TIER.
    pub gathered_by_month_tier: Option<&'a GetTalentGatheredResponse>,
    /// `GetRecruitmentActivity` grouped by INDUSTRY.
    pub activity_by_industry: Option<&'a GetRecruitmentActivityResponse>,
}

/// The breakdown queries a full report needs, in the order of the
/// [`ReportInput`] fields. Every one asks as known at the same instant, and
/// the outcomes as of the same day, as the headline: pass the `as_of` and
/// `as_known_at` the period report answered, so that a fact arriving
/// between the calls changes no table and every table is of the same day.
#[derive(Clone, Debug, PartialEq)]
pub struct BreakdownRequests {
    /// Outcomes by district.
    pub outcomes_by_district: GetGraduateOutcomesRequest,
    /// Outcomes by university.
    pub outcomes_by_university: GetGraduateOutcomesRequest,
    /// Gathered by month and tier.
    pub gathered_by_month_tier: GetTalentGatheredRequest,
    /// Activity by industry.
    pub activity_by_industry: GetRecruitmentActivityRequest,
}

/// Builds the breakdown requests for a period and cohort, as of a day and
/// as known at an instant (`None`: the service's defaults, today and now).
pub fn breakdown_requests(
    period: &Period,
    cohort_year: i32,
    as_of: Option<PbDate>,
    as_known_at: Option<prost_types::Timestamp>,
) -> BreakdownRequests {
    let outcomes = |d: Dimension| GetGraduateOutcomesRequest {
        cohort_year,
        as_of,
        group_by: vec![d as i32],
        filter: None::<Filter>,
        as_known_at,
    };
    BreakdownRequests {
        outcomes_by_district: outcomes(Dimension::District),
        outcomes_by_university: outcomes(Dimension::University),
        gathered_by_month_tier: GetTalentGatheredRequest {
            period: Some(*period),
            group_by: vec![Dimension::Month as i32, Dimension::Tier as i32],
            filter: None,
            as_known_at,
        },
        activity_by_industry: GetRecruitmentActivityRequest {
            period: Some(*period),
            group_by: vec![Dimension::Industry as i32],
            filter: None,
            as_known_at,
        },
    }
}

fn date(d: Option<&PbDate>) -> String {
    d.map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day))
        .unwrap_or_else(|| "?".into())
}

/// "1 January – 30 June 2020" style range of a half-open period, shown with
/// its last day (readers think in inclusive ranges).
fn period_range(p: Option<&Period>) -> String {
    let start = p.and_then(|p| p.start_date.as_ref());
    let end = p.and_then(|p| p.end_date.as_ref()).and_then(|d| {
        let m = time::Month::try_from(u8::try_from(d.month).ok()?).ok()?;
        let date = time::Date::from_calendar_date(d.year, m, u8::try_from(d.day).ok()?).ok()?;
        date.previous_day().map(format::args::to_pb)
    });
    format!("{} – {}", date(start), date(end.as_ref()))
}

fn count(c: Option<&Count>) -> String {
    match c {
        None => "-".into(),
        Some(c) => group(c.value),
    }
}

fn rate(r: Option<&Rate>) -> String {
    match r {
        None => "-".into(),
        Some(r) => format!(
            "{} ({}/{})",
            percent(r.numerator, r.denominator),
            group(r.numerator),
            group(r.denominator)
        ),
    }
}

/// The headline figures as (label, value) lines, in the seed report's order.
pub fn headline(r: &GetPeriodReportResponse) -> Vec<(&'static str, String)> {
    let g = r.talent_gathered.as_ref();
    let o = r.graduate_outcomes.as_ref();
    let a = r.recruitment_activity.as_ref();
    vec![
        (
            "Talents gathered",
            count(g.and_then(|g| g.talents_gathered.as_ref())),
        ),
        (
            "  of which HIGH tier",
            count(g.and_then(|g| g.high_tier.as_ref())),
        ),
        (
            "Graduate cohort",
            count(o.and_then(|o| o.cohort_size.as_ref())),
        ),
        ("  employed", count(o.and_then(|o| o.employed.as_ref()))),
        (
            "  employment rate",
            rate(o.and_then(|o| o.employment_rate.as_ref())),
        ),
        (
            "  retention rate (留青率)",
            rate(o.and_then(|o| o.retention_rate.as_ref())),
        ),
        (
            "Positions demanded",
            count(a.and_then(|a| a.headcount_demanded.as_ref())),
        ),
        ("  openings", count(a.and_then(|a| a.openings.as_ref()))),
        ("  postings", count(a.and_then(|a| a.postings.as_ref()))),
        ("Fairs held", count(a.and_then(|a| a.fairs_held.as_ref()))),
        (
            "Employer participations",
            count(a.and_then(|a| a.employer_participations.as_ref())),
        ),
        (
            "Résumés received",
            count(a.and_then(|a| a.resumes_received.as_ref())),
        ),
        (
            "  distinct job seekers",
            count(a.and_then(|a| a.distinct_job_seekers.as_ref())),
        ),
        (
            "Applications",
            count(a.and_then(|a| a.applications.as_ref())),
        ),
    ]
}

fn meta_line(r: &GetPeriodReportResponse) -> String {
    let k = format::disclosure_note(format::perturbed_by(r.disclosure_control.as_ref()));
    let known = r
        .as_known_at
        .as_ref()
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t.seconds).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "?".into());
    format!(
        "{k}; definitions {}; as known at {known}",
        r.definition_version
    )
}

/// The report as text: headline, paragraph (Chinese and English) and the
/// breakdown tables that were given; no line wider than
/// [`format::text::TEXT_WIDTH`] columns.
pub fn text(input: &ReportInput) -> String {
    let r = input.report;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Talent report {}  (cohort {} as of {})",
        period_range(r.period.as_ref()),
        r.cohort_year,
        date(r.as_of.as_ref())
    );
    let _ = writeln!(out);
    let lines = headline(r);
    let w = lines
        .iter()
        .map(|(l, _)| format::width(l))
        .max()
        .unwrap_or(0);
    for (label, value) in &lines {
        let pad = " ".repeat(w - format::width(label));
        let _ = writeln!(out, "  {label}{pad}  {value}");
    }
    for paragraph in [&r.text_zh, &r.text_en] {
        if !paragraph.is_empty() {
            let _ = write!(out, "\n{}", wrap_lines(paragraph));
        }
    }
    let tables = [
        input.outcomes_by_district.map(format::outcomes_table),
        input.outcomes_by_university.map(format::outcomes_table),
        input.gathered_by_month_tier.map(format::gathered_table),
        input.activity_by_industry.map(format::activity_table),
    ];
    for t in tables.into_iter().flatten() {
        let _ = write!(out, "\n{}", t.to_text());
    }
    let _ = write!(out, "\n{}", wrap_lines(&meta_line(r)));
    out
}

/// The report as one JSON document: what it is about (`period`,
/// `cohort_year`, `as_of`, `as_known_at`, `definition_version`), how its
/// counts of persons are published (`disclosure`), the `headline` figures,
/// the paragraphs, and the breakdown `tables` given, each the same
/// document `talent stats --format json` prints (one `total`, then the
/// breakdown `rows`). Figures are typed as there ([`format::Cell::json`]).
pub fn json(input: &ReportInput) -> String {
    let r = input.report;
    let perturbed_by = format::perturbed_by(r.disclosure_control.as_ref());
    let tables: serde_json::Map<String, serde_json::Value> = [
        (
            "outcomes_by_district",
            input.outcomes_by_district.map(format::outcomes_table),
        ),
        (
            "outcomes_by_university",
            input.outcomes_by_university.map(format::outcomes_table),
        ),
        (
            "gathered_by_month_tier",
            input.gathered_by_month_tier.map(format::gathered_table),
        ),
        (
            "activity_by_industry",
            input.activity_by_industry.map(format::activity_table),
        ),
    ]
    .into_iter()
    .filter_map(|(name, t)| Some((name.to_owned(), t?.to_value())))
    .collect();
    let doc = serde_json::json!({
        "title": format!("Talent report {}", period_range(r.period.as_ref())),
        "period": format::period_json(r.period.as_ref()),
        "cohort_year": r.cohort_year,
        "as_of": format::date_text(r.as_of.as_ref()),
        "as_known_at": format::instant_text(r.as_known_at.as_ref()),
        "definition_version": r.definition_version,
        "disclosure": format::disclosure_json(perturbed_by),
        "notes": [meta_line(r)],
        "headline": {
            "talent_gathered": format::gathered_json(r.talent_gathered.as_ref()),
            "graduate_outcomes": format::outcomes_json(r.graduate_outcomes.as_ref()),
            "recruitment_activity": format::activity_json(r.recruitment_activity.as_ref()),
        },
        "text_zh": r.text_zh,
        "text_en": r.text_en,
        "tables": tables,
    });
    format::pretty(&doc)
}

/// Escapes text for XHTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
