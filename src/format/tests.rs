use super::*;
use talent_proto::talent::metrics::v1::{
    GraduateOutcomeRow, RecruitmentActivityRow, TalentGatheredRow,
};

fn count(v: i64) -> Option<Count> {
    Some(Count {
        value: v,
        ..Default::default()
    })
}
fn perturbed(v: i64) -> Option<Count> {
    Some(Count {
        value: v,
        perturbed: true,
        ..Default::default()
    })
}
fn district(code: &str) -> DimensionValue {
    DimensionValue {
        dimension: Dimension::District as i32,
        value: Some(dimension_value::Value::District(code.into())),
        label: String::new(),
    }
}
fn value(d: Dimension, v: dimension_value::Value, label: &str) -> DimensionValue {
    DimensionValue {
        dimension: d as i32,
        value: Some(v),
        label: label.into(),
    }
}
fn tier(t: TalentTier) -> DimensionValue {
    DimensionValue {
        dimension: Dimension::Tier as i32,
        value: Some(dimension_value::Value::Tier(t as i32)),
        label: String::new(),
    }
}
fn control(protection: Protection, max_adjustment: i32) -> Option<DisclosureControl> {
    Some(DisclosureControl {
        protection: protection as i32,
        max_adjustment,
    })
}

/// Perturbed figures that do not add up: 1,203 + 2 ≠ 1,200.
fn gathered() -> GetTalentGatheredResponse {
    let figures = |a, b: Option<Count>, c| TalentGatheredFigures {
        talents_gathered: a,
        high_tier: b,
        general_tier: c,
    };
    GetTalentGatheredResponse {
        period: args::parse_period_proto("2020H1").ok(),
        total: Some(figures(perturbed(1_200), perturbed(1_204), perturbed(0))),
        rows: vec![
            TalentGatheredRow {
                dimensions: vec![district("370212"), tier(TalentTier::High)],
                figures: Some(figures(perturbed(1_203), perturbed(1_203), perturbed(0))),
            },
            TalentGatheredRow {
                dimensions: vec![district("370285"), tier(TalentTier::High)],
                figures: Some(figures(perturbed(2), perturbed(2), perturbed(0))),
            },
        ],
        definition_version: "2025.1".into(),
        disclosure_control: control(Protection::Perturbed, 3),
        ..Default::default()
    }
}

#[test]
fn the_table_names_codes_and_says_figures_are_perturbed() {
    let text = gathered_table(&gathered()).render(OutputFormat::Table);
    assert!(text.contains("370212 崂山区 Laoshan"), "{text}");
    assert!(text.contains("1,203"));
    assert!(text.contains("[2020-01-01, 2020-07-01)"));
    assert!(
        text.contains(
            "perturbed for disclosure control (each by at most 3): figures need not add up"
        ),
        "{text}"
    );
    // Columns align: every data line has the same display width up to
    // the last figure (right-aligned).
    let lines: Vec<&str> = text.lines().skip(1).take(5).collect();
    let w: Vec<usize> = lines.iter().map(|l| width(l)).collect();
    assert!(w.windows(2).all(|p| p[0] == p[1]), "{text}");
    // An exact answer says so and nothing about perturbation.
    let mut exact = gathered();
    exact.disclosure_control = control(Protection::Exact, 0);
    let text = gathered_table(&exact).to_text();
    assert!(text.contains("exact figures; definitions 2025.1"), "{text}");
    assert!(!text.contains("perturbed"), "{text}");
}

#[test]
fn csv_has_codes_names_and_ends_with_the_perturbation_note() {
    let csv = gathered_table(&gathered()).render(OutputFormat::Csv);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "district,district_name,tier,tier_name,talents_gathered,high_tier,general_tier"
    );
    assert_eq!(lines[1], "TOTAL,TOTAL,,,1200,1204,0");
    assert_eq!(lines[3], "370285,370285 莱西市 Laixi,HIGH,HIGH,2,2,0");
    assert_eq!(lines[4], "");
    assert!(
        lines[5].starts_with("counts of persons perturbed") && lines[5].contains("need not add up"),
        "{csv}"
    );
    // Exact figures: the table alone.
    let mut exact = gathered();
    exact.disclosure_control = control(Protection::Exact, 0);
    assert_eq!(gathered_table(&exact).to_csv().lines().count(), 4);
}

