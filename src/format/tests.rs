use super::*;
use talent_proto::talent::metrics::v1::{GraduateOutcomeRow, TalentGatheredRow};

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
            dimensions: vec![district("OUTSIDE")],
            figures: Some(figures),
        }],
        ..Default::default()
    };
    let t = outcomes_table(&r);
    let text = t.to_text();
    assert!(text.contains("43.3% (46,764/108,000)"), "{text}");
    assert!(text.contains("n/a (46,764/0)"), "{text}");
    assert!(text.contains("OUTSIDE 市外"));
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
