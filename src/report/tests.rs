use super::sample::sample;
use super::*;

/// A small XML well-formedness check: tags balance, attributes are quoted,
/// `&` starts an entity, nothing but the doctype and comments outside the
/// root. Enough to catch what a hand-written generator gets wrong.
fn check_xml(doc: &str) -> Result<(), String> {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = doc;
    let mut roots = 0;
    while let Some(i) = rest.find(['<', '&']) {
        let text = &rest[..i];
        if stack.is_empty() && !text.trim().is_empty() {
            return Err(format!("text outside the root: {text:?}"));
        }
        rest = &rest[i..];
        if rest.starts_with('&') {
            let end = rest.find(';').ok_or("unterminated entity")?;
            let name = &rest[1..end];
            let ok = matches!(name, "amp" | "lt" | "gt" | "quot" | "apos")
                || (name.starts_with('#') && name[1..].chars().all(|c| c.is_ascii_digit()));
            if !ok {
                return Err(format!("bad entity &{name};"));
            }
            rest = &rest[end + 1..];
            continue;
        }
        if rest.starts_with("<!--") {
            let end = rest.find("-->").ok_or("unterminated comment")?;
            rest = &rest[end + 3..];
            continue;
        }
        if rest.starts_with("<!DOCTYPE") {
            let end = rest.find('>').ok_or("unterminated doctype")?;
            rest = &rest[end + 1..];
            continue;
        }
        let end = rest.find('>').ok_or("unterminated tag")?;
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            match stack.pop() {
                Some(open) if open == name.trim() => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
            continue;
        }
        let self_closing = tag.ends_with('/');
        let body = tag.trim_end_matches('/');
        let name: String = body.chars().take_while(|c| !c.is_whitespace()).collect();
        if name.is_empty() || tag.contains('<') {
            return Err(format!("bad tag <{tag}>"));
        }
        // Attributes: name="value" pairs, values without '<' or raw '&'.
        let mut attrs = body[name.len()..].trim();
        while !attrs.is_empty() {
            let eq = attrs
                .find('=')
                .ok_or(format!("attribute without value in <{tag}>"))?;
            let after = &attrs[eq + 1..];
            if !after.starts_with('"') {
                return Err(format!("unquoted attribute in <{tag}>"));
            }
            let close = after[1..].find('"').ok_or("unterminated attribute")?;
            let value = &after[1..close + 1];
            if value.contains('<')
                || value
                    .replace("&amp;", "")
                    .replace("&quot;", "")
                    .replace("&lt;", "")
                    .replace("&gt;", "")
                    .replace("&#39;", "")
                    .contains('&')
            {
                return Err(format!("unescaped attribute value {value:?}"));
            }
            attrs = after[close + 2..].trim();
        }
        if stack.is_empty() {
            roots += 1;
        }
        if !self_closing {
            stack.push(name);
        }
    }
    if !rest.trim().is_empty() {
        return Err("trailing text".into());
    }
    if !stack.is_empty() {
        return Err(format!("unclosed {stack:?}"));
    }
    if roots != 1 {
        return Err(format!("{roots} root elements"));
    }
    Ok(())
}

#[test]
fn the_checker_catches_mistakes() {
    assert!(check_xml("<a><b/></a>").is_ok());
    assert!(check_xml("<a><b></a>").is_err());
    assert!(check_xml("<a x=1></a>").is_err());
    assert!(check_xml("<a>&nbsp;</a>").is_err());
    assert!(check_xml("<a>x & y</a>").is_err());
    assert!(check_xml("<a></a><b></b>").is_err());
}

/// The part of the HTML that is one chart.
fn chart<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no chart {id}"));
    let end = start + html[start..].find("</svg>").unwrap();
    &html[start..end]
}

#[test]
fn html_is_well_formed_and_self_contained() {
    let s = sample();
    let html = html(&s.input());
    check_xml(&html).unwrap();
    assert!(!html.contains("<script"));
    assert!(
        !html.contains("http://") || !html.replace("http://www.w3.org/", "").contains("http://")
    );
    assert!(!html.contains("https://"));
    assert!(!html.contains("<link"));
}

