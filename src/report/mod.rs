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

pub mod sample;
mod svg;

use std::fmt::Write as _;

use talent_proto::google::r#type::Date as PbDate;
use talent_proto::talent::metrics::v1::{
    Count, Dimension, Filter, GetGraduateOutcomesRequest, GetGraduateOutcomesResponse,
    GetPeriodReportResponse, GetRecruitmentActivityRequest, GetRecruitmentActivityResponse,
    GetTalentGatheredRequest, GetTalentGatheredResponse, Rate, dimension_value,
};
use talent_proto::talent::r#type::v1::{Period, TalentTier};

use crate::codes;
use crate::format::{self, group, percent};
use svg::{Bar, BarValue, Series};

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
/// breakdown tables that were given.
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
            let _ = writeln!(out, "\n{paragraph}");
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
    let _ = writeln!(out, "\n{}", meta_line(r));
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

fn rate_value(r: Option<&Rate>) -> BarValue {
    match r {
        None => BarValue::missing(),
        Some(r) => BarValue {
            value: Some(if r.denominator > 0 {
                r.numerator as f64 / r.denominator as f64
            } else {
                0.0
            }),
            text: format!(
                "{} ({}/{})",
                percent(r.numerator, r.denominator),
                group(r.numerator),
                group(r.denominator)
            ),
        },
    }
}

fn count_value(c: Option<&Count>) -> BarValue {
    match c {
        None => BarValue::missing(),
        Some(c) => BarValue {
            value: Some(c.value as f64),
            text: group(c.value),
        },
    }
}

fn first_value(
    dims: &[talent_proto::talent::metrics::v1::DimensionValue],
) -> Option<&dimension_value::Value> {
    dims.first().and_then(|d| d.value.as_ref())
}

/// Where the cohort works, by district: each district's count of cohort
/// members employed there, as a share of the whole cohort. (Within a
/// district row every member is employed there, so the row's own rates are
/// 100 % by construction; the share of the cohort is what compares.)
fn district_chart(o: &GetGraduateOutcomesResponse) -> String {
    let total = o
        .total
        .as_ref()
        .and_then(|t| t.cohort_size.as_ref())
        .filter(|c| c.value > 0)
        .map(|c| c.value);
    let bars: Vec<Bar> = o
        .rows
        .iter()
        .map(|row| {
            let label = match first_value(&row.dimensions) {
                Some(dimension_value::Value::District(c)) => match codes::district(c) {
                    Some(n) => format!("{} {}", n.zh, n.en),
                    None => c.clone(),
                },
                _ => "?".into(),
            };
            let n = row.figures.as_ref().and_then(|f| f.cohort_size.as_ref());
            let value = match (n, total) {
                (Some(c), Some(t)) => BarValue {
                    value: Some(c.value as f64 / t as f64),
                    text: format!("{} ({}/{})", percent(c.value, t), group(c.value), group(t)),
                },
                _ => BarValue::missing(),
            };
            Bar {
                label,
                values: vec![value],
            }
        })
        .collect();
    svg::hbar(
        "chart-district",
        &[Series::new("share of the cohort", "#2b6cb0")],
        &bars,
        None,
    )
}

fn university_chart(o: &GetGraduateOutcomesResponse) -> String {
    let bars: Vec<Bar> = o
        .rows
        .iter()
        .map(|row| {
            let label = match (first_value(&row.dimensions), row.dimensions.first()) {
                (Some(dimension_value::Value::UniversityCode(c)), Some(d)) => {
                    if !d.label.is_empty() {
                        d.label.clone()
                    } else {
                        codes::university(c)
                            .map(|u| u.zh.to_string())
                            .unwrap_or_else(|| c.clone())
                    }
                }
                _ => "?".into(),
            };
            let f = row.figures.as_ref();
            Bar {
                label,
                values: vec![
                    rate_value(f.and_then(|f| f.employment_rate.as_ref())),
                    rate_value(f.and_then(|f| f.retention_rate.as_ref())),
                ],
            }
        })
        .collect();
    svg::hbar(
        "chart-university",
        &[
            Series::new("employment rate", "#38a169"),
            Series::new("retention rate (留青率)", "#2b6cb0"),
        ],
        &bars,
        Some(1.0),
    )
}

