//! The report as one self-contained XHTML-compatible HTML page: headline
//! cards, the paragraphs, and per breakdown a chart (inline SVG) with its
//! figures as a table beside it (for screen readers, copying, and print),
//! laid out to print on A4.

use std::fmt::Write as _;

use talent_proto::talent::metrics::v1::{
    Count, GetGraduateOutcomesResponse, GetRecruitmentActivityResponse, GetTalentGatheredResponse,
    Rate, dimension_value,
};
use talent_proto::talent::r#type::v1::TalentTier;

use super::svg::{self, Bar, BarValue, Series};
use super::{ReportInput, count, date, escape, meta_line, period_range, rate};
use crate::codes;
use crate::format::{self, group, percent};

/// A chart and the table of its figures.
struct Chart {
    /// The SVG's id; the table's is `{id}-data`.
    id: &'static str,
    /// Horizontal bars (with a fixed scale, or none), or vertical columns.
    columns: bool,
    max: Option<f64>,
    series: Vec<Series>,
    bars: Vec<Bar>,
    /// The heading of the table's first column ("district").
    row_heading: &'static str,
    /// The table's last row, the whole the bars are part of.
    total: Option<Bar>,
}

impl Chart {
    fn render(&self, caption: &str) -> String {
        let mut out = String::from("<div class=\"figure\">");
        out.push_str(&if self.columns {
            svg::columns(self.id, &self.series, &self.bars)
        } else {
            svg::hbar(self.id, &self.series, &self.bars, self.max)
        });
        out.push('\n');
        out.push_str(&self.table(caption));
        out.push_str("</div>\n");
        out
    }

    /// The chart's figures as an accessible table: a caption, column and
    /// row headers with their scope, one row per bar, the total last.
    fn table(&self, caption: &str) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            "<table class=\"data\" id=\"{}-data\"><caption>{}</caption><thead><tr><th scope=\"col\">{}</th>",
            self.id,
            escape(caption),
            escape(self.row_heading)
        );
        for s in &self.series {
            let _ = write!(out, "<th scope=\"col\">{}</th>", escape(&s.name));
        }
        out.push_str("</tr></thead><tbody>");
        let row = |out: &mut String, bar: &Bar| {
            let _ = write!(out, "<tr><th scope=\"row\">{}</th>", escape(&bar.label));
            for v in &bar.values {
                let _ = write!(out, "<td>{}</td>", escape(&v.text));
            }
            out.push_str("</tr>");
        };
        for bar in &self.bars {
            row(&mut out, bar);
        }
        out.push_str("</tbody>");
        if let Some(total) = &self.total {
            out.push_str("<tfoot>");
            row(&mut out, total);
            out.push_str("</tfoot>");
        }
        out.push_str("</table>\n");
        out
    }
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

/// Where the cohort works, by district: each district's graduates as a
/// share of the whole cohort, "outside the city" and "not employed"
/// included, so that the shares make up the cohort (the total row's
/// 100 %). Within a district row every member is employed there, so the
/// row's own rates would be 100 % by construction.
fn district_chart(o: &GetGraduateOutcomesResponse) -> Chart {
    let total = o
        .total
        .as_ref()
        .and_then(|t| t.cohort_size.as_ref())
        .filter(|c| c.value > 0)
        .map(|c| c.value);
    let share = |n: Option<&Count>| match (n, total) {
        (Some(c), Some(t)) => BarValue {
            value: Some(c.value as f64 / t as f64),
            text: format!("{} ({}/{})", percent(c.value, t), group(c.value), group(t)),
        },
        _ => BarValue::missing(),
    };
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
            Bar {
                label,
                values: vec![share(
                    row.figures.as_ref().and_then(|f| f.cohort_size.as_ref()),
                )],
            }
        })
        .collect();
    Chart {
        id: "chart-district",
        columns: false,
        max: None,
        series: vec![Series::new("share of the cohort", "#2b6cb0")],
        bars,
        row_heading: "district",
        total: Some(Bar {
            label: "the cohort".into(),
            values: vec![share(o.total.as_ref().and_then(|t| t.cohort_size.as_ref()))],
        }),
    }
}

fn outcome_rates(
    f: Option<&talent_proto::talent::metrics::v1::GraduateOutcomeFigures>,
) -> Vec<BarValue> {
    vec![
        rate_value(f.and_then(|f| f.employment_rate.as_ref())),
        rate_value(f.and_then(|f| f.retention_rate.as_ref())),
    ]
}