#[test]
fn html_headline_has_the_figures() {
    let s = sample();
    let html = html(&s.input());
    let head = &html[html.find("id=\"headline\"").unwrap()..];
    for v in [
        "92,500",
        "4,200",
        "108,000",
        "93,900",
        "43.3%",
        "46,764/108,000",
        "61,530",
        "212",
        "4,120",
        "262,000",
    ] {
        assert!(head.contains(v), "{v}");
    }
    assert!(html.contains("留青率43.3%"));
}

#[test]
fn each_chart_has_its_values() {
    let s = sample();
    let html = html(&s.input());

    let d = chart(&html, "chart-district");
    assert!(d.contains("崂山区 Laoshan"));
    assert!(d.contains("9.5% (10,240/108,000)"), "{d}");
    assert!(d.contains("市外 outside the city"));
    assert_eq!(d.matches("class=\"bar\"").count(), 12);

    let u = chart(&html, "chart-university");
    assert!(u.contains("青岛大学"));
    assert!(u.contains("45.7% (12,334/27,000)"), "{u}");
    assert!(u.contains("85.3% (23,040/27,000)"));
    assert_eq!(u.matches("class=\"bar\"").count(), 12);

    let m = chart(&html, "chart-month-tier");
    for month in ["2020-01", "2020-06"] {
        assert!(m.contains(&format!(">{month}</text>")));
    }
    assert!(m.contains(">29,900</text>"));
    assert!(m.contains(">1,750</text>"));
    assert!(m.contains(">3</text>"));

    let i = chart(&html, "chart-industry");
    assert!(i.contains("C 制造业"));
    assert!(i.contains(">17,240</text>"));
    // The biggest bar spans the whole area.
    assert!(i.contains("width=\"480.0\""));
    assert!(!html.contains("suppressed"));
}

#[test]
fn html_without_breakdowns_still_renders() {
    let s = sample();
    let input = ReportInput {
        report: &s.report,
        outcomes_by_district: None,
        outcomes_by_university: None,
        gathered_by_month_tier: None,
        activity_by_industry: None,
    };
    let html = html(&input);
    check_xml(&html).unwrap();
    assert_eq!(html.matches("Not requested").count(), 4);
    // An empty response does not panic either.
    let empty = GetPeriodReportResponse::default();
    let html = super::html(&ReportInput {
        report: &empty,
        ..input
    });
    check_xml(&html).unwrap();
    assert!(
        text(&ReportInput {
            report: &empty,
            ..input
        })
        .contains("Talent report")
    );
}

#[test]
fn a_perturbed_report_says_so_and_that_figures_need_not_add_up() {
    let mut s = sample();
    let t = text(&s.input());
    // The closing note, wrapped to the page.
    let last = t
        .trim_end()
        .rsplit("\n\n")
        .next()
        .unwrap()
        .replace('\n', " ");
    assert!(
        last.starts_with(
            "counts of persons perturbed for disclosure control (each by at most 3): figures \
             need not add up; definitions 2025.1"
        ),
        "{last}"
    );
    let h = html(&s.input());
    let note = &h[h.find("id=\"disclosure\"").unwrap()..];
    assert!(note.contains("by at most 3"), "{note}");
    assert!(note.contains("need not add up"), "{note}");
    assert!(h.contains("Counts of persons are perturbed (each by at most 3)"));
    // Exact answers say so instead.
    s.report.disclosure_control = Some(talent_proto::talent::metrics::v1::DisclosureControl {
        protection: talent_proto::talent::metrics::v1::Protection::Exact as i32,
        max_adjustment: 0,
    });
    let t = text(&s.input());
    let last = t.trim_end().rsplit("\n\n").next().unwrap();
    assert!(last.starts_with("exact figures;"), "{t}");
    let h = html(&s.input());
    assert!(h.contains(">Exact figures.</p>"));
    assert!(!h.contains("perturbed"));
}

