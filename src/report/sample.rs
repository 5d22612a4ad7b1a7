//! Hand-built answers shaped like the seed report's city, for the sample
//! report in `docs/` and for tests of the renderers (and of the command,
//! before the services answer).

use talent_proto::talent::metrics::v1::{
    Count, Dimension, DimensionValue, DisclosureControl, GetGraduateOutcomesResponse,
    GetPeriodReportResponse, GetRecruitmentActivityResponse, GetTalentGatheredResponse,
    GraduateOutcomeFigures, GraduateOutcomeRow, Protection, Rate, RecruitmentActivityFigures,
    RecruitmentActivityRow, TalentGatheredFigures, TalentGatheredRow, dimension_value::Value,
};
use talent_proto::talent::r#type::v1::TalentTier;

use crate::codes::CITY_UNIVERSITIES;
use crate::format::args::parse_period_proto;

/// The five answers of a full report.
#[derive(Clone, Debug)]
pub struct SampleResponses {
    pub report: GetPeriodReportResponse,
    pub outcomes_by_district: GetGraduateOutcomesResponse,
    pub outcomes_by_university: GetGraduateOutcomesResponse,
    pub gathered_by_month_tier: GetTalentGatheredResponse,
    pub activity_by_industry: GetRecruitmentActivityResponse,
}

impl SampleResponses {
    /// The report input borrowing these answers.
    pub fn input(&self) -> super::ReportInput<'_> {
        super::ReportInput {
            report: &self.report,
            outcomes_by_district: Some(&self.outcomes_by_district),
            outcomes_by_university: Some(&self.outcomes_by_university),
            gathered_by_month_tier: Some(&self.gathered_by_month_tier),
            activity_by_industry: Some(&self.activity_by_industry),
        }
    }
}

/// A count of notices (exact).
fn c(v: i64) -> Option<Count> {
    Some(Count {
        value: v,
        ..Default::default()
    })
}

/// A count of persons, as a PERTURBED key sees it.
fn p(v: i64) -> Option<Count> {
    Some(Count {
        value: v,
        perturbed: true,
        ..Default::default()
    })
}

fn r(n: i64, d: i64) -> Option<Rate> {
    Some(Rate {
        numerator: n,
        denominator: d,
        value: if d > 0 { n as f64 / d as f64 } else { 0.0 },
        perturbed: true,
        ..Default::default()
    })
}

fn perturbed() -> Option<DisclosureControl> {
    Some(DisclosureControl {
        protection: Protection::Perturbed as i32,
        max_adjustment: 3,
    })
}

fn outcome(cohort: i64, employed: i64, retained: i64) -> GraduateOutcomeFigures {
    GraduateOutcomeFigures {
        cohort_size: p(cohort),
        employed: p(employed),
        retained: p(retained),
        employment_rate: r(employed, cohort),
        retention_rate: r(retained, cohort),
        local_share_of_employed: r(retained, employed),
    }
}

fn dim(d: Dimension, v: Value, label: &str) -> DimensionValue {
    DimensionValue {
        dimension: d as i32,
        value: Some(v),
        label: label.to_string(),
    }
}