fn month_tier_chart(g: &GetTalentGatheredResponse) -> String {
    let mut months: Vec<String> = Vec::new();
    let mut cells: Vec<(String, i32, BarValue)> = Vec::new();
    for row in &g.rows {
        let mut month = None;
        let mut tier = None;
        for d in &row.dimensions {
            match &d.value {
                Some(dimension_value::Value::Month(m)) => month = Some(m.clone()),
                Some(dimension_value::Value::Tier(t)) => tier = Some(*t),
                _ => {}
            }
        }
        let (Some(m), Some(t)) = (month, tier) else {
            continue;
        };
        if !months.contains(&m) {
            months.push(m.clone());
        }
        cells.push((
            m,
            t,
            count_value(
                row.figures
                    .as_ref()
                    .and_then(|f| f.talents_gathered.as_ref()),
            ),
        ));
    }
    months.sort();
    let tiers = [TalentTier::General as i32, TalentTier::High as i32];
    let bars: Vec<Bar> = months
        .iter()
        .map(|m| Bar {
            label: m.clone(),
            values: tiers
                .iter()
                .map(|t| {
                    cells
                        .iter()
                        .find(|(cm, ct, _)| cm == m && ct == t)
                        .map(|(_, _, v)| v.clone())
                        .unwrap_or(BarValue {
                            value: Some(0.0),
                            text: "0".into(),
                        })
                })
                .collect(),
        })
        .collect();
    svg::columns(
        "chart-month-tier",
        &[
            Series::new("GENERAL", "#2b6cb0"),
            Series::new("HIGH", "#dd6b20"),
        ],
        &bars,
    )
}

fn industry_chart(a: &GetRecruitmentActivityResponse) -> String {
    let bars: Vec<Bar> = a
        .rows
        .iter()
        .map(|row| {
            let label = match first_value(&row.dimensions) {
                Some(dimension_value::Value::Industry(c)) => match codes::industry(c) {
                    Some(n) => format!("{} {}", n.code, n.zh),
                    None => c.clone(),
                },
                _ => "?".into(),
            };
            Bar {
                label,
                values: vec![count_value(
                    row.figures
                        .as_ref()
                        .and_then(|f| f.headcount_demanded.as_ref()),
                )],
            }
        })
        .collect();
    svg::hbar(
        "chart-industry",
        &[Series::new("positions demanded", "#805ad5")],
        &bars,
        None,
    )
}