#[test]
fn text_report_has_headline_paragraphs_and_tables() {
    let s = sample();
    let t = text(&s.input());
    assert!(t.starts_with("Talent report 2020-01-01 – 2020-06-30"));
    assert!(t.contains("43.3% (46,764/108,000)"));
    assert!(t.contains("全市聚集各类人才92,500人"));
    assert!(t.contains("370212 崂山区 Laoshan"));
    assert!(t.contains("Talents gathered [2020-01-01, 2020-07-01)"));
}

#[test]
fn breakdown_requests_ask_for_the_charts() {
    let period = crate::format::args::parse_period_proto("2020H1").unwrap();
    let as_of = crate::format::args::to_pb(time::macros::date!(2020 - 06 - 30));
    let known = prost_types::Timestamp {
        seconds: 1_600_000_000,
        nanos: 5_000,
    };
    let r = breakdown_requests(&period, 2020, Some(as_of), Some(known));
    assert_eq!(
        r.outcomes_by_district.group_by,
        vec![Dimension::District as i32]
    );
    assert_eq!(
        r.gathered_by_month_tier.group_by,
        vec![Dimension::Month as i32, Dimension::Tier as i32]
    );
    assert_eq!(r.activity_by_industry.period, Some(period));
    // One day and one instant for every table.
    assert_eq!(r.outcomes_by_district.as_of, Some(as_of));
    assert_eq!(r.outcomes_by_university.as_of, Some(as_of));
    for t in [
        r.outcomes_by_district.as_known_at,
        r.outcomes_by_university.as_known_at,
        r.gathered_by_month_tier.as_known_at,
        r.activity_by_industry.as_known_at,
    ] {
        assert_eq!(t, Some(known));
    }
}

#[test]
fn json_is_typed_and_has_one_total_per_table() {
    let s = sample();
    let v: serde_json::Value = serde_json::from_str(&json(&s.input())).unwrap();
    assert_eq!(v["cohort_year"], 2020);
    assert_eq!(v["period"]["start_date"], "2020-01-01");
    assert!(v["as_of"].is_string(), "{v}");
    assert!(v["disclosure"]["protection"].is_string(), "{v}");
    let headline = &v["headline"];
    assert!(headline["talent_gathered"]["talents_gathered"].is_number());
    assert!(headline["graduate_outcomes"]["retention_rate"]["numerator"].is_number());
    let tables = v["tables"].as_object().unwrap();
    assert_eq!(tables.len(), 4);
    for (name, t) in tables {
        assert!(t["total"].is_object(), "{name}");
        let rows = t["rows"].as_array().unwrap();
        let mut seen = std::collections::HashSet::new();
        for row in rows {
            let dims: Vec<String> = t["dimensions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| row[d.as_str().unwrap()].to_string())
                .collect();
            assert!(!dims.is_empty() && seen.insert(dims), "{name}: {row}");
        }
    }
}

#[test]
fn the_text_report_fits_120_columns() {
    let s = sample();
    let t = text(&s.input());
    for line in t.lines() {
        assert!(
            crate::format::width(line) <= crate::format::text::TEXT_WIDTH,
            "{} columns: {line}",
            crate::format::width(line)
        );
    }
    // Nothing is lost to the page: the paragraph is all there, wrapped.
    let zh: String = t.lines().filter(|l| !l.is_ascii()).collect();
    assert!(zh.contains(&s.report.text_zh), "{t}");
    // Every industry's positions, in some line.
    for v in ["17,240", "7,390", "610"] {
        assert!(t.contains(v), "{v}");
    }
}

#[test]
fn the_text_report_shows_districts_as_shares_of_the_cohort() {
    let s = sample();
    let t = text(&s.input());
    let table = &t[t.find("share of the cohort").unwrap()..];
    // Laoshan: 10,240 of the cohort of 108,000 = 9.48 %; outside the city
    // 47,136 = 43.64 %; not employed 14,100 = 13.06 %.
    for share in [
        "9.5% (10,240/108,000)",
        "43.6% (47,136/108,000)",
        "13.1% (14,100/108,000)",
        "100.0% (108,000/108,000)",
    ] {
        assert!(table.contains(share), "{share}: {table}");
    }
    assert!(
        !t.contains("100.0% (10,240/10,240)"),
        "no rates of 100 % by construction"
    );
    assert!(t.contains("make up the cohort"));
}

/// The `<table>` of a chart's figures.
fn data_table<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<table class=\"data\" id=\"{id}-data\">"))
        .unwrap_or_else(|| panic!("no table for {id}"));
    let end = start + html[start..].find("</table>").unwrap();
    &html[start..end]
}