#[test]
fn json_is_parseable_and_says_how_figures_are_published() {
    let json = gathered_table(&gathered()).render(OutputFormat::Json);
    let v: Value = serde_json::from_str(&json).unwrap();
    // One explicit total, figures only; then the breakdown rows.
    assert_eq!(v["total"]["talents_gathered"], 1_200);
    assert!(v["total"].get("district").is_none(), "{json}");
    assert_eq!(v["rows"].as_array().unwrap().len(), 2);
    assert_eq!(v["rows"][1]["talents_gathered"], 2);
    assert_eq!(v["rows"][0]["district"], "370212");
    assert_eq!(v["dimensions"], json!(["district", "tier"]));
    assert_eq!(
        v["period"],
        json!({"start_date": "2020-01-01", "end_date": "2020-07-01"})
    );
    assert_eq!(v["definition_version"], "2025.1");
    assert_eq!(v["disclosure"]["protection"], "PERTURBED");
    assert_eq!(v["disclosure"]["max_adjustment"], 3);
    assert!(v["notes"][0].as_str().unwrap().contains("need not add up"));
}

#[test]
fn rates_show_numerator_and_denominator() {
    let rate = |n: i64, d: i64| {
        Some(Rate {
            numerator: n,
            denominator: d,
            value: n as f64 / d as f64,
            ..Default::default()
        })
    };
    let figures = GraduateOutcomeFigures {
        cohort_size: count(108_000),
        employed: count(93_900),
        retained: count(46_764),
        employment_rate: rate(93_900, 108_000),
        retention_rate: rate(46_764, 108_000),
        local_share_of_employed: rate(46_764, 0),
    };
    let r = GetGraduateOutcomesResponse {
        cohort_year: 2020,
        total: Some(figures),
        rows: vec![GraduateOutcomeRow {
            dimensions: vec![value(
                Dimension::University,
                dimension_value::Value::UniversityCode("4137011065".into()),
                "青岛大学",
            )],
            figures: Some(figures),
        }],
        ..Default::default()
    };
    let t = outcomes_table(&r);
    let text = t.to_text();
    assert!(text.contains("43.3% (46,764/108,000)"), "{text}");
    assert!(text.contains("n/a (46,764/0)"), "{text}");
    assert!(text.contains("4137011065 青岛大学"), "{text}");
    let csv = t.to_csv();
    assert!(csv.contains("0.433000"), "{csv}");
    let v: Value = serde_json::from_str(&t.to_json()).unwrap();
    assert_eq!(v["total"]["retention_rate"]["numerator"], 46_764);
    assert_eq!(v["rows"][0]["retention_rate"]["numerator"], 46_764);
    // No rate of a denominator 0: an object that says why, not null.
    assert_eq!(
        v["total"]["local_share_of_employed"]["rate"]["reason"],
        "not_applicable"
    );
}

#[test]
fn activity_unset_figures_are_not_zero() {
    let r = GetRecruitmentActivityResponse {
        total: Some(RecruitmentActivityFigures {
            postings: count(20_000),
            resumes_received: perturbed(4),
            ..Default::default()
        }),
        ..Default::default()
    };
    let t = activity_table(&r);
    let csv = t.to_csv();
    assert_eq!(csv.lines().nth(1), Some("20000,,,,,,4,,"));
    assert!(t.to_text().contains(" -"));
    let v: Value = serde_json::from_str(&t.to_json()).unwrap();
    assert_eq!(v["total"]["postings"], 20_000);
    assert_eq!(v["total"]["openings"]["reason"], "not_applicable");
    assert!(
        v["total"]
            .as_object()
            .unwrap()
            .values()
            .all(|f| f.is_number() || f["reason"].is_string()),
        "every figure is a number or says why not: {v}"
    );
}