const CSS: &str = "
body{font-family:'Noto Sans CJK SC','Source Han Sans SC','PingFang SC','Microsoft YaHei',sans-serif;margin:24px auto;max-width:1100px;color:#1a202c;background:#fff}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:19px;margin:28px 0 6px;border-bottom:1px solid #cbd5e0;padding-bottom:4px}
p.meta{color:#4a5568;font-size:13px;margin:2px 0}
div.cards{display:flex;flex-wrap:wrap;gap:10px;margin-top:14px}
div.card{border:1px solid #cbd5e0;border-radius:6px;padding:8px 12px;min-width:150px}
div.card span.label{display:block;color:#4a5568;font-size:12px}
div.card span.value{display:block;font-size:21px;font-weight:bold}
div.card span.sub{display:block;font-size:12px;color:#4a5568}
p.para{line-height:1.6;font-size:14px}
p.note{font-size:12px;color:#4a5568}
svg text{font-family:inherit}
";

fn card(out: &mut String, label: &str, value: &str, sub: &str) {
    let _ = write!(
        out,
        "<div class=\"card\"><span class=\"label\">{}</span><span class=\"value\">{}</span><span class=\"sub\">{}</span></div>",
        escape(label),
        escape(value),
        escape(sub)
    );
}

/// The report as one self-contained XHTML-compatible HTML document.
pub fn html(input: &ReportInput) -> String {
    let r = input.report;
    let g = r.talent_gathered.as_ref();
    let o = r.graduate_outcomes.as_ref();
    let a = r.recruitment_activity.as_ref();
    let title = format!("Talent report {}", period_range(r.period.as_ref()));
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n");
    let _ = writeln!(
        out,
        "<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>",
        escape(&title)
    );
    let _ = writeln!(out, "<h1>{}</h1>", escape(&title));
    let _ = writeln!(
        out,
        "<p class=\"meta\">Graduate cohort {} as of {}. {}.</p>",
        r.cohort_year,
        escape(&date(r.as_of.as_ref())),
        escape(&meta_line(r))
    );
    out.push_str("<div class=\"cards\" id=\"headline\">");
    card(
        &mut out,
        "Talents gathered 聚集人才",
        &count(g.and_then(|g| g.talents_gathered.as_ref())),
        &format!(
            "of which HIGH: {}",
            count(g.and_then(|g| g.high_tier.as_ref()))
        ),
    );
    card(
        &mut out,
        "Graduate cohort 应届毕业生",
        &count(o.and_then(|o| o.cohort_size.as_ref())),
        &format!("employed: {}", count(o.and_then(|o| o.employed.as_ref()))),
    );
    card(
        &mut out,
        "Retention rate 留青率",
        rate(o.and_then(|o| o.retention_rate.as_ref()))
            .split(' ')
            .next()
            .unwrap_or_default(),
        &rate(o.and_then(|o| o.retention_rate.as_ref())),
    );
    card(
        &mut out,
        "Employment rate 就业率",
        rate(o.and_then(|o| o.employment_rate.as_ref()))
            .split(' ')
            .next()
            .unwrap_or_default(),
        &rate(o.and_then(|o| o.employment_rate.as_ref())),
    );
    card(
        &mut out,
        "Positions demanded 岗位需求",
        &count(a.and_then(|a| a.headcount_demanded.as_ref())),
        &format!("openings: {}", count(a.and_then(|a| a.openings.as_ref()))),
    );
    card(
        &mut out,
        "Fairs held 云招聘",
        &count(a.and_then(|a| a.fairs_held.as_ref())),
        &format!(
            "participations: {}",
            count(a.and_then(|a| a.employer_participations.as_ref()))
        ),
    );
    card(
        &mut out,
        "Résumés received 揽收简历",
        &count(a.and_then(|a| a.resumes_received.as_ref())),
        &format!(
            "job seekers: {}",
            count(a.and_then(|a| a.distinct_job_seekers.as_ref()))
        ),
    );
    out.push_str("</div>\n");
    if let Some(d) = format::perturbed_by(r.disclosure_control.as_ref()) {
        let _ = writeln!(
            out,
            "<p class=\"note\">Counts of persons are perturbed (each by at most {d}) and need not add up; see the note at the end.</p>"
        );
    }
    for (lang, paragraph) in [("zh", &r.text_zh), ("en", &r.text_en)] {
        if !paragraph.is_empty() {
            let _ = writeln!(
                out,
                "<p class=\"para\" lang=\"{lang}\">{}</p>",
                escape(paragraph)
            );
        }
    }
    let legend = match format::perturbed_by(r.disclosure_control.as_ref()) {
        Some(d) => format!(
            "<p class=\"note\" id=\"disclosure\">Counts of persons (talents gathered, the cohort, employed, retained, résumés, job seekers, applications) are perturbed for disclosure control: each figure, total and bar differs from the true count by at most {d}, the same persons always get the same figure, and figures need not add up. Rates are computed from the perturbed counts. Figures of job advertisements and fairs are exact.</p>\n"
        ),
        None => "<p class=\"note\" id=\"disclosure\">Exact figures.</p>\n".to_string(),
    };
    let sections: [(&str, Option<String>); 4] = [
        (
            "Where the graduate cohort works, by district (share of the cohort)",
            input.outcomes_by_district.map(district_chart),
        ),
        (
            "Employment and retention rates by university",
            input.outcomes_by_university.map(university_chart),
        ),
        (
            "Talents gathered by month and tier",
            input.gathered_by_month_tier.map(month_tier_chart),
        ),
        (
            "Positions demanded by industry (GB/T 4754-2017 section)",
            input.activity_by_industry.map(industry_chart),
        ),
    ];
    for (heading, chart) in sections {
        let _ = writeln!(out, "<h2>{}</h2>", escape(heading));
        match chart {
            Some(svg) => {
                out.push_str(&svg);
                out.push('\n');
            }
            None => out.push_str("<p class=\"note\">Not requested for this report.</p>\n"),
        }
    }
    out.push_str(&legend);
    out.push_str("<p class=\"note\">Definitions: talents gathered are distinct persons of tier GENERAL or HIGH whose first in-city employment starts in the period; retention rate = cohort members employed in the city on the as-of date ÷ cohort size; positions demanded = the sum of the headcounts of the openings first published in the period (copies of one job on several platforms counted once).</p>\n");
    out.push_str("</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests;