#[test]
fn every_chart_has_its_figures_as_a_table() {
    let s = sample();
    let html = html(&s.input());
    let ids = [
        "chart-district",
        "chart-university",
        "chart-month-tier",
        "chart-industry",
    ];
    assert_eq!(html.matches("<table class=\"data\"").count(), ids.len());
    for id in ids {
        let svg = chart(&html, id);
        let table = data_table(&html, id);
        assert!(table.contains("<caption>"), "{id}");
        assert!(table.contains("<th scope=\"col\">"), "{id}");
        // Every figure the chart draws is a cell of its table, and its
        // label a row header.
        let mut bars = 0;
        for text in svg.split("<text class=\"value\"").skip(1) {
            let value = &text[text.find('>').unwrap() + 1..text.find("</text>").unwrap()];
            assert!(
                table.contains(&format!("<td>{value}</td>")),
                "{id}: {value}"
            );
            bars += 1;
        }
        assert!(bars > 0, "{id}");
        for label in svg.split("<text class=\"label\"").skip(1) {
            let label = &label[label.find('>').unwrap() + 1..label.find("</text>").unwrap()];
            assert!(
                table.contains(&format!("<th scope=\"row\">{label}</th>")),
                "{id}: {label}"
            );
        }
    }
    // The districts' shares make up the cohort: its row is 100 %.
    let d = data_table(&html, "chart-district");
    assert!(d.contains("<td>9.5% (10,240/108,000)</td>"), "{d}");
    assert!(
        d.contains("<tfoot><tr><th scope=\"row\">the cohort</th><td>100.0% (108,000/108,000)</td></tr></tfoot>"),
        "{d}"
    );
    let m = data_table(&html, "chart-month-tier");
    assert!(
        m.contains("<td>88,302</td><td>4,200</td>"),
        "the period's total: {m}"
    );
}

#[test]
fn the_html_prints_on_a4_in_a_font_that_has_chinese() {
    let s = sample();
    let html = html(&s.input());
    assert!(html.contains("@page{size:A4;"), "{html}");
    assert!(html.contains("break-inside:avoid"));
    assert!(html.contains("svg.chart{display:block;max-width:100%;height:auto}"));
    assert!(html.contains(&format!("font-family:{FONT_STACK}")));
    for font in [
        "Noto Sans CJK SC",
        "PingFang SC",
        "Microsoft YaHei",
        "sans-serif",
    ] {
        assert!(FONT_STACK.contains(font), "{font}");
    }
    // Self-contained: nothing to fetch; the only URLs are XML namespaces.
    let without_namespaces = html
        .replace("xmlns=\"http://www.w3.org/1999/xhtml\"", "")
        .replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    for fetch in ["http:", "https:", "url(", "@import", "src=", "href="] {
        assert!(!without_namespaces.contains(fetch), "{fetch}");
    }
    check_xml(&html).unwrap();
}

/// `TALENT_WRITE_SAMPLE=1 cargo test -p talent --lib report` writes the
/// sample report to `docs/report-sample.html`.
#[test]
fn write_sample_when_asked() {
    if std::env::var_os("TALENT_WRITE_SAMPLE").is_none() {
        return;
    }
    let s = sample();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report-sample.html");
    std::fs::write(&path, html(&s.input())).unwrap();
    std::fs::write(path.with_extension("txt"), text(&s.input())).unwrap();
}