#[test]
fn without_a_breakdown_the_total_is_not_repeated() {
    // The service answers a query without `group_by` with its total and
    // one row without dimensions holding the same figures.
    let figures = TalentGatheredFigures {
        talents_gathered: count(7),
        high_tier: count(2),
        general_tier: count(5),
    };
    let r = GetTalentGatheredResponse {
        total: Some(figures),
        rows: vec![TalentGatheredRow {
            dimensions: vec![],
            figures: Some(figures),
        }],
        ..Default::default()
    };
    let t = gathered_table(&r);
    assert_eq!(t.rows.len(), 1);
    assert_eq!(t.to_csv().lines().count(), 2, "{}", t.to_csv());
    let v: Value = serde_json::from_str(&t.to_json()).unwrap();
    assert_eq!(v["total"]["talents_gathered"], 7);
    assert_eq!(v["rows"], json!([]));
    assert_eq!(v["dimensions"], json!([]));
}

#[test]
fn helpers() {
    assert_eq!(group(0), "0");
    assert_eq!(group(1234567), "1,234,567");
    assert_eq!(group(-1000), "-1,000");
    assert_eq!(percent(1, 0), "n/a");
    assert_eq!(csv_field("a,\"b\""), "\"a,\"\"b\"\"\"");
    assert_eq!(width("崂山a"), 5);
    assert_eq!("CSV".parse::<OutputFormat>(), Ok(OutputFormat::Csv));
    assert!("xml".parse::<OutputFormat>().is_err());
}

/// Outcomes by district: a cohort of 200, of whom 50 work in Laoshan, 30
/// in Laixi, 70 outside the city and 50 are not employed.
fn outcomes_by_district(total: i64, rows: &[(&str, i64)]) -> GetGraduateOutcomesResponse {
    let figures = |n: i64, employed: i64, retained: i64| GraduateOutcomeFigures {
        cohort_size: count(n),
        employed: count(employed),
        retained: count(retained),
        employment_rate: Some(Rate {
            numerator: employed,
            denominator: n,
            ..Default::default()
        }),
        ..Default::default()
    };
    GetGraduateOutcomesResponse {
        cohort_year: 2020,
        total: Some(figures(total, 100, 80)),
        rows: rows
            .iter()
            .map(|(code, n)| GraduateOutcomeRow {
                dimensions: vec![district(code)],
                figures: Some(match *code {
                    "NONE" => figures(*n, 0, 0),
                    "OUTSIDE" => figures(*n, *n, 0),
                    _ => figures(*n, *n, *n),
                }),
            })
            .collect(),
        definition_version: "2025.1".into(),
        disclosure_control: control(Protection::Exact, 0),
        ..Default::default()
    }
}