fn university_chart(o: &GetGraduateOutcomesResponse) -> Chart {
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
            Bar {
                label,
                values: outcome_rates(row.figures.as_ref()),
            }
        })
        .collect();
    Chart {
        id: "chart-university",
        columns: false,
        max: Some(1.0),
        series: vec![
            Series::new("employment rate", "#38a169"),
            Series::new("retention rate (留青率)", "#2b6cb0"),
        ],
        bars,
        row_heading: "university",
        total: Some(Bar {
            label: "the cohort".into(),
            values: outcome_rates(o.total.as_ref()),
        }),
    }
}

fn month_tier_chart(g: &GetTalentGatheredResponse) -> Chart {
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
    let total = g.total.as_ref();
    Chart {
        id: "chart-month-tier",
        columns: true,
        max: None,
        series: vec![
            Series::new("GENERAL", "#2b6cb0"),
            Series::new("HIGH", "#dd6b20"),
        ],
        bars,
        row_heading: "month",
        total: Some(Bar {
            label: "the period".into(),
            values: vec![
                count_value(total.and_then(|t| t.general_tier.as_ref())),
                count_value(total.and_then(|t| t.high_tier.as_ref())),
            ],
        }),
    }
}

fn industry_chart(a: &GetRecruitmentActivityResponse) -> Chart {
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
    Chart {
        id: "chart-industry",
        columns: false,
        max: None,
        series: vec![Series::new("positions demanded", "#805ad5")],
        bars,
        row_heading: "industry",
        total: Some(Bar {
            label: "the period".into(),
            values: vec![count_value(
                a.total.as_ref().and_then(|t| t.headcount_demanded.as_ref()),
            )],
        }),
    }
}

/// Fonts that render Chinese on the reader's system without one shipped in
/// the page: Noto/Source Han (Linux, Android), PingFang and Hiragino
/// (macOS, iOS), Microsoft YaHei (Windows), WenQuanYi (older Linux).
pub const FONT_STACK: &str = "\"Noto Sans CJK SC\", \"Source Han Sans SC\", \"PingFang SC\", \"Hiragino Sans GB\", \"Microsoft YaHei\", \"WenQuanYi Micro Hei\", sans-serif";

/// The page's style: for the screen, then for A4 paper (charts scaled to
/// the printable width, no chart, table or card split across pages).
fn css() -> String {
    format!(
        "
body{{font-family:{FONT_STACK};margin:24px auto;max-width:1100px;color:#1a202c;background:#fff}}
h1{{font-size:26px;margin:0 0 4px}}
h2{{font-size:19px;margin:28px 0 6px;border-bottom:1px solid #cbd5e0;padding-bottom:4px}}
p.meta{{color:#4a5568;font-size:13px;margin:2px 0}}
div.cards{{display:flex;flex-wrap:wrap;gap:10px;margin-top:14px}}
div.card{{border:1px solid #cbd5e0;border-radius:6px;padding:8px 12px;min-width:150px}}
div.card span.label{{display:block;color:#4a5568;font-size:12px}}
div.card span.value{{display:block;font-size:21px;font-weight:bold}}
div.card span.sub{{display:block;font-size:12px;color:#4a5568}}
p.para{{line-height:1.6;font-size:14px}}
p.note{{font-size:12px;color:#4a5568}}
svg.chart{{display:block;max-width:100%;height:auto}}
svg text{{font-family:inherit}}
table.data{{border-collapse:collapse;font-size:12px;margin:8px 0 4px}}
table.data caption{{text-align:left;color:#4a5568;padding-bottom:2px}}
table.data th,table.data td{{border:1px solid #cbd5e0;padding:2px 8px}}
table.data th{{text-align:left;font-weight:normal}}
table.data thead th{{font-weight:bold}}
table.data td{{text-align:right;font-variant-numeric:tabular-nums}}
table.data tfoot th,table.data tfoot td{{font-weight:bold}}
@page{{size:A4;margin:15mm 12mm}}
@media print{{
body{{margin:0;max-width:none}}
h1,h2{{break-after:avoid;page-break-after:avoid}}
svg.chart,table.data,div.card,tr{{break-inside:avoid;page-break-inside:avoid}}
}}
"
    )
}

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
        "<title>{}</title>\n<style>{}</style>\n</head>\n<body>",
        escape(&title),
        css()
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
    let sections: [(&str, Option<Chart>); 4] = [
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
            Some(chart) => out.push_str(&chart.render(heading)),
            None => out.push_str("<p class=\"note\">Not requested for this report.</p>\n"),
        }
    }
    out.push_str(&legend);
    out.push_str("<p class=\"note\">Definitions: talents gathered are distinct persons of tier GENERAL or HIGH whose first in-city employment starts in the period; retention rate = cohort members employed in the city on the as-of date ÷ cohort size; positions demanded = the sum of the headcounts of the openings first published in the period (copies of one job on several platforms counted once).</p>\n");
    out.push_str("</body>\n</html>\n");
    out
}
