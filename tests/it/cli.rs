//! The `talent` command, run as a process against services in this test:
//! push with rejects, roster import, stats in each format, the HTML report,
//! and the demo producing the same figures twice for one seed.

use crate::support;

use std::{path::Path, process::Output};

use support::{
    TestApp,
    metrics::Metrics,
    recruiting::{credit_code, employer},
};

fn talent(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_talent"))
        .args(args)
        .env_remove("TALENT_API_KEY")
        .output()
        .expect("the talent binary runs")
}

async fn talent_async(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        talent(&args)
    })
    .await
    .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write(dir: &Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn push_reports_rejected_lines_and_exits_non_zero() {
    let app = TestApp::spawn().await;
    let platform = app.create_platform("files").await;
    let code = credit_code("91370212MA3C00001");
    app.push_employers(
        &platform,
        vec![employer(&code, "Laoshan Software", "370212", "I")],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    // Line 2 has no title (the service rejects it); line 3 is not JSON.
    let file = write(
        dir.path(),
        "postings.jsonl",
        &format!(
            "{{\"external_id\":\"p1\",\"title\":\"Rust Engineer\",\"employer_credit_code\":\"{code}\",\"headcount\":2}}\n\
             {{\"external_id\":\"p2\",\"title\":\"\",\"employer_credit_code\":\"{code}\",\"headcount\":1}}\n\
             not json\n"
        ),
    );
    let addr = app.recruiting_addr.to_string();
    let out = talent_async(
        [
            "push",
            "postings",
            &file,
            "--key",
            &platform.key,
            "--recruiting-addr",
            &addr,
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("1 created"),
        "{}",
        text(&out.stdout)
    );
    let rejects = std::fs::read_to_string(format!("{file}.rejects.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = rejects
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{rejects}");
    assert_eq!(lines[0]["line"], 2);
    assert_eq!(lines[0]["violations"][0]["field"], "title");
    assert_eq!(lines[1]["line"], 3);

    // Pushing the good line again changes nothing.
    let good = write(
        dir.path(),
        "good.jsonl",
        std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    );
    let out = talent_async(
        [
            "push",
            "postings",
            &good,
            "--key",
            &platform.key,
            "--recruiting-addr",
            &addr,
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("1 unchanged"),
        "{}",
        text(&out.stdout)
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_key_and_unreachable_server_are_one_line_errors() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "e.jsonl", "");
    let addr = app.recruiting_addr.to_string();
    let out = talent_async(
        [
            "push",
            "employers",
            &file,
            "--key",
            "wrong-key",
            "--recruiting-addr",
            &addr,
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    // An empty file sends nothing, so nothing finds the wrong key: a clean
    // run with nothing to report. A wrong key is found on the first call.
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("0 created, 0 updated, 0 unchanged, 0 rejected"),
        "{}",
        text(&out.stdout)
    );
    let employers = write(
        dir.path(),
        "e2.jsonl",
        &format!(
            "{{\"credit_code\":\"{}\",\"display_name\":\"X\",\"district\":\"370212\",\"industry\":\"I\"}}\n",
            credit_code("91370212MA3C00002")
        ),
    );
    let out = talent_async(
        [
            "push",
            "employers",
            &employers,
            "--key",
            "wrong-key",
            "--recruiting-addr",
            &addr,
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("refused the key"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    app.stop().await;

    let out = talent(&[
        "stats",
        "gathered",
        "--period",
        "2020H1",
        "--key",
        "k",
        "--metrics-addr",
        "127.0.0.1:1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot reach the metrics service"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn roster_import_stats_and_the_html_report() {
    let app = TestApp::spawn().await;
    let metrics = Metrics::connect(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let id = |n: u16| {
        talent_codes::resident_id::make(
            "370202",
            time::Date::from_calendar_date(1998, time::Month::March, 1).unwrap(),
            n,
        )
    };
    let mut csv = String::from(
        "resident_id_number,university_code,university_name,degree_level,discipline,graduation_date\n",
    );
    for n in 1..=6 {
        csv.push_str(&format!(
            "{},4137010423,Ocean University of China,BACHELOR,ENGINEERING,2020-06-30\n",
            id(n)
        ));
    }
    // Line 8: a bad check character.
    csv.push_str(
        "370202199803010019,4137010423,Ocean University of China,BACHELOR,ENGINEERING,2020-06-30\n",
    );
    let roster = write(dir.path(), "roster.csv", &csv);
    let addr = app.metrics_addr.to_string();
    let out = talent_async(
        [
            "roster",
            "import",
            &roster,
            "--key",
            &metrics.roster_key,
            "--metrics-addr",
            &addr,
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("6 accepted"),
        "{}",
        text(&out.stdout)
    );
    let rejects = std::fs::read_to_string(format!("{roster}.rejects.jsonl")).unwrap();
    assert!(rejects.contains("\"line\":8"), "{rejects}");

    // Outcomes: a cohort of 6, nobody employed yet.
    let key = metrics.operator_key.clone();
    for format in ["table", "csv", "json"] {
        let out = talent_async(
            [
                "stats",
                "outcomes",
                "--cohort",
                "2020",
                "--as-of",
                "2020-12-31",
                "--format",
                format,
                "--key",
                &key,
                "--metrics-addr",
                &addr,
            ]
            .map(String::from)
            .to_vec(),
        )
        .await;
        assert!(out.status.success(), "{format}: {}", text(&out.stderr));
        let stdout = text(&out.stdout);
        match format {
            "json" => {
                let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
                assert!(v.to_string().contains('6'), "{stdout}");
            }
            _ => assert!(stdout.contains('6'), "{format}: {stdout}"),
        }
    }
    // With a READ key issued by default (PERTURBED) a breakdown by
    // university shows the cell of 6 (perturbed, but never to 0) and says
    // that its counts are perturbed.
    let out = talent_async(
        [
            "stats",
            "outcomes",
            "--cohort",
            "2020",
            "--by",
            "university",
            "--format",
            "csv",
            "--key",
            &metrics.read_key,
            "--metrics-addr",
            &addr,
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv = text(&out.stdout);
    assert!(csv.contains("4137010423"), "{csv}");
    assert!(
        csv.lines()
            .last()
            .is_some_and(|l| l.contains("perturbed") && l.contains("need not add up")),
        "{csv}"
    );

    let html = dir.path().join("report.html").display().to_string();
    let out = talent_async(
        [
            "report",
            "--period",
            "2020H1",
            "--cohort",
            "2020",
            "--as-of",
            "2020-06-30",
            "--html",
            &html,
            "--key",
            &key,
            "--metrics-addr",
            &addr,
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.starts_with("<!DOCTYPE html>"),
        "{}",
        &page[..100.min(page.len())]
    );
    assert!(page.contains("<svg"), "charts are inline SVG");
    assert!(
        !page.contains("src=\"http") && !page.contains("href=\"http") && !page.contains("<script"),
        "no network needed"
    );
    // The headline shows the cohort of 6, and the university chart its
    // employment rate of 0 of 6.
    assert!(
        page.contains("Graduate cohort 应届毕业生</span><span class=\"value\">6</span>"),
        "the cohort figure is in the headline"
    );
    assert!(
        page.contains("(0/6)"),
        "the university rates show their numerator and denominator"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_demo_gives_the_same_figures_for_the_same_seed() {
    let dir = tempfile::tempdir().unwrap();
    let run = |data: &Path| {
        let data = data.display().to_string();
        talent(&[
            "demo",
            "--scale",
            "0.002",
            "--seed",
            "11",
            "--exit",
            "--data-dir",
            &data,
            "--recruiting-addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "127.0.0.1:0",
            "--recruiting-prometheus-addr",
            "127.0.0.1:0",
            "--metrics-prometheus-addr",
            "127.0.0.1:0",
        ])
    };
    let first = tokio::task::spawn_blocking({
        let d = dir.path().join("a");
        move || run(&d)
    })
    .await
    .unwrap();
    assert!(first.status.success(), "{}", text(&first.stderr));
    let second = tokio::task::spawn_blocking({
        let d = dir.path().join("b");
        move || run(&d)
    })
    .await
    .unwrap();
    assert!(second.status.success(), "{}", text(&second.stderr));
    // The report (everything before the timing line) is identical.
    let report = |o: &Output| {
        text(&o.stdout)
            .lines()
            .filter(|l| !l.starts_with("demo:") && !l.contains("as known at"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(report(&first).contains("Talent"), "{}", text(&first.stdout));
    assert_eq!(report(&first), report(&second));
}

#[tokio::test]
async fn keys_are_issued_listed_and_revoked_through_the_command() {
    let app = TestApp::spawn().await;
    let addr = app.metrics_addr.to_string();
    let admin = support::metrics::ADMIN_KEY;
    let run = |args: Vec<&str>| {
        let mut all: Vec<String> = args.into_iter().map(String::from).collect();
        all.extend([
            "--admin-key".into(),
            admin.into(),
            "--metrics-addr".into(),
            addr.clone(),
        ]);
        talent_async(all)
    };
    let issued = run(vec![
        "key",
        "issue",
        "--kind",
        "read",
        "--name",
        "press office",
        "--protection",
        "exact",
    ])
    .await;
    assert!(issued.status.success(), "{}", text(&issued.stderr));
    let stdout = text(&issued.stdout);
    let name = stdout.split_whitespace().next().unwrap().to_owned();
    assert!(name.starts_with("keys/"), "{stdout}");

    let listed = run(vec!["key", "list"]).await;
    let table = text(&listed.stdout);
    let row = table
        .lines()
        .find(|l| l.starts_with(&name))
        .expect("the key is listed");
    assert!(
        row.contains("READ") && row.contains("EXACT") && row.contains("press office"),
        "{row}"
    );

    let revoked = run(vec!["key", "revoke", &name]).await;
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));
    let listed = run(vec!["key", "list"]).await;
    assert!(
        !text(&listed.stdout).contains(&name),
        "revoked keys are hidden by default"
    );
    let listed = run(vec!["key", "list", "--revoked"]).await;
    let table = text(&listed.stdout);
    let row = table
        .lines()
        .find(|l| l.starts_with(&name))
        .expect("shown with --revoked");
    assert!(row.contains("REVOKED"), "{row}");

    // A key with an expiry shows it.
    let issued = run(vec![
        "key",
        "issue",
        "--kind",
        "roster",
        "--name",
        "Qingdao University",
        "--expires",
        "90d",
    ])
    .await;
    assert!(issued.status.success(), "{}", text(&issued.stderr));
    let stdout = text(&issued.stdout);
    let name = stdout.split_whitespace().next().unwrap().to_owned();
    let listed = run(vec!["key", "list"]).await;
    let table = text(&listed.stdout);
    let row = table
        .lines()
        .find(|l| l.starts_with(&name))
        .expect("the key is listed");
    // The day 90 days on (or the day before, when midnight passed since).
    let in_90_days = time::OffsetDateTime::now_utc() + time::Duration::days(90);
    let days = [in_90_days, in_90_days - time::Duration::minutes(1)];
    assert!(
        row.contains("ROSTER") && days.iter().any(|d| row.contains(&d.date().to_string())),
        "{row}"
    );
    let refused = run(vec![
        "key",
        "issue",
        "--kind",
        "ingest",
        "--name",
        "old habits",
    ])
    .await;
    assert!(!refused.status.success(), "ingest is no longer offered");
    app.stop().await;
}

#[test]
fn up_refuses_plaintext_beyond_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = talent(&[
        "up",
        "--recruiting-addr",
        "0.0.0.0:0",
        "--data-dir",
        &data.display().to_string(),
    ]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("--recruiting-addr 0.0.0.0:0"), "{stderr}");
    assert!(stderr.contains("--insecure"), "{stderr}");
    assert!(!data.exists(), "nothing is created before the refusal");
}

#[tokio::test]
async fn platforms_are_listed_disabled_and_their_keys_rotated_through_the_command() {
    use talent_proto::talent::recruiting::v1 as pb;

    let app = TestApp::spawn().await;
    let first = app.create_platform("first").await;
    let second = app.create_platform("second").await;
    let addr = app.recruiting_addr.to_string();
    let admin = support::recruiting::ADMIN_KEY;
    let run = |args: Vec<&str>| {
        let mut all: Vec<String> = args.into_iter().map(String::from).collect();
        all.extend([
            "--admin-key".into(),
            admin.into(),
            "--recruiting-addr".into(),
            addr.clone(),
        ]);
        talent_async(all)
    };
    // A platform key works until something happens to it.
    let works = |key: String| {
        let app = &app;
        async move {
            let mut postings = app.recruiting().await.postings;
            postings
                .list_postings(support::recruiting::authed(
                    pb::ListPostingsRequest::default(),
                    &key,
                ))
                .await
                .map(|_| ())
                .map_err(|s| s.code())
        }
    };

    let listed = run(vec!["platform", "list"]).await;
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let table = text(&listed.stdout);
    for id in ["first", "second"] {
        let row = table
            .lines()
            .find(|l| l.starts_with(&format!("{id} ")))
            .unwrap_or_else(|| panic!("{id} is listed: {table}"));
        assert!(
            row.contains("ACTIVE") && row.contains(&format!("Platform {id}")),
            "{row}"
        );
    }

    // Disable: the platform's key is refused, and it is listed with --disabled only.
    let disabled = run(vec!["platform", "disable", "first"]).await;
    assert!(disabled.status.success(), "{}", text(&disabled.stderr));
    assert!(
        text(&disabled.stdout).contains("platform first disabled"),
        "{}",
        text(&disabled.stdout)
    );
    assert_eq!(
        works(first.key.clone()).await,
        Err(tonic::Code::PermissionDenied)
    );
    let listed = run(vec!["platform", "list"]).await;
    assert!(
        !text(&listed.stdout).contains("first "),
        "{}",
        text(&listed.stdout)
    );
    let listed = run(vec!["platform", "list", "--disabled"]).await;
    let table = text(&listed.stdout);
    let row = table
        .lines()
        .find(|l| l.starts_with("first "))
        .expect("shown with --disabled");
    assert!(row.contains("DISABLED"), "{row}");

    // Rotate: a new key that works; the old one stops at once.
    works(second.key.clone()).await.unwrap();
    let rotated = run(vec!["platform", "rotate-key", "second"]).await;
    assert!(rotated.status.success(), "{}", text(&rotated.stderr));
    let stdout = text(&rotated.stdout);
    let secret = stdout
        .lines()
        .find(|l| l.starts_with("tlr_"))
        .unwrap_or_else(|| panic!("the new secret is printed: {stdout}"))
        .to_owned();
    assert!(
        stdout.contains(&format!("old key {}… stopped working", &second.key[..8])),
        "{stdout}"
    );
    works(secret.clone()).await.unwrap();
    assert_eq!(
        works(second.key.clone()).await,
        Err(tonic::Code::Unauthenticated)
    );
    // With a grace period the previous key keeps working.
    let rotated = run(vec!["platform", "rotate-key", "second", "--grace", "1h"]).await;
    assert!(rotated.status.success(), "{}", text(&rotated.stderr));
    assert!(
        text(&rotated.stdout).contains("keeps working until"),
        "{}",
        text(&rotated.stdout)
    );
    works(secret).await.unwrap();

    // Unknown and disabled platforms: one line naming the platform, exit 1.
    for (args, expected) in [
        (
            vec!["platform", "disable", "nobody"],
            "no platform \"nobody\"",
        ),
        (
            vec!["platform", "rotate-key", "nobody"],
            "no platform \"nobody\"",
        ),
        (
            vec!["platform", "rotate-key", "first"],
            "platform \"first\"",
        ),
    ] {
        let out = run(args.clone()).await;
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.contains(expected), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_report_as_json_is_typed_of_one_day_and_one_instant() {
    use support::metrics::{date, hired, person, roster_row};
    use talent_proto::talent::r#type::v1::{DegreeLevel, Discipline};

    let app = TestApp::spawn().await;
    let metrics = Metrics::connect(&app).await;
    // Cohort 2020: five graduates, two of them hired in the city in May;
    // cohort 2019: one graduate (not the report's unless asked for).
    let mut rows: Vec<_> = (1..=5)
        .map(|n| {
            roster_row(
                &person(n),
                "4137010423",
                DegreeLevel::Bachelor as i32,
                Discipline::Engineering as i32,
                date(2020, 6, 30),
            )
        })
        .collect();
    rows.push(roster_row(
        &person(9),
        "4137010423",
        DegreeLevel::Master as i32,
        Discipline::Engineering as i32,
        date(2019, 6, 30),
    ));
    metrics.import_roster(rows).await;
    metrics
        .publish_each(vec![
            hired("e1", &person(1), "370212", "I", date(2020, 5, 1), "p"),
            hired("e2", &person(2), "370285", "C", date(2020, 5, 2), "p"),
        ])
        .await;

    let addr = app.metrics_addr.to_string();
    let report = |key: &str, extra: &[&str]| {
        let mut args: Vec<String> = [
            "report",
            "--period",
            "2020H1",
            "--format",
            "json",
            "--key",
            key,
            "--metrics-addr",
            &addr,
        ]
        .map(String::from)
        .to_vec();
        args.extend(extra.iter().map(|s| s.to_string()));
        talent_async(args)
    };
    let out = report(&metrics.exact_key, &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(&text(&out.stdout))
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)));
    // Without --cohort: the period's year.
    assert_eq!(v["cohort_year"], 2020, "{v}");
    assert_eq!(
        v["period"],
        serde_json::json!({"start_date": "2020-01-01", "end_date": "2020-07-01"})
    );
    assert_eq!(v["as_of"], "2020-06-30", "the period's last day");
    assert_eq!(v["disclosure"]["protection"], "EXACT");
    let outcomes = &v["headline"]["graduate_outcomes"];
    assert_eq!(outcomes["cohort_size"], 5, "{v}");
    assert_eq!(outcomes["employed"], 2);
    assert_eq!(outcomes["retention_rate"]["numerator"], 2);
    assert_eq!(outcomes["retention_rate"]["denominator"], 5);
    assert!(outcomes["retention_rate"]["rate"].is_number());
    assert_eq!(v["headline"]["talent_gathered"]["talents_gathered"], 2);
    // Every table: the same day and instant as the headline, one total,
    // no row twice, every figure a number or an object saying why not.
    let known = v["as_known_at"].as_str().expect("an instant").to_owned();
    let tables = v["tables"].as_object().unwrap();
    assert_eq!(tables.len(), 4, "{v}");
    for (name, t) in tables {
        assert_eq!(t["as_known_at"], known.as_str(), "{name}");
        if name.starts_with("outcomes") {
            assert_eq!(t["as_of"], "2020-06-30", "{name}");
            assert_eq!(t["cohort_year"], 2020, "{name}");
            assert_eq!(t["total"]["cohort_size"], 5, "{name}");
        }
        let figures = t["total"].as_object().unwrap().values().chain(
            t["rows"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|r| r.as_object().unwrap().values()),
        );
        for f in figures {
            let typed = f.is_number()
                || f.is_string()
                || f["reason"].is_string()
                || (f["numerator"].is_number()
                    && (f["rate"].is_number() || f["rate"]["reason"].is_string()));
            assert!(typed, "{name}: {f}");
        }
        let rows = t["rows"].as_array().unwrap();
        let mut seen = std::collections::HashSet::new();
        for row in rows {
            let key: Vec<String> = t["dimensions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| row[d.as_str().unwrap()].to_string())
                .collect();
            assert!(seen.insert(key), "{name}: a row twice: {row}");
        }
    }
    let districts: Vec<&str> = tables["outcomes_by_district"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["district"].as_str().unwrap())
        .collect();
    assert_eq!(districts, ["370212", "370285", "NONE"]);

    // --cohort still picks another cohort; a PERTURBED key says so.
    let out = report(&metrics.read_key, &["--cohort", "2019"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(v["cohort_year"], 2019);
    assert_eq!(v["disclosure"]["protection"], "PERTURBED");
    assert!(v["disclosure"]["max_adjustment"].is_number());

    // Text stays the default.
    let out = talent_async(
        [
            "report",
            "--period",
            "2020H1",
            "--key",
            &metrics.exact_key,
            "--metrics-addr",
            &addr,
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout)
            .starts_with("Talent report 2020-01-01 – 2020-06-30  (cohort 2020 as of 2020-06-30)"),
        "{}",
        text(&out.stdout)
    );
    app.stop().await;
}

#[tokio::test]
async fn health_takes_host_names() {
    let app = TestApp::spawn().await;
    for addr in [
        format!("localhost:{}", app.recruiting_addr.port()),
        format!("http://localhost:{}", app.metrics_addr.port()),
        app.recruiting_addr.to_string(),
    ] {
        let out = talent_async(vec!["health".into(), addr.clone()]).await;
        assert!(out.status.success(), "{addr}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout).trim(), "Serving", "{addr}");
    }
    app.stop().await;
    let out = talent(&["health", "localhost"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("has no port"),
        "{}",
        text(&out.stderr)
    );
}

/// `talent push KIND FILE` against the test's recruiting service.
async fn push_file(app: &TestApp, key: &str, kind: &str, file: &str) -> Output {
    talent_async(
        [
            "push",
            kind,
            file,
            "--key",
            key,
            "--recruiting-addr",
            &app.recruiting_addr.to_string(),
        ]
        .map(String::from)
        .to_vec(),
    )
    .await
}

const KINDS_IN_ORDER: &[&str] = &[
    "employers",
    "postings",
    "resumes",
    "applications",
    "application-moves",
    "hires",
    "separations",
    "fairs",
    "participations",
];

#[tokio::test]
async fn every_template_pushes_as_it_is_in_dependency_order() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    // CSV for every kind on one platform, JSON Lines on another.
    for (format, ext) in [("csv", "csv"), ("jsonl", "jsonl")] {
        let platform = app.create_platform(&format!("templates-{format}")).await;
        for kind in KINDS_IN_ORDER {
            let out = talent(&["template", kind, "--format", format]);
            assert!(out.status.success(), "{kind}: {}", text(&out.stderr));
            let template = text(&out.stdout);
            assert_eq!(template.lines().count(), if ext == "csv" { 3 } else { 2 });
            let file = write(dir.path(), &format!("{kind}.{ext}"), &template);
            let out = push_file(&app, &platform.key, kind, &file).await;
            let rejects = std::fs::read_to_string(format!("{file}.rejects.jsonl"));
            assert!(
                out.status.success(),
                "{kind} {format}: {}{}\n{rejects:?}",
                text(&out.stdout),
                text(&out.stderr)
            );
            assert!(
                text(&out.stdout).contains(", 0 rejected"),
                "{kind}: {}",
                text(&out.stdout)
            );
            assert!(rejects.is_err(), "{kind}: {rejects:?}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn a_bad_application_line_is_rejected_with_its_line_and_field() {
    let app = TestApp::spawn().await;
    let platform = app.create_platform("bad-lines").await;
    let dir = tempfile::tempdir().unwrap();
    for kind in ["employers", "postings", "resumes"] {
        let file = write(
            dir.path(),
            &format!("{kind}.csv"),
            &text(&talent(&["template", kind]).stdout),
        );
        let out = push_file(&app, &platform.key, kind, &file).await;
        assert!(out.status.success(), "{kind}: {}", text(&out.stderr));
    }
    // Line 3 names a posting the platform does not have; line 4 has a
    // submit time that is not a time.
    let file = write(
        dir.path(),
        "applications.csv",
        "application_id,resume,posting,submit_time\n\
         app-1,resume-1,posting-1,2020-03-02T10:00:00+08:00\n\
         app-2,resume-2,posting-9,2020-03-03T10:00:00+08:00\n\
         app-3,resume-2,posting-2,March 3rd\n",
    );
    let out = push_file(&app, &platform.key, "applications", &file).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("1 created") && text(&out.stdout).contains("2 rejected"),
        "{}",
        text(&out.stdout)
    );
    let rejects = std::fs::read_to_string(format!("{file}.rejects.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = rejects
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{rejects}");
    assert_eq!(lines[0]["line"], 3);
    assert_eq!(lines[0]["violations"][0]["field"], "posting", "{rejects}");
    assert_eq!(lines[1]["line"], 4);
    assert_eq!(
        lines[1]["violations"][0]["field"], "submit_time",
        "{rejects}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_postings_file_pushed_as_employers_is_refused_at_once() {
    let app = TestApp::spawn().await;
    let platform = app.create_platform("wrong-kind").await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "postings.csv",
        &text(&talent(&["template", "postings"]).stdout),
    );
    let out = push_file(&app, &platform.key, "employers", &file).await;
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("file of postings"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(text(&out.stdout).is_empty(), "{}", text(&out.stdout));
    assert!(!Path::new(&format!("{file}.rejects.jsonl")).exists());
    app.stop().await;
}