#[test]
fn outcomes_by_district_are_shares_of_the_cohort() {
    let rows = [
        ("370212", 50),
        ("370285", 30),
        ("OUTSIDE", 70),
        ("NONE", 50),
    ];
    let t = outcomes_table(&outcomes_by_district(200, &rows));
    // 50/200, 30/200, 70/200, 50/200; and the whole: 200/200.
    let text = t.to_text();
    for share in [
        "25.0% (50/200)",
        "15.0% (30/200)",
        "35.0% (70/200)",
        "100.0% (200/200)",
    ] {
        assert!(text.contains(share), "{share}: {text}");
    }
    assert_eq!(text.matches("25.0% (50/200)").count(), 2, "{text}");
    assert!(text.contains("share of the cohort"), "{text}");
    assert!(text.contains("(the TOTAL row's 100 %)"), "{text}");
    // The rows' own rates (100 % or 0 % by construction) are gone.
    assert!(!text.contains("employment rate"), "{text}");
    assert!(!text.contains("(30/30)"), "{text}");

    let csv = t.to_csv();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "district,district_name,cohort_size,share_of_cohort"
    );
    assert_eq!(lines[1], "TOTAL,TOTAL,200,1.000000");
    assert_eq!(lines[2], "370212,370212 崂山区 Laoshan,50,0.250000");
    assert_eq!(lines[3], "370285,370285 莱西市 Laixi,30,0.150000");
    assert_eq!(
        lines[4],
        "OUTSIDE,OUTSIDE 市外 outside the city,70,0.350000"
    );
    assert_eq!(lines[5], "NONE,NONE 未就业 not employed,50,0.250000");

    let v: Value = serde_json::from_str(&t.to_json()).unwrap();
    assert_eq!(
        v["total"]["share_of_cohort"],
        json!({"numerator": 200, "denominator": 200, "rate": 1.0})
    );
    assert_eq!(
        v["rows"][2]["share_of_cohort"],
        json!({"numerator": 70, "denominator": 200, "rate": 0.35})
    );
    assert_eq!(v["rows"][2]["cohort_size"], 70);
    assert!(v["total"].get("employment_rate").is_none(), "{v}");
    assert!(
        v["notes"][0]
            .as_str()
            .unwrap()
            .contains("make up the cohort"),
        "{v}"
    );

    // Perturbed counts need not add up (51 + 30 + 70 + 50 = 201 of a
    // cohort of 200), and the table still says so.
    let mut perturbed = outcomes_by_district(
        200,
        &[
            ("370212", 51),
            ("370285", 30),
            ("OUTSIDE", 70),
            ("NONE", 50),
        ],
    );
    perturbed.disclosure_control = control(Protection::Perturbed, 3);
    let t = outcomes_table(&perturbed);
    let text = t.to_text();
    assert!(text.contains("25.5% (51/200)"), "{text}");
    assert!(text.contains("figures need not add up"), "{text}");
    assert!(
        t.to_csv()
            .lines()
            .last()
            .unwrap()
            .contains("need not add up")
    );
    let v: Value = serde_json::from_str(&t.to_json()).unwrap();
    assert_eq!(v["disclosure"]["protection"], "PERTURBED");

    // By university, rates mean something and stay.
    let mut by_university = outcomes_by_district(200, &[]);
    by_university.rows = vec![GraduateOutcomeRow {
        dimensions: vec![value(
            Dimension::University,
            dimension_value::Value::UniversityCode("4137011065".into()),
            "青岛大学",
        )],
        figures: by_university.total,
    }];
    let text = outcomes_table(&by_university).to_text();
    assert!(text.contains("employment rate"), "{text}");
    assert!(!text.contains("share of the cohort"), "{text}");
}

/// Long but real values of every dimension: the widest names of the
/// city's tables, a name the command does not know, a long platform id.
fn long_values(d: Dimension) -> Vec<DimensionValue> {
    use dimension_value::Value as V;
    let v = |x: V, label: &str| value(d, x, label);
    match d {
        Dimension::District => ["310115", "370212", "OUTSIDE", "NONE", "371402"]
            .map(|c| v(V::District(c.into()), ""))
            .to_vec(),
        Dimension::Industry => ["S", "D", "I65", "OUTSIDE"]
            .map(|c| v(V::Industry(c.into()), ""))
            .to_vec(),
        Dimension::Tier => vec![
            v(V::Tier(TalentTier::High as i32), ""),
            v(V::Tier(TalentTier::General as i32), ""),
        ],
        Dimension::Platform => vec![
            v(
                V::PlatformId("qingdao-public-employment-service-e-station-2020".into()),
                "",
            ),
            v(V::PlatformId("p".into()), ""),
        ],
        Dimension::Month => vec![v(V::Month("2020-06".into()), "")],
        Dimension::University => vec![
            v(
                V::UniversityCode("4137010424".into()),
                "山东科技大学 Shandong University of Science and Technology",
            ),
            v(V::UniversityCode("4137010423".into()), ""),
        ],
        Dimension::DegreeLevel => vec![v(
            V::DegreeLevel(DegreeLevel::BelowJuniorCollege as i32),
            "",
        )],
        Dimension::Discipline => vec![v(V::Discipline(Discipline::Interdisciplinary as i32), "")],
        Dimension::Unspecified => vec![],
    }
}