/// The sample answers: first half of 2020, cohort 2020, as a PERTURBED key
/// sees them (counts of persons perturbed, so they need not add up).
pub fn sample() -> SampleResponses {
    let period = parse_period_proto("2020H1").ok();
    let as_of = Some(talent_proto::google::r#type::Date {
        year: 2020,
        month: 6,
        day: 30,
    });
    let as_known_at = Some(prost_types::Timestamp {
        seconds: 1_593_532_800,
        nanos: 0,
    });
    let total = outcome(108_000, 93_900, 46_764);
    let report = GetPeriodReportResponse {
        period,
        cohort_year: 2020,
        as_of,
        talent_gathered: Some(TalentGatheredFigures {
            talents_gathered: p(92_500),
            high_tier: p(4_200),
            general_tier: p(88_302),
        }),
        graduate_outcomes: Some(total),
        recruitment_activity: Some(RecruitmentActivityFigures {
            postings: c(20_540),
            openings: c(15_610),
            headcount_demanded: c(61_530),
            employers_posting: c(6_120),
            fairs_held: c(212),
            employer_participations: c(4_120),
            resumes_received: p(262_000),
            distinct_job_seekers: p(218_300),
            applications: p(301_400),
        }),
        text_zh: "上半年，全市聚集各类人才92,500人，其中硕士、副高及高技能以上层次人才4,200人；在青高校应届毕业生108,000人，目前就业人数93,900人，留青率43.3%。征集发布人才岗位需求61,530个，举办“云招聘”212场，4,120家(次)企事业单位发布招聘需求，揽收简历262,000份。".into(),
        text_en: "In the first half of the year the city gathered 92,500 talents, of which 4,200 at master's, associate-senior or high-skill level and above; of the 108,000 fresh graduates of the city's universities, 93,900 are employed, a retention rate of 43.3%. 61,530 positions were published, 212 online fairs held with 4,120 employer participations, and 262,000 résumés received.".into(),
        definition_version: "2025.1".into(),
        as_known_at,
        disclosure_control: perturbed(),
        ..Default::default()
    };
    // Where the cohort works: in-city districts, outside, not employed.
    let districts: [(&str, i64); 12] = [
        ("370202", 6_480),
        ("370203", 5_120),
        ("370211", 9_870),
        ("370212", 10_240),
        ("370213", 3_310),
        ("370214", 6_050),
        ("370215", 3_020),
        ("370281", 2_674),
        ("370283", 2),
        ("370285", 4),
        ("OUTSIDE", 47_136),
        ("NONE", 14_100),
    ];
    let rows = districts
        .iter()
        .map(|(code, n)| {
            let figures = match *code {
                "OUTSIDE" => outcome(*n, *n, 0),
                "NONE" => outcome(*n, 0, 0),
                _ => outcome(*n, *n, *n),
            };
            GraduateOutcomeRow {
                dimensions: vec![dim(
                    Dimension::District,
                    Value::District((*code).into()),
                    "",
                )],
                figures: Some(figures),
            }
        })
        .collect();
    let outcomes_by_district = GetGraduateOutcomesResponse {
        cohort_year: 2020,
        as_of,
        total: Some(total),
        rows,
        definition_version: "2025.1".into(),
        as_known_at,
        disclosure_control: perturbed(),
        ..Default::default()
    };
    let unis: [(i64, i64, i64); 6] = [
        (21_600, 19_440, 7_990),
        (16_200, 14_290, 7_120),
        (19_440, 17_110, 8_840),
        (15_120, 12_850, 7_050),
        (8_640, 7_170, 3_430),
        (27_000, 23_040, 12_334),
    ];
    let rows = CITY_UNIVERSITIES
        .iter()
        .zip(unis)
        .map(|(u, (n, e, k))| GraduateOutcomeRow {
            dimensions: vec![dim(
                Dimension::University,
                Value::UniversityCode(u.code.into()),
                u.zh,
            )],
            figures: Some(outcome(n, e, k)),
        })
        .collect();
    let outcomes_by_university = GetGraduateOutcomesResponse {
        rows,
        ..outcomes_by_district.clone()
    };
    let months: [(i64, i64); 6] = [
        (6_800, 3),
        (4_900, 210),
        (9_700, 420),
        (14_300, 640),
        (22_600, 1_050),
        (29_900, 1_750),
    ];
    let mut rows = Vec::new();
    for (i, (general, high)) in months.iter().enumerate() {
        let month = format!("2020-{:02}", i + 1);
        for (tier, n) in [(TalentTier::General, *general), (TalentTier::High, *high)] {
            let count = p(n);
            rows.push(TalentGatheredRow {
                dimensions: vec![
                    dim(Dimension::Month, Value::Month(month.clone()), ""),
                    dim(Dimension::Tier, Value::Tier(tier as i32), ""),
                ],
                figures: Some(TalentGatheredFigures {
                    talents_gathered: count,
                    high_tier: if tier == TalentTier::High {
                        count
                    } else {
                        p(0)
                    },
                    general_tier: if tier == TalentTier::General {
                        count
                    } else {
                        p(0)
                    },
                }),
            });
        }
    }
    let gathered_by_month_tier = GetTalentGatheredResponse {
        period,
        total: report.talent_gathered,
        rows,
        definition_version: "2025.1".into(),
        as_known_at,
        disclosure_control: perturbed(),
        ..Default::default()
    };
    // Positions are public notices: exact even for a PERTURBED key.
    let industries: [(&str, i64); 19] = [
        ("A", 420),
        ("B", 3),
        ("C", 17_240),
        ("D", 610),
        ("E", 3_080),
        ("F", 6_150),
        ("G", 3_010),
        ("H", 2_460),
        ("I", 7_390),
        ("J", 1_850),
        ("K", 1_840),
        ("L", 4_300),
        ("M", 4_920),
        ("N", 2),
        ("O", 1_220),
        ("P", 2_460),
        ("Q", 3_080),
        ("R", 1_230),
        ("S", 610),
    ];
    let rows = industries
        .iter()
        .map(|(code, n)| RecruitmentActivityRow {
            dimensions: vec![dim(
                Dimension::Industry,
                Value::Industry((*code).into()),
                "",
            )],
            figures: Some(RecruitmentActivityFigures {
                headcount_demanded: c(*n),
                openings: c((*n / 4).max(1)),
                ..Default::default()
            }),
        })
        .collect();
    let activity_by_industry = GetRecruitmentActivityResponse {
        period,
        total: report.recruitment_activity,
        rows,
        definition_version: "2025.1".into(),
        as_known_at,
        disclosure_control: perturbed(),
        ..Default::default()
    };
    SampleResponses {
        report,
        outcomes_by_district,
        outcomes_by_university,
        gathered_by_month_tier,
        activity_by_industry,
    }
}