/// Every breakdown `--by` accepts: none, each dimension, each ordered pair.
fn every_breakdown() -> Vec<Vec<Dimension>> {
    let all = [
        Dimension::District,
        Dimension::Industry,
        Dimension::Tier,
        Dimension::Platform,
        Dimension::Month,
        Dimension::University,
        Dimension::DegreeLevel,
        Dimension::Discipline,
    ];
    let mut out = vec![vec![]];
    for a in all {
        out.push(vec![a]);
        for b in all {
            if a != b {
                out.push(vec![a, b]);
            }
        }
    }
    out
}

/// The rows of a breakdown: every combination of the dimensions' values.
fn cells_of(by: &[Dimension]) -> Vec<Vec<DimensionValue>> {
    let mut rows = vec![vec![]];
    for d in by {
        rows = rows
            .into_iter()
            .flat_map(|r: Vec<DimensionValue>| {
                long_values(*d).into_iter().map(move |v| {
                    let mut r = r.clone();
                    r.push(v);
                    r
                })
            })
            .collect();
    }
    rows
}

fn assert_fits(what: &str, text: &str) {
    for line in text.lines() {
        assert!(
            width(line) <= text::TEXT_WIDTH,
            "{what}: a line of {} columns:\n{line}\n{text}",
            width(line)
        );
    }
}

#[test]
fn every_table_fits_120_columns() {
    // Figures at the full city's size and beyond: 9,876,543 of 12,345,678.
    let big = perturbed(9_876_543);
    let rate = Some(Rate {
        numerator: 9_876_543,
        denominator: 12_345_678,
        ..Default::default()
    });
    let gathered = TalentGatheredFigures {
        talents_gathered: big,
        high_tier: big,
        general_tier: big,
    };
    let outcomes = GraduateOutcomeFigures {
        cohort_size: perturbed(12_345_678),
        employed: big,
        retained: big,
        employment_rate: rate,
        retention_rate: rate,
        local_share_of_employed: rate,
    };
    let activity = RecruitmentActivityFigures {
        postings: big,
        openings: big,
        headcount_demanded: big,
        employers_posting: big,
        fairs_held: big,
        employer_participations: big,
        resumes_received: big,
        distinct_job_seekers: big,
        applications: big,
    };
    let control = control(Protection::Perturbed, 12);
    let period = args::parse_period_proto("2020H1").ok();
    for by in every_breakdown() {
        let dims = cells_of(&by);
        let g = gathered_table(&GetTalentGatheredResponse {
            period,
            total: Some(gathered),
            rows: dims
                .iter()
                .map(|d| TalentGatheredRow {
                    dimensions: d.clone(),
                    figures: Some(gathered),
                })
                .collect(),
            definition_version: "2025.1".into(),
            disclosure_control: control,
            ..Default::default()
        });
        let o = outcomes_table(&GetGraduateOutcomesResponse {
            cohort_year: 2020,
            total: Some(outcomes),
            rows: dims
                .iter()
                .map(|d| GraduateOutcomeRow {
                    dimensions: d.clone(),
                    figures: Some(outcomes),
                })
                .collect(),
            definition_version: "2025.1".into(),
            disclosure_control: control,
            ..Default::default()
        });
        let a = activity_table(&GetRecruitmentActivityResponse {
            period,
            total: Some(activity),
            rows: dims
                .iter()
                .map(|d| RecruitmentActivityRow {
                    dimensions: d.clone(),
                    figures: Some(activity),
                })
                .collect(),
            definition_version: "2025.1".into(),
            disclosure_control: control,
            ..Default::default()
        });
        for (kind, t) in [("gathered", g), ("outcomes", o), ("activity", a)] {
            let text = t.to_text();
            let what = format!("{kind} by {by:?}");
            assert_fits(&what, &text);
            // Nothing cut off: every figure of every row is shown whole.
            let shown = text.matches("9,876,543").count() + text.matches("12,345,678").count();
            let figures = t.columns.len() - t.dimensions;
            assert!(shown >= figures * t.rows.len(), "{what}: {text}");
        }
    }
}
